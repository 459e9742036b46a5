"""The struct decoder: link layers, IP versions, truncation, checksums, junk."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlab.capture.decode import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    SUPPORTED_LINKTYPES,
    decode,
)
from netlab.capture.ipfrag import Defragmenter
from netlab.capture.pcapfile import read_packets
from netlab.packets import NO_WINDOW_SCALE, QUOTED, Endpoint, Segment

DATA = Path(__file__).resolve().parents[1] / "data"


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_tcp(payload: bytes = b"hi", *, flags: int = 0x18, good: bool = True, pad: bytes = b"") -> bytes:
    """An IPv4/TCP packet built by hand (independent of the decoder), with a correct checksum."""
    src, dst = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 7])
    tcp = struct.pack("!HHIIBBHHH", 1234, 80, 1000, 2000, 0x50, flags, 512, 0, 0) + payload
    cks = _checksum(src + dst + struct.pack("!HH", 6, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack("!H", cks if good else cks ^ 0x5555) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    return ip + tcp + pad


ETH = bytes(12) + b"\x08\x00"


@pytest.mark.parametrize(
    ("linktype", "header"),
    [
        (LINKTYPE_ETHERNET, ETH),
        (LINKTYPE_ETHERNET, bytes(12) + b"\x81\x00\x00\x2a\x08\x00"),  # 802.1Q VLAN 42
        (LINKTYPE_ETHERNET, bytes(12) + b"\x88\xa8\x00\x0a\x81\x00\x00\x14\x08\x00"),  # QinQ 10/20
        (LINKTYPE_LINUX_SLL, bytes(14) + b"\x08\x00"),
        (LINKTYPE_LINUX_SLL2, b"\x08\x00" + bytes(18)),
        (LINKTYPE_NULL, struct.pack("<I", 2)),
        (LINKTYPE_RAW, b""),
        (LINKTYPE_IPV4, b""),
    ],
)
def test_link_layers(linktype: int, header: bytes) -> None:
    seg = decode(linktype, header + ipv4_tcp(b"hello"), 7, 1.5)
    assert seg is not None
    assert (seg.src, seg.dst) == (Endpoint("192.0.2.1", 1234), Endpoint("198.51.100.7", 80))
    assert (seg.frame, seg.ts, seg.seq, seg.ack, seg.flags, seg.window) == (7, 1.5, 1000, 2000, 0x18, 512)
    assert seg.payload == b"hello" and seg.wire_len == 5 and seg.checksum_ok is True


def test_vlan_tags_are_kept() -> None:
    seg = decode(LINKTYPE_ETHERNET, bytes(12) + b"\x88\xa8\x00\x0a\x81\x00\x00\x14\x08\x00" + ipv4_tcp(), 1, 0.0)
    assert seg is not None and seg.vlan == (10, 20)


def test_ethernet_padding_is_not_payload() -> None:
    seg = decode(LINKTYPE_ETHERNET, ETH + ipv4_tcp(b"", pad=b"\0" * 6), 1, 0.0)
    assert seg is not None and seg.payload == b"" and seg.wire_len == 0
    assert seg.checksum_ok is None  # not computed without payload: nothing to choose between


def test_bad_checksum_is_detected_and_truncation_reported() -> None:
    bad = decode(LINKTYPE_ETHERNET, ETH + ipv4_tcp(b"abc", good=False), 1, 0.0)
    assert bad is not None and bad.checksum_ok is False
    cut = decode(LINKTYPE_ETHERNET, (ETH + ipv4_tcp(b"abcdefgh"))[:-5], 1, 0.0)
    assert cut is not None and cut.payload == b"abc" and cut.wire_len == 8 and cut.missing == 5
    assert cut.checksum_ok is None


def test_odd_length_checksum() -> None:
    seg = decode(LINKTYPE_RAW, ipv4_tcp(b"odd"), 1, 0.0)
    assert seg is not None and seg.checksum_ok is True


def test_not_tcp_gives_none() -> None:
    udp = bytearray(ipv4_tcp())
    udp[9] = 17
    assert decode(LINKTYPE_RAW, bytes(udp), 1, 0.0) is None
    assert decode(LINKTYPE_ETHERNET, bytes(12) + b"\x08\x06" + bytes(28), 1, 0.0) is None  # ARP
    assert decode(147, ipv4_tcp(), 1, 0.0) is None  # unknown link type


def test_ip_fragments_need_a_defragmenter() -> None:
    frag = bytearray(ipv4_tcp())
    frag[6:8] = b"\x20\x00"  # more fragments
    assert decode(LINKTYPE_RAW, bytes(frag), 1, 0.0) is None


def _ipv4_fragments(packet: bytes, cuts: list[int]) -> list[bytes]:
    """Split an IPv4 packet's payload at byte offsets `cuts` (multiples of 8) into fragments."""
    header, body = bytearray(packet[:20]), packet[20:]
    out = []
    bounds = [0, *cuts, len(body)]
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        h = bytearray(header)
        h[2:4] = struct.pack("!H", 20 + hi - lo)
        h[4:6] = b"\x12\x34"
        h[6:8] = struct.pack("!H", (lo // 8) | (0x2000 if hi < len(body) else 0))
        out.append(bytes(h) + body[lo:hi])
    return out


def test_ipv4_fragments_are_reassembled_even_with_the_tcp_header_cut_in_two() -> None:
    whole = ipv4_tcp(b"x" * 100)
    frags = _ipv4_fragments(whole, [8, 64])  # the first fragment holds only 8 bytes of TCP header
    defrag = Defragmenter()
    got = [decode(LINKTYPE_RAW, f, n, float(n), defrag=defrag) for n, f in enumerate(reversed(frags), 1)]
    assert got[:2] == [None, None]
    expected = decode(LINKTYPE_RAW, whole, 3, 3.0)
    assert got[2] == expected and got[2] is not None and got[2].checksum_ok is True
    assert got[2].payload == b"x" * 100 and got[2].frame == 3  # the frame that completed it


def test_ipv6_fragments_are_reassembled() -> None:
    src, dst = bytes.fromhex("fd00" + "00" * 13 + "01"), bytes.fromhex("fd00" + "00" * 13 + "02")
    payload = bytes(range(200))
    tcp = struct.pack("!HHIIBBHHH", 1234, 80, 1000, 2000, 0x50, 0x18, 512, 0, 0) + payload
    cks = _checksum(src + dst + struct.pack("!II", len(tcp), 6) + tcp)
    tcp = tcp[:16] + struct.pack("!H", cks) + tcp[18:]
    frames = []
    for lo, hi in ((0, 104), (104, len(tcp))):
        more = hi < len(tcp)
        frag_header = struct.pack("!BBHI", 6, 0, lo | more, 0xCAFE)
        body = frag_header + tcp[lo:hi]
        frames.append(struct.pack("!IHBB16s16s", 0x60000000, len(body), 44, 64, src, dst) + body)
    defrag = Defragmenter()
    assert decode(LINKTYPE_RAW, frames[1], 1, 1.0, defrag=defrag) is None
    seg = decode(LINKTYPE_RAW, frames[0], 2, 2.0, defrag=defrag)
    assert seg is not None and seg.payload == payload and seg.checksum_ok is True
    assert (str(seg.src), str(seg.dst)) == ("[fd00::1]:1234", "[fd00::2]:80")


def _outer_ipv4(proto: int, inner: bytes) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(inner), 0, 0, 64, proto, 0, bytes(4), bytes(4)) + inner


@pytest.mark.parametrize(
    ("name", "frame"),
    [
        ("IP-in-IP", ETH + _outer_ipv4(4, ipv4_tcp())),
        ("GRE with IPv4", ETH + _outer_ipv4(47, b"\x00\x00\x08\x00" + ipv4_tcp())),
        ("GRE with key and sequence", ETH + _outer_ipv4(47, b"\x30\x00\x08\x00" + bytes(8) + ipv4_tcp())),
        ("GRE bridging Ethernet", ETH + _outer_ipv4(47, b"\x00\x00\x65\x58" + ETH + ipv4_tcp())),
        ("ERSPAN II", ETH + _outer_ipv4(47, b"\x10\x00\x88\xbe" + bytes(4) + bytes(8) + ETH + ipv4_tcp())),
        ("MPLS two labels", bytes(12) + b"\x88\x47" + b"\x00\x01\x00\x40" + b"\x00\x02\x01\x40" + ipv4_tcp()),
    ],
)
def test_tunnels_and_labels_are_followed_to_the_tcp_inside(name: str, frame: bytes) -> None:
    seg = decode(LINKTYPE_ETHERNET, frame, 1, 0.0)
    assert seg is not None, name
    assert (str(seg.src), str(seg.dst), seg.payload) == ("192.0.2.1:1234", "198.51.100.7:80", b"hi")


def test_nested_tunnels_stop_at_a_limit() -> None:
    frame = ipv4_tcp()
    for _ in range(10):
        frame = _outer_ipv4(4, frame)
    assert decode(LINKTYPE_RAW, frame, 1, 0.0) is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80), st.sampled_from([4, 41, 47, 17]))
