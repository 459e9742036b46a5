"""`netlab follow --read F --format chat` on a live capture of students' chat servers and netlab's own.

Small servers written the way students write them (a thread per client, `recv(1024)`, each chunk
forwarded to everyone else: with a ``"\\n[port]: "`` prefix, unchanged, or after the tutorial's bare
``NICK`` exchange), a refused connection, and `netlab serve` with a `/nick` change, all captured on
`lo` by `netlab follow --save-to`. The oracle for each line's time is tshark: the capture time of
the frame whose payload carried the line.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from netlab.chat.server import ChatServer

pytestmark = [pytest.mark.live, pytest.mark.tshark]

NETLAB = [sys.executable, "-m", "netlab"]
TIMEOUT = 30


class StudentServer:
    """A students' chat server: one thread per client, `recv(1024)`, every chunk forwarded to the others.

    `style` is "prefix" (``"\\n[port]: " + chunk``), "chunks" (unchanged) or "tutorial" (``NICK``
    first, then ``"nick joined the chat!"`` to the others, then chunks unchanged).
    """

    def __init__(self, style: str) -> None:
        self.style = style
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.members: list[socket.socket] = []
        self.joined = threading.Condition(self.lock)
        self.threads: list[threading.Thread] = []
        self.accepter = threading.Thread(target=self._accept)
        self.accepter.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, address = self.listener.accept()
            except OSError:
                return  # stop() shut the listener down
            thread = threading.Thread(target=self._serve, args=(conn, address[1]))
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, port: int) -> None:
        with conn:
            try:
                if self.style == "tutorial":
                    conn.sendall(b"NICK")
                    nick = conn.recv(1024).decode("utf-8", errors="replace")
                    self._forward(f"{nick} joined the chat!".encode(), conn)
                with self.joined:
                    self.members.append(conn)
                    self.joined.notify_all()
                while chunk := conn.recv(1024):
                    self._forward(f"\n[{port}]: ".encode() + chunk if self.style == "prefix" else chunk, conn)
            except OSError:
                return  # stop() shut the connection down
            finally:
                with self.lock:
                    if conn in self.members:
                        self.members.remove(conn)

    def _forward(self, data: bytes, sender: socket.socket) -> None:
        with self.lock:
            others = [member for member in self.members if member is not sender]
        for member in others:
            member.sendall(data)

    def wait_members(self, count: int) -> None:
        with self.joined:
            assert self.joined.wait_for(lambda: len(self.members) >= count, TIMEOUT), "clients never joined"

    def stop(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.accepter.join(TIMEOUT)
        with self.lock:
            for member in self.members:
                member.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join(TIMEOUT)


class Peer:
    """A client socket that records what it received."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port: int = self.sock.getsockname()[1]
        self.name = f"127.0.0.1:{self.port}"
        self.received = bytearray()
        self.reader = threading.Thread(target=self._read)
        self.reader.start()

    def _read(self) -> None:
        try:
            while chunk := self.sock.recv(65536):
                self.received.extend(chunk)
        except OSError:
            return

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode())

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while text.encode() not in self.received:
            assert time.monotonic() < deadline, f"never got {text!r}: {bytes(self.received)!r}"
            time.sleep(0.005)

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.reader.join(TIMEOUT)
        self.sock.close()


@pytest.fixture
def students() -> Iterator[dict[str, StudentServer]]:
    servers = {style: StudentServer(style) for style in ("prefix", "tutorial", "chunks")}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def netlab_server(tmp_path: Path) -> Iterator[int]:
    server = ChatServer(port=0, status_dir=tmp_path, flood_rate=0.0, history=0)
    _, port = server.start()
    yield port
    server.stop()


