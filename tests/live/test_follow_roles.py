"""Who is the server when `netlab follow` starts mid-chat (no handshake captured), live and read back.

A chat server listens on a port inside or outside the ephemeral range; three clients, bound to ports
*lower* than the server's where possible (so "lower port = server" would be wrong), join before the
capture starts and chat while it runs. Every stream's header must name the real server, and say
which rule decided, live (with and without `--port`) and when the saved capture is read back.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_follow_live import NETLAB, Follower

from netlab.chat.server import ChatServer

pytestmark = pytest.mark.live

HEADER = re.compile(r"== stream (\d+): client (\S+)  ⇄  server (\S+)(?:  \((.*)\))?")


class MidChat:
    """A server on `port` with three clients already joined (bound to `client_ports`)."""

    def __init__(self, port: int, client_ports: list[int]) -> None:
        self.server = ChatServer("127.0.0.1", port)
        self.server.start()
        self.port = port
        self.clients: list[socket.socket] = []
        for i, cport in enumerate(client_ports):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.1", cport))
            self._read_until(sock, b"NICK")
            sock.sendall(f"user{i}\n".encode())
            self._read_until(sock, b"Welcome")
            self.clients.append(sock)
        self.stop = threading.Event()
        self._drain = threading.Thread(target=self._read_all)
        self._drain.start()

    @staticmethod
    def _read_until(sock: socket.socket, marker: bytes) -> None:
        got = b""
        while marker not in got:
            chunk = sock.recv(4096)
            assert chunk, f"server closed before {marker!r}"
            got += chunk

    def _read_all(self) -> None:
        for sock in self.clients:
            sock.settimeout(0.05)
        while not self.stop.is_set():
            for sock in self.clients:
                try:
                    sock.recv(65536)
                except (TimeoutError, BlockingIOError):
                    continue
                except OSError:
                    return

    def chat(self, rounds: int = 3) -> None:
        for r in range(rounds):
            for i, sock in enumerate(self.clients):
                sock.sendall(f"message {r} from user{i} — привет 👋\n".encode())
                time.sleep(0.02)

    def close(self) -> None:
        self.stop.set()
        self._drain.join(5)
        for sock in self.clients:
            sock.close()
        self.server.stop()


def _free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _client_ports(server_port: int) -> list[int]:
    """Three free ports, lower than the server's when there is room (else just below 65535)."""
    candidates = list(range(server_port - 1500, 1024, -97)) if server_port > 2600 else list(range(64000, 65000, 97))
    ports = [p for p in candidates if _free(p)][:3]
    assert len(ports) == 3
    return ports


def _headers(text: str) -> dict[str, tuple[str, str, str]]:
    """client -> (client, server, roles note) for every stream header."""
    found = {}
    for match in HEADER.finditer(text):
        found[match.group(2)] = (match.group(2), match.group(3), match.group(4) or "")
    return found


def _follow_live(tmp_path: Path, chat: MidChat, args: list[str], save: Path) -> str:
    follower = Follower([*args, "--save-to", str(save)], tmp_path / "live.txt")
    try:
        follower.wait_ready()
        chat.chat()
        time.sleep(0.3)
    finally:
        code = follower.finish()
    assert code == 0, follower.stderr
    return follower.output.decode()


def _read(save: Path, *args: str) -> str:
    done = subprocess.run([*NETLAB, "follow", "--read", str(save), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("server_port", [55555, 12345, 8080, 40000])
def test_follow_started_mid_chat_names_the_real_server(tmp_path: Path, server_port: int) -> None:
    if not _free(server_port):
        pytest.fail(f"port {server_port} is in use on this machine; the test needs it")
    cports = _client_ports(server_port)
    chat = MidChat(server_port, cports)
    server = f"127.0.0.1:{server_port}"
    clients = {f"127.0.0.1:{p}" for p in cports}
    try:
        save_with = tmp_path / "with-port.pcap"
        text = _follow_live(tmp_path, chat, ["--port", str(server_port)], save_with)
        live = _headers(text)
        assert set(live) == clients, text[:2000]
        assert all(s == server and "--port" in note for _, s, note in live.values()), live
        # Without --port: the capture filter alone (the default port 55555, or --filter); the
        # listening socket on this host decides.
        filt = [] if server_port == 55555 else ["--filter", f"tcp port {server_port}"]
        save_without = tmp_path / "without-port.pcap"
        text = _follow_live(tmp_path, chat, filt, save_without)
        live = _headers(text)
        assert set(live) == clients, text[:2000]
        assert all(s == server and "listening" in note for _, s, note in live.values()), live
    finally:
        chat.close()
    for save in (save_with, save_without):
        read_with = _headers(_read(save, "--port", str(server_port)))
        assert set(read_with) == clients
        assert all(s == server and "--port" in note for _, s, note in read_with.values())
        read_without = _headers(_read(save))
        assert set(read_without) == clients
        assert all(s == server and "fan-in" in note for _, s, note in read_without.values()), read_without
        opened = [json.loads(line) for line in _read(save, "--format", "json").splitlines() if '"opened"' in line]
        assert {o["server"] for o in opened} == {server}
        assert {(o["roles_guessed"], o["roles_reason"]) for o in opened} == {(True, "fan-in")}


def test_report_of_a_mid_chat_capture_names_the_real_server(tmp_path: Path) -> None:
    port = 55555 if _free(55555) else 55000
    chat = MidChat(port, _client_ports(port))
    try:
        save = tmp_path / "mid.pcap"
        _follow_live(tmp_path, chat, ["--port", str(port)], save)
    finally:
        chat.close()
    out = tmp_path / "report"
    done = subprocess.run(
        [*NETLAB, "report", "--read", str(save), "--out", str(out)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    markdown = (out / "report.md").read_text()
    headings = [line for line in markdown.splitlines() if line.startswith("### stream ")]
    assert sum(line.endswith(f"→ 127.0.0.1:{port}") for line in headings) == 3, markdown[:3000]
    assert markdown.count("Roles: no SYN seen: the server is the end shared by several connections") == 3
    assert "breaks the protocol" not in (out / "report.html").read_text()
    assert sys.executable  # the subprocesses ran this interpreter