def test_junk_inside_a_tunnel_never_raises(junk: bytes, proto: int) -> None:
    decode(LINKTYPE_RAW, _outer_ipv4(proto, junk), 1, 0.0, defrag=Defragmenter())


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SUPPORTED_LINKTYPES)), st.binary(max_size=120))
def test_junk_never_raises(linktype: int, frame: bytes) -> None:
    decode(linktype, frame, 1, 0.0)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 60))
def test_truncated_real_frames_never_raise(cut: int) -> None:
    decode(LINKTYPE_ETHERNET, (ETH + ipv4_tcp(b"payload"))[:cut], 1, 0.0)


@pytest.mark.parametrize(
    "name",
    ["chat_ipv4", "chat_ipv6", "chat_vlan", "chat_qinq", "chat_sll", "chat_sll2", "chat_null", "chat_raw"],
)
def test_same_segments_from_every_link_layer(name: str) -> None:
    segs = [decode(lt, frame, i, ts) for i, (lt, ts, frame, _) in enumerate(read_packets(DATA / f"{name}.pcap"), 1)]
    assert all(s is not None for s in segs)
    payloads = [s.payload for s in segs if s is not None and s.payload]
    assert payloads == [b"NICK alice\r\n", b"welcome alice\r\n", b"hello\tworld \x01\xff\r\n", b"bye\n"]
    ports = {(s.src.port, s.dst.port) for s in segs if s is not None}
    assert ports == {(40000, 55555), (55555, 40000)}
    if name == "chat_ipv6":
        assert segs[0] is not None and segs[0].src.ip == "fd00::1"


