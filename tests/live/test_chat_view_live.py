"""`netlab follow --read F --format chat` on a live capture of students' chat servers and netlab's own.

Small servers written the way students write them (a thread per client, `recv(1024)`, each chunk
forwarded to everyone else: with a ``"\\n[port]: "`` prefix, unchanged, or after the tutorial's bare
``NICK`` exchange), a refused connection, and `netlab serve` with a `/nick` change, all captured on
`lo` by `netlab follow --save-to`. The oracle for each line's time is tshark: the capture time of
the frame whose payload carried the line.
"""

from __future__ import annotations

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
    proc = subprocess.Popen([*NETLAB, "follow", *args, "--save-to", str(saved), "--format", "raw"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # ready once it says it is capturing
        if line.startswith("netlab follow: capturing"):
            return proc
    raise AssertionError(f"follow never started capturing (exit {proc.wait(TIMEOUT)})")


class Frames:
    """The capture's frames with a payload (and its RSTs), read by tshark."""

    def __init__(self, pcap: Path) -> None:
        fields = ["frame.time_epoch", "tcp.srcport", "tcp.dstport", "tcp.flags.reset", "tcp.payload"]
        out = subprocess.run(["tshark", "-r", str(pcap), "-Y", "tcp.len > 0 or tcp.flags.reset == 1", "-T", "fields",
                              *[arg for field in fields for arg in ("-e", field)]],
                             capture_output=True, text=True, timeout=TIMEOUT, check=True).stdout
        self.rows = []
        for line in out.splitlines():
            stamp, src, dst, reset, payload = (line.split("\t") + [""] * 5)[:5]
            self.rows.append((float(stamp), int(src), int(dst), reset in ("1", "True"),
                              bytes.fromhex(payload.replace(":", ""))))

    def carrying(self, text: str, src: int, dst: int) -> str:
        """The clock of the first frame from `src` to `dst` whose payload holds `text`."""
        return clock(self.rows[self.index(text, src, dst)][0])

    def index(self, text: str, src: int, dst: int) -> int:
        """Where the first frame from `src` to `dst` whose payload holds `text` is in capture order."""
        for index, (_, frame_src, frame_dst, _, payload) in enumerate(self.rows):
            if (frame_src, frame_dst) == (src, dst) and text.encode() in payload:
                return index
        raise AssertionError(f"no frame {src}→{dst} carries {text!r}")

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
        ("bob\n", nbob.port, netlab_server, nbob.name, "bob joined"),
        ("alice\n", nalice.port, netlab_server, nalice.name, "alice joined"),
        ("alice joined", netlab_server, nbob.port, nbob.name, "*** alice joined the chat"),
        ("/nick", nbob.port, netlab_server, nbob.name, "bob asks to be called boris"),
        ("known as", netlab_server, nbob.port, nbob.name, "*** bob is now known as boris"),
        ("борис", nbob.port, netlab_server, nbob.name, "boris → everyone: я борис 🐻"),
    ]
    for peer in (alice, bob, alisa, boris, one, two, nbob, nalice):
        peer.close()
    follower.send_signal(signal.SIGINT)
    assert follower.wait(TIMEOUT) == 0

    read = subprocess.run([*NETLAB, "follow", "--read", str(saved), "--format", "chat"],
                          capture_output=True, text=True, timeout=TIMEOUT)
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
