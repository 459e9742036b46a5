"""Frames without a TCP segment are counted by a named reason, never dropped silently (issue 14)."""

from __future__ import annotations

import struct
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from netlab.capture.decode import LINK_LAYERS, decode, decode_layers
from netlab.capture.linktypes import LINKTYPE_NAMES, linktype_label
from netlab.capture.undecoded import LINK_TYPE, NOT_DECODED, NOT_TCP, Reason, summary_lines

MACS = bytes.fromhex("020000000002020000000001")


def _ipv4(proto: int, payload: bytes, *, src: bytes = b"\x0a\x00\x00\x01", dst: bytes = b"\x0a\x00\x00\x02") -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0, src, dst) + payload


def _ipv6(nxt: int, payload: bytes) -> bytes:
    return (
        struct.pack(
            "!IHBB16s16s",
            0x60000000,
            len(payload),
            nxt,
            64,
            b"\xfe\x80" + b"\0" * 13 + b"\1",
            b"\xfe\x80" + b"\0" * 13 + b"\2",
        )
        + payload
    )


def _eth(ethertype: int, payload: bytes) -> bytes:
    return MACS + struct.pack("!H", ethertype) + payload


def _tcp(data_offset_words: int = 5) -> bytes:
    return struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, data_offset_words << 4, 0x02, 65535, 0, 0)


def _reason(linktype: int, frame: bytes) -> Counter[Reason]:
    counts: Counter[Reason] = Counter()
    assert decode(linktype, frame, 1, 0.0, undecoded=counts) is None
    assert sum(counts.values()) == 1
    return counts


def test_other_protocols_are_named_not_tcp() -> None:
    arp = _eth(0x0806, b"\0\1\x08\0\6\4\0\1" + b"\0" * 20)
    assert _reason(1, arp) == {(NOT_TCP, "ARP"): 1}
    assert _reason(1, _eth(0x0800, _ipv4(1, b"\x08\0\0\0\0\0\0\0"))) == {(NOT_TCP, "ICMP"): 1}
    assert _reason(1, _eth(0x0800, _ipv4(17, struct.pack("!HHHH", 5353, 53, 8, 0)))) == {(NOT_TCP, "UDP"): 1}
    assert _reason(1, _eth(0x86DD, _ipv6(58, b"\x80\0\0\0\0\0\0\0"))) == {(NOT_TCP, "ICMPv6"): 1}
    assert _reason(1, _eth(0x88B5, b"\0" * 46)) == {(NOT_TCP, "ethertype 0x88b5"): 1}
    assert _reason(1, _eth(0x0026, b"\x42\x42\x03" + b"\0" * 43)) == {(NOT_TCP, "802.3 LLC frame"): 1}
    assert _reason(101, _ipv4(253, b"x" * 8)) == {(NOT_TCP, "IP protocol 253"): 1}
    # inside a VLAN tag and in a Linux cooked capture the same table names them
    assert _reason(1, _eth(0x8100, b"\0\x0a\x08\x06" + b"\0" * 28)) == {(NOT_TCP, "ARP"): 1}
    assert _reason(113, b"\0" * 14 + b"\x08\x06" + b"\0" * 28) == {(NOT_TCP, "ARP"): 1}


def test_frames_that_cannot_be_decoded_say_why() -> None:
    cut = _eth(0x0800, _ipv4(6, _tcp()))[:24]
    assert _reason(1, cut) == {(NOT_DECODED, "frame cut short"): 1}
    bad_tcp = _eth(0x0800, _ipv4(6, _tcp(data_offset_words=2)))
    assert _reason(1, bad_tcp) == {(NOT_DECODED, "malformed TCP header (data offset below 20)"): 1}
    assert _reason(101, b"\x50" + b"\0" * 39) == {(NOT_DECODED, "not IPv4 or IPv6 (IP version 5)"): 1}


def test_a_link_type_without_a_decoder_is_named_by_number_and_name() -> None:
    assert 195 not in LINK_LAYERS
    assert _reason(195, b"\0" * 30) == {(LINK_TYPE, "link type 195 (IEEE 802.15.4 Wireless PAN)"): 1}
    assert linktype_label(65000) == "link type 65000"
    assert all(linktype_label(n).startswith(f"link type {n} (") for n in LINKTYPE_NAMES)


def test_a_tcp_segment_is_not_counted() -> None:
    counts: Counter[Reason] = Counter()
    assert decode(1, _eth(0x0800, _ipv4(6, _tcp())), 1, 0.0, undecoded=counts) is not None
    assert decode(101, _ipv4(6, _tcp()), 1, 0.0, undecoded=counts) is not None
    assert not counts


def test_summary_lines_name_each_kind() -> None:
    counts: Counter[Reason] = Counter(
        {
            (LINK_TYPE, "link type 127 (IEEE 802.11 plus radiotap header)"): 412,
            (NOT_TCP, "UDP"): 24,
            (NOT_TCP, "ARP"): 4,
            (NOT_TCP, "ICMP"): 2,
            (NOT_DECODED, "frame cut short"): 1,
        }
    )
    assert summary_lines(counts) == [
        "412 frames of link type 127 (IEEE 802.11 plus radiotap header) not decoded",
        "30 frames not TCP: UDP 24, ARP 4, ICMP 2",
        "1 frame could not be decoded: frame cut short 1",
    ]
    assert summary_lines(Counter()) == []
    many: Counter[Reason] = Counter({(NOT_TCP, f"ethertype 0x{n:04x}"): 100 - n for n in range(15)})
    (line,) = summary_lines(many)
    assert line.startswith("1395 frames not TCP: ethertype 0x0000 100, ethertype 0x0001 99,")
    assert line.endswith("ethertype 0x0009 91, others 440")  # 90 + 89 + 88 + 87 + 86


_LINKTYPES = st.sampled_from(sorted(LINK_LAYERS) + [195, 147, 65000])


@given(_LINKTYPES, st.binary(max_size=120))
def test_every_frame_without_a_segment_is_counted_exactly_once(linktype: int, frame: bytes) -> None:
    """Whatever the bytes, a frame either gives a segment or adds one to exactly one reason."""
    counts: Counter[Reason] = Counter()
    fields = decode_layers(linktype, frame, 1, 0.0, True, None, None, counts)
    assert sum(counts.values()) == (fields is None)
    assert all(kind in (NOT_TCP, NOT_DECODED, LINK_TYPE) and what for kind, what in counts)


@given(st.integers(0, 0xFFFF), st.binary(min_size=46, max_size=80))
def test_every_ethertype_gives_a_segment_or_a_reason(ethertype: int, payload: bytes) -> None:
    counts: Counter[Reason] = Counter()
    fields = decode_layers(1, _eth(ethertype, payload), 1, 0.0, True, None, None, counts)
    assert sum(counts.values()) == (fields is None)
