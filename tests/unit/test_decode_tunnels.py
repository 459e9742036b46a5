"""The struct decoder's tunnels: IP-in-IP, GRE/ERSPAN, UDP tunnels, IPv6 extension headers, and IP
fragments reassembled whatever they carry (a tunnel whose outer packets were fragmented too).

Frames are built by hand with `struct`, independently of the decoder; the captures made by
tests/data/make_pcaps.py are checked against tshark in tests/integration/test_follow_tshark.py.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_decode import ETH, _checksum, _ipv4_fragments, _outer_ipv4, ipv4_tcp

from netlab.capture import decode as decoder
from netlab.capture.decode import LINKTYPE_ETHERNET, LINKTYPE_RAW, decode
from netlab.capture.ipfrag import Defragmenter
from netlab.capture.pcapfile import read_packets
from netlab.packets import Segment

DATA = Path(__file__).resolve().parents[1] / "data"
V6_SRC, V6_DST = bytes.fromhex("fd00" + "00" * 13 + "01"), bytes.fromhex("fd00" + "00" * 13 + "02")
INNER_V4 = ("192.0.2.1:1234", "198.51.100.7:80", b"hi")
INNER_V6 = ("[fd00::1]:1234", "[fd00::2]:80", b"hi")
VXLAN = b"\x08\x00\x00\x00\x00\x00\x2a\x00"


def ipv6_tcp(payload: bytes = b"hi", *, chain: bytes = b"", first: int = 6) -> bytes:
    """An IPv6/TCP packet with a correct checksum; `chain` is extension headers ahead of TCP, the
    first of type `first` (each must name the next, the last one TCP)."""
    tcp = struct.pack("!HHIIBBHHH", 1234, 80, 1000, 2000, 0x50, 0x18, 512, 0, 0) + payload
    cks = _checksum(V6_SRC + V6_DST + struct.pack("!II", len(tcp), 6) + tcp)
    tcp = tcp[:16] + struct.pack("!H", cks) + tcp[18:]
    body = chain + tcp
    return struct.pack("!IHBB16s16s", 0x60000000, len(body), first, 64, V6_SRC, V6_DST) + body


def _outer_ipv6(nh: int, inner: bytes) -> bytes:
    return struct.pack("!IHBB16s16s", 0x60000000, len(inner), nh, 64, bytes(16), bytes(16)) + inner


def _udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def _gre(flags: int, proto: int, fields: bytes = b"") -> bytes:
    return struct.pack("!HH", flags, proto) + fields


def _gtp(inner: bytes, flags: int = 0x30, extra: bytes = b"") -> bytes:
    return struct.pack("!BBHI", flags, 0xFF, len(extra) + len(inner), 0x1234) + extra + inner


def _ext(nh: int, body: bytes = bytes(6)) -> bytes:
    """An IPv6 options header (hop-by-hop, routing or destination options) of 8 bytes or more."""
    return bytes([nh, (2 + len(body)) // 8 - 1]) + body


def _ah(nh: int) -> bytes:
    return struct.pack("!BBHII", nh, 4, 0, 0x100, 1) + bytes(12)


ERSPAN_II = struct.pack("!HHI", 0x1000 | 42, 0, 7)
ERSPAN_III = struct.pack("!HHIHH", 0x2000 | 42, 0, 7, 0, 0)
ERSPAN_III_SUB = struct.pack("!HHIHH", 0x2000 | 42, 0, 7, 0, 1) + bytes(8)
TEREDO_ORIGIN = struct.pack("!HH4s", 0, 0x1234, bytes(4))
TEREDO_AUTH = struct.pack("!HBB", 1, 2, 3) + b"id" + b"abc" + bytes(8) + b"\0"
ROUTING_DONE = bytes(6)  # type 0, no segments left, 4 reserved bytes, no address

TUNNELS_TO_IPV4 = {
    "IPv4 in IPv6": _outer_ipv6(4, ipv4_tcp()),
    "GRE with checksum": _outer_ipv4(47, _gre(0x8000, 0x0800, bytes(4)) + ipv4_tcp()),
    "GRE with checksum, key and sequence": _outer_ipv4(47, _gre(0xB000, 0x0800, bytes(12)) + ipv4_tcp()),
    "GRE with source routing": _outer_ipv4(
        47, _gre(0x4000, 0x0800, bytes(4) + struct.pack("!HBB", 0x0800, 0, 8) + bytes(8) + bytes(4)) + ipv4_tcp()
    ),
    "GRE over IPv6": _outer_ipv6(47, _gre(0, 0x0800) + ipv4_tcp()),
    "GRE with MPLS": _outer_ipv4(47, _gre(0, 0x8847) + b"\x00\x01\x01\x40" + ipv4_tcp()),
    "ERSPAN I": _outer_ipv4(47, _gre(0, 0x88BE) + ETH + ipv4_tcp()),
    "ERSPAN II": _outer_ipv4(47, _gre(0x1000, 0x88BE, bytes(4)) + ERSPAN_II + ETH + ipv4_tcp()),
    "ERSPAN III": _outer_ipv4(47, _gre(0x1000, 0x22EB, bytes(4)) + ERSPAN_III + ETH + ipv4_tcp()),
    "ERSPAN III with subheader": _outer_ipv4(47, _gre(0x1000, 0x22EB, bytes(4)) + ERSPAN_III_SUB + ETH + ipv4_tcp()),
    "VXLAN to its port": _outer_ipv4(17, _udp(50000, 4789, VXLAN + ETH + ipv4_tcp())),
    "VXLAN from its port": _outer_ipv4(17, _udp(4789, 50000, VXLAN + ETH + ipv4_tcp())),
    "VXLAN over IPv6": _outer_ipv6(17, _udp(50000, 4789, VXLAN + ETH + ipv4_tcp())),
    "Geneve with Ethernet": _outer_ipv4(
        17, _udp(50000, 6081, struct.pack("!BBHI", 0, 0, 0x6558, 0) + ETH + ipv4_tcp())
    ),
    "Geneve with options and IPv4": _outer_ipv4(
        17, _udp(6081, 50000, struct.pack("!BBHI", 2, 0, 0x0800, 0) + bytes(8) + ipv4_tcp())
    ),
    "GTP-U": _outer_ipv4(17, _udp(2152, 2152, _gtp(ipv4_tcp()))),
    "GTP-U with a sequence number": _outer_ipv4(17, _udp(40000, 2152, _gtp(ipv4_tcp(), 0x32, bytes(4)))),
    "GTP-U with two extension headers": _outer_ipv4(
        17, _udp(2152, 40000, _gtp(ipv4_tcp(), 0x34, b"\0\0\0\x85" + b"\x01\x10\x09\x40" + b"\x02" + bytes(6) + b"\0"))
    ),
    "AH in IPv4": _outer_ipv4(51, _ah(4) + ipv4_tcp()),
}

TUNNELS_TO_IPV6 = {
    "6in4": _outer_ipv4(41, ipv6_tcp()),
    "IPv6 in IPv6": _outer_ipv6(41, ipv6_tcp()),
    "Teredo": _outer_ipv4(17, _udp(40000, 3544, ipv6_tcp())),
    "Teredo from its port, origin indication": _outer_ipv4(17, _udp(3544, 40000, TEREDO_ORIGIN + ipv6_tcp())),
    "Teredo with both indicators": _outer_ipv4(17, _udp(40000, 3544, TEREDO_AUTH + TEREDO_ORIGIN + ipv6_tcp())),
    "GRE with IPv6": _outer_ipv4(47, _gre(0, 0x86DD) + ipv6_tcp()),
    "IPv6 extension headers": ipv6_tcp(
        # hop-by-hop, destination options, routing, an atomic fragment, AH, destination options
        chain=_ext(60) + _ext(43) + _ext(44, ROUTING_DONE) + struct.pack("!BBHI", 51, 0, 0, 7) + _ah(60) + _ext(6),
        first=0,
    ),
}


@pytest.mark.parametrize("name", sorted(TUNNELS_TO_IPV4))
def test_tunnels_are_followed_to_the_ipv4_tcp_inside(name: str) -> None:
    seg = decode(LINKTYPE_ETHERNET, _eth_for(TUNNELS_TO_IPV4[name]) + TUNNELS_TO_IPV4[name], 1, 0.0)
    assert seg is not None, name
    assert (str(seg.src), str(seg.dst), seg.payload) == INNER_V4
    assert seg.checksum_ok is True and seg.missing == 0


@pytest.mark.parametrize("name", sorted(TUNNELS_TO_IPV6))
def test_tunnels_are_followed_to_the_ipv6_tcp_inside(name: str) -> None:
    seg = decode(LINKTYPE_RAW, TUNNELS_TO_IPV6[name], 1, 0.0)
    assert seg is not None, name
    assert (str(seg.src), str(seg.dst), seg.payload) == INNER_V6
    assert seg.checksum_ok is True and seg.missing == 0


def _eth_for(packet: bytes) -> bytes:
    return ETH if packet[0] >> 4 == 4 else bytes(12) + b"\x86\xdd"


ALL_TUNNELS = {**TUNNELS_TO_IPV4, **TUNNELS_TO_IPV6}


@pytest.mark.parametrize("name", sorted(ALL_TUNNELS))
def test_tunnel_frames_cut_short_never_raise(name: str) -> None:
    """Every cut of every tunnel frame: None, or the segment with what was cut counted as missing."""
    packet = ALL_TUNNELS[name]
    for cut in range(len(packet)):
        seg = decode(LINKTYPE_RAW, packet[:cut], 1, 0.0, orig_len=len(packet), defrag=Defragmenter())
        assert seg is None or (seg.payload == b"hi"[: len(seg.payload)] and seg.missing == 2 - len(seg.payload))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=100), st.sampled_from([2152, 3544, 4789, 6081]), st.booleans())
def test_junk_in_a_udp_tunnel_never_raises(junk: bytes, port: int, source: bool) -> None:
    ports = (port, 50000) if source else (50000, port)
    decode(LINKTYPE_RAW, _outer_ipv4(17, _udp(*ports, junk)), 1, 0.0, defrag=Defragmenter())
    decode(LINKTYPE_RAW, _outer_ipv6(17, _udp(*ports, junk)), 1, 0.0, defrag=Defragmenter())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100), st.sampled_from([0, 43, 44, 51, 60]))
def test_junk_extension_headers_never_raise(junk: bytes, nh: int) -> None:
    decode(LINKTYPE_RAW, _outer_ipv6(nh, junk), 1, 0.0, defrag=Defragmenter())
    decode(LINKTYPE_RAW, _outer_ipv4(nh, junk), 1, 0.0, defrag=Defragmenter())


def test_the_lower_udp_port_is_looked_up_first_as_in_wireshark() -> None:
    """4789 (VXLAN) and 6081 (Geneve) on one datagram: tshark takes the lower port, VXLAN."""
    for ports in ((4789, 6081), (6081, 4789)):
        seg = decode(LINKTYPE_RAW, _outer_ipv4(17, _udp(*ports, VXLAN + ETH + ipv4_tcp())), 1, 0.0)
        assert seg is not None and seg.payload == b"hi"


def test_a_lower_port_whose_decoder_rejects_the_header_gives_way_to_the_higher_one() -> None:
    """GTP-U (2152) rejects anything but a GTPv1 G-PDU, so tshark tries the other port, VXLAN (4789)."""
    seg = decode(LINKTYPE_RAW, _outer_ipv4(17, _udp(2152, 4789, VXLAN + ETH + ipv4_tcp())), 1, 0.0)
    assert seg is not None and seg.payload == b"hi"
    # VXLAN accepts any header, so a Geneve payload on 4789 -> 6081 is taken as VXLAN: no TCP found
    geneve = struct.pack("!BBHI", 0, 0, 0x0800, 0) + ipv4_tcp()
    assert decode(LINKTYPE_RAW, _outer_ipv4(17, _udp(4789, 6081, geneve)), 1, 0.0) is None


def test_headers_wireshark_follows_though_they_break_the_rules_are_followed() -> None:
    """VXLAN without its I flag, Geneve with a version other than 0: tshark decodes what is inside."""
    no_i_flag = _outer_ipv4(17, _udp(50000, 4789, bytes(8) + ETH + ipv4_tcp()))
    geneve_v1 = _outer_ipv4(17, _udp(50000, 6081, struct.pack("!BBHI", 0x40, 0, 0x0800, 0) + ipv4_tcp()))
    for packet in (no_i_flag, geneve_v1):
        seg = decode(LINKTYPE_RAW, packet, 1, 0.0)
        assert seg is not None and seg.payload == b"hi"


def test_the_udp_length_bounds_the_tunnel() -> None:
    """Bytes after the UDP length (padding) are not part of the inner packet."""
    datagram = bytearray(_udp(40000, 2152, _gtp(ipv4_tcp(b"abcdef"))))
    datagram[4:6] = struct.pack("!H", len(datagram) - 6)  # the UDP length leaves out 6 bytes of TCP payload
    seg = decode(LINKTYPE_RAW, _outer_ipv4(17, bytes(datagram)), 1, 0.0)
    assert seg is not None and seg.payload == b"" and seg.wire_len == 0


def test_gtp_u_other_messages_and_endless_extension_chains_give_none() -> None:
    echo = struct.pack("!BBHI", 0x32, 0x01, 4, 0) + bytes(4)  # an echo request, not a G-PDU
    assert decode(LINKTYPE_RAW, _outer_ipv4(17, _udp(2152, 2152, echo)), 1, 0.0) is None
    zero_length = _gtp(ipv4_tcp(), 0x34, b"\0\0\0\x85" + b"\x00\x00\x00\x85")
    assert decode(LINKTYPE_RAW, _outer_ipv4(17, _udp(2152, 2152, zero_length)), 1, 0.0) is None
    gtp_prime = _gtp(ipv4_tcp(), 0x20)  # PT bit clear: GTP', not GTP
    assert decode(LINKTYPE_RAW, _outer_ipv4(17, _udp(2152, 2152, gtp_prime)), 1, 0.0) is None


def test_esp_is_not_followed() -> None:
    esp = struct.pack("!II", 0x100, 1) + ipv4_tcp()  # even an unencrypted-looking payload
    assert decode(LINKTYPE_RAW, _outer_ipv4(50, esp), 1, 0.0) is None
    assert decode(LINKTYPE_RAW, _outer_ipv6(50, esp), 1, 0.0) is None


def test_a_routing_header_with_segments_left_leaves_the_checksum_unverified() -> None:
    """The TCP checksum then covers the final destination, not the header's: not checked, not failed."""
    routed = bytes([0, 1]) + bytes(4) + bytes(16)  # type 0, 1 segment left, 4 reserved bytes, 1 address
    seg = decode(LINKTYPE_RAW, ipv6_tcp(chain=_ext(6, routed), first=43), 1, 0.0)
    assert seg is not None and seg.payload == b"hi" and seg.checksum_ok is None


