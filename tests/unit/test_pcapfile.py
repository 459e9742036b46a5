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
        out += block(6, struct.pack("<IIIII", iface, ts_us >> 32, ts_us & 0xFFFFFFFF, len(data), len(data)) + data)
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


def _ones_complement(data: bytes) -> int:
    data += b"\0" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _eth_ipv4_tcp(
    payload: bytes,
    *,
    flags: int = 0x18,
    good: bool = True,
    options: bytes = b"",
    tos: int = 0,
    frag: int = 0x4000,
) -> bytes:
    src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    tcp = struct.pack("!HHIIBBHHH", 40000, 55555, 7, 9, (5 + len(options) // 4) << 4, flags, 512, 0, 0)
    tcp += options + payload
    cks = _ones_complement(src + dst + struct.pack("!HH", 6, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack("!H", cks if good else cks ^ 0x0101) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(tcp), 0, frag, 64, 6, 0, src, dst)
    return bytes(12) + b"\x08\x00" + ip + tcp


def _pcap(frames: list[tuple[bytes, int]]) -> bytes:
    """A little-endian microsecond pcap of (captured bytes, original length) records."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i, (data, orig_len) in enumerate(frames):
        out += struct.pack("<IIII", 1_700_000_000 + i, 123_457 * i % 1_000_000, len(data), orig_len) + data
    return out


def test_the_ethernet_loop_decodes_every_frame_as_decode_does(tmp_path: Path) -> None:
    """`follow --read`'s fused Ethernet loop gives the tuples `decode_fields` gives, frame by frame."""
    from netlab.capture.decode import LINKTYPE_ETHERNET, decode_fields

    whole = _eth_ipv4_tcp(b"hello world")
    frames = [
        _eth_ipv4_tcp(b""),  # pure ACK
        _eth_ipv4_tcp(b"", flags=0x02),  # SYN: checksum checked
        _eth_ipv4_tcp(b"", flags=0x02, good=False),
        _eth_ipv4_tcp(b"even"),
        _eth_ipv4_tcp(b"odd"),
        _eth_ipv4_tcp(b"bad", good=False),
        _eth_ipv4_tcp(b"x" * 1400),
        _eth_ipv4_tcp(b"opts", options=b"\x01\x01\x08\x0a" + bytes(8)),  # TCP options
        _eth_ipv4_tcp(b"tos", tos=0x10),
        _eth_ipv4_tcp(b"frag", frag=0x2000),  # more fragments: not a segment
        _eth_ipv4_tcp(b"") + bytes(6),  # Ethernet padding
        bytes(12) + b"\x81\x00\x00\x2a" + _eth_ipv4_tcp(b"vlan")[12:],
        bytes(12) + b"\x08\x06" + bytes(28),  # ARP
        bytes(20),  # too short for anything
        _eth_ipv4_tcp(b"", flags=0x02, options=b"\x02\x04\x05\xb4\x01\x03\x03\x07"),  # SYN: window scale 7
        _eth_ipv4_tcp(b"", flags=0x12, options=b"\x02\x04\x05\xb4"),  # SYN-ACK without one
    ]
    records = [(f, len(f)) for f in frames]
    records += [
        (whole[:-4], len(whole)),
        (whole[:40], len(whole)),
        (whole, len(whole) - 2),
        (
            _eth_ipv4_tcp(b"", flags=0x02, options=b"\x01\x01\x03\x03\x07\x00\x00\x00")[:-4],
            len(_eth_ipv4_tcp(b"", flags=0x02, options=b"\x01\x01\x03\x03\x07\x00\x00\x00")),
        ),
    ]  # snap length cuts
    path = tmp_path / "mix.pcap"
    path.write_bytes(_pcap(records))
    expected = [
        decode_fields(LINKTYPE_ETHERNET, frame, number, ts, True, orig_len)
        for number, (_lt, ts, frame, orig_len) in enumerate(read_packets(path), 1)
    ]
    got = [fields for batch in read_segments(path).field_batches() for fields in batch]
    assert got == [fields for fields in expected if fields is not None]
    assert [f[12] for f in got if f[6] & 0x02] == [-1, -1, 7, -1, None]  # window scales; the cut SYN's: unknown
    assert [f[10] for f in got[:6]] == [
        None,
        True,
        False,
        True,
        True,
        False,
    ]  # checksums: skipped on pure ACKs


def test_a_pcapng_with_interfaces_of_different_link_types_decodes_each_by_its_own() -> None:
    """Ethernet, raw IP and Linux cooked interfaces in one file: each frame is decoded by its
    interface's link type (the Ethernet-only shortcut is not taken for the others)."""
    path = DATA / "chat_interfaces.pcapng"
    assert [lt for lt, _, _, _ in read_packets(path)][:4] == [1, 101, 113, 1]
    mixed = list(read_segments(path, verify=False))  # (Ethernet's shortcut skips pure ACKs' checksums)
    assert mixed == list(read_segments(DATA / "chat_ipv4.pcap", verify=False))
    assert all(seg.checksum_ok for seg in read_segments(path) if seg.payload)
    assert [seg.frame for seg in mixed] == list(range(1, 11))


def test_a_raw_ip_pcap_is_not_read_as_ethernet(tmp_path: Path) -> None:
    """The fused loop's Ethernet shortcut is for link type 1 only. This raw-IP packet reads as an
    Ethernet/IPv4/TCP frame from offset 12 (source 8.0.69.1: "08 00 45"; destination 0.60.x.x: a
    total length of 60; ports 16384 and 262: "not a fragment, TCP"; payload byte 6 a data offset)."""
    from netlab.capture.decode import decode_fields

    src, dst, payload = bytes([8, 0, 69, 1]), bytes([0, 60, 0, 2]), b"abcdefPqrstuvwxyz"
    tcp = struct.pack("!HHIIBBHHH", 16384, 262, 7, 9, 0x50, 0x18, 512, 0, 0) + payload
    cks = _ones_complement(src + dst + struct.pack("!HH", 6, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack("!H", cks) + tcp[18:]
    packet = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst) + tcp
    path = tmp_path / "raw.pcap"
    pcap = _pcap([(packet, len(packet))])
    path.write_bytes(pcap[:20] + struct.pack("<I", 101) + pcap[24:])
    got = [fields for batch in read_segments(path).field_batches() for fields in batch]
    assert got == [decode_fields(101, packet, 1, got[0][1], True, len(packet))]
    assert got[0][2].ip == "8.0.69.1" and got[0][8] == payload and got[0][10] is True


def test_a_tally_keeps_the_damage_and_counts_frames(tmp_path: Path) -> None:
    from netlab.capture.undecoded import FrameTally

    whole = (DATA / "chat_ipv4.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[:-30])
    tally = FrameTally()
    segments = list(read_segments(cut, tally=tally))  # no exception: the tally keeps it
    assert len(segments) == 9 and tally.frames == 9 and tally.linktypes == {1}
    assert isinstance(tally.damage, PcapReadError) and tally.damage.frame == 10
    with pytest.raises(PcapReadError, match="frame 10 is cut short"):  # without a tally: raised, as before
        list(read_segments(cut))


def test_gzip_cut_short_yields_every_record_before_the_cut(tmp_path: Path) -> None:
    whole = (DATA / "chat_ipv4.pcap").read_bytes()
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(gzip.compress(whole)[:-40])
    got = []
    with pytest.raises(PcapReadError, match="compressed file ends") as info:
        for record in read_packets(path):
            got.append(record)
    assert got == list(read_packets(DATA / "chat_ipv4.pcap"))[: len(got)] and len(got) >= 5
    assert info.value.frame == len(got) + 1


def test_a_pcap_of_an_unsupported_link_type_is_refused_before_reading(tmp_path: Path) -> None:
    from netlab.errors import UnsupportedLinkType

    data = bytearray((DATA / "chat_ipv4.pcap").read_bytes())
    struct.pack_into("<I", data, 20, 195)
    path = tmp_path / "zigbee.pcap"
    path.write_bytes(bytes(data))
    assert len(list(read_packets(path))) == 10  # the records themselves are readable
    with pytest.raises(UnsupportedLinkType, match=r"link type 195 \(IEEE 802.15.4 Wireless PAN\) is not supported"):
        next(iter(read_segments(path)))
