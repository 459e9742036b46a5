"""`netlab sockets` against the real `ChatServer` and `ChatClient`s in separate processes, checked against ss."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from netlab.runtime import read_status

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("ss") is None, reason="needs Linux and ss"
)

SERVER = r"""
import sys
from pathlib import Path
from netlab.chat.server import ChatServer, ServerConfig
server = ChatServer(ServerConfig(port=0, status_dir=Path(sys.argv[1]), flood_rate=0))
host, port = server.start()
print(port, flush=True)
try:
    sys.stdin.read()
finally:
    server.stop()
"""

CLIENTS = r"""
import socket, sys
from netlab.chat.client import ChatClient
port = int(sys.argv[1])
talkers = [ChatClient.connect("127.0.0.1", port, nick) for nick in ("alice", "bob")]
stuck = socket.socket()
stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
stuck.settimeout(10)
stuck.connect(("127.0.0.1", port))
stuck.sendall(b"stuck\n")  # joins, then never reads a byte
print("ready", flush=True)
for line in sys.stdin:  # each line from the test: alice says it
    talkers[0].send(line.strip())
    print("said", flush=True)
for talker in talkers:
    talker.close()
stuck.close()
"""


def _line(proc: subprocess.Popen[str], timeout: float = 20.0) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "helper process did not answer in time"
    return proc.stdout.readline().strip()


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None and not proc.stdin.closed:
        proc.stdin.close()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


@dataclass
class LiveChat:
    port: int
    server_pid: int
    clients_pid: int
    runtime_dir: Path
    clients: subprocess.Popen[str]


@pytest.fixture
def live_chat() -> Iterator[LiveChat]:
    runtime_dir = Path(tempfile.mkdtemp(prefix="netlab-sockets-chat-"))
    procs: list[subprocess.Popen[str]] = []
    try:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(runtime_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(server)
        port = int(_line(server))
        clients = subprocess.Popen(
            [sys.executable, "-c", CLIENTS, str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(clients)
        assert _line(clients) == "ready"
        deadline = time.monotonic() + 20
        while True:  # the server publishes joins within 50 ms
            status = read_status(port, runtime_dir)
            nicks = {client["nick"] for client in (status or {}).get("clients", [])}
            if nicks == {"alice", "bob", "stuck"}:
                break
            assert time.monotonic() < deadline, f"status file never listed every client: {status}"
            time.sleep(0.02)
        yield LiveChat(port, server.pid, clients.pid, runtime_dir, clients)
    finally:
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(runtime_dir, ignore_errors=True)


def _ss(port: int) -> set[tuple[str, str, str, int, int, frozenset[int]]]:
    out = subprocess.run(
        ["ss", "-tanpH", f"( sport = :{port} or dport = :{port} )"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    rows = set()
    for line in out.splitlines():
        state, recv_q, send_q, local, remote, *users = line.split()
        pids = frozenset(int(pid) for pid in re.findall(r"pid=(\d+)", " ".join(users)))
        rows.add((local, remote, state, int(recv_q), int(send_q), pids))
    return rows


def _sockets_json(chat: LiveChat) -> dict[str, object]:
    env = {**os.environ, "NETLAB_RUNTIME_DIR": str(chat.runtime_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "netlab", "sockets", "--port", str(chat.port), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


def test_real_chat_server_rows_match_ss_with_nicknames_and_the_stuck_reader(live_chat: LiveChat) -> None:
    assert live_chat.clients.stdin is not None
    for number in range(5):  # traffic the stuck client never reads
        live_chat.clients.stdin.write(f"message {number} " + "x" * 2000 + "\n")
        live_chat.clients.stdin.flush()
        assert _line(live_chat.clients) == "said"
    for _attempt in range(20):
        before = _ss(live_chat.port)
        document = _sockets_json(live_chat)
        if _ss(live_chat.port) == before:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("sockets kept changing")
    rows = document["rows"]
    assert isinstance(rows, list)
    ours = {(r["local"], r["remote"], r["state"], r["recv_q"], r["send_q"], frozenset(r["pids"])) for r in rows}
    assert ours == before
    nicks = {(r["role"], r["nickname"], r["pid"]) for r in rows}
    server, clients = live_chat.server_pid, live_chat.clients_pid
    assert nicks == {
        ("listener", None, server),
        *{("server", nick, server) for nick in ("alice", "bob", "stuck")},
        *{("client", nick, clients) for nick in ("alice", "bob", "stuck")},
    }
    stuck = next(r for r in rows if r["role"] == "client" and r["nickname"] == "stuck")
    assert stuck["recv_q"] >= 5 * 2000  # everything alice said is waiting, unread
    assert all(isinstance(r["queued_bytes"], int) for r in rows if r["role"] == "server")  # the server's outbox
    assert all(r["queued_bytes"] is None for r in rows if r["role"] != "server")
    bob = next(r for r in rows if r["role"] == "client" and r["nickname"] == "bob")
    assert bob["recv_q"] == 0  # bob's ChatClient reads
