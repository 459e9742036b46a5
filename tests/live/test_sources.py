"""Live capture backends on loopback: whole frames, one copy each, kernel filter, no libpcap needed.

scapy's full dissection is the oracle here (slow but independent of netlab's decoder).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from netlab.capture import bpf
from netlab.capture.live_afpacket import AfPacketCapture
from netlab.capture.sources import BACKENDS, CapturedFrame, LiveCapture, open_live

pytestmark = pytest.mark.live

#: Run a command as root but without CAP_NET_RAW/CAP_NET_ADMIN: what an unprivileged user gets.
WITHOUT_CAPTURE_RIGHTS = ["setpriv", "--inh-caps=-net_raw,-net_admin", "--bounding-set=-net_raw,-net_admin", "--"]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # big window: 65 549-byte frames
    server.settimeout(10)
    yield server
    server.close()


def exchange(server: socket.socket, client_payload: bytes, server_payload: bytes) -> None:
    """One connection: the client sends `client_payload` in 64 KiB writes, the server answers."""
    client = socket.create_connection(server.getsockname(), timeout=10)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    peer, _ = server.accept()
    peer.settimeout(10)
    received = bytearray()

    def receive() -> None:
        while chunk := peer.recv(1 << 20):
            received.extend(chunk)

    reader = threading.Thread(target=receive)
    reader.start()
    with client, peer:
        for start in range(0, len(client_payload), 65_536):
            client.sendall(client_payload[start : start + 65_536])
        client.shutdown(socket.SHUT_WR)
        reader.join(10)
        assert bytes(received) == client_payload
        peer.sendall(server_payload)
        peer.shutdown(socket.SHUT_WR)
        while client.recv(1 << 20):
            pass


def capture_while(capture: LiveCapture, action: threading.Thread) -> list[CapturedFrame]:
    assert capture.started.wait(10)
    action.start()
    frames: list[CapturedFrame] = []

    def stop_after_action() -> None:
        action.join(30)
        capture.stop()

    stopper = threading.Thread(target=stop_after_action)
    stopper.start()
    try:
        frames.extend(capture)
    finally:
        stopper.join(30)
        capture.close()
    return frames


def payload_by_direction(frames: list[CapturedFrame], server_port: int) -> dict[str, bytes]:
    """Reassemble with scapy (no loss expected, so ordering by seq is enough).

    Only our server's connections count: `tcp port P` also matches other processes' connections
    that happen to use P as an ephemeral port on another 127.x address.
    """
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    pieces: dict[str, dict[int, bytes]] = {"c2s": {}, "s2c": {}}
    for frame in frames:
        packet = Ether(frame.data)
        tcp = packet[TCP]
        if (packet[IP].dst, tcp.dport) == ("127.0.0.1", server_port):
            direction = "c2s"
        elif (packet[IP].src, tcp.sport) == ("127.0.0.1", server_port):
            direction = "s2c"
        else:
            continue
        data = bytes(tcp.payload)
        if data:
            assert pieces[direction].setdefault(tcp.seq, data) == data
    return {key: b"".join(chunk for _, chunk in sorted(value.items())) for key, value in pieces.items()}


def open_backend(name: str, port: int) -> LiveCapture:
    """`afpacket-ring` is the afpacket backend reading a TPACKET_V3 ring (opt-in)."""
    if name == "afpacket-ring":
        capture = AfPacketCapture("lo", bpf.compile_filter(f"tcp port {port}", 1), ring=True)
        assert capture.mode == "ring"
        return capture
    capture = open_live("lo", ports=[port], backend=name)
    if name == "afpacket":
        assert isinstance(capture, AfPacketCapture) and capture.mode == "recv"
    return capture


@pytest.mark.parametrize("backend", [*BACKENDS, "afpacket-ring"])
def test_64k_writes_are_captured_whole_and_once(backend: str, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    upload = os.urandom(16 * 65_536 + 123)
    answer = "привет, мир 🙂\n".encode() * 100
    capture = open_backend(backend, port)
    frames = capture_while(capture, threading.Thread(target=exchange, args=(listener, upload, answer)))
    assert capture.stats().truncated == 0
    assert capture.stats().kernel_drops == 0
    assert all(frame.orig_len == len(frame.data) for frame in frames)
    assert max(len(frame.data) for frame in frames) > 65_535  # loopback's big frames survived whole
    assert len({frame.data for frame in frames}) == len(frames)  # loopback's second copy is gone
    assert payload_by_direction(frames, port) == {"c2s": upload, "s2c": answer}


@pytest.mark.parametrize("backend", ["afpacket", "afpacket-ring", "scapy"])
def test_kernel_filter_keeps_other_ports_out(backend: str, listener: socket.socket) -> None:
    other = socket.create_server(("127.0.0.1", 0))
    other.settimeout(10)
    port = listener.getsockname()[1]
    capture = open_backend(backend, port)

    def traffic() -> None:
        exchange(other, b"not for us", b"no")
        exchange(listener, b"for us", b"yes")

    try:
        frames = capture_while(capture, threading.Thread(target=traffic))
    finally:
        other.close()
    assert payload_by_direction(frames, port) == {"c2s": b"for us", "s2c": b"yes"}


def test_without_libpcap_afpacket_still_captures(monkeypatch: pytest.MonkeyPatch, listener: socket.socket) -> None:
    monkeypatch.setattr(bpf, "LIBPCAP_NAMES", ("libpcap-not-here.so.9",))
    port = listener.getsockname()[1]
    capture = open_live("lo", ports=[port], backend="afpacket")
    frames = capture_while(capture, threading.Thread(target=exchange, args=(listener, b"hello", b"hi")))
    assert payload_by_direction(frames, port) == {"c2s": b"hello", "s2c": b"hi"}


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux) to drop rights")
@pytest.mark.parametrize("backend", BACKENDS)
def test_unprivileged_open_raises_permission_error(backend: str) -> None:
    script = (
        "import sys\n"
        "from netlab.capture.sources import open_live\n"
        "from netlab.errors import CapturePermissionError\n"
        "try:\n"
        f"    open_live('lo', ports=[9], backend={backend!r})\n"
        "except CapturePermissionError as error:\n"
        "    print(error); sys.exit(77)\n"
    )
    result = subprocess.run(
        [*WITHOUT_CAPTURE_RIGHTS, sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 77, result.stderr
    assert "no permission to capture on lo" in result.stdout
    assert "setcap" in result.stdout and "--read" in result.stdout


def test_stop_under_a_flood_counts_what_it_leaves_unread(
    monkeypatch: pytest.MonkeyPatch, listener: socket.socket
) -> None:
    from netlab.capture import sources

    monkeypatch.setattr(sources, "DRAIN_LIMIT_S", 0.0)  # as if the traffic never let up (the drain loop's limit)
    port = listener.getsockname()[1]
    capture = open_live("lo", ports=[port], backend="afpacket")
    for _ in range(1000):  # ~7 frames per connection: more than one read batch (4096)
        client = socket.create_connection(listener.getsockname(), timeout=10)
        peer, _ = listener.accept()
        client.close()
        peer.close()
    capture.stop()
    read = sum(1 for _ in capture)
    capture.close()
    stats = capture.stats()
    assert read == stats.frames == 4096
    assert stats.unread > 0  # never silent: what was thrown away is counted


def test_kernel_drops_are_counted(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    capture = AfPacketCapture("lo", bpf.compile_filter(f"tcp port {port}", 1), rcvbuf=1)  # the kernel's minimum
    for _ in range(300):  # ~7 frames per connection, nobody reading: the tiny buffer overflows
        client = socket.create_connection(listener.getsockname(), timeout=10)
        peer, _ = listener.accept()
        client.close()
        peer.close()
    capture.stop()
    read = sum(1 for _ in capture)
    capture.close()
    stats = capture.stats()
    assert stats.kernel_drops > 0
    assert read == stats.frames > 0


@pytest.mark.parametrize("backend", ["afpacket", "scapy"])
def test_stop_reads_the_backlog_even_when_its_stamps_are_later(backend: str, listener: socket.socket) -> None:
    """The kernel may stamp a queued frame only when it is read (just after time stamps were switched
    on), so a frame captured before stop() can carry a later stamp: it must still be read, not dropped."""
    port = listener.getsockname()[1]
    capture = open_live("lo", ports=[port], backend=backend)
    assert capture.started.wait(10)
    exchange(listener, b"before stop", b"ok")
    capture.stop()
    capture.stopped_at = 0.0  # every queued frame now looks "stamped after stop()", the worst case
    frames = list(capture)
    capture.close()
    assert payload_by_direction(frames, port) == {"c2s": b"before stop", "s2c": b"ok"}
    assert capture.stats().unread == 0
