"""A progress line while a capture file is read: on a terminal only, after a delay, never in a pipe (issue 14).

The terminal is a real pseudo-terminal (python's `pty`) on the command's stderr; stdout goes to a
file, as in `netlab follow -r big.pcap > dialogue.txt`. `NETLAB_PROGRESS_AFTER=0` lowers the delay
(one second by default) so that a small capture shows the line.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
CAPTURE = DATA / "lab_hosts4_lossy.pcap"


def _env(delay: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "NETLAB_PROGRESS_AFTER")}
    env.update(TERM="xterm", COLUMNS="160")
    if delay is not None:
        env["NETLAB_PROGRESS_AFTER"] = delay
    return env


def _on_terminal(args: list[str], stdout: Path, delay: str | None) -> tuple[int, bytes]:
    """Run netlab with stderr on a pseudo-terminal and stdout to a file; the exit status and the terminal's bytes."""
    master, slave = pty.openpty()
    with stdout.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "netlab", *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=slave,
            env=_env(delay),
        )
    os.close(slave)
    seen = b""
    try:
        while select.select([master], [], [], 60)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    return proc.wait(timeout=60), seen


@pytest.mark.parametrize("command", [["follow", "-r"], ["report", "--read"]])
def test_a_long_read_shows_progress_on_a_terminal(tmp_path: Path, command: list[str]) -> None:
    args = [*command, str(CAPTURE)] + (["--out", str(tmp_path / "r")] if command[0] == "report" else [])
    code, terminal = _on_terminal(args, tmp_path / "out", delay="0")
    assert code == 0
    text = terminal.decode("utf-8", "replace")
    assert f"reading {CAPTURE}" in text
    assert f"{CAPTURE.stat().st_size / 1000:.1f} kB" in text  # bytes read of the file size
    assert "113 packets" in text and "packets/s" in text
    if command[0] == "follow":
        assert "3 streams" in text
        # the dialogue on stdout is the same as without a terminal
        piped = subprocess.run(
            [sys.executable, "-m", "netlab", *args], capture_output=True, env=_env("0"), timeout=60, check=True
        )
        assert (tmp_path / "out").read_bytes() == piped.stdout


def test_a_short_read_shows_none(tmp_path: Path) -> None:
    code, terminal = _on_terminal(["follow", "-r", str(CAPTURE)], tmp_path / "out", delay=None)
    assert code == 0
    assert b"reading" not in terminal and terminal.startswith(b"netlab follow: 3 of 3 stream(s)")


@pytest.mark.parametrize("command", [["follow", "-r"], ["report", "--read"]])
def test_redirected_stderr_shows_no_progress_and_no_escape_codes(tmp_path: Path, command: list[str]) -> None:
    args = [*command, str(CAPTURE)] + (["--out", str(tmp_path / "r")] if command[0] == "report" else [])
    result = subprocess.run([sys.executable, "-m", "netlab", *args], capture_output=True, env=_env("0"), timeout=60)
    assert result.returncode == 0
    assert b"\x1b" not in result.stderr and b"packets/s" not in result.stderr


def test_rich_is_not_imported_without_a_terminal() -> None:
    code = (
        "import sys\n"
        "from netlab.cli.follow_fast import run\n"
        f"assert run(['-r', {str(CAPTURE)!r}])\n"
        "assert 'rich' not in sys.modules, 'rich imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, env=_env("0"), timeout=60, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, result.stderr.decode()
