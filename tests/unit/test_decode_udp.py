"""The decoder's UDP datagrams: asked for or not, checksums, lengths, truncation, tunnels, junk."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st
from test_decode import ETH, _checksum, ipv4_tcp  # type: ignore[import-not-found]

from netlab.capture.decode import (
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    SUPPORTED_LINKTYPES,
    decode,
    decode_all,
    decode_layers,
)
from netlab.packets import Datagram, Endpoint, Segment

SRC, DST = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 7])


def ipv4_udp(
    payload: bytes = b"hi", *, sport: int = 5353, dport: int = 53, good: bool = True, pad: bytes = b""
) -> bytes:
    """An IPv4/UDP packet built by hand (independent of the decoder), with a correct checksum."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    cks = _checksum(SRC + DST + struct.pack("!HH", 17, len(udp)) + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", cks if good else cks ^ 0x5555) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, SRC, DST)
    return ip + udp + pad


def ipv6_udp(payload: bytes) -> bytes:
    src, dst = bytes.fromhex("fd00" + "00" * 13 + "01"), bytes.fromhex("fd00" + "00" * 13 + "02")
    udp = struct.pack("!HHHH", 1000, 2000, 8 + len(payload), 0) + payload
    cks = _checksum(src + dst + struct.pack("!IxxxB", len(udp), 17) + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", cks) + udp[8:]
    return struct.pack("!IHBB16s16s", 0x60000000, len(udp), 17, 64, src, dst) + udp


def test_udp_is_decoded_only_when_asked() -> None:
    frame = ETH + ipv4_udp(b"query")
    assert decode(LINKTYPE_ETHERNET, frame, 3, 1.0) is None  # a TCP-only run pays nothing and gets nothing
    assert decode_all(LINKTYPE_ETHERNET, frame, 3, 1.0) == [
        Datagram(3, 1.0, Endpoint("192.0.2.1", 5353), Endpoint("198.51.100.7", 53), b"query", 5, True, ())
    ]


def test_a_tcp_frame_gives_its_segment_alone() -> None:
    found = decode_all(LINKTYPE_ETHERNET, ETH + ipv4_tcp(b"x"), 1, 0.0)
    assert len(found) == 1 and isinstance(found[0], Segment)


def test_bad_checksum_zero_checksum_padding_and_vlan() -> None:
    (bad,) = decode_all(LINKTYPE_ETHERNET, ETH + ipv4_udp(b"abc", good=False), 1, 0.0)
    assert isinstance(bad, Datagram) and bad.checksum_ok is False and bad.payload == b"abc"
    raw = bytearray(ipv4_udp(b"abc"))
    raw[26:28] = b"\0\0"  # IPv4: no checksum sent
    (none,) = decode_all(LINKTYPE_RAW, bytes(raw), 1, 0.0)
    assert isinstance(none, Datagram) and none.checksum_ok is None
    (padded,) = decode_all(LINKTYPE_ETHERNET, ETH + ipv4_udp(b"", pad=bytes(18)), 1, 0.0)
    assert isinstance(padded, Datagram) and padded.payload == b"" and padded.wire_len == 0
    tagged = bytes(12) + b"\x81\x00\x00\x2a\x08\x00" + ipv4_udp(b"v")
    (vlan,) = decode_all(LINKTYPE_ETHERNET, tagged, 1, 0.0)
    assert isinstance(vlan, Datagram) and vlan.vlan == (42,)


def test_ipv6_and_the_udp_length_bounds_the_payload() -> None:
    (six,) = decode_all(LINKTYPE_RAW, ipv6_udp(b"six"), 1, 0.0)
    assert isinstance(six, Datagram)
    assert (six.src, six.dst, six.payload, six.checksum_ok) == (
        Endpoint("fd00::1", 1000),
        Endpoint("fd00::2", 2000),
        b"six",
        True,
    )
    short = bytearray(ipv4_udp(b"abcdef"))
    short[24:26] = struct.pack("!H", 8 + 2)  # the UDP length says 2 bytes of payload
    (cut,) = decode_all(LINKTYPE_RAW, bytes(short), 1, 0.0)
    assert isinstance(cut, Datagram) and cut.payload == b"ab" and cut.wire_len == 2


def test_snap_length_cut_says_what_is_missing() -> None:
    frame = ETH + ipv4_udp(b"x" * 100)
    (cut,) = decode_all(LINKTYPE_ETHERNET, frame[:60], 1, 0.0, orig_len=len(frame))
    assert isinstance(cut, Datagram)
    assert cut.wire_len == 100 and cut.missing == 100 - len(cut.payload) and cut.checksum_ok is None


def test_a_tunnels_outer_datagram_comes_before_what_it_carries() -> None:
    inner = ETH + ipv4_tcp(b"inside")
    vxlan = struct.pack("!BxxxI", 0x08, 5 << 8) + inner
    outer = ipv4_udp(vxlan, sport=33333, dport=4789)
    found = decode_all(LINKTYPE_RAW, outer, 1, 0.0)
    assert [type(x) for x in found] == [Datagram, Segment]
    assert isinstance(found[0], Datagram) and found[0].dst.port == 4789
    assert isinstance(found[1], Segment) and found[1].payload == b"inside"


def test_datagrams_land_in_the_callers_list_in_order() -> None:
    batch: list[object] = ["earlier"]
    assert decode_layers(LINKTYPE_RAW, ipv4_udp(b"1"), 1, 0.0, True, None, None, None, batch) is None
    assert batch[0] == "earlier" and isinstance(batch[1], Datagram)


@given(st.sampled_from(sorted(SUPPORTED_LINKTYPES)), st.binary(max_size=200))
def test_junk_never_raises_when_datagrams_are_collected(linktype: int, frame: bytes) -> None:
    for item in decode_all(linktype, frame, 1, 0.0):
        assert isinstance(item, Segment | Datagram)


@given(st.integers(0, 60))
def test_truncated_udp_frames_never_raise(cut: int) -> None:
    frame = ETH + ipv4_udp(b"payload bytes")
    for item in decode_all(LINKTYPE_ETHERNET, frame[:cut], 1, 0.0, orig_len=len(frame)):
        assert isinstance(item, Datagram) and item.wire_len >= len(item.payload)
