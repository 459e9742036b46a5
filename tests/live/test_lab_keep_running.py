"""`--keep-running` leaves the server up for the students' own clients; Ctrl-C stops it and cleans up."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from netlab.chat.client import ChatClient
from netlab.chat.server import ChatServer
from netlab.lab.netns import list_namespaces, namespaces_supported
from netlab.sockets.model import TcpState
from netlab.sockets.snapshot import snapshot

pytestmark = pytest.mark.live
NAMESPACES = pytest.mark.skipif(not namespaces_supported(), reason="cannot create network namespaces here")


def _start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netlab",
            "lab",
            "--keep-running",
            "--clients",
            "2",
            "--messages",
            "0",
            "--captures",
            str(tmp_path),
            "--reports",
            str(tmp_path),
            "--name",
            "kept",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


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


def test_a_student_joins_the_kept_server_and_appears_in_the_report(lab: subprocess.Popen[str], tmp_path: Path) -> None:
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
        [
            sys.executable,
            "-m",
            "netlab",
            "lab",
            "--hosts",
            "2",
            "--messages",
            "0",
            "--captures",
            str(tmp_path),
            "--reports",
            str(tmp_path),
            "--name",
            "next",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"removed {len(left)} namespace(s) left by a killed lab run" in done.stderr
    assert _ours() == before


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _earlier_chat(port: int, runtime_dir: Path) -> set[int]:
    """A chat on `port` before the lab's (another server, two clients who leave); returns the client
    ports of its connections, which stay in TIME-WAIT for a minute."""
    earlier = ChatServer(port=port, status_dir=runtime_dir, flood_rate=0.0)
    earlier.start()
    ports = set()
    try:
        for nick in ("old1", "old2"):
            client = ChatClient.connect("127.0.0.1", port, nick, timeout=10)
            ports.add(client.sock.getsockname()[1])
            client.close(farewell=True)
    finally:
        earlier.stop()
    return ports


def _section(md: str, title: str) -> str:
    return md.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _table_rows(section: str) -> list[list[str]]:
    return [
        [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| ROLE") and not line.startswith("| stream")
    ]


def test_the_kept_run_shows_its_own_sockets_and_everyone_who_joined(tmp_path: Path) -> None:
    """Earlier connections on the same port are not this run's; a student joined by hand is."""
    port = _free_port()
    earlier = _earlier_chat(port, tmp_path / "earlier")
    states = {row.state for row in snapshot(port).rows if row.local.port in earlier or row.remote.port in earlier}
    assert TcpState.TIME_WAIT in states  # the earlier chat left TIME-WAIT rows on the port
    lab = _start(tmp_path, "--port", str(port))
    try:
        _wait_for(lab, rf"stays up on 127\.0\.0\.1:{port}")
        student = ChatClient.connect("127.0.0.1", port, "student", timeout=10)
        student_port = student.sock.getsockname()[1]
        student.send("my own line ✍️")
        watchdog = threading.Timer(30, lab.kill)  # a lab that never takes the snapshot fails, not hangs
        watchdog.start()
        try:
            _wait_for(lab, r"socket snapshot")  # taken again now that someone joined by hand
        finally:
            watchdog.cancel()
        lab.send_signal(signal.SIGINT)
        out, err = lab.communicate(timeout=60)
        student.close()
    finally:
        if lab.poll() is None:
            lab.kill()
            lab.wait(timeout=30)
    assert lab.returncode == 0, err
    md = (tmp_path / "kept" / "report.md").read_text(encoding="utf-8")
    sockets = _section(md, "Sockets")
    rows = _table_rows(sockets)
    assert rows, sockets
    ends = {cell.rsplit(":", 1)[-1] for row in rows for cell in (row[3], row[4])}
    assert not ends & {str(p) for p in earlier}, sockets  # nothing of the earlier chat
    assert ["client", "student"] == rows_of(rows, student_port, "client")[:2], sockets
    assert ["server", "student"] == rows_of(rows, student_port, "server")[:2], sockets
    assert "with 1 participant connected" in sockets, sockets
    online = [row for row in rows if row[5] == "ESTAB"]
    assert len(online) == 2  # the two ends of the student's connection: the count is true
    settings = _section(md, "What ran and how")
    assert f"student (127.0.0.1:{student_port}" in settings, settings
    statistics = _table_rows(_section(md, "Statistics"))
    assert any(row[1] == f"student (127.0.0.1:{student_port})" for row in statistics), statistics


def rows_of(rows: list[list[str]], client_port: int, role: str) -> list[str]:
    """The socket-table row of `role` on the connection from `client_port`."""
    for row in rows:
        if row[0] == role and f":{client_port}" in (row[3] if role == "client" else row[4]):
            return row
    raise AssertionError(f"no {role} row for port {client_port}: {rows}")


def test_ctrl_c_mid_conversation_says_where_the_partial_capture_is_and_exits_130(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netlab",
            "lab",
            "--messages",
            "1000",
            "--captures",
            str(tmp_path / "c"),
            "--reports",
            str(tmp_path / "r"),
            "--name",
            "cut",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
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
