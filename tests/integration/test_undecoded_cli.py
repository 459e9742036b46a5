"""Never silence (issue 14): frames without a TCP segment are counted and named, an unsupported
link type is an error, a capture cut short is followed up to the cut and exits 1, in every command
that reads captures (`follow --read` on both its paths, `report --read`)."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netlab.capture.pcapfile import read_packets
from netlab.cli.app import app

DATA = Path(__file__).resolve().parents[1] / "data"
ENV = {"NO_COLOR": "", "COLUMNS": "200", "TERM": "dumb"}
MACS = bytes.fromhex("020000000002020000000001")
CHAT = b"NICK alice\r\nwelcome alice\r\nhello\tworld \x01\xff\r\nbye\n"


def _pcap(path: Path, frames: list[bytes], linktype: int = 1) -> Path:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)
    for i, frame in enumerate(frames):
        out += struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame)) + frame
    path.write_bytes(out)
    return path


def _pcapng(path: Path, packets: list[tuple[int, bytes]], linktypes: tuple[int, ...]) -> Path:
    def block(kind: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for linktype in linktypes:
        out += block(1, struct.pack("<HHI", linktype, 0, 262144))
    for i, (iface, data) in enumerate(packets):
        ts = (1_700_000_000 + i) * 1_000_000
        out += block(6, struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + data)
    path.write_bytes(out)
    return path


def _chat_frames() -> list[bytes]:
    return [frame for _lt, _ts, frame, _orig in read_packets(DATA / "chat_ipv4.pcap")]


def _ipv4(proto: int, payload: bytes) -> bytes:
    return (
        struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 7, 0, 64, proto, 0, b"\x0a\0\0\x09", b"\x0a\0\0\x08")
        + payload
    )


def _others() -> list[bytes]:
    """Two ARP frames, an ICMP echo, three UDP datagrams (DNS), a frame cut inside its IP header."""
    arp = MACS + b"\x08\x06" + b"\0\1\x08\0\6\4\0\1" + b"\0" * 20
    icmp = MACS + b"\x08\x00" + _ipv4(1, b"\x08\0\xf7\xff\0\0\0\0")
    udp = MACS + b"\x08\x00" + _ipv4(17, struct.pack("!HHHH", 5353, 53, 12, 0) + b"abcd")
    cut = (MACS + b"\x08\x00" + _ipv4(6, b"\0" * 20))[:24]
    return [arp, icmp, udp, udp, arp, udp, cut]


def _mixed(tmp_path: Path) -> Path:
    chat = _chat_frames()
    others = _others()
    frames = chat[:3] + others[:4] + chat[3:7] + others[4:] + chat[7:]
    return _pcap(tmp_path / "mixed.pcap", frames)


def _fast(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "netlab", *args], capture_output=True, timeout=60)


def _typer(*args: str) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(app, list(args), env=ENV)
    return result.exit_code, result.stdout_bytes, result.stderr


# --- frames without a TCP segment ---------------------------------------------------------------


def test_follow_names_and_counts_the_frames_it_did_not_follow(tmp_path: Path) -> None:
    mixed = _mixed(tmp_path)
    for code, out, err in [
        (r.returncode, r.stdout, r.stderr.decode()) for r in [_fast("follow", "-r", str(mixed), "-f", "raw")]
    ] + [_typer("follow", "-r", str(mixed), "-f", "raw")]:
        assert (code, out) == (0, CHAT)
        lines = err.splitlines()
        assert lines[0].startswith("netlab follow: 1 of 1 stream(s), 10 packets")
        assert lines[1:] == [
            "netlab follow: 6 frames not TCP: UDP 3, ARP 2, ICMP 1",
            "netlab follow: 1 frame could not be decoded: frame cut short 1",
        ]


@pytest.mark.tshark
def test_the_frames_not_followed_are_tsharks_frames_without_tcp(tmp_path: Path) -> None:
    mixed = _mixed(tmp_path)
    listed = subprocess.run(
        ["tshark", "-r", str(mixed), "-Y", "not tcp", "-T", "fields", "-e", "frame.number"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    err = _fast("follow", "-r", str(mixed)).stderr.decode()
    counted = sum(int(line.split()[2]) for line in err.splitlines()[1:])
    assert counted == len(listed) == 7


def test_report_names_the_frames_too(tmp_path: Path) -> None:
    code, _out, err = _typer("report", "--read", str(_mixed(tmp_path)), "--out", str(tmp_path / "r"))
    assert code == 0
    assert "netlab: 3 frames not TCP: ARP 2, ICMP 1" in err.splitlines()  # the report follows UDP too
    assert "3 frames not TCP: ARP 2, ICMP 1" in (tmp_path / "r" / "report.md").read_text(encoding="utf-8")


def test_no_summary_means_no_counts(tmp_path: Path) -> None:
    result = _fast("follow", "-r", str(_mixed(tmp_path)), "--no-summary")
    assert result.returncode == 0 and result.stderr == b""


# --- link types -----------------------------------------------------------------------------------


def test_a_capture_of_an_unsupported_link_type_is_an_error_naming_it(tmp_path: Path) -> None:
    path = _pcap(tmp_path / "zigbee.pcap", [b"\x41\x88" + b"\0" * 20] * 3, linktype=195)
    message = f"netlab: {path}: link type 195 (IEEE 802.15.4 Wireless PAN) is not supported"
    result = _fast("follow", "-r", str(path))
    assert (result.returncode, result.stdout) == (1, b"")
    assert result.stderr.decode().startswith(message)
    code, out, err = _typer("follow", "-r", str(path))
    assert (code, out) == (1, b"") and err.startswith(message)
    code, _out, err = _typer("report", "--read", str(path), "--out", str(tmp_path / "r"))
    assert code == 1 and err.splitlines()[-1].startswith(message)


def test_pcapng_with_one_supported_interface_counts_the_others_frames(tmp_path: Path) -> None:
    packets = [(0, frame) for frame in _chat_frames()]
    packets[2:2] = [(1, b"\0" * 40)] * 4
    path = _pcapng(tmp_path / "two.pcapng", packets, (1, 147))
    result = _fast("follow", "-r", str(path), "-f", "raw")
    assert (result.returncode, result.stdout) == (0, CHAT)
    assert result.stderr.decode().splitlines()[1] == ("netlab follow: 4 frames of link type 147 (USER 0) not decoded")


def test_pcapng_whose_interfaces_are_all_unsupported_is_an_error(tmp_path: Path) -> None:
    path = _pcapng(tmp_path / "none.pcapng", [(0, b"\0" * 40), (1, b"\0" * 40)], (195, 147))
    result = _fast("follow", "-r", str(path))
    assert result.returncode == 1
    assert result.stderr.decode().splitlines()[-1] == (
        f"netlab: {path}: link type 147 (USER 0), link type 195 (IEEE 802.15.4 Wireless PAN) "
        "are not supported; netlab decodes the link types in docs/link-layers.md"
    )


# --- captures cut short ----------------------------------------------------------------------------


def _offset_of(frames: list[bytes], number: int, header: int = 24, per_record: int = 16) -> int:
    return header + sum(per_record + len(frame) for frame in frames[: number - 1])


@pytest.mark.parametrize("cut_inside", [1, 30])
def test_pcap_cut_short_follows_everything_before_and_names_frame_and_offset(tmp_path: Path, cut_inside: int) -> None:
    frames = _chat_frames()
    whole = (DATA / "chat_ipv4.pcap").read_bytes()
    last = _offset_of(frames, 10)
    path = tmp_path / "cut.pcap"
    path.write_bytes(whole[: last + cut_inside])  # inside the header / the data of frame 10
    for code, out, err in [
        (lambda r: (r.returncode, r.stdout, r.stderr.decode()))(_fast("follow", "-r", str(path), "-f", "raw")),
        _typer("follow", "-r", str(path), "-f", "raw"),
    ]:
        assert (code, out) == (1, CHAT)
        summary, error = err.splitlines()
        assert summary.startswith("netlab follow: 1 of 1 stream(s), 9 packets")
        assert f"at byte offset {last}: frame 10 is cut short (the file ends inside it)" in error


def test_pcapng_cut_short_names_the_frame_and_offset(tmp_path: Path) -> None:
    frames = _chat_frames()
    path = _pcapng(tmp_path / "whole.pcapng", [(0, f) for f in frames], (1,))
    data = path.read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(data[:-10])
    result = _fast("follow", "-r", str(cut), "-f", "raw")
    assert (result.returncode, result.stdout) == (1, CHAT)
    block = 12 + 20 + len(frames[-1]) + (-len(frames[-1]) % 4)
    error = result.stderr.decode().splitlines()[-1]
    assert f"truncated block at byte offset {len(data) - block}: frame 10 is cut short" in error


@pytest.mark.parametrize("keep", ["inside a record", "at a record boundary"])
def test_gzip_cut_short_follows_everything_before_and_exits_1(tmp_path: Path, keep: str) -> None:
    frames = _chat_frames()
    whole = (DATA / "chat_ipv4.pcap").read_bytes()
    raw = whole[: _offset_of(frames, 10) + (30 if keep == "inside a record" else 0)]
    compressed = gzip.compress(raw, mtime=0)
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(compressed[:-8])  # no gzip trailer: the compressed stream ends early
    result = _fast("follow", "-r", str(path), "-f", "raw")
    assert (result.returncode, result.stdout) == (1, CHAT)
    error = result.stderr.decode().splitlines()[-1]
    assert "frame 10 is cut short (the compressed file ends inside it)" in error
    assert f"at byte offset {_offset_of(frames, 10)} of the uncompressed data" in error
    code, _out, err = _typer("report", "--read", str(path), "--out", str(tmp_path / "r"))
    assert code == 1 and "frame 10 is cut short" in err


def test_whole_gzip_capture_reads_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "whole.pcap.gz"
    path.write_bytes(gzip.compress((DATA / "chat_ipv4.pcap").read_bytes()) + gzip.compress(b""))
    result = _fast("follow", "-r", str(path), "-f", "raw")
    assert (result.returncode, result.stdout) == (0, CHAT)