@pytest.mark.parametrize("payload", [b"", b"x", b"hello world"])
def test_fast_path_builds_the_same_segment_as_the_general_path(payload: bytes) -> None:
    from netlab.capture.decode import decode_ethernet_ipv4, decode_layers

    frame = ETH + ipv4_tcp(payload)
    fast = decode_ethernet_ipv4(frame, 3, 2.5, True, None)
    general_fields = decode_layers(LINKTYPE_ETHERNET, frame, 3, 2.5, True, None)
    assert fast is not None and general_fields is not None
    general = Segment(*general_fields)
    if not payload:  # the fast path does not check empty segments: nothing could be chosen by it
        general = dataclasses.replace(general, checksum_ok=None)
    assert fast == general
    assert decode_ethernet_ipv4(bytes(12) + b"\x81\x00\x00\x2a\x08\x00" + ipv4_tcp(), 1, 0.0, True, None) is None


def test_an_ip_length_beyond_the_wire_length_is_cut_to_it() -> None:
    frame = ETH + ipv4_tcp(b"abcdefgh")
    seg = decode(LINKTYPE_ETHERNET, frame[:-3], 1, 0.0, orig_len=len(frame) - 3)
    assert seg is not None and seg.payload == b"abcde" and seg.wire_len == 5 and seg.checksum_ok is None


