"""A full disk or a failed write: one stderr line naming what could not be written, exit 1, no traceback.

Every command that writes data runs as users run it (a subprocess, stdout on /dev/full, which
fails every write with ENOSPC); output files are pointed at /dev/full through a symlink.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_chat_support import ServeProcess

from netlab.render import format_names

pytestmark = pytest.mark.timeout(120)
DATA = Path(__file__).resolve().parents[1] / "data"
PCAP = str(DATA / "chat_ipv4.pcap")
FULL_STDOUT = "netlab: cannot write to standard output: No space left on device\n"


def run_into_full(
    args: list[str], stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    with open("/dev/full", "w") as full:
        return subprocess.run(
            [sys.executable, "-m", "netlab", *args],
            stdout=full,
            stderr=subprocess.PIPE,
            input=stdin,
            text=True,
            timeout=90,
            env={**os.environ, **(env or {})},
        )


@pytest.mark.parametrize(
    "args",
    [
        ["follow", "--read", PCAP],
        *(["follow", "--read", PCAP, "--format", fmt] for fmt in format_names()),
        ["-v", "follow", "--read", PCAP],  # the typer path, not the fast path
        ["follow", "--read", PCAP, "--summary"],
        ["sockets"],
        ["sockets", "--all"],
        ["sockets", "--json"],
        ["sockets", "--format", "netstat"],
        ["-q", "sockets", "--json"],  # the typer path
        ["--help"],
        ["follow", "--help"],
        ["--version"],
    ],
    ids=lambda args: " ".join(a if a != PCAP else "X.pcap" for a in args),
)
def test_standard_output_that_cannot_be_written_is_one_line_and_exit_1(args: list[str]) -> None:
    result = run_into_full(args)
    assert result.returncode == 1, result.stderr
    assert result.stderr.endswith(FULL_STDOUT), result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr


def test_report_paths_on_a_full_stdout(tmp_path: Path) -> None:
    result = run_into_full(["report", "--read", PCAP, "--out", str(tmp_path / "r")])
    assert result.returncode == 1 and result.stderr.endswith(FULL_STDOUT), result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "r" / "report.html").stat().st_size > 0  # the files were written; only stdout failed


def test_join_on_a_full_stdout(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path)
    try:
        result = run_into_full(
            ["join", "--port", str(serve.address[1]), "--nick", "full", "--linger", "0.3"],
            stdin="hi\n",
            env={"NETLAB_RUNTIME_DIR": str(tmp_path)},
        )
    finally:
        serve.proc.terminate()
        serve.proc.wait(10)
    assert result.returncode == 1 and result.stderr.endswith(FULL_STDOUT), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["report.html", "report.md", "dialogue.txt"])
def test_a_report_file_that_cannot_be_written_is_one_line_naming_it(tmp_path: Path, name: str) -> None:
    out = tmp_path / "r"
    out.mkdir()
    (out / name).symlink_to("/dev/full")
    result = subprocess.run(
        [sys.executable, "-m", "netlab", "report", "--read", PCAP, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == f"netlab: cannot write {out / name}: No space left on device"
    assert "Traceback" not in result.stderr


def test_lab_on_a_full_stdout(tmp_path: Path) -> None:
    result = run_into_full(["lab", "--captures", str(tmp_path), "--reports", str(tmp_path)])
    assert result.returncode == 1 and result.stderr.endswith(FULL_STDOUT), result.stderr
    assert "Traceback" not in result.stderr
