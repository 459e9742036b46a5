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
        "for name in ('serve', 'join', 'sockets', 'follow', 'report', 'lab'):\n"
        "    assert name in result.output, name\n"
        "assert not any(m.startswith('scapy') for m in sys.modules), 'scapy imported by --help'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_python_dash_m_prints_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "netlab", "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.startswith("netlab ")
    assert out.stderr == ""
