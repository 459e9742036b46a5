"""Overlapping IP fragments with different bytes: netlab keeps the copy that arrived first; tshark
keeps the lower-offset fragment's bytes whatever the arrival order. The README says so; this
test checks both halves of that sentence, so it fails if either side changes."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from test_decode import ipv4_tcp  # noqa: E402

pytestmark = pytest.mark.tshark

PAYLOAD = b"A" * 40  # the TCP segment: a 20-byte header and 40 bytes


def _fragment(packet: bytes, lo: int, data: bytes, more: bool) -> bytes:
    header = bytearray(packet[:20])
    header[2:4] = struct.pack("!H", 20 + len(data))
    header[4:6] = b"\x12\x34"
    header[6:8] = struct.pack("!H", (lo // 8) | (0x2000 if more else 0))
    return bytes(header) + data


def _pcap(path: Path, packets: list[bytes]) -> None:
    """A raw-IP (link type 101) pcap, written with struct."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
    for i, packet in enumerate(packets):
        out += struct.pack("<IIII", 1_700_000_000 + i, 0, len(packet), len(packet)) + packet
    path.write_bytes(bytes(out))


def _follow(path: Path) -> tuple[bytes, bytes]:
    netlab = subprocess.run(
        [sys.executable, "-m", "netlab", "follow", "-r", str(path), "-f", "raw"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    fields = subprocess.run(
        ["tshark", "-r", str(path), "-T", "fields", "-e", "tcp.payload"],
        capture_output=True,
        check=True,
        timeout=60,
        text=True,
    ).stdout.split()
    return netlab, bytes.fromhex("".join(fields))


@pytest.mark.parametrize("low_first", [True, False])
def test_overlapping_fragments_first_arrival_in_netlab_lower_offset_in_tshark(tmp_path: Path, low_first: bool) -> None:
    whole = ipv4_tcp(PAYLOAD)
    low = _fragment(whole, 0, whole[20:52], more=True)  # the TCP header and payload bytes 0-11 ("A")
    high = _fragment(whole, 24, b"B" * 36, more=False)  # payload bytes 4-39 as "B": bytes 4-11 overlap
    path = tmp_path / "overlap.pcap"
    _pcap(path, [low, high] if low_first else [high, low])
    netlab, tshark = _follow(path)
    assert tshark == b"A" * 12 + b"B" * 28  # the lower-offset fragment's bytes, either order
    assert netlab == (b"A" * 12 + b"B" * 28 if low_first else b"A" * 4 + b"B" * 36)  # the first arrival's
