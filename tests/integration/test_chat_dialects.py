"""Dialects side by side: the students' tutorial client on netlab serve, and ChatClient on
students' tutorial and raw relay servers (all written here the way the classic tutorial does)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_chat_support import LineClient, RelayServer, running_server, wait_for

from netlab.chat.client import ChatClient
from netlab.chat.server import ChatServer
from netlab.chat.wire import MessageKind

pytestmark = pytest.mark.timeout(60)


class StudentServer(RelayServer):
    """A students' relay server: `tutorial=True` greets with bare NICK and announces joins;
    otherwise a raw relay (no handshake), optionally prefixing chunks with the sender's port."""

    def __init__(self, tutorial: bool, port_prefix: bool = False) -> None:
        self.tutorial, self.port_prefix = tutorial, port_prefix
        super().__init__()  # starts accepting: the settings above come first

    def _serve(self, sock: socket.socket) -> None:
        port = sock.getpeername()[1]
        try:
            if self.tutorial:
                sock.sendall(b"NICK")
                nick = sock.recv(1024).decode()
                self._broadcast(f"{nick} joined the chat!".encode(), None)
                sock.sendall(b"Connected to server!")
            with self.lock:
                self.clients.append(sock)
            while chunk := sock.recv(1024):
                prefix = f"\n[{port}]: ".encode() if self.port_prefix else b""
                self._broadcast(prefix + chunk, sock)
        except OSError:
            pass
        finally:
            self._leave(sock)


class TutorialClient:
    """The classic students' client: answers a bare NICK with a bare nickname, sends bare
    '<nick>: <text>' chunks, reads with recv(1024) and treats each chunk as one message."""

    def __init__(self, address: tuple[str, int], nick: str) -> None:
        self.nick = nick
        self.sock = socket.create_connection(address, timeout=5)
        assert self.sock.recv(1024).decode() == "NICK"
        self.sock.sendall(nick.encode())
        self.chunks: list[str] = []

    def write(self, text: str) -> None:
        self.sock.sendall(f"{self.nick}: {text}".encode())

    def receive(self, until: str, timeout: float = 5) -> list[str]:
        deadline = time.monotonic() + timeout
        while not any(until in chunk for chunk in self.chunks):
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(1024)
            assert chunk, "server closed"
            self.chunks.append(chunk.decode())
        return self.chunks

    def leave(self) -> None:
        self.sock.sendall(f"{self.nick} has left the chat.".encode())
        self.sock.close()


@pytest.fixture
def netlab_server(tmp_path: Path) -> Iterator[ChatServer]:
    with running_server(tmp_path) as chat:
        yield chat


@pytest.fixture
def tutorial_server() -> Iterator[StudentServer]:
    server = StudentServer(tutorial=True)
    yield server
    server.close()


@pytest.fixture
def raw_server() -> Iterator[StudentServer]:
    server = StudentServer(tutorial=False, port_prefix=True)
    yield server
    server.close()


def test_tutorial_client_on_netlab_serve_sees_each_message_once_and_readable(netlab_server) -> None:
    student = TutorialClient(netlab_server.address, "tut")
    student.receive("Welcome to netlab chat, tut!")
    alice = LineClient(netlab_server.address, "alice")
    student.receive("alice joined the chat")
    alice.say("hello student")
    chunks = student.receive("hello student")
    assert chunks[-1].endswith("] alice: hello student") and "\n" not in chunks[-1].lstrip("\n")
    for i in range(20):
        alice.say(f"m{i}")
    student.receive("m19")
    messages = [m for chunk in student.chunks for m in chunk.split("\n") if " alice: m" in m]
    assert [m.rsplit(" ", 1)[1] for m in messages] == [f"m{i}" for i in range(20)]
    student.write("hi there")
    assert alice.expect("hi there").endswith("] tut: hi there")
    student.sock.sendall(b"[2024-01-01 10:00:00] tut: stamped")
    stamped = alice.expect("stamped")
    assert stamped.endswith("] tut: stamped") and stamped.count("tut") == 1
    student.leave()
    assert alice.expect("tut left").endswith("tut left the chat")
    alice.close()


