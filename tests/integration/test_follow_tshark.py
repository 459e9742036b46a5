"""tshark cross-check: the tshark-compatible formats equal `tshark -q -z follow,tcp,MODE,N` byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
# Captures without TCP (tshark prints an empty block for tcp.stream 0 there): test_follow_udp.py
# compares them with tshark's follow,udp instead.
NO_TCP = {"udp_dns.pcap", "udp_fragments.pcap", "udp_snaplen.pcap"}
CAPTURES = sorted(p.name for p in DATA.glob("*.pcap") if p.name not in NO_TCP)

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


@pytest.mark.parametrize("mode", ["ascii", "hex", "raw", "yaml"])
@pytest.mark.parametrize("capture", CAPTURES)
def test_matches_tshark(capture: str, mode: str) -> None:
    # Stream 0 everywhere: in port_reuse.pcap tshark keeps one stream where netlab sees two (same ISN
    # reused after a clean close); the first connection is the same in both.
    assert _netlab(DATA / capture, mode, 0) == _tshark(DATA / capture, mode, 0)
