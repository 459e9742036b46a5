"""tshark cross-check: the tshark-compatible formats equal `tshark -q -z follow,tcp,MODE,N` byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
CAPTURES = sorted(p.name for p in DATA.glob("*.pcap*"))

pytestmark = pytest.mark.tshark


def _tshark(capture: Path, mode: str, stream: int) -> bytes:
    return subprocess.run(
        ["tshark", "-q", "-r", str(capture), "-z", f"follow,tcp,{mode},{stream}"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout


def _netlab(capture: Path, mode: str, stream: int) -> bytes:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "netlab",
            "follow",
            "-r",
            str(capture),
            "-f",
            f"tshark-{mode}",
            "-s",
            str(stream),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout


# Streams where netlab deliberately differs from Wireshark (README, "Where netlab differs").
DIFFERENT: dict[tuple[str, int], str] = {
    ("late_syn_inside.pcap", 1): "a late SYN inside the closed connection's sequence space: Wireshark's stream 1, "
    "a retransmission in stream 0 for netlab (RFC 1122 TIME-WAIT), which keeps number 1 unused",
}


def _no_payload(follow: bytes) -> bool:
    """True when tshark's follow output shows no bytes (the header and footer only)."""
    if follow.rstrip().endswith(b"packets:"):
        return True
    body = follow.split(b"=" * 67)[2:-1]
    return all(not part.strip() for part in body)


def _tshark_streams(capture: Path) -> list[int]:
    out = subprocess.run(
        ["tshark", "-r", str(capture), "-T", "fields", "-e", "tcp.stream"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return sorted({int(n) for line in out.split() for n in line.split(",") if n})


@pytest.mark.parametrize("mode", ["ascii", "hex", "raw", "yaml"])
@pytest.mark.parametrize("capture", CAPTURES)
def test_matches_tshark(capture: str, mode: str) -> None:
    """Every stream tshark numbers: the same bytes, or (not a connection) netlab says why and tshark has none."""
    path = DATA / capture
    for stream in _tshark_streams(path):
        if (capture, stream) in DIFFERENT:
            continue
        theirs = _tshark(path, mode, stream)
        done = subprocess.run(
            [sys.executable, "-m", "netlab", "follow", "-r", str(path), "-f", f"tshark-{mode}", "-s", str(stream)],
            capture_output=True,
            timeout=60,
        )
        if done.returncode == 1 and b"is not a connection" in done.stderr:
            assert _no_payload(theirs), f"stream {stream}: tshark shows bytes"
            continue
        assert done.returncode == 0, done.stderr
        assert done.stdout == theirs, f"stream {stream}"
