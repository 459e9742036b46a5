"""The struct decoder: link layers, IP versions, truncation, checksums, junk."""

from __future__ import annotations

import dataclasses
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlab.capture.decode import (
    LINK_LAYERS,
    LINKTYPE_ETHERNET,
    LINKTYPE_FDDI,
    LINKTYPE_IEEE802_11,
    LINKTYPE_IEEE802_11_RADIOTAP,
    LINKTYPE_IPV4,
    LINKTYPE_JUNIPER_ETHER,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_NULL,
    LINKTYPE_PPI,
    LINKTYPE_PPP,
    LINKTYPE_RAW,
    SUPPORTED_LINKTYPES,
    decode,
)
from netlab.capture.ieee80211 import dot11_protected
from netlab.capture.ipfrag import Defragmenter
from netlab.capture.linktypes import LINKTYPE_NAMES, linktype_label
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

SNAP_IPV4 = b"\xaa\xaa\x03\x00\x00\x00\x08\x00"
MAC_A, MAC_B, MAC_AP = b"\x02\0\0\0\0\x01", b"\x02\0\0\0\0\x02", b"\x02\0\0\0\0\xaa"
IPV4_TCP_LEN = len(ipv4_tcp(b"hello"))


def dot11(fc: bytes, *, four: bool = False, qos: bytes = b"", htc: bool = False) -> bytes:
    """An 802.11 header: frame control, duration, 3 addresses, sequence control (4th address, QoS, HT control)."""
    return fc + b"\0\0" + MAC_AP + MAC_A + MAC_B + b"\x10\x00" + (MAC_A if four else b"") + qos + bytes(4 * htc)


def radiotap(flags: int | None, *, tsft: bool = False, extended: bool = False) -> bytes:
    """A radiotap header: present bitmaps (a second one when `extended`), TSFT aligned to 8, flags."""
    words = [(1 if tsft else 0) | (2 if flags is not None else 0) | (0x80000000 if extended else 0)]
    words += [4] if extended else []
    fields = b""
    if tsft:
        fields += bytes(-(4 + 4 * len(words)) % 8) + struct.pack("<Q", 123)
    if flags is not None:
        fields += bytes([flags])
    length = 4 + 4 * len(words) + len(fields)
    return struct.pack("<BBH", 0, 0, length) + b"".join(struct.pack("<I", w) for w in words) + fields


def ppi(dlt: int, fcs: bool | None = None) -> bytes:
    """A PPI header for link type `dlt`, with an 802.11-common field when `fcs` is not None."""
    field = b""
    if fcs is not None:
        common = struct.pack("<QHHHHbb", 1, int(fcs), 2, 2437, 0xA0, 0, 0) + b"\0\0"
        field = struct.pack("<HH", 2, len(common)) + common
    return struct.pack("<BBHI", 0, 0, 8 + len(field), dlt) + field


def _pppoe(ppp_protocol: bytes) -> bytes:
    return struct.pack("!BBHH", 0x11, 0, 0x2A, len(ppp_protocol) + IPV4_TCP_LEN) + ppp_protocol


_JUNIPER_TLVS = bytes([1, 4]) + struct.pack("<I", 7)

