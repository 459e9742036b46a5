"""UDP conversations (`follow --proto udp`) against tshark's Follow UDP Stream, byte for byte.

Every `udp.stream` tshark finds in each UDP capture of tests/data (DNS, a UDP chat beside a TCP chat,
fragmented datagrams, a snap length that cuts datagrams) is compared in every mode of
`tshark -q -z follow,udp,MODE,N`; the `--port` and `--host` filters must keep tshark's numbers.
"""

from __future__ import annotations

import base64
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
MODES = ("ascii", "hex", "raw", "yaml")
CAPTURES = [
    "udp_dns.pcap",
    "udp_chat.pcap",
    "udp_snaplen.pcap",
    "udp_fragments.pcap",
]

pytestmark = pytest.mark.tshark


@functools.cache
def _tshark_streams(capture: Path) -> list[int]:
    """The udp.stream numbers tshark gives the capture's frames, sorted."""
    out = subprocess.run(
        ["tshark", "-n", "-r", str(capture), "-T", "fields", "-e", "udp.stream"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return sorted({int(n) for line in out.split() for n in line.split(",") if n})


def _tshark(capture: Path, mode: str, stream: int) -> bytes:
    return subprocess.run(
        ["tshark", "-q", "-r", str(capture), "-z", f"follow,udp,{mode},{stream}"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout


def _tshark_all(capture: Path, mode: str, streams: list[int]) -> bytes:
    """Every stream's follow in one tshark run (tshark prints its -z taps last first, hence the reversal);
    the test falls back to one run per stream when this differs from netlab's output."""
    taps = [arg for n in reversed(streams) for arg in ("-z", f"follow,udp,{mode},{n}")]
    return subprocess.run(
        ["tshark", "-q", "-r", str(capture), *taps], capture_output=True, check=True, timeout=60
    ).stdout


def _netlab(capture: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "netlab", "follow", "-r", str(capture), *args],
        capture_output=True,
        timeout=60,
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("capture", CAPTURES)
def test_every_conversation_matches_tshark(capture: str, mode: str) -> None:
    path = DATA / capture
    streams = _tshark_streams(path)
    assert len(streams) >= 3  # the capture holds what the test is about
    result = _netlab(path, "--proto", "udp", "-f", f"tshark-{mode}")
    assert result.returncode == 0, result.stderr
    if result.stdout != _tshark_all(path, mode, streams):
        assert result.stdout == b"".join(_tshark(path, mode, n) for n in streams)


@pytest.mark.parametrize("capture", CAPTURES)
def test_one_conversation_by_number(capture: str) -> None:
    path = DATA / capture
    last = _tshark_streams(path)[-1]
    result = _netlab(path, "--udp", "-f", "tshark-ascii", "-s", str(last))
    assert result.stdout == _tshark(path, "ascii", last)


def test_port_and_host_filters_keep_tshark_numbers() -> None:
    path = DATA / "udp_chat.pcap"
    shown = _netlab(path, "--udp", "-f", "tshark-raw", "-p", "7").stdout  # the echo conversation, the last one
    assert shown == _tshark(path, "raw", 3)
    shown = _netlab(path, "--udp", "-f", "tshark-raw", "--host", "10.0.0.12").stdout
    assert shown == _tshark(path, "raw", 1)
    dns = DATA / "udp_dns.pcap"
    shown = _netlab(dns, "--udp", "-f", "tshark-hex", "--host", "fd00::53").stdout
    assert shown == _tshark(dns, "hex", 4)


def test_tcp_and_udp_together() -> None:
    """--proto all: the TCP stream and the UDP conversations, each numbered from 0 as tshark does."""
    path = DATA / "udp_chat.pcap"
    result = _netlab(path, "--proto", "all", "-f", "json")
    assert result.returncode == 0
    opened = [json.loads(line) for line in result.stdout.splitlines() if b'"opened"' in line]
    assert [(o["proto"], o["stream"]) for o in opened if o["proto"] == "tcp"] == [("tcp", 0)]
    assert sorted(o["stream"] for o in opened if o["proto"] == "udp") == _tshark_streams(path)
    stderr = result.stderr.decode()
    assert "1 of 1 stream(s)" in stderr and "4 of 4 UDP conversation(s)" in stderr
    tcp_only = _netlab(path, "-f", "tshark-ascii", "-s", "0")
    both = _netlab(path, "--proto", "all", "-f", "tshark-ascii", "-s", "0")
    assert both.stdout == tcp_only.stdout + _tshark(path, "ascii", 0)


def test_text_says_each_datagram_is_a_turn() -> None:
    result = _netlab(DATA / "udp_chat.pcap", "--udp", "-p", "9999")
    text = result.stdout.decode()
    assert "== udp stream 0: client 10.0.0.11:50001  ⇄  server 10.0.0.10:9999" in text
    assert "datagrams are not sequenced" in text
    assert text.count("-- udp stream 0: ") == 6  # six datagrams each way in all, each its own turn
    assert "привет, bob 👋" in text
    assert "bytes missing" not in text


def test_snap_length_cut_is_shown_not_hidden() -> None:
    result = _netlab(DATA / "udp_snaplen.pcap", "--udp")
    assert "bytes not captured (snap length)" in result.stdout.decode()
    assert "bytes cut by the snap length" in result.stderr.decode()


def test_no_such_conversation_is_a_data_problem() -> None:
    result = _netlab(DATA / "udp_dns.pcap", "--udp", "-s", "9")
    assert result.returncode == 1
    assert "the capture has UDP conversations 0–4" in result.stderr.decode()


def test_tcp_only_by_default() -> None:
    result = _netlab(DATA / "udp_dns.pcap")
    assert result.stdout == b""
    assert "0 of 0 stream(s)" in result.stderr.decode()
    err = result.stderr.decode()
    assert "conversation" not in err  # UDP is not followed: its frames are only counted as not TCP
    assert "frames not TCP: UDP 11" in err


@pytest.mark.parametrize("fmt", ["text", "hex", "raw", "json", "chat", "html"])
@pytest.mark.parametrize("proto", ["udp", "all"])
def test_every_format_follows_udp(fmt: str, proto: str) -> None:
    result = _netlab(DATA / "udp_chat.pcap", "--proto", proto, "-f", fmt)
    assert result.returncode == 0, result.stderr
    if fmt == "json":
        payloads = [json.loads(line).get("data", "") for line in result.stdout.splitlines()]
        assert any("привет".encode() in base64.b64decode(p) for p in payloads)
    else:
        assert (b"d0 bf d1 80" if fmt == "hex" else "привет, bob 👋".encode()) in result.stdout
    if fmt == "html":
        assert result.stdout.count(b"<!DOCTYPE html>") == 1  # both protocols on one page
        assert result.stdout.count(b'id="udp-stream-') == 4
        assert (b'id="stream-0"' in result.stdout) is (proto == "all")
    if fmt == "json":
        protos = {json.loads(line)["proto"] for line in result.stdout.splitlines()}
        assert protos == ({"udp"} if proto == "udp" else {"tcp", "udp"})


def test_one_direction_of_udp() -> None:
    result = _netlab(DATA / "udp_chat.pcap", "--udp", "-s", "0", "-f", "raw", "-d", "c2s")
    assert result.stdout == "JOIN alice\nпривет, bob 👋\nbye\n".encode()


def test_report_shows_each_conversation_with_tsharks_counts(tmp_path: Path) -> None:
    path = DATA / "udp_chat.pcap"
    result = subprocess.run(
        [sys.executable, "-m", "netlab", "report", "--read", str(path), "--out", str(tmp_path)],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "## UDP conversations" in markdown and "15 UDP datagrams in 4 conversations" in markdown
    fields = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-Y", "udp", "-T", "fields", "-e", "udp.stream", "-e", "udp.length"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    per_stream: dict[int, list[int]] = {}
    for line in fields.splitlines():
        stream, length = line.split("\t")
        per_stream.setdefault(int(stream), []).append(int(length) - 8)
    for stream, lengths in per_stream.items():
        udp_section = markdown.split("## UDP conversations", 1)[1]
        row = next(r for r in udp_section.splitlines() if r.startswith(f"| {stream} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert int(cells[2]) + int(cells[3]) == len(lengths)  # datagrams both ways
        assert int(cells[4]) + int(cells[5]) == sum(lengths)  # payload bytes both ways
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert html.count('<article class="conversation"') == 4
    assert "привет, bob 👋" in (tmp_path / "dialogue.txt").read_text(encoding="utf-8")


def test_vlans_merge_is_tsharks_numbering_and_auto_keeps_vlans_apart(tmp_path: Path) -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Dot1Q, Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    ether = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    ask = IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1000, dport=2000) / Raw(b"one")
    answer = IP(src="10.0.0.2", dst="10.0.0.1") / UDP(sport=2000, dport=1000) / Raw(b"two")
    later = IP(src="10.0.0.3", dst="10.0.0.2") / UDP(sport=1001, dport=2000) / Raw(b"three")
    path = tmp_path / "vlans.pcap"
    frames = [ether / Dot1Q(vlan=v) / p for p in (ask, answer) for v in (10, 20)] + [ether / Dot1Q(vlan=10) / later]
    wrpcap(str(path), frames)
    assert _tshark_streams(path) == [0, 1]  # Wireshark: one conversation for both VLANs
    for mode in MODES:
        merged = _netlab(path, "--udp", "--vlans", "merge", "-f", f"tshark-{mode}").stdout
        assert merged == _tshark(path, mode, 0) + _tshark(path, mode, 1)
    split = _netlab(path, "--udp", "-f", "json").stdout.decode()
    opened = [json.loads(line) for line in split.splitlines() if '"opened"' in line]
    assert [(o["stream"], o.get("vlan")) for o in opened] == [(0, [10]), (1, [20]), (2, [10])]
