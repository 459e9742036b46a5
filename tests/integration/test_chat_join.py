"""`netlab join` leaves no trace: the exact bytes it puts on the wire, recorded by a proxy between it and
netlab serve, a students' tutorial server and a raw relay; the server's log and `/who` naming its dialect
alike; the stop words per dialect; the prompt following a confirmed `/nick`."""

from __future__ import annotations

import logging
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_chat_cli import Pty
from test_chat_support import LineClient, RelayServer, running_server, wait_for
from typer.testing import CliRunner

from netlab.chat.client import ChatClient
from netlab.chat.server import ChatServer
from netlab.chat.wire import WELCOME_RE
from netlab.cli.app import app

pytestmark = pytest.mark.timeout(60)

C2S, S2C = "c2s", "s2c"


@dataclass
class Recording:
    """What crossed one proxied connection, chunk by chunk, in the order the proxy saw it."""

    chunks: list[tuple[str, bytes]] = field(default_factory=list)
    client_eof: str = ""  # how the client ended its side: "fin" or "reset"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, direction: str, data: bytes) -> None:
        with self.lock:
            self.chunks.append((direction, data))

    def bytes(self, direction: str) -> bytes:
        with self.lock:
            return b"".join(data for way, data in self.chunks if way == direction)

    def turns(self) -> list[tuple[str, bytes]]:
        """Consecutive chunks of one direction merged, as Follow TCP Stream shows them."""
        merged: list[tuple[str, bytes]] = []
        with self.lock:
            for way, data in self.chunks:
                if merged and merged[-1][0] == way:
                    merged[-1] = (way, merged[-1][1] + data)
                else:
                    merged.append((way, data))
        return merged


class RecordingProxy:
    """A TCP proxy on 127.0.0.1:0 in front of `upstream` that records every connection's bytes and passes
    each side's FIN on to the other (so a clean close stays clean)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.recordings: list[Recording] = []
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept)
        self.acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream, timeout=5)
            record = Recording()
            self.recordings.append(record)
            for source, target, way in ((client, server, C2S), (server, client, S2C)):
                thread = threading.Thread(target=self._pump, args=(source, target, way, record))
                self.threads.append(thread)
                thread.start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, way: str, record: Recording) -> None:
        source.settimeout(20)
        try:
            while data := source.recv(65536):
                record.add(way, data)
                target.sendall(data)
            if way == C2S:
                record.client_eof = "fin"
        except ConnectionResetError:
            if way == C2S:
                record.client_eof = "reset"
        except OSError:
            pass
        finally:
            try:
                target.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def only(self) -> Recording:
        assert wait_for(lambda: len(self.recordings) == 1)
        record = self.recordings[0]
        assert wait_for(lambda: bool(record.client_eof)), "the client never closed its side"
        return record

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.acceptor.join()
        for thread in self.threads:
            thread.join(10)


class StudentServer(RelayServer):
    """A students' server written the classic way: `tutorial` greets with a bare NICK and takes the next
    recv() as the nickname (`announce`: then says "X joined!" to everyone and "Connected to server!" to
    the newcomer; otherwise says nothing); every later chunk is relayed unchanged to the others. Without
    `tutorial` it is a raw relay: no greeting, chunks forwarded. A client's EOF ends its thread."""

    def __init__(self, tutorial: bool, announce: bool = True) -> None:
        self.tutorial, self.announce = tutorial, announce
        self.nicks: list[bytes] = []
        super().__init__()  # starts accepting: the settings above come first

    def _serve(self, sock: socket.socket) -> None:
        try:
            if self.tutorial:
                sock.sendall(b"NICK")
                nick = sock.recv(1024)
                self.nicks.append(nick)
                with self.lock:
                    self.clients.append(sock)
                if self.announce:
                    self._broadcast(nick + b" joined!", None)
                    sock.sendall(b"Connected to server!")
            else:
                with self.lock:
                    self.clients.append(sock)
            while chunk := sock.recv(1024):
                self._broadcast(chunk, sock)
        except OSError:
            pass
        finally:
            self._leave(sock)


@pytest.fixture
def netlab_server(tmp_path: Path) -> Iterator[ChatServer]:
    with running_server(tmp_path) as chat:
        yield chat