# --- fragments ----------------------------------------------------------------------------------


def _ipv6_fragments(packet: bytes, cuts: list[int], ident: int = 0xCAFE) -> list[bytes]:
    """Split an IPv6 packet (no extension headers) into fragments at payload offsets `cuts`."""
    header, body = packet[:40], packet[40:]
    out = []
    bounds = [0, *cuts, len(body)]
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        frag = struct.pack("!BBHI", header[6], 0, lo | (hi < len(body)), ident) + body[lo:hi]
        out.append(header[:4] + struct.pack("!H", len(frag)) + b"\x2c" + header[7:40] + frag)
    return out


BIG = b"".join(bytes([i]) * 100 for i in range(20))  # 2000 bytes: the outer packet needs fragmenting

FRAGMENTED_OUTER = {
    "GRE": _outer_ipv4(47, _gre(0, 0x0800) + ipv4_tcp(BIG)),
    "IP-in-IP": _outer_ipv4(4, ipv4_tcp(BIG)),
    "VXLAN": _outer_ipv4(17, _udp(50000, 4789, VXLAN + ETH + ipv4_tcp(BIG))),
    "GTP-U": _outer_ipv4(17, _udp(2152, 2152, _gtp(ipv4_tcp(BIG)))),
    "IPv4 in IPv6": _outer_ipv6(4, ipv4_tcp(BIG)),
    "GRE over IPv6": _outer_ipv6(47, _gre(0, 0x0800) + ipv4_tcp(BIG)),
}