def test_tutorial_and_line_clients_share_a_room_in_both_directions(netlab_server) -> None:
    students = [TutorialClient(netlab_server.address, f"s{i}") for i in range(3)]
    for student in students:
        student.receive("Welcome")
    students[0].write("from s0")
    for other in students[1:]:
        assert any(chunk.endswith("] s0: from s0") for chunk in other.receive("from s0"))
    for student in students:
        student.leave()


def test_chatclient_tutorial_dialect_on_a_tutorial_server(tutorial_server) -> None:
    with (
        ChatClient.connect("127.0.0.1", tutorial_server.address[1], "ann", dialect="tutorial") as ann,
        ChatClient.connect("127.0.0.1", tutorial_server.address[1], "ben", dialect="auto") as ben,
    ):
        assert ben.dialect == "tutorial"
        assert wait_for(lambda: len(tutorial_server.clients) == 2)
        ann.send("hi ben")
        texts = []
        while not any("hi ben" in t for t in texts):
            message = ben.receive(5)
            assert message is not None
            texts.append(message.text)
        assert "ann: hi ben" in texts


def test_auto_detects_a_raw_relay_and_strips_port_prefixes(raw_server) -> None:
    with (
        ChatClient.connect("127.0.0.1", raw_server.address[1], "r1", dialect="auto") as one,
        ChatClient.connect("127.0.0.1", raw_server.address[1], "r2", dialect="raw") as two,
    ):
        assert one.dialect == "raw"
        assert wait_for(lambda: len(raw_server.clients) == 2)
        one.send("over raw")
        message = two.receive(5)
        assert message is not None and message.kind is MessageKind.RAW
        assert message.text == f"[{one.sock.getsockname()[1]}]: over raw"


def test_auto_detects_netlab_and_switches_to_lines(netlab_server) -> None:
    with (
        ChatClient.connect("127.0.0.1", netlab_server.address[1], "auto1", dialect="auto") as auto,
        ChatClient.connect("127.0.0.1", netlab_server.address[1], "line1", dialect="netlab") as line,
    ):
        assert auto.dialect == "netlab" and auto.welcome is not None
        assert wait_for(lambda: {r.dialect for r in netlab_server.who()} == {"line"})
        for i in range(5):
            auto.send(f"a{i}")
        chats: list[str] = []
        while len(chats) < 5 and (message := line.receive(5)) is not None:
            if message.kind is MessageKind.CHAT:
                chats.append(message.text)
        assert chats == [f"a{i}" for i in range(5)]
        line.send("back at you")
        reply = auto.receive(5)
        while reply is not None and reply.kind is not MessageKind.CHAT:
            reply = auto.receive(5)
        assert reply is not None and (reply.sender, reply.text) == ("line1", "back at you")


@pytest.mark.parametrize("kind", ["tutorial", "raw"])
def test_netlab_join_in_a_pipe_talks_to_students_servers(kind: str, tutorial_server, raw_server) -> None:
    from typer.testing import CliRunner

    from netlab.cli.app import app

    server = tutorial_server if kind == "tutorial" else raw_server
    with ChatClient.connect("127.0.0.1", server.address[1], "peer", dialect=kind) as peer:
        assert wait_for(lambda: len(server.clients) == 1)
        result = CliRunner().invoke(
            app,
            ["join", "--port", str(server.address[1]), "--nick", "bot", "--linger", "0.3"],
            input="hi from the pipe\n",
        )
        assert result.exit_code == 0, result.output
        texts = []
        while not any("hi from the pipe" in t for t in texts):
            message = peer.receive(5)
            assert message is not None
            texts.append(message.text)
        expected = "bot: hi from the pipe" if kind == "tutorial" else "hi from the pipe"
        assert any(t.endswith(expected) for t in texts), texts
