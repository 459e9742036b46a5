"""The streaming pcap / pcapng reader: formats, time stamps, and damaged files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
from conformance_kit import KIT as CONFORMANCE_KIT

from netlab.capture.pcapfile import read_packets, read_segments
from netlab.errors import PcapReadError

DATA = Path(__file__).resolve().parents[1] / "data"
KIT = CONFORMANCE_KIT / "pcaps"


def _pcapng(packets: list[tuple[int, int, bytes]], linktypes: tuple[int, ...] = (1,)) -> bytes:
    """A little-endian pcapng: SHB, one IDB per link type, EPBs (interface, ts in µs, data)."""

    def block(kind: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for lt in linktypes:
        out += block(1, struct.pack("<HHI", lt, 0, 65535))
    for iface, ts_us, data in packets:
        out += block(
            6, struct.pack("<IIIII", iface, ts_us >> 32, ts_us & 0xFFFFFFFF, len(data), len(data)) + data
        )
    return out


def test_pcap_records_and_microsecond_times() -> None:
    records = list(read_packets(DATA / "chat_ipv4.pcap"))
    assert len(records) == 10
    linktype, ts, frame, orig = records[3]
    assert linktype == 1 and ts == pytest.approx(1_700_000_000.003) and orig == len(frame)


def test_pcapng_several_interfaces(tmp_path: Path) -> None:
    path = tmp_path / "x.pcapng"
    path.write_bytes(_pcapng([(0, 1_500_000, b"a" * 20), (1, 2_000_000, b"b" * 7)], linktypes=(1, 101)))
    assert [(lt, ts, f) for lt, ts, f, _ in read_packets(path)] == [(1, 1.5, b"a" * 20), (101, 2.0, b"b" * 7)]


def test_gzip_capture(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap.gz"
    path.write_bytes(gzip.compress((DATA / "chat_ipv4.pcap").read_bytes()))
    assert len(list(read_segments(path))) == 10


def test_truncated_pcap_yields_everything_readable_then_names_the_offset(tmp_path: Path) -> None:
    whole = (DATA / "chat_ipv4.pcap").read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(whole[:-10])
    got = []
    with pytest.raises(PcapReadError) as info:
        for record in read_packets(path):
            got.append(record)
    assert len(got) == 9
    last_record = len(whole) - (16 + len(list(read_packets(DATA / "chat_ipv4.pcap"))[-1][2]))
    assert info.value.offset == last_record and f"offset {last_record}" in str(info.value)
    assert not info.value.missing


def test_corrupt_record_length(tmp_path: Path) -> None:
    data = bytearray((DATA / "chat_ipv4.pcap").read_bytes())
    struct.pack_into("<I", data, 24 + 8, 0x7FFFFFFF)
    path = tmp_path / "bad.pcap"
    path.write_bytes(bytes(data))
    with pytest.raises(PcapReadError, match="offset 24"):
        list(read_packets(path))


def test_truncated_pcapng_block(tmp_path: Path) -> None:
    data = _pcapng([(0, 1, b"x" * 40), (0, 2, b"y" * 40)])
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data[:-8])
    got = []
    with pytest.raises(PcapReadError, match="truncated block"):
        for record in read_packets(path):
            got.append(record)
    assert len(got) == 1


def test_missing_and_not_a_capture(tmp_path: Path) -> None:
    with pytest.raises(PcapReadError) as info:
        list(read_packets(tmp_path / "nope.pcap"))
    assert info.value.missing
    junk = tmp_path / "junk.pcap"
    junk.write_text("hello, not a capture\n")
    with pytest.raises(PcapReadError, match="not a pcap or pcapng"):
        list(read_packets(junk))
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(PcapReadError, match="empty"):
        list(read_packets(empty))


@pytest.mark.skipif(not KIT.is_dir(), reason="conformance kit not found")
def test_matches_scapy_reader_on_a_multi_interface_pcapng() -> None:
    from scapy.utils import RawPcapNgReader  # noqa: TID253 (reference reader in a test)

    path = KIT / "ws__many_interfaces.1.pcapng"
    ours = [frame for _, _, frame, _ in read_packets(path)]
    theirs = [pkt for pkt, _meta in RawPcapNgReader(str(path))]
    assert ours == theirs


@pytest.mark.parametrize("name", ["chat_ipv4.pcap", "chat_ipv6.pcap"])
def test_every_truncation_point_gives_records_or_a_pcap_read_error(name: str, tmp_path: Path) -> None:
    """Cut a capture at every byte: the reader yields a prefix of the records, then PcapReadError."""
    whole = (DATA / name).read_bytes()
    expected = list(read_packets(DATA / name))
    path = tmp_path / "cut.pcap"
    for cut in range(len(whole)):
        path.write_bytes(whole[:cut])
        got = []
        try:
            for record in read_packets(path):
                got.append(record)
        except PcapReadError as err:
            assert err.offset is not None and 0 <= err.offset <= cut
        assert got == expected[: len(got)]
        segments = []
        try:
            for segment in read_segments(path):  # the fused read+decode loop fails the same way
                segments.append(segment)
        except PcapReadError as err:
            assert err.offset is not None and 0 <= err.offset <= cut
        assert [s.frame for s in segments] == list(range(1, len(got) + 1))


def test_every_truncation_point_of_a_pcapng(tmp_path: Path) -> None:
    whole = _pcapng([(0, 1, b"a" * 30), (1, 2, b"b" * 31), (0, 3, b"c" * 5)], linktypes=(1, 101))
    path = tmp_path / "cut.pcapng"
    for cut in range(len(whole)):
        path.write_bytes(whole[:cut])
        try:
            list(read_packets(path))
        except PcapReadError as err:
            assert err.offset is not None and not err.missing
