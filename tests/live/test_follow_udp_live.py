"""`netlab follow --udp` live on loopback: a UDP chat between real sockets, captured, saved, read back.

The oracle is what the sockets sent: each datagram exactly once, in order, one turn each, in the
conversation its address pair names; the saved capture read back gives the same transcript, and
tshark agrees with it byte for byte.
"""

from __future__ import annotations

import base64
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from test_follow_live import Follower  # type: ignore[import-not-found]

pytestmark = pytest.mark.live


def _udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    return sock


def _read_back(saved: Path) -> bytes:
    """`netlab follow --read` of the saved capture, JSON Lines."""
    cmd = [sys.executable, "-m", "netlab", "follow", "-r", str(saved), "--udp", "-f", "json"]
    return subprocess.run(cmd, capture_output=True, timeout=60, check=True).stdout


def test_a_live_udp_chat_is_followed_datagram_by_datagram(tmp_path: Path) -> None:
    server, alice, bob = _udp_socket(), _udp_socket(), _udp_socket()
    port = server.getsockname()[1]
    ends = {sock: f"127.0.0.1:{sock.getsockname()[1]}" for sock in (alice, bob)}
    saved = tmp_path / "udp.pcap"
    follower = Follower(["--udp", "--port", str(port), "-f", "json", "--save-to", str(saved)], tmp_path / "out.jsonl")
    sent: list[tuple[socket.socket, bytes]] = [
        (alice, b"JOIN alice\n"),
        (bob, b"JOIN bob\n"),
        (alice, "привет 👋\n".encode()),
        (bob, b"\x00binary\xff"),
        (alice, b""),  # an empty datagram: counted, not shown
    ]
    try:
        follower.wait_ready()
        for sock, line in sent:
            sock.sendto(line, ("127.0.0.1", port))
            data, peer = server.recvfrom(65535)  # the relay: back to the sender, prefixed
            server.sendto(b"> " + data, peer)
            assert sock.recvfrom(65535)[0] == b"> " + data
        code = follower.finish(signal.SIGINT)
    finally:
        for sock in (server, alice, bob):
            sock.close()
    assert code == 0, follower.stderr
    lines = [json.loads(line) for line in follower.output.splitlines()]
    assert {line["proto"] for line in lines} == {"udp"}
    opened = [line for line in lines if line.get("event") == "opened"]
    assert [(o["stream"], o["client"], o["server"]) for o in opened] == [
        (0, ends[alice], f"127.0.0.1:{port}"),
        (1, ends[bob], f"127.0.0.1:{port}"),
    ]
    for stream, who in enumerate((alice, bob)):
        data = [base64.b64decode(line["data"]) for line in lines if line.get("stream") == stream and "data" in line]
        expected = [part for sock, line in sent if sock is who for part in ([line] if line else []) + [b"> " + line]]
        assert data == expected
    assert "2 of 2 UDP conversation(s), 10 datagrams" in follower.stderr
    assert _read_back(saved) == follower.output
    for stream in (0, 1):
        ours = subprocess.run(
            [
                sys.executable,
                "-m",
                "netlab",
                "follow",
                "-r",
                str(saved),
                "--udp",
                "-f",
                "tshark-hex",
                "-s",
                str(stream),
            ],
            capture_output=True,
            timeout=60,
            check=True,
        ).stdout
        theirs = subprocess.run(
            ["tshark", "-q", "-r", str(saved), "-z", f"follow,udp,hex,{stream}"],
            capture_output=True,
            timeout=60,
            check=True,
        ).stdout
        assert ours == theirs


def _ipv4_fragments(src_port: int, dst_port: int, payload: bytes, ident: int) -> list[bytes]:
    """A UDP datagram to 127.0.0.1 cut into two IPv4 fragments (what a sender past the MTU puts on the wire)."""
    import struct

    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload  # checksum 0: none
    cut = 8 * (len(udp) // 16)  # fragment offsets count 8-byte units
    parts = [(0, 0x2000, udp[:cut]), (cut // 8, 0, udp[cut:])]
    frames = []
    for offset, more, data in parts:
        header = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(data),
            ident,
            more | offset,
            64,
            17,
            0,
            bytes([127, 0, 0, 1]),
            bytes([127, 0, 0, 1]),
        )
        frames.append(header + data)
    return frames


def test_a_fragmented_datagram_is_saved_whole_so_the_saved_file_gives_it_too(tmp_path: Path) -> None:
    """The fragment that does not complete the datagram yields nothing when it arrives; it is still
    numbered and saved, so `follow --read` of the saved file reassembles the same datagram."""
    receiver = _udp_socket()
    port = receiver.getsockname()[1]
    payload = bytes(range(256)) * 8  # 2 KiB in two fragments
    saved = tmp_path / "frag.pcap"
    # no --port: a port filter in the kernel (libpcap's `udp port P`) lets no fragment but the first through
    args = ["--udp", "--filter", "udp", "--host", "127.0.0.1", "-f", "json", "--save-to", str(saved)]
    follower = Follower(args, tmp_path / "out.jsonl")
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        follower.wait_ready()
        for fragment in _ipv4_fragments(40999, port, payload, 0x4242):
            raw.sendto(fragment, ("127.0.0.1", 0))
        assert receiver.recvfrom(65535)[0] == payload  # the kernel reassembled it too
        code = follower.finish(signal.SIGINT)
    finally:
        raw.close()
        receiver.close()
    assert code == 0, follower.stderr
    lines = [json.loads(line) for line in follower.output.splitlines()]
    data = [base64.b64decode(line["data"]) for line in lines if "data" in line]
    assert payload in data
    assert _read_back(saved) == follower.output
