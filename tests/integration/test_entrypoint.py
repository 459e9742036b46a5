"""The entry point: help, version, and that it starts without importing scapy."""

from __future__ import annotations

import subprocess
import sys


def test_help_lists_every_command_without_importing_scapy() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from netlab.cli.app import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "for name in ('serve', 'join', 'sockets', 'follow', 'report', 'lab', 'check'):\n"
        "    assert name in result.output, name\n"
        "assert not any(m.startswith('scapy') for m in sys.modules), 'scapy imported by --help'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_start_up_imports_only_the_command_modules() -> None:
    """Every command pays for `import netlab.cli.app`: library code is imported inside command bodies.

    What help texts and defaults need comes from tiny modules (the renderer registry, the chat limits, the
    join dialects, the ids of `netlab check`'s checks).
    """
    code = (
        "import sys, netlab.cli.app\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('netlab') and not m.startswith('netlab.cli'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == [
        "netlab",
        "netlab.chat",
        "netlab.chat.dialects",
        "netlab.chat.limits",
        "netlab.check",
        "netlab.check.ids",
        "netlab.errors",
        "netlab.render",
        "netlab.render.base",
    ]


def test_python_dash_m_prints_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "netlab", "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.startswith("netlab ")
    assert out.stderr == ""
