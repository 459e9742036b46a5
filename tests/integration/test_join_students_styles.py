"""`netlab join --dialect auto` chats both ways with the kinds of server students write (issue 15): a token
other than NICK, plain-text prompts for a name, a server that silently takes the first line as the name and
prefixes every relayed chunk with it. Each server here is a small threaded relay in the students' style."""

from __future__ import annotations

import socket
import threading

import pytest
from test_chat_support import RelayServer, wait_for

from netlab.chat.client import ChatClient

pytestmark = pytest.mark.timeout(60)


class StyledServer(RelayServer):
    """Greets with `greeting` (b"" for nothing), takes what comes next as the name (a recv, stripped), then
    relays every chunk to the others as `prefix.format(name=...) + chunk`."""

    def __init__(self, greeting: bytes, prefix: str, reads_lines: bool = False) -> None:
        self.greeting = greeting
        self.prefix = prefix
        self.reads_lines = reads_lines
        super().__init__()

    def _serve(self, sock: socket.socket) -> None:
        try:
            if self.greeting:
                sock.sendall(self.greeting)
            name = self._first(sock)
            with self.lock:
                self.clients.append(sock)
            while data := sock.recv(1024):
                self._broadcast(self.prefix.format(name=name).encode() + data, sock)
        except OSError:
            pass
        finally:
            with self.lock:
                if sock in self.clients:
                    self.clients.remove(sock)
            sock.close()

    def _first(self, sock: socket.socket) -> str:
        if not self.reads_lines:
            return sock.recv(1024).decode(errors="replace").strip()
        buffer = b""
        while b"\n" not in buffer:
            chunk = sock.recv(1)
            if not chunk:
                raise ConnectionResetError
            buffer += chunk
        return buffer.decode(errors="replace").strip()

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept thread
        self.listener.close()
        with self.lock:
            for client in self.clients:
                client.shutdown(socket.SHUT_RDWR)
        self.acceptor.join(5)
        for thread in self.threads:
            thread.join(5)


STYLES = {
    # a token server is the tutorial's: the client puts "name: " in front of its messages, the server relays as is
    "NAME token": (b"NAME", "", False),
    "USERNAME token, newline": (b"USERNAME\n", "", True),
    "Submit Username prompt": (b"Submit Username: ", "[{name}] ", False),
    "type your name prompt": (b"Now, type your name and press enter\n", "{name} says: ", True),
    "silent, first line is the name": (b"", "{name}: ", True),
}


@pytest.mark.parametrize("style", list(STYLES))
def test_auto_chats_both_ways(style: str) -> None:
    greeting, prefix, reads_lines = STYLES[style]
    server = StyledServer(greeting, prefix, reads_lines)
    try:
        with (
            ChatClient.connect("127.0.0.1", server.address[1], "ann", dialect="auto", timeout=3) as ann,
            ChatClient.connect("127.0.0.1", server.address[1], "ben", dialect="auto", timeout=3) as ben,
        ):
            assert wait_for(lambda: len(server.clients) == 2)
            assert ann.session.greeting is not None and ann.session.greeting.evidence == greeting
            ann.send("hello ben")
            got = ben.receive(3)
            said = "ann: hello ben" if "token" in style else prefix.format(name="ann") + "hello ben"
            assert got is not None and got.line.strip() == said
            ben.send("hi ann")
            back = ann.receive(3)
            said = "ben: hi ann" if "token" in style else prefix.format(name="ben") + "hi ann"
            assert back is not None and back.line.strip() == said
    finally:
        server.close()


def test_join_v_says_which_dialect_and_from_which_bytes() -> None:
    import subprocess
    import sys

    server = StyledServer(b"NAME", "{name}: ")
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "netlab",
                "join",
                "-v",
                "--port",
                str(server.address[1]),
                "--nick",
                "zed",
                "--linger",
                "0",
            ],
            input="hello\n",
            capture_output=True,
            text=True,
            timeout=20,
        )
    finally:
        server.close()
    assert done.returncode == 0, done.stderr
    assert "tutorial dialect: the server greets with the token 'NAME' (first bytes: b'NAME')" in done.stderr


def test_no_thread_is_left_behind() -> None:
    assert threading.active_count() < 50