# (link type, header in front of an IPv4/TCP packet, what it shows)
MORE_LINK_LAYERS: list[tuple[int, bytes, str]] = [
    (1, MAC_B + MAC_A + struct.pack("!H", 8 + IPV4_TCP_LEN) + SNAP_IPV4, "802.3 + LLC/SNAP"),
    (1, MAC_B + MAC_A + b"\x81\x00\x00\x05" + struct.pack("!H", 8 + IPV4_TCP_LEN) + SNAP_IPV4, "802.1Q + LLC/SNAP"),
    (1, MAC_B + MAC_A + struct.pack("!H", 8 + IPV4_TCP_LEN) + b"\xaa\xaa\x03\x00\x00\xf8\x08\x00", "SNAP, Cisco OUI"),
    (1, MAC_B + MAC_A + struct.pack("!H", 3 + IPV4_TCP_LEN) + b"\x06\x06\x03", "LLC SAP 6 (IP)"),
    (113, bytes(14) + b"\x00\x04" + SNAP_IPV4, "SLL, ETH_P_802_2"),
    (9, b"\xff\x03\x00\x21", "PPP, HDLC-like framing"),
    (9, b"\x00\x21", "PPP"),
    (9, b"\x21", "PPP, protocol-field compression"),
    (9, b"\xff\x03\x21", "PPP, HDLC-like framing and PFC"),
    (9, b"\x8f\x00\x08\x00", "Cisco HDLC in a PPP capture"),
    (50, b"\xff\x03\x00\x21", "PPP in HDLC-like framing"),
    (51, _pppoe(b"\x00\x21"), "PPPoE session"),
    (204, b"\x01\xff\x03\x21", "PPP with a direction byte"),
    (1, MAC_B + MAC_A + b"\x88\x64" + _pppoe(b"\x21"), "PPPoE, PFC"),
    (104, b"\x0f\x00\x08\x00", "Cisco HDLC"),
    (105, dot11(b"\x08\x01") + SNAP_IPV4, "802.11 data, ToDS"),
    (105, dot11(b"\x18\x02") + SNAP_IPV4, "802.11 data + CF-Ack, FromDS"),
    (105, dot11(b"\x88\x03", four=True, qos=b"\x05\x00") + SNAP_IPV4, "802.11 QoS data, 4 addresses"),
    (105, dot11(b"\x88\x82", qos=b"\x00\x00", htc=True) + SNAP_IPV4, "802.11 QoS data, +HTC"),
    (105, dot11(b"\x08\x81") + SNAP_IPV4, "802.11 data, Order bit without QoS: no HT control"),
    (105, dot11(b"\x08\x01") + b"\0\0" + SNAP_IPV4, "802.11, 2 zero bytes before the LLC header"),
    (127, radiotap(None) + dot11(b"\x08\x01") + SNAP_IPV4, "radiotap without flags"),
    (127, radiotap(0, tsft=True, extended=True) + dot11(b"\x08\x01") + SNAP_IPV4, "radiotap, 2 bitmaps"),
    (127, radiotap(0x20) + dot11(b"\x88\x02", qos=b"\0\0") + b"\0\0" + SNAP_IPV4, "radiotap, padded header"),
    (192, ppi(105) + dot11(b"\x08\x01") + SNAP_IPV4, "PPI, 802.11"),
    (192, ppi(105, fcs=False) + dot11(b"\x08\x01") + SNAP_IPV4, "PPI, 802.11-common field"),
    (192, ppi(1) + ETH, "PPI, Ethernet"),
    (192, ppi(192) + ppi(101), "PPI in PPI, raw IP"),
    (119, struct.pack("<II", 0x44, 144) + bytes(136) + dot11(b"\x08\x01") + SNAP_IPV4, "Prism header"),
    (119, struct.pack(">II", 0x41, 144) + bytes(136) + dot11(b"\x08\x01") + SNAP_IPV4, "Prism, big-endian"),
    (119, struct.pack(">II", 0x80211001, 64) + bytes(56) + dot11(b"\x08\x01") + SNAP_IPV4, "AVS in Prism"),
    (119, dot11(b"\x08\x01") + SNAP_IPV4, "Prism link type, no header"),
    (163, struct.pack(">II", 0x80211002, 64) + bytes(56) + dot11(b"\x08\x01") + SNAP_IPV4, "AVS"),
    (10, b"\x50" + MAC_B + MAC_A + SNAP_IPV4, "FDDI"),
    (7, b"\x01\x02\xd4\x00\x00\x07", "ARCNET BSD, RFC 1201"),
    (7, b"\x01\x02\xd4\xff\xff\xff\xd4\x00\x00\x07", "ARCNET BSD, exception header"),
    (7, b"\x01\x02\xf0", "ARCNET BSD, RFC 1051"),
    (129, b"\x01\x02\x00\x00\xd4\x00\x00\x07", "ARCNET Linux"),
    (242, bytes(40) + b"\x08\x00\x00\x00", "IP over InfiniBand"),
    (178, b"MGC\x01" + ETH, "Juniper Ethernet"),
    (178, b"MGC\x80" + struct.pack("!H", len(_JUNIPER_TLVS)) + _JUNIPER_TLVS + ETH, "Juniper, extension TLVs"),
    (178, b"MGC\x02" + struct.pack("<I", 2), "Juniper, no layer 2 header"),
    (178, b"MGC\x82\x00\x03\x01\x01\x05" + struct.pack("<I", 208) + b"\x0f\x00\x08\x00", "Juniper, C-HDLC"),
    (
        239,
        b"\x02\x00\x00\x01" + struct.pack("<HH", 8, 1) + b"\x08\x00\0\0" + struct.pack("<HH", 4 + IPV4_TCP_LEN, 9),
        "NFLOG",
    ),
    (0, struct.pack(">I", 2), "BSD loopback, big-endian"),
    (108, struct.pack(">I", 2), "OpenBSD loopback"),
    (12, b"", "raw IP (12)"),
    (14, b"", "raw IP (14)"),
]

