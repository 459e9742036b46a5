"""`--keep-running` leaves the server up for the students' own clients; Ctrl-C stops it and cleans up."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netlab.chat.client import ChatClient
from netlab.lab.netns import list_namespaces, namespaces_supported

pytestmark = pytest.mark.live
NAMESPACES = pytest.mark.skipif(not namespaces_supported(), reason="cannot create network namespaces here")


def _start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "netlab", "lab", "--keep-running", "--clients", "2", "--messages", "0",
         "--captures", str(tmp_path), "--reports", str(tmp_path), "--name", "kept", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for(proc: subprocess.Popen[str], pattern: str) -> tuple[re.Match[str], list[str]]:
    """Read stderr lines until one matches `pattern` (the process must not end first)."""
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match, seen
    raise AssertionError("the lab ended before: " + "".join(seen))


def _ours() -> list[str]:
    """The lab's namespaces (prefix nl-), so namespaces of concurrent tests do not interfere."""
    return sorted(n for n in list_namespaces() if n.startswith("nl-"))


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = _start(tmp_path)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)


def test_a_student_joins_the_kept_server_and_appears_in_the_report(
    lab: subprocess.Popen[str], tmp_path: Path
) -> None:
    match, _ = _wait_for(lab, r"stays up on 127\.0\.0\.1:(\d+)")
    port = int(match.group(1))
    with ChatClient.connect("127.0.0.1", port, "student", timeout=10) as client:
        client.send("my own line ✍️")
    lab.send_signal(signal.SIGINT)
    out, err = lab.communicate(timeout=60)
    assert lab.returncode == 0, err
    assert "html:" in out
    md = (tmp_path / "kept" / "report.md").read_text(encoding="utf-8")
    assert "student (127.0.0.1:" in md  # nickname read from the handshake in the capture
    assert "my own line ✍️" in (tmp_path / "kept" / "dialogue.txt").read_text(encoding="utf-8")


@NAMESPACES
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_kill_removes_the_namespaces(tmp_path: Path, signum: int) -> None:
    before = _ours()
    proc = _start(tmp_path, "--hosts", "3")
    try:
        _, seen = _wait_for(proc, r"stays up on 10\.0\.0\.1:")
        run = re.search(r"namespaces (nl-[0-9a-f]{6})-", "".join(seen))
        assert run and any(n.startswith(run.group(1)) for n in list_namespaces())
        proc.send_signal(signum)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 0
    assert _ours() == before


@NAMESPACES
def test_leftovers_of_a_killed_run_are_removed_by_the_next_run(tmp_path: Path) -> None:
    before = _ours()
    proc = _start(tmp_path, "--hosts", "2")
    try:
        _wait_for(proc, r"stays up on 10\.0\.0\.1:")
        proc.kill()  # SIGKILL: no cleanup possible
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    left = [n for n in _ours() if n not in before]
    assert left, "a killed run should leave its namespaces behind"
    done = subprocess.run(
        [sys.executable, "-m", "netlab", "lab", "--hosts", "2", "--messages", "0",
         "--captures", str(tmp_path), "--reports", str(tmp_path), "--name", "next"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"removed {len(left)} namespace(s) left by a killed lab run" in done.stderr
    assert _ours() == before


def test_ctrl_c_mid_conversation_says_where_the_partial_capture_is_and_exits_130(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "netlab", "lab", "--messages", "1000", "--captures", str(tmp_path / "c"),
         "--reports", str(tmp_path / "r"), "--name", "cut"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for(proc, r"\[20/\d+\]")  # mid-conversation, the capture running
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 130, err
    assert out == ""
    last = err.splitlines()[-1]
    assert "Traceback" not in err
    pcap = tmp_path / "c" / "cut.pcap"
    if pcap.exists():  # captured (root): the line says where, and how to make a report of it
        assert last == (
            f"netlab lab: interrupted; the partial capture is {pcap} (make a report of it: "
            f"`netlab report --read {pcap}`)"
        )
        assert pcap.stat().st_size > 24
    else:
        assert last == "netlab lab: interrupted; nothing was written"
