"""`netlab follow --port P` live on loopback, end to end, as a subprocess (real capture, root).

The oracle is what each client socket sent and received: TCP delivered exactly those bytes, so the
transcript must hold each of them exactly once, per stream, in order.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from netlab.chat.server import ChatServer

pytestmark = pytest.mark.live

NETLAB = [sys.executable, "-m", "netlab"]
WITHOUT_CAPTURE_RIGHTS = ["setpriv", "--inh-caps=-net_raw,-net_admin", "--bounding-set=-net_raw,-net_admin", "--"]
TIMEOUT = 30


class Follower:
    """A `netlab follow` subprocess; `ready` is set once it printed its "capturing" line."""

    def __init__(self, args: list[str], out: Path, command: list[str] = NETLAB) -> None:
        self.out_path = out
        self.stdout = open(out, "wb")  # closed in finish()
        self.proc = subprocess.Popen([*command, "follow", *args], stdout=self.stdout, stderr=subprocess.PIPE, text=True)
        self.ready = threading.Event()
        self.stderr_lines: list[str] = []
        self._reader = threading.Thread(target=self._read_stderr)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line)
            if line.startswith("netlab follow: capturing"):
                self.ready.set()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not self.ready.wait(0.1):
            assert self.proc.poll() is None, f"follow exited early: {self.stderr}"
            assert time.monotonic() < deadline, "follow never said it was capturing"

    def finish(self, sig: int | None = signal.SIGINT) -> int:
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(TIMEOUT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(TIMEOUT)
            self.stdout.close()
        return code

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    @property
    def output(self) -> bytes:
        return self.out_path.read_bytes()


@pytest.fixture
def followers() -> Iterator[list[Follower]]:
    started: list[Follower] = []
    yield started
    for follower in started:
        if follower.proc.poll() is None:
            follower.finish(signal.SIGKILL)


@pytest.fixture
def chat_server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    server = ChatServer(port=0, status_dir=tmp_path, flood_rate=0.0)
    address = server.start()
    yield address
    server.stop()


@dataclass
class Client:
    """A scripted line-dialect chat client that records every byte it sent and received."""

    nick: str
    address: tuple[str, int]
    sent: bytearray = field(default_factory=bytearray)
    received: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        self.sock = socket.create_connection(self.address, timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = self.sock.getsockname()[1]
        self.reader = threading.Thread(target=self._read)
        self.reader.start()

    def _read(self) -> None:
        while chunk := self.sock.recv(65536):
            self.received.extend(chunk)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)
        self.sent.extend(data)

    def wait_for(self, needle: bytes) -> None:
        deadline = time.monotonic() + TIMEOUT
        while needle not in self.received:
            assert time.monotonic() < deadline, f"{self.nick} never got {needle!r}: {bytes(self.received)!r}"
            time.sleep(0.01)

    def quit(self) -> None:
        self.send(b"/quit\n")
        self.reader.join(TIMEOUT)  # the server closes after /quit: everything it sent has arrived
        assert not self.reader.is_alive()
        self.sock.close()


def transcript_by_stream(
    jsonl: bytes, server: str
) -> tuple[dict[int, dict[str, bytes]], dict[int, str], list[dict[str, object]]]:
    """Data per stream and direction (concatenated in order), each stream's client, all events.

    Only streams to `server` ("ip:port") count: `--port P` also matches other processes'
    connections that happen to use P as an ephemeral port on another 127.x address.
    """
    data: dict[int, dict[str, bytes]] = {}
    clients: dict[int, str] = {}
    events = [json.loads(line) for line in jsonl.splitlines()]
    for event in events:
        stream = int(event["stream"])  # type: ignore[call-overload]
        if event.get("event") == "opened" and event["server"] == server:
            clients[stream] = str(event["client"])
        elif "data" in event and stream in clients:
            per = data.setdefault(stream, {"c2s": b"", "s2c": b""})
            per[str(event["direction"])] += base64.b64decode(str(event["data"]))
    return data, clients, events


def scripted_chat(address: tuple[str, int]) -> list[Client]:
    """Three clients; Cyrillic, emoji, CJK, a private message, and one emoji split across two sends."""
    clients = []
    for nick in ("alice", "борис", "chen"):
        client = Client(nick, address)
        client.wait_for(b"NICK")
        client.send(nick.encode() + b"\n")
        client.wait_for(b"Welcome to netlab chat")
        clients.append(client)
    alice, boris, chen = clients
    alice.send("привет всем 🙂\n".encode())
    boris.wait_for("привет всем".encode())
    boris.send("/msg alice тайное сообщение\n".encode())
    smile = "улыбка 😀 конец\n".encode()
    cut = smile.index("😀".encode()) + 2  # in the middle of the 4-byte emoji
    chen.send(smile[:cut])
    time.sleep(0.05)  # pacing, not readiness: let the first half leave as a segment of its own
    chen.send(smile[cut:])
    alice.wait_for("конец".encode())
    chen.send("你好 from chen\n".encode())
    alice.wait_for(b"from chen")
    for client in clients:
        client.quit()
    return clients


def check_every_byte_once(jsonl: bytes, clients: list[Client]) -> list[dict[str, object]]:
    host, port = clients[0].address
    data, stream_clients, events = transcript_by_stream(jsonl, f"{host}:{port}")
    assert len(stream_clients) == len(clients), stream_clients  # one stream per connection
    by_port = {int(endpoint.rsplit(":", 1)[1]): stream for stream, endpoint in stream_clients.items()}
    for client in clients:
        stream = by_port[client.port]
        assert data[stream]["c2s"] == bytes(client.sent), client.nick
        assert data[stream]["s2c"] == bytes(client.received), client.nick
    assert not [e for e in events if e.get("event") == "gap" and e["stream"] in stream_clients]
    return events


@pytest.mark.parametrize("backend", ["afpacket", "tcpdump", "scapy"])
def test_live_chat_every_byte_exactly_once_and_save_reads_back_identical(
    backend: str, chat_server: tuple[str, int], tmp_path: Path, followers: list[Follower]
) -> None:
    port = chat_server[1]
    saved = tmp_path / "saved" / "chat.pcap"
    follower = Follower(
        ["--port", str(port), "--format", "json", "--backend", backend, "--save-to", str(saved)],
        tmp_path / "live.jsonl",
    )
    followers.append(follower)
    follower.wait_ready()
    clients = scripted_chat(chat_server)
    assert follower.finish(signal.SIGINT) == 0, follower.stderr
    events = check_every_byte_once(follower.output, clients)
    # the emoji really was cut across two segments
    chen_stream = next(
        int(str(e["stream"]))
        for e in events
        if e.get("event") == "opened" and str(e["client"]).endswith(f":{clients[2].port}")
    )
    chunks = [
        base64.b64decode(str(e["data"]))
        for e in events
        if e.get("stream") == chen_stream and e.get("direction") == "c2s" and "data" in e
    ]
    assert any(chunk.endswith(b"\xf0\x9f") for chunk in chunks), chunks
    assert "0 dropped by the kernel, 0 truncated" in follower.stderr
    assert "Traceback" not in follower.stderr
    reread = subprocess.run(
        [*NETLAB, "follow", "--read", str(saved), "--format", "json"], capture_output=True, timeout=TIMEOUT
    )
    assert reread.returncode == 0, reread.stderr
    assert reread.stdout == follower.output


def test_chat_format_live_shows_each_message_once(
    chat_server: tuple[str, int], tmp_path: Path, followers: list[Follower]
) -> None:
    follower = Follower(["--port", str(chat_server[1]), "--format", "chat"], tmp_path / "chat.txt")
    followers.append(follower)
    follower.wait_ready()
    scripted_chat(chat_server)
    assert follower.finish(signal.SIGTERM) == 0, follower.stderr
    lines = follower.output.decode().splitlines()
    said = [line.split(" ", 3)[3] for line in lines]
    assert said.count("alice → everyone: привет всем 🙂") == 1
    assert said.count("борис → alice (private): тайное сообщение") == 1
    assert said.count("chen → everyone: улыбка 😀 конец") == 1
    assert said.count("chen → everyone: 你好 from chen") == 1
    assert sum("joined" in text and "***" not in text for text in said) == 3


@pytest.mark.parametrize("host", [[], ["--host", "localhost"]])
def test_output_is_live_before_the_capture_stops(host: list[str], tmp_path: Path, followers: list[Follower]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        follower = Follower(["--port", str(port), *host, "--format", "raw"], tmp_path / "raw.bin")
        followers.append(follower)
        follower.wait_ready()
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as conn:
            peer, _ = listener.accept()
            with peer:
                conn.sendall(b"first line, shown at once\n")
                peer.recv(100)
                deadline = time.monotonic() + 10
                while b"shown at once" not in follower.output:  # like `tail -f`
                    assert time.monotonic() < deadline, "the turn was not flushed while capturing"
                    time.sleep(0.02)
                assert follower.proc.poll() is None
    assert follower.finish() == 0


def test_64k_writes_are_not_truncated(tmp_path: Path, followers: list[Follower]) -> None:
    payload = os.urandom(24 * 65_536)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # big window: 65 549-byte frames
        port = listener.getsockname()[1]
        follower = Follower(
            ["--port", str(port), "--format", "json", "--save-to", str(tmp_path / "bulk.pcap")], tmp_path / "bulk.jsonl"
        )
        followers.append(follower)
        follower.wait_ready()
        conn = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        peer, _ = listener.accept()
        received = bytearray()
        reader = threading.Thread(target=lambda: [received.extend(c) for c in iter(lambda: peer.recv(1 << 20), b"")])
        reader.start()
        with conn, peer:
            for start in range(0, len(payload), 65_536):
                conn.sendall(payload[start : start + 65_536])
            conn.shutdown(socket.SHUT_WR)
            reader.join(TIMEOUT)
        assert bytes(received) == payload
    assert follower.finish() == 0, follower.stderr
    data, _, _ = transcript_by_stream(follower.output, f"127.0.0.1:{port}")
    (streams,) = data.values()
    assert streams["c2s"] == payload
    assert "0 truncated by the snap length" in follower.stderr
    assert "cut by the snap length" not in follower.stderr
    frames = subprocess.run(
        ["tshark", "-r", str(tmp_path / "bulk.pcap"), "-T", "fields", "-e", "frame.len"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if frames.returncode == 0:  # tshark opens the saved file, and it holds loopback's biggest frames whole
        assert max(int(size) for size in frames.stdout.split()) > 65_535


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux) to drop rights")
def test_without_capture_rights_exit_77_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [*WITHOUT_CAPTURE_RIGHTS, *NETLAB, "follow", "--port", "9"], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 77, result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("netlab: no permission to capture on lo")
    assert "root" in line and "setcap" in line and "--read" in line


@pytest.mark.parametrize(
    ("args", "needs_traffic"),
    [(["--duration", "0.5"], False), (["--until-idle", "0.5"], False), (["--count", "3"], True)],
)
def test_duration_idle_and_count_end_the_capture(
    args: list[str], needs_traffic: bool, tmp_path: Path, followers: list[Follower]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        follower = Follower(["--port", str(port), *args], tmp_path / "out.txt")
        followers.append(follower)
        follower.wait_ready()
        if needs_traffic:
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT):
                listener.accept()[0].close()
        assert follower.finish(sig=None) == 0, follower.stderr
    if needs_traffic:
        assert "captured 3 frame(s)" in follower.stderr


def test_live_options_with_read_are_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [*NETLAB, "follow", "--read", str(tmp_path / "x.pcap"), "--save"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 2
    assert "only apply to live capture" in result.stderr


NO_LIBPCAP = [
    sys.executable,
    "-c",
    "import sys; import netlab.capture.bpf as bpf; bpf.LIBPCAP_NAMES = ('libpcap-not-here.so.9',); "
    "from netlab.cli.app import main; sys.argv = ['netlab', *sys.argv[1:]]; main()",
]


def test_without_libpcap_follow_says_so_and_still_captures(tmp_path: Path, followers: list[Follower]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        follower = Follower(["--port", str(port), "--format", "raw"], tmp_path / "raw.bin", command=NO_LIBPCAP)
        followers.append(follower)
        follower.wait_ready()
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as conn:
            peer, _ = listener.accept()
            with peer:
                conn.sendall("без libpcap\n".encode())
                peer.recv(100)
    assert follower.finish() == 0, follower.stderr
    assert follower.output == "без libpcap\n".encode()
    assert "libpcap is not installed: using a built-in kernel filter for 'tcp port" in follower.stderr


def test_without_libpcap_a_raw_filter_is_exit_69_one_line() -> None:
    result = subprocess.run([*NO_LIBPCAP, "follow", "--filter", "udp"], capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 69, result.stderr
    (line,) = result.stderr.splitlines()
    assert "libpcap is not installed" in line and "--port" in line


def test_save_without_a_path_writes_captures_follow_time_pcap(tmp_path: Path) -> None:
    result = subprocess.run(
        [*NETLAB, "follow", "--port", "9", "--save", "--duration", "0.2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    (saved,) = (tmp_path / "captures").glob("follow-*.pcap")
    assert saved.name[len("follow-") : -len(".pcap")].replace("-", "").isdigit()
    assert f"saving to {Path('captures') / saved.name}" in result.stderr
    reread = subprocess.run([*NETLAB, "follow", "--read", str(saved)], capture_output=True, text=True, timeout=TIMEOUT)
    assert reread.returncode == 0 and reread.stdout == ""