def test_pppoe_length_bounds_the_ip_packet() -> None:
    """A PPPoE session header shorter than the IP length claims: the PPPoE length wins (as tshark)."""
    packet = ipv4_tcp(b"abcdef")
    pppoe = struct.pack("!BBHH", 0x11, 0, 7, 2 + len(packet) - 6) + b"\x00\x21"
    frame = bytes(12) + b"\x81\x00\x00\x0a\x88\x64" + pppoe + packet
    seg = decode(LINKTYPE_ETHERNET, frame, 1, 0.0)
    assert seg is not None and seg.vlan == (10,)
    assert seg.payload == b"" and seg.wire_len == 0
    whole = decode(LINKTYPE_ETHERNET, frame[:22] + struct.pack("!H", 2 + len(packet)) + frame[24:], 1, 0.0)
    assert whole is not None and whole.payload == b"abcdef" and whole.checksum_ok


def _syn(options: bytes, *, flags: int = 0x02) -> bytes:
    """An IPv4 SYN (by default) with these TCP options, padded to a multiple of 4 bytes with EOL."""
    options += bytes(-len(options) % 4)
    src, dst = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 7])
    tcp = struct.pack("!HHIIBBHHH", 1234, 80, 1000, 0, (5 + len(options) // 4) << 4, flags, 512, 0, 0) + options
    tcp = tcp[:16] + struct.pack("!H", _checksum(src + dst + struct.pack("!HH", 6, len(tcp)) + tcp)) + tcp[18:]
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst) + tcp


MSS, SACK_OK, TIMESTAMPS = b"\x02\x04\x05\xb4", b"\x04\x02", b"\x08\x0a" + bytes(8)


@pytest.mark.parametrize(
    ("options", "wscale"),
    [
        (MSS + SACK_OK + TIMESTAMPS + b"\x01\x03\x03\x07", 7),  # Linux's order
        (MSS + b"\x01\x03\x03\x00" + b"\x01\x01" + SACK_OK, 0),  # shift 0 is scaling too
        (b"\x01\x01\x01\x03\x03\x0e", 14),
        (MSS + SACK_OK + TIMESTAMPS, NO_WINDOW_SCALE),
        (b"", NO_WINDOW_SCALE),
        (MSS + b"\x00" + b"\x03\x03\x07", NO_WINDOW_SCALE),  # after End of Option List: not an option
        (MSS + b"\x05\x00" + b"\x03\x03\x07", NO_WINDOW_SCALE),  # a length below 2: the rest is unreadable
        (b"\x01" * 6 + b"\x03\x03", NO_WINDOW_SCALE),  # cut by the header length
    ],
)
def test_a_syns_window_scale_option_is_decoded(options: bytes, wscale: int) -> None:
    for linktype, header in (
        (LINKTYPE_ETHERNET, ETH),
        (LINKTYPE_RAW, b""),
        (LINKTYPE_LINUX_SLL2, b"\x08\x00" + bytes(18)),
    ):
        seg = decode(linktype, header + _syn(options), 1, 0.0)
        assert seg is not None and seg.wscale == wscale, linktype
        synack = decode(linktype, header + _syn(options, flags=0x12), 1, 0.0)
        assert synack is not None and synack.wscale == wscale


def test_window_scale_is_only_read_from_syns_and_only_when_captured() -> None:
    ack = decode(LINKTYPE_ETHERNET, ETH + _syn(b"\x01\x03\x03\x07", flags=0x10), 1, 0.0)
    assert ack is not None and ack.wscale is None  # not a SYN: not looked at
    frame = ETH + _syn(MSS + b"\x01\x03\x03\x07")
    cut = decode(LINKTYPE_ETHERNET, frame[:-2], 1, 0.0, orig_len=len(frame))
    assert cut is not None and cut.wscale is None  # the options were cut by the snap length: not known
    assert decode(LINKTYPE_RAW, frame[14:-2], 1, 0.0, orig_len=len(frame) - 14).wscale is None  # type: ignore[union-attr]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"\x01", MSS, SACK_OK, TIMESTAMPS, b"\x03\x03\x02", b"\x03\x03\x09", b"\x1e\x04ab"]),
        max_size=8,
    )
)
def test_window_scale_is_the_first_window_scale_option_before_the_end(options: list[bytes]) -> None:
    """Options built from well-formed pieces: the decoder finds what a reader of the list finds."""
    raw = b"".join(options)[:40]
    expected = NO_WINDOW_SCALE
    at = 0
    for piece in options:  # the first whole window-scale option within 40 bytes wins
        if piece.startswith(b"\x03") and at + 3 <= len(raw):
            expected = piece[2]
            break
        at += len(piece)
    for frame in (ETH + _syn(raw), _syn(raw)):
        linktype = LINKTYPE_ETHERNET if frame.startswith(ETH) else LINKTYPE_RAW
        seg = decode(linktype, frame, 1, 0.0)
        assert seg is not None and seg.wscale == expected