LINK_LAYER_CAPTURES = [
    "chat_llc_snap",
    "chat_ppp",
    "chat_ppp_hdlc",
    "chat_ppp_pppd",
    "chat_pppoe",
    "chat_chdlc",
    "chat_80211",
    "chat_radiotap",
    "chat_ppi",
    "chat_prism",
    "chat_avs",
    "chat_fddi",
    "chat_arcnet",
    "chat_arcnet_linux",
    "chat_ipoib",
    "chat_juniper",
    "chat_nflog",
    "chat_null_be",
    "chat_null_ipv6",
    "chat_loop",
    "chat_raw12",
    "chat_raw14",
    "chat_raw_ipv4",
    "chat_raw_ipv6",
    "chat_interfaces",
]
_WITH_OTHER_FRAMES = {"chat_80211", "chat_radiotap", "chat_ppi", "chat_prism", "chat_avs"}
_IPV6_CAPTURES = {"chat_ppp_pppd", "chat_ppi", "chat_arcnet_linux", "chat_null_ipv6", "chat_raw14", "chat_raw_ipv6"}


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
        *[pytest.param(lt, header, id=name) for lt, header, name in MORE_LINK_LAYERS],
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
    [
        "chat_ipv4",
        "chat_ipv6",
        "chat_vlan",
        "chat_qinq",
        "chat_sll",
        "chat_sll2",
        "chat_null",
        "chat_raw",
        *LINK_LAYER_CAPTURES,
    ],
)
def test_same_segments_from_every_link_layer(name: str) -> None:
    path = next(DATA.glob(f"{name}.pcap*"))
    segs = [decode(lt, frame, i, ts) for i, (lt, ts, frame, _) in enumerate(read_packets(path), 1)]
    if name in _WITH_OTHER_FRAMES:  # Wi-Fi captures also hold beacons, null data and encrypted frames
        assert sum(s is None for s in segs) == 3
        segs = [s for s in segs if s is not None]
    assert all(s is not None for s in segs)
    payloads = [s.payload for s in segs if s is not None and s.payload]
    assert payloads == [b"NICK alice\r\n", b"welcome alice\r\n", b"hello\tworld \x01\xff\r\n", b"bye\n"]
    ports = {(s.src.port, s.dst.port) for s in segs if s is not None}
    assert ports == {(40000, 55555), (55555, 40000)}
    if name == "chat_ipv6" or name in _IPV6_CAPTURES:
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


# --- link layers beyond Ethernet: 802.2 LLC, PPP, Cisco HDLC, 802.11, FDDI, ARCNET, IPoIB, Juniper -------


@pytest.mark.parametrize(("linktype", "header", "name"), MORE_LINK_LAYERS, ids=[n for _, _, n in MORE_LINK_LAYERS])
def test_a_frame_cut_anywhere_never_raises(linktype: int, header: bytes, name: str) -> None:
    """Cut short at every length (the snap length): None, or a segment that knows what is missing."""
    frame = header + ipv4_tcp(b"hello")
    for cut in range(len(frame)):
        seg = decode(linktype, frame[:cut], 1, 0.0, orig_len=len(frame))
        assert seg is None or (seg.wire_len == 5 and seg.payload == b"hello"[: 5 - seg.missing]), name


