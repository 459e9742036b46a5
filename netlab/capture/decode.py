"""Frames to `Segment`s: a struct-based decoder for the hot path (no scapy).

`decode(linktype, frame, number, ts)` finds the IPv4/IPv6 layer behind Ethernet (with 802.1Q /
QinQ tags and PPPoE), Linux cooked capture (SLL, SLL2), BSD loopback (DLT_NULL / DLT_LOOP),
raw IP (DLT 101, 12, 14, 228, 229), NFLOG, MPLS, and tunnels (VXLAN, GRE with IP, Ethernet or
ERSPAN inside, IP-in-IP, IPv6-in-IPv4), and returns the TCP segment in it, or None for anything
else. Asked for them (`decode_all`, or a `datagrams` list for `decode_layers`), it also collects the
UDP datagrams of a frame, as `Datagram`s, in the order met (a tunnel's outer datagram before what
it carries). Given a `Defragmenter` (one per capture), IPv4 and IPv6 fragments of TCP segments are
reassembled as Wireshark does: the segment comes out of the frame that completed it. The
payload is bounded by the IP length (Ethernet padding is not payload) and by what the capture
kept (`Segment.wire_len` says what the wire carried).

Theory of operation: every layer is one function with the `Layer` signature
`(buf, off, end, ctx) -> SegmentFields | None`: it reads its header at `buf[off]`, finds the
layer inside and calls that layer's function, looked up by number in one of the dispatch tables
(`LINK_LAYERS` by link type, `ETHERTYPES`, `PPP_PROTOCOLS`, `GRE_PROTOCOLS`, `IP_PROTOCOLS`,
`UDP_PORTS`), the way dpkt's `Ethernet._typesw` registers types. `end` bounds the layer's bytes
on the wire (it may lie past `len(buf)` when the snap length cut the frame); `ctx`, one
`FrameContext` per frame, carries what every layer passes on (frame number, time stamp, VLAN
tags, the IP addresses of the innermost IP header, the tunnel depth). Adding a link layer or an
encapsulation is one function plus one table entry (docs/link-layers.md).

The commonest frame, Ethernet + IPv4 without options + TCP, has its own measured fast path,
`ethernet_ipv4_tcp`, which the general path and the fused pcap loop both call first; it gives
exactly what the layer functions give (tests/unit/test_decode.py checks the two agree).

Endpoints are interned: the same address and port give the same `Endpoint` object, which keeps
the per-packet cost low and makes dictionary lookups cheap.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Any

from netlab.capture.ipfrag import Defragmenter
from netlab.packets import NO_WINDOW_SCALE, Datagram, Endpoint, Segment, SegmentFields, TcpFlag, segment_fields

# Link-layer header types (https://www.tcpdump.org/linktypes.html).
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_OPENBSD = 12
LINKTYPE_RAW_BSD = 14
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_NFLOG = 239
LINKTYPE_LINUX_SLL2 = 276

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
IPPROTO_TCP = 6
IPPROTO_UDP = 17
_SYN = int(TcpFlag.SYN)
_MAX_TUNNELS = 3  # encapsulations followed at most (a malformed frame could nest forever)
_IPV6_EXT_HEADERS = frozenset({0, 43, 60})  # hop-by-hop, routing, destination options
_IPV6_FRAGMENT = 44
_TCP_OPTION_WSCALE = 3

_u16 = struct.Struct("!H").unpack_from
_u32be = struct.Struct("!I").unpack_from
_tlv_le = struct.Struct("<HH").unpack_from
_tcp_head = struct.Struct("!HHIIBBHH").unpack_from
_udp_head = struct.Struct("!HHHH").unpack_from

# Ethernet + IPv4 (no options) + TCP in one unpack, from offset 12: ethertype, version/IHL and TOS
# as one word, total length, fragment field, TTL and protocol as one word, the 12 bytes src ip/dst
# ip/ports (the `endpoint_pair` key), seq, ack, data offset, flags, window.
_fast_head = struct.Struct("!IHxxIxx12sIIBBH").unpack_from
_ETH_IPV4_NO_OPTIONS = (ETH_IPV4 << 8) | 0x45  # the ethertype and IPv4's version/IHL byte
_NOT_FRAGMENT_TCP = 0x3FFF00FF  # the fragment field (but DF and the reserved bit) and the protocol


class FrameContext:
    """What the layers of one frame's decoding pass on: one per frame, filled in on the way in.

    Attributes:
        number, ts: the frame number and time stamp, copied into the segment.
        verify: check the TCP checksum when the whole segment was captured.
        defrag: collects IP fragments across frames (None: fragments give no segment).
        vlan: the 802.1Q tags met so far, outermost first (VLAN layers append).
        depth: tunnels entered so far (see `enter_tunnel`).
        src, dst: the raw addresses of the innermost IP header (set by the IP layers).
        checkable: that IP header's packet lies wholly within the frame's wire length, so its
            transport checksum means something.
        datagrams: where the UDP layer appends each datagram it meets (None: UDP not asked for,
            only tunnels in UDP are followed). The list may be the caller's batch.
    """

    __slots__ = ("number", "ts", "verify", "defrag", "vlan", "depth", "src", "dst", "checkable", "datagrams")

    def __init__(
        self,
        number: int,
        ts: float,
        verify: bool,
        defrag: Defragmenter | None,
        datagrams: list[Any] | None = None,
    ) -> None:
        self.datagrams = datagrams
        self.number = number
        self.ts = ts
        self.verify = verify
        self.defrag = defrag
        self.vlan: tuple[int, ...] = ()
        self.depth = 0
        self.src = b""
        self.dst = b""
        self.checkable = False


Layer = Callable[[bytes, int, int, FrameContext], SegmentFields | None]
"""One layer's decoder: `(buf, off, end, ctx)`, the layer's header at `buf[off]`, its bytes on the
wire ending at `end`; returns the TCP segment found inside, or None."""


_endpoints: dict[bytes, Endpoint] = {}
_pairs: dict[bytes, tuple[Endpoint, Endpoint]] = {}
_ENDPOINT_CACHE_MAX = 1 << 20


def _endpoint(raw_ip: bytes, port: int) -> Endpoint:
    key = raw_ip + port.to_bytes(2, "big")
    ep = _endpoints.get(key)
    if ep is None:
        if len(_endpoints) >= _ENDPOINT_CACHE_MAX:
            _endpoints.clear()
        family = socket.AF_INET if len(raw_ip) == 4 else socket.AF_INET6
        ep = Endpoint(socket.inet_ntop(family, raw_ip), port)
        _endpoints[key] = ep
    return ep


def endpoint_pair(key: bytes) -> tuple[Endpoint, Endpoint]:
    """Interned (src, dst) for the 12 bytes src ip, dst ip, src port, dst port of an IPv4/TCP packet."""
    pair = _pairs.get(key)
    if pair is None:
        if len(_pairs) >= _ENDPOINT_CACHE_MAX:
            _pairs.clear()
        pair = _pairs[key] = (
            _endpoint(key[0:4], int.from_bytes(key[8:10], "big")),
            _endpoint(key[4:8], int.from_bytes(key[10:12], "big")),
        )
    return pair


def checksum_ok(words: bytes, proto: int, length: int) -> bool:
    """The TCP/UDP checksum check: `words` (the pseudo-header's source and destination addresses,
    then the `length` bytes of the segment) plus the pseudo-header's `proto` and `length` sum to
    0 in one's complement.

    2**16 ≡ 1 (mod 0xFFFF), so the big-endian integer of the bytes is congruent to the sum of
    its 16-bit words; one bignum `%` replaces a Python loop. An odd length is padded with a zero
    byte (the shift, done on the small remainder). The addresses are 8 or 32 bytes, so they keep
    the segment's alignment.
    """
    value = int.from_bytes(words, "big") % 0xFFFF
    if length & 1:
        value <<= 8
    return (value + proto + length) % 0xFFFF == 0


def syn_window_scale(buf: bytes, off: int, end: int, captured: int) -> int | None:
    """The window-scale shift (RFC 7323) among a SYN's TCP options at `buf[off:end]`.

    Returns `NO_WINDOW_SCALE` when the options do not announce one, None when they were not all
    captured (`end` beyond `captured`, the end of the frame's captured bytes): not known.
    """
    if end > captured:
        return None
    while off < end:
        kind = buf[off]
        if kind == 0:  # end of option list
            break
        if kind == 1:  # no-operation
            off += 1
            continue
        if off + 1 >= end or buf[off + 1] < 2:  # malformed: the rest cannot be read
            break
        if kind == _TCP_OPTION_WSCALE and buf[off + 1] == 3 and off + 2 < end:
            return buf[off + 2]
        off += buf[off + 1]
    return NO_WINDOW_SCALE


def ethernet_ipv4_tcp(
    buf: bytes, off: int, caplen: int, orig_len: int | None, number: int, ts: float, verify: bool
) -> SegmentFields | None:
    """The fast path for the commonest frame: Ethernet, IPv4 without options or fragmentation, TCP.

    Reads the frame at `buf[off : off + caplen]` in place (the fused pcap loop passes its read
    block, with no copy of the frame); returns None for any other frame, which the layer
    functions then decode. What it returns equals what they return, with one saving: pure ACKs
    are not checksummed (a checksum decides something only for data, where a good copy beats a
    bad one, and for SYNs, where a bad checksum means the sender offloads checksums), and they
    are half the packets.
    """
    if caplen < 54:
        return None
    type_ver, total, frag_proto, key, seq, ack, off_byte, flags, window = _fast_head(buf, off + 12)
    hlen = (off_byte >> 4) * 4
    if not (
        type_ver >> 8 == _ETH_IPV4_NO_OPTIONS
        and frag_proto & _NOT_FRAGMENT_TCP == IPPROTO_TCP
        and hlen >= 20
        and total >= 20 + hlen
    ):
        return None
    end = 14 + total
    start = 34 + hlen
    if orig_len is not None and end > orig_len:  # the IP length claims more than the wire had
        end = max(orig_len, start)
        verify = False
    ok: bool | None = None
    if verify and (end > start or flags & _SYN) and caplen >= end:
        # src, dst and the TCP segment are contiguous: one slice holds all their words
        ok = checksum_ok(buf[off + 26 : off + end], IPPROTO_TCP, total - 20)
    src, dst = _pairs.get(key) or endpoint_pair(key)
    wscale = syn_window_scale(buf, off + 54, off + start, off + caplen) if flags & _SYN else None
    payload = buf[off + start : off + (end if end <= caplen else caplen)]
    # `segment_fields`, written out: one Python call less for nearly every packet of a capture file
    # (tests check that this path and the layer functions give the same fields)
    return (number, ts, src, dst, seq, ack, flags, window, payload, end - start, ok, (), wscale)


def decode(
    linktype: int,
    frame: bytes,
    number: int,
    ts: float,
    *,
    verify: bool = True,
    orig_len: int | None = None,
    defrag: Defragmenter | None = None,
) -> Segment | None:
    """Decode one captured frame into a TCP `Segment`, or None when it carries no TCP.

    Args:
        linktype: the capture's LINKTYPE_* value for this frame.
        frame: the captured bytes (possibly cut short by the snap length).
        number: the 1-based frame number, copied into the segment.
        ts: the capture time stamp in seconds.
        verify: compute `checksum_ok` when the whole segment was captured.
        orig_len: the frame's length on the wire, when known (pcap's orig_len): an IP length
            claiming more than that is cut to it, as tshark does (the rest was never there).
        defrag: collects IP fragments across calls (one per capture); without it fragments give None.
    Never raises on malformed input: frames that cannot be decoded give None.
    """
    fields = decode_fields(linktype, frame, number, ts, verify, orig_len, defrag)
    return None if fields is None else Segment(*fields)


def decode_fields(
    linktype: int,
    frame: bytes,
    number: int,
    ts: float,
    verify: bool,
    orig_len: int | None,
    defrag: Defragmenter | None = None,
    datagrams: list[Any] | None = None,
) -> SegmentFields | None:
    """`decode` as a `SegmentFields` tuple (positional arguments only, for capture loops); UDP
    datagrams are appended to `datagrams` when given (see `decode_layers`)."""
    if linktype == LINKTYPE_ETHERNET:
        fields = ethernet_ipv4_tcp(frame, 0, len(frame), orig_len, number, ts, verify)
        if fields is not None:
            return fields
    return decode_layers(linktype, frame, number, ts, verify, orig_len, defrag, datagrams)


def decode_all(
    linktype: int,
    frame: bytes,
    number: int,
    ts: float,
    *,
    verify: bool = True,
    orig_len: int | None = None,
    defrag: Defragmenter | None = None,
) -> list[Segment | Datagram]:
    """Everything `follow` can use in one frame, in the order met: its UDP datagrams (a tunnel's
    outer datagram first) and its TCP segment. Arguments as `decode`; never raises on malformed input."""
    found: list[Segment | Datagram] = []
    fields = decode_fields(linktype, frame, number, ts, verify, orig_len, defrag, found)
    if fields is not None:
        found.append(Segment(*fields))
    return found


def decode_ethernet_ipv4(frame: bytes, number: int, ts: float, verify: bool, orig_len: int | None) -> Segment | None:
    """`ethernet_ipv4_tcp` on a whole frame, as a `Segment` (None for any other frame)."""
    fields = ethernet_ipv4_tcp(frame, 0, len(frame), orig_len, number, ts, verify)
    return None if fields is None else Segment(*fields)


def decode_layers(
    linktype: int,
    frame: bytes,
    number: int,
    ts: float,
    verify: bool,
    orig_len: int | None,
    defrag: Defragmenter | None = None,
    datagrams: list[Any] | None = None,
) -> SegmentFields | None:
    """`decode_fields` without the fast path: the link layer's function from `LINK_LAYERS`, and
    the layers inside it, each from its table. None for an unknown link type or a malformed frame.
    Given `datagrams`, each UDP datagram met is appended to it as a `Datagram` (see `FrameContext`)."""
    link = LINK_LAYERS.get(linktype)
    if link is None:
        return None
    end = len(frame) if orig_len is None else max(orig_len, len(frame))
    try:
        return link(frame, 0, end, FrameContext(number, ts, verify, defrag, datagrams))
    except (struct.error, IndexError):  # a header cut short
        return None


# --- link layers ------------------------------------------------------------------------------


def _ethernet(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """Ethernet II: 6 + 6 bytes of addresses, then the ethertype."""
    return _by_ethertype(_u16(buf, off + 12)[0], buf, off + 14, end, ctx)


def _by_ethertype(ethertype: int, buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    layer = ETHERTYPES.get(ethertype)
    return None if layer is None else layer(buf, off, end, ctx)


def _ip_by_version(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """An IP packet without a type field in front: its version nibble decides."""
    version = buf[off] >> 4
    if version == 4:
        return _ipv4(buf, off, end, ctx)
    if version == 6:
        return _ipv6(buf, off, end, ctx)
    return None


def _null(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """BSD loopback (DLT_NULL, DLT_LOOP): a 4-byte address family, in host byte order (NULL) or
    network order (LOOP). AF_INET is 2 everywhere, AF_INET6 is 10, 24, 28 or 30 depending on the
    OS: the IP version decides."""
    return _ip_by_version(buf, off + 4, end, ctx)


def _linux_sll(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """Linux cooked capture v1: 16 bytes, the protocol (an ethertype) last."""
    return _by_ethertype(_u16(buf, off + 14)[0], buf, off + 16, end, ctx)


def _linux_sll2(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """Linux cooked capture v2: 20 bytes, the protocol (an ethertype) first."""
    return _by_ethertype(_u16(buf, off)[0], buf, off + 20, end, ctx)


def _nflog(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """NFLOG: a 4-byte header then TLVs (little-endian lengths, 4-byte aligned); type 9 is the payload."""
    off += 4
    while off + 4 <= len(buf):
        tlv_len, tlv_type = _tlv_le(buf, off)
        if tlv_len < 4:
            break
        if tlv_type == 9:
            return _ip_by_version(buf, off + 4, end, ctx)
        off += (tlv_len + 3) & ~3
    return None


# --- encapsulations by ethertype --------------------------------------------------------------


def _vlan(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """802.1Q / 802.1ad tags (QinQ: one after another): each adds its VLAN id to `ctx.vlan`."""
    ethertype = _VLAN_TPID
    while ethertype in _VLAN_TPIDS:  # a loop, not recursion: a frame may hold thousands of tags
        ctx.vlan += (_u16(buf, off)[0] & 0x0FFF,)
        ethertype = _u16(buf, off + 2)[0]
        off += 4
    return _by_ethertype(ethertype, buf, off, end, ctx)


def _pppoe_session(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """PPPoE session stage: its length bounds the PPP frame (tshark honours it)."""
    end = min(end, off + 6 + _u16(buf, off + 4)[0])
    layer = PPP_PROTOCOLS.get(_u16(buf, off + 6)[0])
    return None if layer is None else layer(buf, off + 8, end, ctx)


def _mpls(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """An MPLS label stack; after the bottom label the IP version decides."""
    while not buf[off + 2] & 0x01:
        off += 4
    return _ip_by_version(buf, off + 4, end, ctx)


# --- IP ---------------------------------------------------------------------------------------


def _ipv4(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    ver_ihl = buf[off]
    ihl = (ver_ihl & 0x0F) * 4
    if ver_ihl >> 4 != 4 or ihl < 20 or len(buf) < off + 20:
        return None
    total = _u16(buf, off + 2)[0]
    proto = buf[off + 9]
    ctx.src = buf[off + 12 : off + 16]
    ctx.dst = buf[off + 16 : off + 20]
    if total < ihl:  # TSO on the sending host can leave 0 here: trust the captured length
        total = len(buf) - off
    start = off + ihl
    ip_end = off + total
    fragment = _u16(buf, off + 6)[0]
    if fragment & 0x3FFF:  # MF set or offset non-zero
        key = (ctx.src, ctx.dst, proto, _u16(buf, off + 4)[0])
        data = buf[start : min(ip_end, end)]
        return _fragment(key, proto, (fragment & 0x1FFF) * 8, bool(fragment & 0x2000), data, total - ihl, ctx)
    ctx.checkable = ctx.verify and ip_end <= end
    return _by_ip_protocol(proto, buf, start, min(ip_end, end), ctx)


def _ipv6(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    if buf[off] >> 4 != 6 or len(buf) < off + 40:
        return None
    plen = _u16(buf, off + 4)[0]
    nxt = buf[off + 6]
    ctx.src = buf[off + 8 : off + 24]
    ctx.dst = buf[off + 24 : off + 40]
    start = off + 40
    jumbo = plen == 0
    while nxt in _IPV6_EXT_HEADERS or nxt == _IPV6_FRAGMENT:
        if nxt == _IPV6_FRAGMENT:
            fragment = _u16(buf, start + 2)[0]
            if fragment & 0xFFF9:  # offset or M set: a real fragment of what follows the header
                ip_end, data = off + 40 + plen, start + 8
                key = (ctx.src, ctx.dst, _u32be(buf, start + 4)[0])
                payload = buf[data : min(ip_end, end)]
                return _fragment(key, buf[start], fragment & 0xFFF8, bool(fragment & 1), payload, ip_end - data, ctx)
            ext_len = 8
        else:
            ext_len = (buf[start + 1] + 1) * 8
            if nxt == 0 and jumbo:
                plen = _jumbo_length(buf, start + 2, start + ext_len)
        nxt = buf[start]
        start += ext_len
    if plen == 0:
        return None
    ip_end = off + 40 + plen
    ctx.checkable = ctx.verify and ip_end <= end
    return _by_ip_protocol(nxt, buf, start, min(ip_end, end), ctx)


def _jumbo_length(buf: bytes, off: int, end: int) -> int:
    """The payload length from a hop-by-hop Jumbo Payload option (RFC 2675), or 0."""
    while off < end:
        opt = buf[off]
        if opt == 0:  # Pad1
            off += 1
            continue
        if opt == 0xC2:
            return int(_u32be(buf, off + 2)[0])  # everything after the IPv6 header
        off += 2 + buf[off + 1]
    return 0


def _by_ip_protocol(proto: int, buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    layer = IP_PROTOCOLS.get(proto)
    return None if layer is None else layer(buf, off, end, ctx)


def _fragment(
    key: tuple[object, ...],
    proto: int,
    offset: int,
    more: bool,
    data: bytes,
    wire_len: int,
    ctx: FrameContext,
) -> SegmentFields | None:
    """An IP fragment of a TCP segment: collect it; decode the segment once the datagram is whole."""
    if ctx.defrag is None or proto != IPPROTO_TCP:
        return None
    whole = ctx.defrag.add(key, ctx.ts, offset, more, data, wire_len)
    if whole is None:
        return None
    ctx.checkable = ctx.verify and len(whole.data) == whole.wire_len
    return _by_ip_protocol(proto, whole.data, 0, whole.wire_len, ctx)


# --- tunnels ------------------------------------------------------------------------------------


def enter_tunnel(ctx: FrameContext) -> bool:
    """Count one more encapsulation; False past the limit (a malformed frame could nest forever)."""
    if ctx.depth >= _MAX_TUNNELS:
        return False
    ctx.depth += 1
    return True


def _ip_in_ip(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """IP-in-IP (protocol 4)."""
    return _ipv4(buf, off, end, ctx) if enter_tunnel(ctx) else None


def _ipv6_in_ip(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """IPv6 inside IP (protocol 41: 6in4, or IPv6-in-IPv6)."""
    return _ipv6(buf, off, end, ctx) if enter_tunnel(ctx) else None


def _gre(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """GRE (RFC 2784/2890); what is inside is looked up in `GRE_PROTOCOLS`."""
    if not enter_tunnel(ctx):
        return None
    flags, proto = _u16(buf, off)[0], _u16(buf, off + 2)[0]
    if flags & 0x0007:  # version 1 is PPTP's enhanced GRE: PPP inside, not followed
        return None
    inner = off + 4 + 4 * bool(flags & 0x8000) + 4 * bool(flags & 0x2000) + 4 * bool(flags & 0x1000)
    layer = GRE_PROTOCOLS.get(proto)
    return None if layer is None else layer(buf, inner, end, ctx)


def _erspan_2(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """ERSPAN type II: an 8-byte header, then the mirrored Ethernet frame."""
    return _ethernet(buf, off + 8, end, ctx)


def _erspan_3(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """ERSPAN type III: a 12-byte header and an optional 8-byte platform-specific subheader."""
    return _ethernet(buf, off + 12 + 8 * (buf[off + 11] & 0x01), end, ctx)


def _udp(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """UDP: encapsulations on their registered destination ports (`UDP_PORTS`); the datagram itself
    goes to `ctx.datagrams` when the caller collects them (every UDP header counts, a tunnel's too,
    as Wireshark numbers its `udp.stream`s)."""
    if ctx.datagrams is not None:
        _collect_datagram(buf, off, end, ctx)
    layer = UDP_PORTS.get(_u16(buf, off + 2)[0])
    return None if layer is None else layer(buf, off + 8, end, ctx)


def _collect_datagram(buf: bytes, off: int, end: int, ctx: FrameContext) -> None:
    """Append the UDP datagram at `buf[off]` to `ctx.datagrams` (nothing for a malformed length)."""
    sport, dport, length, cksum = _udp_head(buf, off)
    if length >= 8:  # 0 in IPv6 jumbograms (RFC 2675): the IP length bounds it
        end = min(end, off + length)
    wire_len = end - off - 8
    if wire_len < 0:
        return
    ok: bool | None = None
    if ctx.checkable and len(buf) >= end and (cksum or len(ctx.src) == 16):
        ok = checksum_ok(ctx.src + ctx.dst + buf[off:end], IPPROTO_UDP, end - off)
    ctx.datagrams.append(  # type: ignore[union-attr]
        Datagram(
            ctx.number,
            ctx.ts,
            _endpoint(ctx.src, sport),
            _endpoint(ctx.dst, dport),
            buf[off + 8 : end],
            wire_len,
            ok,
            ctx.vlan,
        )
    )


def _vxlan(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """VXLAN (RFC 7348): an 8-byte header whose I flag must be set, then Ethernet."""
    if len(buf) < off + 8 or not buf[off] & 0x08 or not enter_tunnel(ctx):
        return None
    return _ethernet(buf, off + 8, end, ctx)


# --- TCP --------------------------------------------------------------------------------------


def _tcp(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """The segment itself, between the innermost IP header's `ctx.src` and `ctx.dst`."""
    if len(buf) < off + 20:
        return None
    sport, dport, seq, ack, off_byte, flags, window, _cksum = _tcp_head(buf, off)
    hlen = (off_byte >> 4) * 4
    if hlen < 20:
        return None
    wire_len = end - off - hlen
    if wire_len < 0:
        return None
    ok: bool | None = None
    if ctx.checkable and len(buf) >= end:
        ok = checksum_ok(ctx.src + ctx.dst + buf[off:end], IPPROTO_TCP, end - off)
    wscale = syn_window_scale(buf, off + 20, off + hlen, len(buf)) if flags & _SYN else None
    src, dst = _endpoint(ctx.src, sport), _endpoint(ctx.dst, dport)
    payload = buf[off + hlen : end]
    return segment_fields(
        ctx.number, ctx.ts, src, dst, seq, ack, flags, window, payload, wire_len, ok, ctx.vlan, wscale
    )