def proxied(address: tuple[str, int]) -> RecordingProxy:
    return RecordingProxy((address[0], address[1]))


def run_join(port: int, nick: str, lines: str, *extra: str) -> None:
    result = CliRunner().invoke(
        app, ["join", "--port", str(port), "--nick", nick, "--linger", "0.3", *extra], input=lines
    )
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------ netlab serve


@pytest.mark.parametrize("dialect", ["auto", "netlab"])
def test_join_puts_only_its_handshake_lines_and_quit_on_netlab_serve(netlab_server: ChatServer, dialect: str) -> None:
    """Auto-detection adds nothing: the client sends `alice\\n`, its lines and `/quit\\n`, as a scripted lab
    client does; the server's side is `NICK` then whole lines, and no server turn is a bare newline."""
    bob = LineClient(netlab_server.address, "bob")
    bob.say("history before alice")
    proxy = proxied(netlab_server.address)
    try:
        run_join(proxy.port, "alice", "hello\nпривет 👋\n", "--dialect", dialect)
        record = proxy.only()
    finally:
        proxy.close()
        bob.close()
    assert record.bytes(C2S) == "alice\nhello\nпривет 👋\n/quit\n".encode()
    assert record.client_eof == "fin"
    s2c = record.bytes(S2C)
    assert s2c.startswith(b"NICK") and s2c.endswith(b"\n")
    lines = s2c[4:].decode().split("\n")[:-1]
    assert WELCOME_RE.match(lines[0]), lines
    assert lines[1].endswith("bob: history before alice"), lines
    assert all(line for line in lines), lines  # whole lines, none empty
    assert [data for way, data in record.turns() if way == S2C and not data.strip()] == []


def test_auto_detection_settles_in_one_round_trip_and_the_log_names_the_dialect_who_shows(
    netlab_server: ChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="netlab.chat.server")
    with ChatClient.connect("127.0.0.1", netlab_server.address[1], "autouser", dialect="auto") as client:
        assert client.dialect == "netlab" and client.welcome is not None
        assert wait_for(lambda: any("autouser joined" in r.getMessage() for r in caplog.records))
        rows = {row.nick: row.dialect for row in netlab_server.who()}
    joined = [r.getMessage() for r in caplog.records if "autouser joined" in r.getMessage()]
    assert len(joined) == 1 and joined[0].endswith(f"({rows['autouser']} dialect)") and rows["autouser"] == "line"