def test_every_supported_link_type_has_a_name() -> None:
    assert set(LINK_LAYERS) <= set(LINKTYPE_NAMES)
    assert LINKTYPE_NAMES[LINKTYPE_IEEE802_11_RADIOTAP] == "IEEE 802.11 plus radiotap radio header"
    for unsupported in (147, 162, 187, 195, 201, 220, 249, 251):  # USER0, USER15, Bluetooth, 802.15.4, USB
        assert unsupported not in LINK_LAYERS and LINKTYPE_NAMES[unsupported]
    assert linktype_label(249) == "link type 249 (USB packets with USBPcap header)"
    assert linktype_label(65000) == "link type 65000"


def test_the_8023_length_bounds_the_llc_frame() -> None:
    """IEEE 802.3's length field, like an IP length, keeps Ethernet padding out of the payload."""
    llc = SNAP_IPV4 + ipv4_tcp(b"hello")
    frame = MAC_B + MAC_A + struct.pack("!H", len(llc) - 2) + llc + bytes(8)
    seg = decode(LINKTYPE_ETHERNET, frame, 1, 0.0)
    assert seg is not None and seg.payload == b"hel" and seg.checksum_ok is None


@pytest.mark.parametrize(
    "llc",
    [
        b"\xaa\xab\x03\x00\x00\x00\x08\x00",  # a response, not a command
        b"\xaa\xaa\x03\x08\x00\x07\x08\x00",  # SNAP with another OUI (AppleTalk's): its own protocol ids
        b"\xaa\xaa\x13\x00\x00\x00\x08\x00",  # not unnumbered information
        b"\x42\x42\x03",  # spanning tree
    ],
)
def test_llc_frames_that_carry_no_ip_give_none(llc: bytes) -> None:
    body = llc + ipv4_tcp(b"hello")
    assert decode(LINKTYPE_ETHERNET, MAC_B + MAC_A + struct.pack("!H", len(body)) + body, 1, 0.0) is None


def test_ppp_protocol_field_compression_for_ipv6() -> None:
    v4 = ipv4_tcp(b"hello")
    assert decode(LINKTYPE_PPP, b"\x57" + v4, 1, 0.0) is None  # IPv6's number: the IPv4 packet is refused
    assert decode(LINKTYPE_PPP, b"\x00\x57" + v4, 1, 0.0) is None
    assert decode(LINKTYPE_PPP, b"\x23" + v4, 1, 0.0) is None  # ISO's number: not followed
    seg = decode(LINKTYPE_ETHERNET, MAC_B + MAC_A + b"\x88\x64" + _pppoe(b"\x21"), 1, 0.0)
    assert seg is None  # the PPPoE length counts the IP packet: here there is none


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (dot11(b"\x08\x41") + SNAP_IPV4 + ipv4_tcp(b"hello"), "protected (even if it looked like plain text)"),
        (dot11(b"\x88\x42", qos=b"\0\0") + bytes(8) + b"\x5a" * 60, "protected QoS"),
        (dot11(b"\x48\x01"), "null data"),
        (dot11(b"\xc8\x01", qos=b"\0\0"), "QoS null"),
        (dot11(b"\x80\x00") + bytes(12), "beacon"),
        (dot11(b"\x08\x05") + SNAP_IPV4 + ipv4_tcp(b"hello"), "more fragments"),
        (dot11(b"\x09\x01") + SNAP_IPV4 + ipv4_tcp(b"hello"), "protocol version 1"),
    ],
)
def test_80211_frames_without_a_readable_body_give_none(frame: bytes, why: str) -> None:
    assert decode(LINKTYPE_IEEE802_11, frame, 1, 0.0) is None, why
    assert decode(LINKTYPE_IEEE802_11_RADIOTAP, radiotap(0) + frame, 1, 0.0) is None, why
    assert dot11_protected(frame) == why.startswith("protected")