def capture(ports: list[int], saved: Path) -> subprocess.Popen[str]:
    args = [arg for port in ports for arg in ("--port", str(port))]
    proc = subprocess.Popen(
        [*NETLAB, "follow", *args, "--save-to", str(saved), "--format", "raw"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # ready once it says it is capturing
        if line.startswith("netlab follow: capturing"):
            return proc
    raise AssertionError(f"follow never started capturing (exit {proc.wait(TIMEOUT)})")


class Frames:
    """The capture's frames with a payload (and its RSTs), read by tshark."""

    def __init__(self, pcap: Path) -> None:
        fields = ["frame.time_epoch", "tcp.srcport", "tcp.dstport", "tcp.flags.reset", "tcp.payload", "tcp.flags.fin"]
        out = subprocess.run(
            [
                "tshark",
                "-r",
                str(pcap),
                "-Y",
                "tcp.len > 0 or tcp.flags.reset == 1 or tcp.flags.fin == 1",
                "-T",
                "fields",
                *[arg for field in fields for arg in ("-e", field)],
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
        ).stdout
        self.rows = []
        self.fins: list[tuple[int, int]] = []  # (source port, destination port) of each FIN, by row
        for line in out.splitlines():
            stamp, src, dst, reset, payload, fin = (line.split("\t") + [""] * 6)[:6]
            self.rows.append(
                (float(stamp), int(src), int(dst), reset in ("1", "True"), bytes.fromhex(payload.replace(":", "")))
            )
            self.fins.append((int(src), int(dst)) if fin in ("1", "True") else (0, 0))

    def carrying(self, text: str, src: int, dst: int) -> str:
        """The clock of the first frame from `src` to `dst` whose payload holds `text`."""
        return clock(self.rows[self.index(text, src, dst)][0])

    def index(self, text: str, src: int, dst: int) -> int:
        """Where the first frame from `src` to `dst` whose payload holds `text` is in capture order."""
        for index, (_, frame_src, frame_dst, _, payload) in enumerate(self.rows):
            if (frame_src, frame_dst) == (src, dst) and text.encode() in payload:
                return index
        raise AssertionError(f"no frame {src}→{dst} carries {text!r}")

    def first_copy(self, text: str, server: int) -> tuple[int, int]:
        """Where the first frame from `server` whose payload holds `text` is, and the client it went to."""
        for index, (_, src, dst, _, payload) in enumerate(self.rows):
            if src == server and text.encode() in payload:
                return index, dst
        raise AssertionError(f"no frame from {server} carries {text!r}")

    def end(self, client: int, server: int) -> int:
        """The row that ends a connection: its first RST, or the FIN that completes the pair."""
        ends = {(client, server): -1, (server, client): -1}
        for index, (_, src, dst, reset, _) in enumerate(self.rows):
            if (src, dst) in ends and reset:
                return index
            if self.fins[index] in ends and ends[self.fins[index]] < 0:
                ends[self.fins[index]] = index
                if min(ends.values()) >= 0:
                    return index
        raise AssertionError(f"the connection {client}-{server} never ended")

    def reset(self, port: int) -> str:
        for stamp, src, _, reset, _ in self.rows:
            if reset and src == port:
                return clock(stamp)
        raise AssertionError(f"no RST from port {port}")


def clock(stamp: float) -> str:
    return datetime.fromtimestamp(stamp).strftime("%H:%M:%S.%f")[:-3]


def test_chat_view_of_student_servers_and_netlab_in_capture_time_order(
    students: dict[str, StudentServer], netlab_server: int, tmp_path: Path
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        refused_port = closed.getsockname()[1]  # nothing listens there once closed
    prefix, tutorial, chunks = students["prefix"], students["tutorial"], students["chunks"]
    saved = tmp_path / "chat.pcap"
    follower = capture([prefix.port, tutorial.port, chunks.port, refused_port, netlab_server], saved)
    expected: list[tuple[str, int, int, str, str]] = []  # needle, frame src, dst, connection, line

    # a relay that prefixes each chunk with "\n[port]: "
    alice, bob = Peer(prefix.port), Peer(prefix.port)
    prefix.wait_members(2)
    alice.send("Привет, bob! 👋")
    bob.wait_for("Привет, bob! 👋")
    bob.send("/who")
    alice.wait_for("/who")
    expected += [
        ("Привет, bob! 👋", alice.port, prefix.port, alice.name, "client → server: Привет, bob! 👋"),
        ("Привет, bob! 👋", prefix.port, bob.port, bob.name, f"server → client: [{alice.port}]: Привет, bob! 👋"),
        ("/who", bob.port, prefix.port, bob.name, "client → server: /who"),
        ("/who", prefix.port, alice.port, alice.name, f"server → client: [{bob.port}]: /who"),
    ]

    # a refused connection
    with socket.socket() as refused:
        refused.bind(("127.0.0.1", 0))
        refused_client = f"127.0.0.1:{refused.getsockname()[1]}"
        with pytest.raises(ConnectionRefusedError):
            refused.connect(("127.0.0.1", refused_port))
    expected.append(("", refused_port, 0, refused_client, "connection refused"))

    # the tutorial's server: NICK, the nickname, "X joined the chat!", chunks forwarded unchanged
    alisa = Peer(tutorial.port)
    alisa.wait_for("NICK")
    alisa.send("алиса")
    tutorial.wait_members(1)
    boris = Peer(tutorial.port)
    boris.wait_for("NICK")
    boris.send("боб")
    alisa.wait_for("боб joined the chat!")
    boris.send("боб: привет 🙂")
    alisa.wait_for("боб: привет 🙂")
    expected += [
        ("алиса", alisa.port, tutorial.port, alisa.name, "алиса joined (nickname sent after the server's NICK)"),
        ("боб", boris.port, tutorial.port, boris.name, "боб joined (nickname sent after the server's NICK)"),
        ("боб joined", tutorial.port, alisa.port, alisa.name, "server → алиса: боб joined the chat!"),
        ("привет", boris.port, tutorial.port, boris.name, "боб → server: боб: привет 🙂"),
        ("привет", tutorial.port, alisa.port, alisa.name, "server → алиса: боб: привет 🙂"),
    ]

    # a relay that forwards chunks unchanged: two quick chunks stay two lines
    one, two = Peer(chunks.port), Peer(chunks.port)
    chunks.wait_members(2)
    one.send("первый кусок")
    two.wait_for("первый кусок")
    one.send("второй 🚀")
    two.wait_for("второй 🚀")
    two.send("ответ")
    one.wait_for("ответ")
    expected += [
        ("первый", one.port, chunks.port, one.name, "client → server: первый кусок"),
        ("первый", chunks.port, two.port, two.name, "server → client: первый кусок"),
        ("второй", one.port, chunks.port, one.name, "client → server: второй 🚀"),
        ("второй", chunks.port, two.port, two.name, "server → client: второй 🚀"),
        ("ответ", two.port, chunks.port, two.name, "client → server: ответ"),
        ("ответ", chunks.port, one.port, one.name, "server → client: ответ"),
    ]

    # netlab's own server: a /nick change renames the speaker
    nbob = Peer(netlab_server)
    nbob.wait_for("NICK")
    nbob.send("bob\n")
    nbob.wait_for("Welcome to netlab chat")
    nalice = Peer(netlab_server)
    nalice.wait_for("NICK")
    nalice.send("alice\n")
    nalice.wait_for("Welcome to netlab chat")
    nbob.wait_for("alice joined the chat")
    nbob.send("/nick boris\n")
    nalice.wait_for("bob is now known as boris")
    nbob.wait_for("bob is now known as boris")
    nbob.send("я борис 🐻\n")
    nalice.wait_for("я борис 🐻")
    expected += [
        ("bob\n", nbob.port, netlab_server, nbob.name, "bob joined (line dialect)"),
        ("alice\n", nalice.port, netlab_server, nalice.name, "alice joined (line dialect)"),
        ("alice joined", netlab_server, nbob.port, nbob.name, "*** alice joined the chat"),
        ("/nick", nbob.port, netlab_server, nbob.name, "bob asks to be called boris"),
        ("known as", netlab_server, nbob.port, nbob.name, "*** bob is now known as boris"),
        ("борис", nbob.port, netlab_server, nbob.name, "boris → everyone: я борис 🐻"),
    ]
    for peer in (alice, bob, alisa, boris, one, two, nbob, nalice):
        peer.close()
    follower.send_signal(signal.SIGINT)
    assert follower.wait(TIMEOUT) == 0

    read = subprocess.run(
        [*NETLAB, "follow", "--read", str(saved), "--format", "chat"], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert read.returncode == 0, read.stderr
    lines = read.stdout.splitlines()
    frames = Frames(saved)
    refused_at = frames.reset(refused_port)
    # the notice to both is shown once, on the connection whose copy was captured first
    first = min((nbob, nalice), key=lambda peer: frames.index("known as", netlab_server, peer.port))
    renamed = (frames.carrying("known as", netlab_server, first.port), first.name)
    want = []
    for needle, src, dst, connection, text in expected:
        if text == "connection refused":
            want.append((refused_at, connection, text))
        elif needle == "known as":
            want.append((*renamed, text))
        else:
            want.append((frames.carrying(needle, src, dst), connection, text))
    shown = []
    for line in lines:
        at, _stream, connection, text = line.split(" ", 3)
        if not any(word in text for word in ("connection closed", "disconnected", "left the chat", "leaves")):
            shown.append((at, connection, text))
    assert shown == want
    assert not any(word in read.stdout for word in ("breaks the protocol", "is not allowed", "asks who"))
    times = [line.split(" ", 1)[0] for line in lines]
    assert times == sorted(times)  # everything in capture-time order (the clocks are zero-padded)


class Served:
    """`netlab serve --port 0` as a student runs it, its log (stderr) collected."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [*NETLAB, "serve", "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        self.log: list[str] = []
        for line in self.proc.stderr:
            self.log.append(line)
            if "listening on" in line:
                self.port = int(line.split("listening on ", 1)[1].split()[0].rsplit(":", 1)[1])
                break
        else:
            raise AssertionError(f"netlab serve never listened: {self.log}")
        self.reader = threading.Thread(target=self._read)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(TIMEOUT)
        self.reader.join(TIMEOUT)


class Joined:
    """`netlab join --dialect D` in a pipe: each line written to its stdin is typed."""

    def __init__(self, port: int, nick: str, dialect: str) -> None:
        self.proc = subprocess.Popen(
            [*NETLAB, "join", "--port", str(port), "--nick", nick, "--dialect", dialect, "--linger", "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def leave(self, stop_word: str) -> None:
        self.type(stop_word)
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(TIMEOUT) == 0, self.proc.stderr.read() if self.proc.stderr else ""


def test_chat_view_of_netlab_serve_with_every_kind_of_client(tmp_path: Path) -> None:
    """`netlab join` (auto, netlab, tutorial), a tutorial-style client, an nc-style line client, an older
    join that sends `/dialect line`, a client whose `\\n` completing its nickname comes after others spoke
    (lines held with the welcome's newline in front), one that leaves inside its dialect window and a
    `netlab join` whose nickname is taken:
    every chat-view line exactly, at the capture time of its frame, and each join's dialect as the server logged it."""
    served = Served()
    port = served.port
    saved = tmp_path / "dialects.pcap"
    follower = capture([port], saved)
    try:
        eve = Peer(port)  # nc-style: the nickname line, then lines
        eve.wait_for("NICK")
        eve.send("eve\n")
        eve.wait_for("Welcome to netlab chat, eve!")
        ann = Joined(port, "ann", "auto")
        eve.wait_for("*** ann joined the chat")
        taken = subprocess.run(
            [*NETLAB, "join", "--port", str(port), "--nick", "ann"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert taken.returncode != 0 and "taken" in taken.stderr  # refused: its bare nickname went first
        ben = Joined(port, "ben", "netlab")
        eve.wait_for("*** ben joined the chat")
        cat = Joined(port, "кот", "tutorial")
        eve.wait_for("*** кот joined the chat")
        dan = Peer(port)  # the tutorial's client: bare nickname, bare "nick: text" chunks
        dan.wait_for("NICK")
        dan.send("дан")
        dan.wait_for("Welcome to netlab chat, дан!")
        old = Peer(port)  # an older netlab join: bare nickname, then "/dialect line"
        old.wait_for("NICK")
        old.send("old")
        old.wait_for("Welcome to netlab chat, old!")
        old.send("/dialect line\n")
        fay = Peer(port)  # completes its nickname line only after someone spoke
        fay.wait_for("NICK")
        fay.send("fay")
        fay.wait_for("Welcome to netlab chat, fay!")
        eve.send("пока fay молчит 🤐\n")
        old.wait_for("пока fay молчит 🤐")
        fay.send("\n")
        fay.wait_for("пока fay молчит 🤐")
        gus = Peer(port)  # leaves inside its dialect window
        gus.wait_for("NICK")
        gus.send("gus")
        gus.wait_for("Welcome to netlab chat, gus!")
        gus.close()
        eve.wait_for("gus left the chat")
        ann.type("Привет всем 👋")
        eve.wait_for("ann: Привет всем 👋")
        ann.type("/nick анна")
        eve.wait_for("ann is now known as анна")
        ann.type("я анна 🐱")
        eve.wait_for("анна: я анна 🐱")
        cat.type("мяу 😺")
        eve.wait_for("кот: мяу 😺")
        dan.send("дан: привет 🙂")
        eve.wait_for("дан: привет 🙂")
        old.send("старый ✓\n")
        eve.wait_for("old: старый ✓")
        fay.send("/me машет 🖐\n")
        eve.wait_for("* fay машет 🖐")
        ben.type("ben здесь")
        eve.wait_for("ben: ben здесь")
        ann.leave("/exit")
        eve.wait_for("анна left the chat")
        ben.leave("выход")
        eve.wait_for("ben left the chat")
        cat.leave("/quit")
        eve.wait_for("кот left the chat")
        for peer, nick in ((dan, "дан"), (old, "old"), (fay, "fay")):
            peer.close()
            eve.wait_for(f"{nick} left the chat")
        eve.sock.shutdown(socket.SHUT_WR)  # the last to leave waits for the server's FIN (in the capture)
        eve.reader.join(TIMEOUT)
        eve.sock.close()
    finally:
        follower.send_signal(signal.SIGINT)
        assert follower.wait(TIMEOUT) == 0
        served.stop()

    read = subprocess.run(
        [*NETLAB, "follow", "--read", str(saved), "--format", "chat"], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert read.returncode == 0, read.stderr
    frames = Frames(saved)
    logged = {
        match[0]: (int(match[1]), match[2])
        for match in re.findall(r"INFO: (\S+) joined from 127\.0\.0\.1:(\d+) \((\w+) dialect\)", "".join(served.log))
    }
    assert set(logged) == {"eve", "ann", "ben", "кот", "дан", "old", "fay", "gus"}
    assert {nick for nick, (_, dialect) in logged.items() if dialect == "tutorial"} == {"кот", "дан", "gus"}
    want: list[tuple[int, int, str, str]] = []  # row, order, connection, text

    def said(nick: str, needle: str, text: str) -> None:
        client = logged[nick][0]
        want.append((frames.index(needle, client, port), len(want), f"127.0.0.1:{client}", text))

    def notice(needle: str) -> None:  # shown once, on the connection whose copy was captured first
        row, client = frames.first_copy(needle, port)
        want.append((row, len(want), f"127.0.0.1:{client}", needle))

    for nick, (client, dialect) in logged.items():  # a join, at its nickname, with the dialect the server logged
        said(nick, nick, f"{nick} joined ({dialect} dialect)")
        if nick != "eve":
            notice(f"*** {nick} joined the chat")
        left = "*** анна left the chat" if nick == "ann" else f"*** {nick} left the chat"
        if nick != "eve":
            notice(left + ("" if nick in ("ann", "ben") else " (connection closed)"))
        if nick not in ("ann", "ben"):
            ender = "анна" if nick == "ann" else nick
            row = frames.end(client, port)
            how = "rst" if frames.rows[row][3] else "fin"  # a close racing the server's last line ends in a RST
            want.append((row, len(want), f"127.0.0.1:{client}", f"{ender} disconnected ({how})"))
    refused = next(
        src for _, src, dst, _, payload in frames.rows if dst == port and payload == b"ann" and src != logged["ann"][0]
    )
    row, _ = frames.first_copy("!!!", port)
    verdict = frames.rows[row][4].decode().split("] ", 1)[1].rstrip("\n")
    want.append((row, len(want), f"127.0.0.1:{refused}", f"server → ann: {verdict}"))
    end = frames.end(refused, port)
    want.append(
        (
            end,
            len(want),
            f"127.0.0.1:{refused}",
            f"(no nickname yet) disconnected ({'rst' if frames.rows[end][3] else 'fin'})",
        )
    )
    said("eve", "пока fay", "eve → everyone: пока fay молчит 🤐")
    said("ann", "Привет всем", "ann → everyone: Привет всем 👋")
    said("ann", "/nick", "ann asks to be called анна")
    notice("*** ann is now known as анна")
    said("ann", "я анна", "анна → everyone: я анна 🐱")
    said("кот", "мяу", "кот → everyone: мяу 😺")
    said("дан", "привет", "дан → everyone: привет 🙂")
    said("old", "старый", "old → everyone: старый ✓")
    said("fay", "машет", "* fay машет 🖐")
    said("ben", "ben здесь", "ben → everyone: ben здесь")
    said("ann", "/quit", "анна leaves (quit)")
    said("ben", "/quit", "ben leaves (quit)")
    lines = read.stdout.splitlines()
    shown = [tuple(line.split(" ", 3)[0:4:1]) for line in lines]
    assert [(at, connection, text) for at, _stream, connection, text in shown] == [
        (clock(frames.rows[row][0]), connection, text) for row, _, connection, text in sorted(want)
    ]
    assert "tutorial" not in "".join(
        line for line in lines if any(f" {nick} joined" in line for nick in ("ann", "old", "fay"))
    )
    times = [line.split(" ", 1)[0] for line in lines]
    assert times == sorted(times)