def test_log_and_who_agree_for_tutorial_and_older_switching_clients(
    netlab_server: ChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A real tutorial client is logged and listed as tutorial; an older netlab join that switched with
    `/dialect line` as line (its log line waits for the switch)."""
    caplog.set_level(logging.INFO, logger="netlab.chat.server")
    tutorial = socket.create_connection(netlab_server.address, timeout=5)
    old = socket.create_connection(netlab_server.address, timeout=5)
    try:
        for sock, nick in ((tutorial, b"tut"), (old, b"old")):
            assert sock.recv(4) == b"NICK"
            sock.sendall(nick)
        for sock in (tutorial, old):
            assert b"Welcome" in sock.recv(4096)
        old.sendall(b"/dialect line\n")
        tutorial.sendall(b"tut: hi")
        assert wait_for(lambda: sum(" joined from " in r.getMessage() for r in caplog.records) == 2)
        rows = {row.nick: row.dialect for row in netlab_server.who()}
    finally:
        tutorial.close()
        old.close()
    logged = {
        r.getMessage().split()[0]: r.getMessage().rsplit("(", 1)[1].split()[0]
        for r in caplog.records
        if " joined from " in r.getMessage()
    }
    assert logged == rows == {"tut": "tutorial", "old": "line"}


def test_a_completed_nickname_line_gets_held_messages_as_lines(tmp_path: Path) -> None:
    """By hand, the auto handshake against netlab serve: what others say between the welcome and the
    completing newline is held, then arrives as whole lines; the server's stream equals a line client's."""
    with running_server(tmp_path, history=0, dialect_window=5.0) as chat:
        bob = LineClient(chat.address, "bob")
        sock = socket.create_connection(chat.address, timeout=5)
        try:
            assert sock.recv(4) == b"NICK"
            sock.sendall(b"alice")
            welcome = sock.recv(4096)
            assert WELCOME_RE.match(welcome.decode()) and not welcome.endswith(b"\n")
            bob.expect("alice joined")
            bob.say("while you were deciding")
            sock.settimeout(0.3)
            with pytest.raises(TimeoutError):
                sock.recv(4096)  # held: alice has not said which dialect she speaks
            sock.sendall(b"\n")
            sock.settimeout(5)
            rest = b""
            while not rest.endswith(b"while you were deciding\n"):
                rest += sock.recv(4096)
            assert rest.startswith(b"\n[") and rest.count(b"\n") == 2
            sock.sendall(b"/who\n")
            rest = b""
            while not rest.endswith(b"\n"):
                rest += sock.recv(4096)
            assert b"*** Online (2): alice, bob" in rest and rest.count(b"\n") == 1
            assert {row.nick: row.dialect for row in chat.who()} == {"alice": "line", "bob": "line"}
        finally:
            sock.close()
            bob.close()


def test_a_quiet_room_ends_the_welcome_line_with_the_next_line(tmp_path: Path) -> None:
    """Nothing held at the switch: the welcome's newline goes in front of the next line, not alone."""
    with running_server(tmp_path, history=0) as chat:
        sock = socket.create_connection(chat.address, timeout=5)
        try:
            assert sock.recv(4) == b"NICK"
            sock.sendall(b"solo")
            assert WELCOME_RE.match(sock.recv(4096).decode())
            sock.sendall(b"\n")
            sock.settimeout(0.3)
            with pytest.raises(TimeoutError):
                sock.recv(4096)  # no lone newline
            sock.settimeout(5)
            sock.sendall(b"/who\n")
            reply = sock.recv(4096)
            assert reply.startswith(b"\n[") and reply.endswith(b"*** Online (1): solo\n")
            sock.sendall(b"/quit\n")
            assert sock.recv(4096) == b""
        finally:
            sock.close()
        quiet = socket.create_connection(chat.address, timeout=5)
        try:
            assert quiet.recv(4) == b"NICK"
            quiet.sendall(b"hush")
            assert WELCOME_RE.match(quiet.recv(4096).decode())
            quiet.sendall(b"\n/quit\n")
            assert quiet.recv(4096) == b""  # nothing followed the welcome: no lone newline at the close either
        finally:
            quiet.close()


# ------------------------------------------------------------------ students' servers


def test_auto_on_a_tutorial_server_sends_the_bare_nickname_and_chunks_only() -> None:
    server = StudentServer(tutorial=True)
    proxy = proxied(server.address)
    try:
        run_join(proxy.port, "bob", "hello\nвыход\nnot sent\n")
        record = proxy.only()
    finally:
        proxy.close()
        server.close()
    # detected tutorial servers get newline-terminated messages (issue 15: servers that frame lines need it)
    assert record.bytes(C2S) == b"bobbob: hello\n"
    assert [data for way, data in record.turns() if way == C2S] == [b"bob", b"bob: hello\n"]
    assert record.client_eof == "fin"
    assert server.nicks == [b"bob"]


def test_auto_on_a_silent_tutorial_server_adds_no_newline_to_the_nickname() -> None:
    """A tutorial server that answers the nickname with nothing looks like no netlab server: no `\\n` completes
    the nickname; messages end in one."""
    server = StudentServer(tutorial=True, announce=False)
    proxy = proxied(server.address)
    try:
        run_join(proxy.port, "quiet", "one\n")
        record = proxy.only()
    finally:
        proxy.close()
        server.close()
    assert record.bytes(C2S) == b"quietquiet: one\n"
    assert server.nicks == [b"quiet"]


def test_auto_on_a_silent_relay_introduces_itself_then_sends_the_user_lines() -> None:
    """A server that sends nothing may take the first line as the name (issue 15): the nickname goes first,
    as a line, and every line ends in a newline."""
    server = StudentServer(tutorial=False)
    proxy = proxied(server.address)
    try:
        run_join(proxy.port, "raw", "first\nexit\nsecond\n")
        record = proxy.only()
    finally:
        proxy.close()
        server.close()
    assert record.bytes(C2S) == b"raw\nfirst\n"
    assert record.client_eof == "fin"


# ------------------------------------------------------------------ stop words


@pytest.mark.parametrize("word", ["/exit", "/quit", "exit", "выход", "  ВЫХОД  ", "/QUIT"])
def test_stop_words_send_quit_to_netlab_serve_and_nothing_after(netlab_server: ChatServer, word: str) -> None:
    proxy = proxied(netlab_server.address)
    try:
        run_join(proxy.port, "stopper", f"before\n{word}\nafter\n")
        record = proxy.only()
    finally:
        proxy.close()
    assert record.bytes(C2S) == b"stopper\nbefore\n/quit\n"
    assert record.client_eof == "fin"


def test_quit_with_a_reason_is_passed_on(netlab_server: ChatServer) -> None:
    watcher = LineClient(netlab_server.address, "watcher")
    proxy = proxied(netlab_server.address)
    try:
        run_join(proxy.port, "leaver", "/quit see you\n")
        record = proxy.only()
        assert watcher.expect("leaver left").endswith("leaver left the chat (see you)")
    finally:
        proxy.close()
        watcher.close()
    assert record.bytes(C2S) == b"leaver\n/quit see you\n"


@pytest.mark.parametrize("dialect", ["tutorial", "raw"])
def test_end_of_input_leaves_students_servers_by_closing(dialect: str) -> None:
    """Ctrl-D (the end of the input) on a tutorial server or a raw relay: no farewell bytes, a clean FIN."""
    server = StudentServer(tutorial=dialect == "tutorial")
    proxy = proxied(server.address)
    try:
        run_join(proxy.port, "eve", "bye all\n", "--dialect", dialect)
        record = proxy.only()
        assert wait_for(lambda: not server.clients)  # the server saw the EOF and dropped us
    finally:
        proxy.close()
        server.close()
    expected = b"eveeve: bye all" if dialect == "tutorial" else b"bye all"
    assert record.bytes(C2S) == expected
    assert record.client_eof == "fin"


# ------------------------------------------------------------------ the prompt follows /nick


def test_prompt_follows_the_confirmed_nickname_and_keeps_it_when_refused(netlab_server: ChatServer) -> None:
    holder = LineClient(netlab_server.address, "taken")
    term = Pty([sys.executable, "-m", "netlab", "join", "--port", str(netlab_server.address[1]), "--nick", "bob"])
    try:
        term.read_until(b"bob>")
        term.type("/nick борис\r")
        term.read_until("is now known as борис".encode())
        term.read_until("борис>".encode())
        holder.expect("bob is now known as борис")
        start = len(term.output)
        term.type("/nick taken\r")
        term.read_until(b"is taken")
        term.read_until("борис>".encode())
        assert b"taken>" not in term.output[start:]
        term.type("/exit\r")
        assert holder.expect("борис left").endswith("борис left the chat")
    finally:
        code = term.close()
        holder.close()
    assert code == 0


def test_the_line_ui_follows_the_confirmed_nickname(netlab_server: ChatServer) -> None:
    """Through a pipe (the line UI): after `/nick борис` and the server's confirmation the client is борис;
    a refused change keeps борис."""
    import io

    from netlab.chat.ui_line import run_line_ui

    holder = LineClient(netlab_server.address, "taken")
    client = ChatClient.connect("127.0.0.1", netlab_server.address[1], "bob", dialect="auto")
    out = io.StringIO()
    try:
        run_line_ui(client, ["/nick борис\n", "/nick taken\n", "/who\n"], out, linger=0.5)
    finally:
        holder.close()
    assert "bob is now known as борис" in out.getvalue()
    assert "Nickname 'taken' is taken" in out.getvalue()
    assert "Online (2): taken, борис" in out.getvalue()
    assert client.nick == "борис"


def test_ctrl_d_at_the_prompt_quits_cleanly(netlab_server: ChatServer) -> None:
    watcher = LineClient(netlab_server.address, "watcher")
    term = Pty([sys.executable, "-m", "netlab", "join", "--port", str(netlab_server.address[1]), "--nick", "dee"])
    try:
        term.read_until(b"dee>")
        watcher.expect("dee joined")
        term.type("\x04")
        assert watcher.expect("dee left").endswith("dee left the chat")  # by /quit, not "(connection closed)"
    finally:
        code = term.close()
        watcher.close()
    assert code == 0