# --- the dispatch tables ------------------------------------------------------------------------

_VLAN_TPID = 0x8100
_VLAN_TPIDS = frozenset({_VLAN_TPID, 0x88A8, 0x9100})

LINK_LAYERS: dict[int, Layer] = {
    LINKTYPE_NULL: _null,
    LINKTYPE_ETHERNET: _ethernet,
    LINKTYPE_RAW_OPENBSD: _ip_by_version,
    LINKTYPE_RAW_BSD: _ip_by_version,
    LINKTYPE_RAW: _ip_by_version,
    LINKTYPE_LOOP: _null,
    LINKTYPE_LINUX_SLL: _linux_sll,
    LINKTYPE_IPV4: _ip_by_version,
    LINKTYPE_IPV6: _ip_by_version,
    LINKTYPE_NFLOG: _nflog,
    LINKTYPE_LINUX_SLL2: _linux_sll2,
}
"""The decoder of each link-layer header type (pcap's LINKTYPE_* / DLT_* number)."""

ETHERTYPES: dict[int, Layer] = {
    ETH_IPV4: _ipv4,
    ETH_IPV6: _ipv6,
    **dict.fromkeys(_VLAN_TPIDS, _vlan),
    0x8864: _pppoe_session,
    0x8847: _mpls,  # unicast
    0x8848: _mpls,  # multicast
}
"""What Ethernet, VLAN tags and Linux cooked captures carry, by ethertype."""

PPP_PROTOCOLS: dict[int, Layer] = {0x0021: _ipv4, 0x0057: _ipv6}
"""What a PPP frame (here inside PPPoE) carries, by PPP protocol number."""

GRE_PROTOCOLS: dict[int, Layer] = {
    ETH_IPV4: _ipv4,
    ETH_IPV6: _ipv6,
    0x6558: _ethernet,  # transparent Ethernet bridging
    0x88BE: _erspan_2,
    0x22EB: _erspan_3,
}
"""What GRE carries, by its protocol type (an ethertype)."""

IP_PROTOCOLS: dict[int, Layer] = {
    IPPROTO_TCP: _tcp,
    4: _ip_in_ip,
    41: _ipv6_in_ip,
    47: _gre,
    17: _udp,
}
"""What IPv4 and IPv6 carry, by protocol / next-header number."""

UDP_PORTS: dict[int, Layer] = {4789: _vxlan}
"""Encapsulations carried in UDP, by destination port."""

SUPPORTED_LINKTYPES = frozenset(LINK_LAYERS)