def test_fast_path_and_layer_functions_agree_on_syns() -> None:
    from netlab.capture.decode import decode_layers, ethernet_ipv4_tcp

    for options in (b"", MSS + b"\x01\x03\x03\x07", b"\x01\x03\x03\x02" + TIMESTAMPS):
        frame = ETH + _syn(options)
        fast = ethernet_ipv4_tcp(frame, 0, len(frame), None, 1, 0.0, True)
        assert fast is not None and fast == decode_layers(LINKTYPE_ETHERNET, frame, 1, 0.0, True, None)
        assert fast[10] is True  # SYN checksums are checked on both paths


def test_cooked_captures_dispatch_their_protocol_like_ethernet() -> None:
    """SLL's protocol field is an ethertype: a VLAN tag behind it is followed (as tshark does)."""
    frame = bytes(14) + b"\x81\x00" + b"\x00\x05\x08\x00" + ipv4_tcp(b"tagged")
    seg = decode(LINKTYPE_LINUX_SLL, frame, 1, 0.0)
    assert seg is not None and seg.vlan == (5,) and seg.payload == b"tagged"


def test_an_ethertype_of_zero_is_not_ip() -> None:
    """Type 0 is an 802.3 length field, not "guess from the IP version"."""
    assert decode(LINKTYPE_ETHERNET, bytes(12) + b"\x00\x00" + ipv4_tcp(), 1, 0.0) is None


def test_an_ip_length_below_the_header_length_of_a_short_frame_gives_none() -> None:
    """IHL 13 (52 bytes) in a 40-byte packet: malformed, not a crash."""
    packet = bytearray(ipv4_tcp(b""))
    packet[0] = 0x4D
    packet[2:4] = b"\x00\x28"
    assert decode(LINKTYPE_ETHERNET, ETH + bytes(packet[:40]), 1, 0.0) is None
    assert decode(LINKTYPE_RAW, bytes(packet[:40]), 1, 0.0) is None


def _icmp(kind: int, quoted: bytes) -> bytes:
    src, dst = bytes([198, 51, 100, 7]), bytes([192, 0, 2, 1])
    body = struct.pack("!BBHI", kind, 3, 0, 0) + quoted
    return ETH + struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0, 64, 1, 0, src, dst) + body


@pytest.mark.parametrize("keep", [28, 40, 60])
def test_an_icmp_error_quoting_tcp_names_the_4_tuple_and_is_flagged_quoted(keep: int) -> None:
    seg = decode(LINKTYPE_ETHERNET, _icmp(3, ipv4_tcp()[:keep]), 1, 0.0)
    assert seg is not None and seg.flags == QUOTED
    assert (seg.src, seg.dst) == (Endpoint("192.0.2.1", 1234), Endpoint("198.51.100.7", 80))
    assert seg.payload == b"" and seg.wire_len == 0
    assert seg.seq == (1000 if keep >= 28 else 0)


def test_other_icmp_messages_and_cut_quotes_are_not_segments() -> None:
    assert decode(LINKTYPE_ETHERNET, _icmp(8, ipv4_tcp()[:28]), 1, 0.0) is None  # an echo request
    assert decode(LINKTYPE_ETHERNET, _icmp(3, ipv4_tcp()[:22]), 1, 0.0) is None  # ports cut short