@pytest.mark.parametrize("name", sorted(FRAGMENTED_OUTER))
def test_a_tunnel_with_fragmented_outer_packets_yields_its_inner_segment(name: str) -> None:
    whole = FRAGMENTED_OUTER[name]
    split = _ipv4_fragments if whole[0] >> 4 == 4 else _ipv6_fragments
    frags = split(whole, [1000, 1496])
    defrag = Defragmenter()
    got = [decode(LINKTYPE_RAW, f, n, float(n), defrag=defrag) for n, f in enumerate([frags[2], frags[0], frags[1]], 1)]
    assert got[:2] == [None, None]
    expected = decode(LINKTYPE_RAW, whole, 3, 3.0)
    assert expected is not None and got[2] == expected
    assert got[2].payload == BIG and got[2].checksum_ok is True and got[2].frame == 3
    assert defrag.pending == 0


def test_fragments_are_kept_apart_by_protocol() -> None:
    """Two datagrams with the same addresses and identification but different protocols do not mix."""
    tcp_frags = _ipv4_fragments(ipv4_tcp(BIG), [1000])
    gre_frags = _ipv4_fragments(_outer_ipv4(47, _gre(0, 0x0800) + ipv4_tcp(b"inner")), [16])
    gre_frags = [f[:12] + tcp_frags[0][12:20] + f[20:] for f in gre_frags]  # the same addresses
    defrag = Defragmenter()
    assert decode(LINKTYPE_RAW, tcp_frags[0], 1, 1.0, defrag=defrag) is None
    assert decode(LINKTYPE_RAW, gre_frags[1], 2, 2.0, defrag=defrag) is None
    assert defrag.pending == 2
    inner = decode(LINKTYPE_RAW, gre_frags[0], 3, 3.0, defrag=defrag)
    outer = decode(LINKTYPE_RAW, tcp_frags[1], 4, 4.0, defrag=defrag)
    assert inner is not None and inner.payload == b"inner"
    assert outer is not None and outer.payload == BIG