def test_80211_amsdu_of_one_packet_is_followed_and_of_several_is_not() -> None:
    msdu = SNAP_IPV4 + ipv4_tcp(b"hello")
    subframe = MAC_B + MAC_A + struct.pack("!H", len(msdu)) + msdu
    header = dot11(b"\x88\x02", qos=b"\x80\x00")
    seg = decode(LINKTYPE_IEEE802_11, header + subframe + bytes(-len(subframe) % 4), 1, 0.0)
    assert seg is not None and seg.payload == b"hello" and seg.checksum_ok
    padded = subframe + bytes(-len(subframe) % 4)
    assert decode(LINKTYPE_IEEE802_11, header + padded + subframe, 1, 0.0) is None


def _tso(packet: bytes) -> bytes:
    """The IPv4 packet with a total length of 0, as captured on a host that offloads segmentation."""
    return packet[:2] + b"\0\0" + packet[4:]


@pytest.mark.parametrize("extended", [False, True])
def test_radiotap_fcs_flag_keeps_the_fcs_out_of_the_payload(extended: bool) -> None:
    body = dot11(b"\x08\x01") + SNAP_IPV4 + _tso(ipv4_tcp(b"hello"))
    fcs = struct.pack("<I", zlib.crc32(body))
    seg = decode(LINKTYPE_IEEE802_11_RADIOTAP, radiotap(0x10, tsft=True, extended=extended) + body + fcs, 1, 0.0)
    assert seg is not None and seg.payload == b"hello"
    without_flag = decode(LINKTYPE_IEEE802_11_RADIOTAP, radiotap(0, tsft=True) + body + fcs, 1, 0.0)
    assert without_flag is not None and without_flag.payload == b"hello" + fcs  # what tshark shows too


def test_ppi_fcs_present_flag_keeps_the_fcs_out_of_the_payload() -> None:
    body = dot11(b"\x08\x01") + SNAP_IPV4 + _tso(ipv4_tcp(b"hello"))
    seg = decode(LINKTYPE_PPI, ppi(105, fcs=True) + body + b"\xde\xad\xbe\xef", 1, 0.0)
    assert seg is not None and seg.payload == b"hello"


def test_deeply_nested_ppi_stops_at_the_limit() -> None:
    frame = ppi(192) * 5000 + ppi(101) + ipv4_tcp(b"hello")
    assert decode(LINKTYPE_PPI, frame, 1, 0.0) is None
    assert decode(LINKTYPE_PPI, struct.pack("<BBHI", 0, 0, 0, 192) * 10, 1, 0.0) is None


def test_juniper_needs_its_magic() -> None:
    assert decode(LINKTYPE_JUNIPER_ETHER, b"XGC\x00" + ETH + ipv4_tcp(b"hello"), 1, 0.0) is None
    assert decode(LINKTYPE_JUNIPER_ETHER, b"MGC\x02" + struct.pack("<I", 99) + ipv4_tcp(), 1, 0.0) is None


def test_fddi_frames_other_than_llc_give_none() -> None:
    for fc in (0x40, 0xC3, 0x60):  # void, SMT/MAC, implementer
        assert decode(LINKTYPE_FDDI, bytes([fc]) + MAC_B + MAC_A + SNAP_IPV4 + ipv4_tcp(), 1, 0.0) is None


def _sack_option(*blocks: tuple[int, int]) -> bytes:
    return bytes([5, 2 + 8 * len(blocks)]) + b"".join(struct.pack("!II", left, right) for left, right in blocks)


NOP2 = b"\x01\x01"


