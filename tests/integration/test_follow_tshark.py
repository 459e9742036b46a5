"""tshark cross-check: the tshark-compatible formats equal `tshark -q -z follow,tcp,MODE,N` byte for byte.

Every stream tshark numbers in every capture of tests/data, in all four modes. To keep this quick,
tshark runs once per capture with one ``-z follow`` per (mode, stream) — it prints them in reverse
order — and netlab runs in this process (`follow_fast.run`, what ``netlab follow --read`` runs).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from netlab.cli import follow_fast

DATA = Path(__file__).resolve().parents[1] / "data"
# Captures without TCP (tshark prints an empty block for tcp.stream 0 there): test_follow_udp.py
# compares them with tshark's follow,udp instead.
NO_TCP = {"udp_dns.pcap", "udp_fragments.pcap", "udp_snaplen.pcap"}
CAPTURES = sorted(p.name for p in DATA.glob("*.pcap*") if p.name not in NO_TCP)
MODES = ("ascii", "hex", "raw", "yaml")

pytestmark = pytest.mark.tshark

# Streams where netlab deliberately differs from Wireshark (README, "Where netlab differs").
DIFFERENT: dict[tuple[str, int], str] = {
    ("late_syn_inside.pcap", 1): "a late SYN inside the closed connection's sequence space: Wireshark's stream 1, "
    "a retransmission in stream 0 for netlab (RFC 1122 TIME-WAIT), which keeps number 1 unused",
}


def _tshark(capture: Path, follows: list[tuple[str, int]]) -> bytes:
    """tshark's output for several follows in one run (it prints the last one asked first)."""
    args = [arg for mode, stream in follows for arg in ("-z", f"follow,tcp,{mode},{stream}")]
    return subprocess.run(
        ["tshark", "-q", "-r", str(capture), *args], capture_output=True, check=True, timeout=120
    ).stdout


def _tshark_streams(capture: Path) -> list[int]:
    out = subprocess.run(
        ["tshark", "-r", str(capture), "-T", "fields", "-e", "tcp.stream"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return sorted({int(n) for line in out.split() for n in line.split(",") if n})


def _netlab(capture: Path, mode: str, stream: int, capfd: pytest.CaptureFixture[bytes]) -> tuple[int, bytes, bytes]:
    """Exit status, stdout and stderr of `netlab follow -r CAPTURE -f tshark-MODE -s STREAM`, run here."""
    capfd.readouterr()
    try:
        assert follow_fast.run(["-r", str(capture), "-f", f"tshark-{mode}", "-s", str(stream)])
        status = 0
    except SystemExit as done:
        status = int(done.code or 0)
    out, err = capfd.readouterr()
    return status, out, err


def _no_payload(follow: bytes) -> bool:
    """True when tshark's follow output shows no bytes (the header and footer only)."""
    if follow.rstrip().endswith(b"packets:"):
        return True
    body = follow.split(b"=" * 67)[2:-1]
    return all(not part.strip() for part in body)


@pytest.mark.parametrize("capture", CAPTURES)
def test_matches_tshark(capture: str, capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    """Every stream tshark numbers: the same bytes, or (not a connection) netlab says why and tshark has none."""
    path = DATA / capture
    follows: list[tuple[str, int]] = []
    ours: list[bytes] = []
    for stream in _tshark_streams(path):
        if (capture, stream) in DIFFERENT:
            continue
        for mode in MODES:
            status, out, err = _netlab(path, mode, stream, capfdbinary)
            if status == 1 and b"is not a connection" in err:
                assert _no_payload(_tshark(path, [(mode, stream)])), f"stream {stream}: tshark shows bytes"
                continue
            assert status == 0, err
            follows.append((mode, stream))
            ours.append(out)
    if follows and b"".join(reversed(ours)) != _tshark(path, follows):
        for (mode, stream), out in zip(follows, ours, strict=True):  # name the first follow that differs
            assert out == _tshark(path, [(mode, stream)]), f"stream {stream}, mode {mode}"
        pytest.fail("tshark's combined output differs, though every follow agrees alone")