def test_a_fragmented_udp_datagram_reaches_the_udp_layer_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever UDP does with it, it gets the reassembled datagram with a checksum context."""
    seen: list[tuple[bytes, bool, bytes, bytes]] = []

    def udp(buf: bytes, off: int, end: int, ctx: decoder.FrameContext) -> None:
        seen.append((buf[off:end], ctx.checkable, ctx.src, ctx.dst))

    monkeypatch.setitem(decoder.IP_PROTOCOLS, 17, udp)
    datagram = _udp(5353, 5353, bytes(range(256)) * 8)
    v4, v6 = _outer_ipv4(17, datagram), _outer_ipv6(17, datagram)
    for frags, src, dst in (
        (_ipv4_fragments(v4, [1000, 2000]), v4[12:16], v4[16:20]),
        (_ipv6_fragments(v6, [1000, 2000]), v6[8:24], v6[24:40]),
    ):
        defrag = Defragmenter()
        for n, frag in enumerate(reversed(frags), 1):
            decode(LINKTYPE_RAW, frag, n, 0.0, defrag=defrag)
        assert seen == [(datagram, True, src, dst)]
        seen.clear()


def test_fragments_of_protocols_not_decoded_are_not_held() -> None:
    defrag = Defragmenter()
    esp = _ipv4_fragments(_outer_ipv4(50, bytes(2000)), [1000])
    assert decode(LINKTYPE_RAW, esp[0], 1, 0.0, defrag=defrag) is None
    assert defrag.pending == 0


def test_a_long_extension_header_chain_after_reassembly_is_walked_without_recursion() -> None:
    """Thousands of destination options headers in a reassembled datagram: a loop, not a stack overflow."""
    chain = _ext(60) * 4000 + _ext(6)
    packet = ipv6_tcp(chain=chain, first=60)
    frags = _ipv6_fragments(packet, list(range(8000, len(packet) - 40, 8000)))
    defrag = Defragmenter()
    segs = [decode(LINKTYPE_RAW, f, n, 0.0, defrag=defrag) for n, f in enumerate(frags, 1)]
    assert segs[-1] is not None and segs[-1].payload == b"hi" and segs[-1].checksum_ok is True


# --- the captures -------------------------------------------------------------------------------

CHAT_PAYLOADS = [b"NICK alice\r\n", b"welcome alice\r\n", b"hello\tworld \x01\xff\r\n", b"bye\n"]
TUNNEL_CAPTURES = [
    "chat_ipip",
    "chat_6in4",
    "chat_ip6ip6",
    "chat_4in6",
    "chat_gre",
    "chat_gre6",
    "chat_gre_eth",
    "chat_erspan1",
    "chat_erspan2",
    "chat_erspan3",
    "chat_vxlan",
    "chat_udp_ports",
    "chat_geneve",
    "chat_gtpu",
    "chat_teredo",
    "chat_ipv6_ext",
    "chat_ah",
]


def _segments(name: str) -> list[Segment | None]:
    defrag = Defragmenter()
    return [
        decode(lt, frame, i, ts, defrag=defrag) for i, (lt, ts, frame, _) in enumerate(read_packets(DATA / name), 1)
    ]


@pytest.mark.parametrize("name", TUNNEL_CAPTURES)
def test_the_chat_comes_through_every_tunnel_capture(name: str) -> None:
    segs = _segments(f"{name}.pcap")
    assert all(s is not None for s in segs)
    assert [s.payload for s in segs if s is not None and s.payload] == CHAT_PAYLOADS
    assert {(s.src.port, s.dst.port) for s in segs if s is not None} == {(40000, 55555), (55555, 40000)}
    assert all(s.checksum_ok is not False for s in segs if s is not None)


@pytest.mark.parametrize("name", ["frag_gre", "frag_ipip", "frag_vxlan", "frag_ipv6_outer"])
def test_the_chat_comes_through_every_fragmented_tunnel_capture(name: str) -> None:
    segs = [s for s in _segments(f"{name}.pcap") if s is not None]
    payloads = [s.payload for s in segs if s.payload]
    assert [len(p) for p in payloads] == [1460, 1460, 5, 5]
    assert all(s.checksum_ok is not False for s in segs)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([4, 6]),
            st.integers(0, 0x3FFF),
            st.sampled_from([4, 6, 17, 41, 47, 51, 60]),
            st.binary(max_size=40),
            st.integers(0, 3),
        ),
        max_size=12,
    )
)
def test_junk_fragments_sharing_one_defragmenter_never_raise(frags: list[tuple[int, int, int, bytes, int]]) -> None:
    """Fragments of one datagram with random offsets, flags, lengths (even below their headers'), and
    protocols, fed to one `Defragmenter`: nothing raises, whatever completes."""
    defrag = Defragmenter()
    for n, (version, field, proto, data, slack) in enumerate(frags, 1):
        if version == 4:
            total = max(0, 20 + len(data) - 8 * slack)
            packet = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 7, field, 64, proto, 0, bytes(4), bytes(4)) + data
        else:
            frag = struct.pack("!BBHI", proto, 0, (field << 3) & 0xFFF9 | field & 1, 7) + data
            plen = max(0, len(frag) - 8 * slack)
            packet = struct.pack("!IHBB16s16s", 0x60000000, plen, 44, 64, bytes(16), bytes(16)) + frag
        decode(LINKTYPE_RAW, packet, n, float(n), defrag=defrag)