@pytest.mark.parametrize(
    ("options", "blocks"),
    [
        (NOP2 + _sack_option((1000, 2000)), ((1000, 2000),)),
        (NOP2 + TIMESTAMPS + NOP2 + _sack_option((5, 9), (20, 30), (40, 50)), ((5, 9), (20, 30), (40, 50))),
        (NOP2 + _sack_option((1, 2), (3, 4), (5, 6), (7, 8)), ((1, 2), (3, 4), (5, 6), (7, 8))),  # four fit
        (NOP2 + _sack_option((0xFFFFFF00, 0x100)), ((0xFFFFFF00, 0x100),)),  # across the wrap: raw numbers
        (NOP2 + TIMESTAMPS, ()),
        (b"", ()),
        (NOP2 + b"\x05\x0b" + bytes(9), ()),  # a length that is not 2 + 8n: malformed, ignored
        (NOP2 + b"\x05\x02", ()),  # no block at all
        (b"\x00\x00" + _sack_option((1, 2)), ()),  # after End of Option List: not an option
        (NOP2 + b"\x05\x12" + bytes(8), ()),  # longer than the header
    ],
)
def test_sack_blocks_are_decoded(options: bytes, blocks: tuple[tuple[int, int], ...]) -> None:
    for linktype, header in (
        (LINKTYPE_ETHERNET, ETH),
        (LINKTYPE_RAW, b""),
        (LINKTYPE_LINUX_SLL2, b"\x08\x00" + bytes(18)),
    ):
        seg = decode(linktype, header + _syn(options, flags=0x10), 1, 0.0)
        assert seg is not None and seg.sack == blocks, linktype
        assert seg.wscale is None


def test_sack_blocks_are_not_read_from_syns_nor_when_not_captured() -> None:
    options = NOP2 + _sack_option((1000, 2000))
    syn = decode(LINKTYPE_ETHERNET, ETH + _syn(options), 1, 0.0)
    assert syn is not None and syn.sack == ()
    frame = ETH + _syn(options, flags=0x10)
    cut = decode(LINKTYPE_ETHERNET, frame[:-2], 1, 0.0, orig_len=len(frame))
    assert cut is not None and cut.sack == ()  # cut by the snap length: not known, none claimed


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([b"\x01", MSS, TIMESTAMPS, b"\x1e\x04ab"]),
            st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)), min_size=1, max_size=4).map(
                lambda blocks: _sack_option(*blocks)
            ),
        ),
        max_size=6,
    ),
    st.sampled_from([0x10, 0x18, 0x11]),
)
def test_sack_blocks_are_the_first_whole_sack_option(options: list[bytes], flags: int) -> None:
    """Options built from well-formed pieces: the first SACK option wholly within the 40 option bytes
    gives the blocks, on the fast path and through the layer functions alike."""
    from netlab.capture.decode import decode_layers, ethernet_ipv4_tcp

    raw = b"".join(options)[:40]
    expected: tuple[tuple[int, int], ...] = ()
    at = 0
    for piece in options:
        if piece[0] == 5 and at + len(piece) <= len(raw):
            words = struct.unpack(f"!{(len(piece) - 2) // 4}I", piece[2:])
            expected = tuple(zip(words[::2], words[1::2], strict=True))
            break
        if at + len(piece) > len(raw):
            break
        at += len(piece)
    frame = ETH + _syn(raw, flags=flags)
    fast = ethernet_ipv4_tcp(frame, 0, len(frame), None, 1, 0.0, True)
    general = decode_layers(LINKTYPE_ETHERNET, frame, 1, 0.0, True, None)
    assert fast is not None and general is not None
    assert fast[:10] + fast[11:] == general[:10] + general[11:]  # the fast path checksums no pure ACK
    assert fast[13] == expected


def test_a_frame_cut_inside_its_tcp_options_never_raises_on_the_fast_path() -> None:
    """A snap length of 54 (the headers without options) cuts a timestamped segment's options: the
    fast path reads no byte past the frame's captured end, and claims no SACK block it did not see."""
    from netlab.capture.decode import ethernet_ipv4_tcp

    for options in (NOP2 + TIMESTAMPS, NOP2 + _sack_option((1, 2)), NOP2 + TIMESTAMPS + NOP2 + _sack_option((1, 2))):
        frame = ETH + _syn(options, flags=0x10)
        for cut in range(54, len(frame) + 1):
            fields = ethernet_ipv4_tcp(frame[:cut], 0, cut, len(frame), 1, 0.0, True)
            assert fields is not None
            assert fields[13] == (() if cut < len(frame) else sack_of(options))


def sack_of(options: bytes) -> tuple[tuple[int, int], ...]:
    seg = decode(LINKTYPE_RAW, _syn(options, flags=0x10), 1, 0.0)
    assert seg is not None
    return seg.sack
