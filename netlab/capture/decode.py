"""Frames to `Segment`s: a struct-based decoder for the hot path (no scapy).

`decode(linktype, frame, number, ts)` finds the IPv4/IPv6 layer behind Ethernet (with 802.1Q /
QinQ tags and PPPoE), Linux cooked capture (SLL, SLL2), BSD loopback (DLT_NULL / DLT_LOOP),
raw IP (DLT 101, 12, 14, 228, 229), NFLOG, MPLS, IPv6 extension headers and IPsec AH, and tunnels
(GRE with IP, Ethernet, MPLS or ERSPAN I/II/III inside, IP-in-IP, 6in4, IPv6-in-IPv6; VXLAN,
Geneve, GTP-U and Teredo on their UDP ports), and returns the TCP segment in it, or None for
anything else. Given a `Defragmenter` (one per capture), IPv4 and IPv6 fragments are reassembled
whatever they carry (TCP, UDP, a tunnel), as Wireshark does: what they carry is decoded from the
frame that completed the datagram. Asked for them (`decode_all`, or a `datagrams` list for
`decode_layers`), it also collects the UDP datagrams of a frame, as `Datagram`s, in the order met
(a tunnel's outer datagram before what it carries). The
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

Link layers beyond those (docs/link-layers.md): IEEE 802.3 with 802.2 LLC/SNAP, PPP
(plain, HDLC-framed, with protocol-field compression), Cisco HDLC, IEEE 802.11 data frames
(bare, radiotap, PPI, Prism, AVS), FDDI, ARCNET, IP over InfiniBand and Juniper Ethernet.

Frames that give no segment are never dropped silently: where a layer gives up (a table lookup
that misses, a header cut short or malformed) it names the reason on `ctx.undecoded` (see
`netlab.capture.undecoded`), and `decode_layers` counts it in the caller's `Counter`. Only the
paths that return None pay for this.

Endpoints are interned: the same address and port give the same `Endpoint` object, which keeps
the per-packet cost low and makes dictionary lookups cheap.
"""

from __future__ import annotations

import socket
import struct
from collections import Counter
from collections.abc import Callable
from typing import Any

from netlab.capture.ipfrag import Defragmenter
from netlab.capture.undecoded import (
    CUT_SHORT,
    HELD,
    LINK_TYPE,
    MALFORMED,
    NOT_DECODED,
    NOT_TCP,
    Reason,
    ethertype_reason,
    ip_protocol_reason,
    ppp_protocol_reason,
)
from netlab.packets import (
    NO_WINDOW_SCALE,
    QUOTED,
    Datagram,
    Endpoint,
    SackBlocks,
    Segment,
    SegmentFields,
    TcpFlag,
    segment_fields,
)

# Link-layer header types (https://www.tcpdump.org/linktypes.html).
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_ARCNET_BSD = 7
LINKTYPE_PPP = 9
LINKTYPE_FDDI = 10
LINKTYPE_RAW_OPENBSD = 12
LINKTYPE_RAW_BSD = 14
LINKTYPE_PPP_HDLC = 50
LINKTYPE_PPP_ETHER = 51
LINKTYPE_RAW = 101
LINKTYPE_C_HDLC = 104
LINKTYPE_IEEE802_11 = 105
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_PRISM_HEADER = 119
LINKTYPE_IEEE802_11_RADIOTAP = 127
LINKTYPE_ARCNET_LINUX = 129
LINKTYPE_JUNIPER_ETHER = 178
LINKTYPE_IEEE802_11_AVS = 163
LINKTYPE_PPI = 192
LINKTYPE_PPP_PPPD = 204
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_NFLOG = 239
LINKTYPE_IPOIB = 242
LINKTYPE_LINUX_SLL2 = 276


def linktype_label(linktype: int) -> str:
    """'link type 127 (IEEE 802.11 plus radiotap radio header)': the number and, when known, its name
    (`LINKTYPE_NAMES`, at the end of this module with the dispatch tables)."""
    name = LINKTYPE_NAMES.get(linktype)
    return f"link type {linktype}" if name is None else f"link type {linktype} ({name})"


ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_BRIDGED = 0x6558  # transparent Ethernet bridging: an Ethernet frame follows
IPPROTO_TCP = 6
IPPROTO_UDP = 17
_SYN = int(TcpFlag.SYN)
_MAX_TUNNELS = 3  # encapsulations followed at most (a malformed frame could nest forever)
_IPV6_ROUTING = 43
_IPV6_FRAGMENT = 44
_IPPROTO_AH = 51  # IPsec Authentication Header: its length counts 4-byte words, minus 2
_IPV6_OPTION_HEADERS = frozenset({0, _IPV6_ROUTING, 60})  # hop-by-hop, routing, destination options
_IPV6_EXT_HEADERS = _IPV6_OPTION_HEADERS | {_IPPROTO_AH}
_GRE_CHECKSUM, _GRE_ROUTING, _GRE_KEY, _GRE_SEQUENCE = 0x8000, 0x4000, 0x2000, 0x1000
_ERSPAN = 0x88BE  # ERSPAN type II, or type I when the GRE sequence bit is clear
_TCP_OPTION_WSCALE = 3
_TCP_OPTION_SACK = 5
_TCP_OPTION_TIMESTAMPS = 8
_SACK_EDGES = [struct.Struct(f"!{2 * n}I").unpack_from for n in range(5)]  # by block count, 0-4

_u16 = struct.Struct("!H").unpack_from
_u32be = struct.Struct("!I").unpack_from
_u16le = struct.Struct("<H").unpack_from
_u32le = struct.Struct("<I").unpack_from
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
        undecoded: why the frame gives no TCP segment (`netlab.capture.undecoded.Reason`), set by
            the layer that gives up (None: no layer named a reason).
        datagrams: where the UDP layer appends each datagram it meets (None: UDP not asked for,
            only tunnels in UDP are followed). The list may be the caller's batch.
    """

    __slots__ = (
        "number",
        "ts",
        "verify",
        "defrag",
        "vlan",
        "depth",
        "src",
        "dst",
        "checkable",
        "undecoded",
        "datagrams",
    )

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
        self.undecoded: Reason | None = None


def give_up(ctx: FrameContext, reason: Reason) -> SegmentFields | None:
    """Name why this frame gives no TCP segment (on `ctx.undecoded`); always None, for `return give_up(...)`."""
    ctx.undecoded = reason
    return None


def not_tcp(ctx: FrameContext, what: str) -> SegmentFields | None:
    """The frame was decoded and carries another protocol, `what` ("ARP", "UDP"); always None."""
    ctx.undecoded = (NOT_TCP, what)
    return None


def not_decoded(ctx: FrameContext, what: str) -> SegmentFields | None:
    """The frame could not be decoded, for the reason `what` ("malformed IPv4 header"); always None."""
    ctx.undecoded = (NOT_DECODED, what)
    return None


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


def sack_blocks(buf: bytes, off: int, end: int, captured: int) -> SackBlocks:
    """The SACK blocks (RFC 2018) among a segment's TCP options at `buf[off:end]`.

    Returns raw ``(left, right)`` sequence numbers in option order; empty when the options carry no
    SACK option, were not all captured (`end` beyond `captured`), or are malformed before it. A SACK
    option whose length is not 2 + 8n (n = 1 to 4) is malformed and ignored, as Wireshark does.
    """
    if end > captured:
        return ()
    while off < end:
        kind = buf[off]
        if kind == 0:
            break
        if kind == 1:
            off += 1
            continue
        if off + 1 >= end:
            break
        size = buf[off + 1]
        if size < 2 or off + size > end:
            break
        if kind == _TCP_OPTION_SACK:
            count, rest = divmod(size - 2, 8)
            if rest or not 0 < count <= 4:
                return ()
            edges = _SACK_EDGES[count](buf, off + 2)
            return tuple(zip(edges[::2], edges[1::2], strict=True))
        off += size
    return ()


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
    wscale = sack = None
    if flags & _SYN:
        wscale = syn_window_scale(buf, off + 54, off + start, off + caplen)
    elif hlen > 20 and (hlen != 32 or caplen < 57 or buf[off + 56] != _TCP_OPTION_TIMESTAMPS):
        # (the commonest options, NOP NOP Timestamps, fill 12 bytes: no room for a SACK option)
        sack = sack_blocks(buf, off + 54, off + start, off + caplen)
    payload = buf[off + start : off + (end if end <= caplen else caplen)]
    # `segment_fields`, written out: one Python call less for nearly every packet of a capture file
    # (tests check that this path and the layer functions give the same fields)
    return (number, ts, src, dst, seq, ack, flags, window, payload, end - start, ok, (), wscale, sack or ())


def decode(
    linktype: int,
    frame: bytes,
    number: int,
    ts: float,
    *,
    verify: bool = True,
    orig_len: int | None = None,
    defrag: Defragmenter | None = None,
    undecoded: Counter[Reason] | None = None,
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
        undecoded: counts why a frame gives None (`netlab.capture.undecoded`), when given.
    Never raises on malformed input: frames that cannot be decoded give None.
    """
    fields = decode_fields(linktype, frame, number, ts, verify, orig_len, defrag, undecoded)
    return None if fields is None else Segment(*fields)


def decode_fields(
    linktype: int,
    frame: bytes,
    number: int,
    ts: float,
    verify: bool,
    orig_len: int | None,
    defrag: Defragmenter | None = None,
    undecoded: Counter[Reason] | None = None,
    datagrams: list[Any] | None = None,
) -> SegmentFields | None:
    """`decode` as a `SegmentFields` tuple (positional arguments only, for capture loops); UDP
    datagrams are appended to `datagrams` when given (see `decode_layers`)."""
    if linktype == LINKTYPE_ETHERNET:
        fields = ethernet_ipv4_tcp(frame, 0, len(frame), orig_len, number, ts, verify)
        if fields is not None:
            return fields
    return decode_layers(linktype, frame, number, ts, verify, orig_len, defrag, undecoded, datagrams)


def decode_all(
    linktype: int,
    frame: bytes,
    number: int,
    ts: float,
    *,
    verify: bool = True,
    orig_len: int | None = None,
    defrag: Defragmenter | None = None,
    undecoded: Counter[Reason] | None = None,
) -> list[Segment | Datagram]:
    """Everything `follow` can use in one frame, in the order met: its UDP datagrams (a tunnel's
    outer datagram first) and its TCP segment. Arguments as `decode`; never raises on malformed input."""
    found: list[Segment | Datagram] = []
    fields = decode_fields(linktype, frame, number, ts, verify, orig_len, defrag, undecoded, found)
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
    undecoded: Counter[Reason] | None = None,
    datagrams: list[Any] | None = None,
) -> SegmentFields | None:
    """`decode_fields` without the fast path: the link layer's function from `LINK_LAYERS`, and
    the layers inside it, each from its table. None for an unknown link type or a malformed frame;
    then, given `undecoded`, the reason is counted there (not for a fragment held for reassembly,
    nor for a frame whose UDP datagram went to `datagrams`). Given `datagrams`, each UDP datagram
    met is appended to it as a `Datagram` (see `FrameContext`)."""
    link = LINK_LAYERS.get(linktype)
    if link is None:
        if undecoded is not None:
            undecoded[LINK_TYPE, linktype_label(linktype)] += 1
        return None
    end = len(frame) if orig_len is None else max(orig_len, len(frame))
    ctx = FrameContext(number, ts, verify, defrag, datagrams)
    met = 0 if datagrams is None else len(datagrams)
    try:
        fields = link(frame, 0, end, ctx)
    except (struct.error, IndexError):  # a header cut short
        ctx.undecoded = CUT_SHORT
        fields = None
    if fields is None and undecoded is not None and ctx.undecoded is not HELD:
        if datagrams is None or len(datagrams) == met:  # else: followed as UDP
            undecoded[ctx.undecoded or MALFORMED] += 1
    return fields


# --- link layers ------------------------------------------------------------------------------


def _ethernet(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """Ethernet: 6 + 6 bytes of addresses, then an ethertype (Ethernet II) or a length (IEEE 802.3)."""
    return _ethernet_payload(_u16(buf, off + 12)[0], buf, off + 14, end, ctx)


def _ethernet_payload(type_or_length: int, buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """What follows an Ethernet (or 802.1Q tag's) type field: up to 1500 it is IEEE 802.3's length of
    an 802.2 LLC frame (which bounds it), from 0x0600 an ethertype."""
    if type_or_length <= _IEEE8023_MAX_LENGTH:
        return _llc(buf, off, min(end, off + type_or_length), ctx)
    return _by_ethertype(type_or_length, buf, off, end, ctx)


def _by_ethertype(ethertype: int, buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    layer = ETHERTYPES.get(ethertype)
    return give_up(ctx, ethertype_reason(ethertype)) if layer is None else layer(buf, off, end, ctx)


def _ip_by_version(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """An IP packet without a type field in front: its version nibble decides."""
    version = buf[off] >> 4
    if version == 4:
        return _ipv4(buf, off, end, ctx)
    if version == 6:
        return _ipv6(buf, off, end, ctx)
    return not_decoded(ctx, f"not IPv4 or IPv6 (IP version {version})")


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
    return not_decoded(ctx, "NFLOG record without a packet")


def _llc(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """IEEE 802.2 LLC: DSAP, SSAP, control. Datagrams travel in unnumbered-information frames
    (control 0x03): SNAP (SAPs 0xAA) adds an OUI and an ethertype, looked up in `ETHERTYPES` for
    the OUIs that mean "an ethertype follows" (0 and Cisco's 0x0000F8); SAP 0x06 is IPv4 itself."""
    if off + 3 > end:
        return give_up(ctx, CUT_SHORT)
    dsap, ssap = buf[off], buf[off + 1]  # both commands: a response (SSAP low bit) is no datagram
    if buf[off + 2] != _LLC_UI:
        return not_tcp(ctx, "802.3 LLC frame")
    if dsap == _SAP_SNAP and ssap == _SAP_SNAP:
        if buf[off + 3 : off + 6] not in _SNAP_ETHERTYPE_OUIS:
            return not_tcp(ctx, f"802.2 SNAP (OUI {buf[off + 3 : off + 6].hex()})")
        return _by_ethertype(_u16(buf, off + 6)[0], buf, off + 8, end, ctx)
    if dsap == _SAP_IP and ssap == _SAP_IP:
        return _ipv4(buf, off + 3, end, ctx)
    return not_tcp(ctx, "802.3 LLC frame")


def _ppp(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """PPP (RFC 1661), as Wireshark reads link types 9 and 50: an 0xFF first byte is RFC 1662's
    HDLC-like framing (address 0xFF, control 0x03), 0x0F or 0x8F is a Cisco HDLC frame (BSD/OS
    puts those in PPP captures), anything else the protocol field itself."""
    first = buf[off]
    if first == 0xFF:
        return _ppp_protocol(buf, off + 2, end, ctx)
    if first in _CHDLC_ADDRESSES:
        return _cisco_hdlc(buf, off, end, ctx)
    return _ppp_protocol(buf, off, end, ctx)


def _ppp_with_direction(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """PPP behind a one-byte direction pseudo-header (pppd's captures, link type 204). Link type
    166 (PPP_WITH_DIR) has the same layout but is left out: tshark cannot read it to check it."""
    return _ppp(buf, off + 1, end, ctx)


def _ppp_protocol(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """The PPP protocol field and what it carries (`PPP_PROTOCOLS`). Under protocol-field
    compression (RFC 1661 section 6.5) it is one byte: protocol numbers have an odd low byte and an
    even high byte, so an odd first byte is a whole (compressed) field."""
    proto = buf[off]
    if proto & 1:
        off += 1
    else:
        proto = _u16(buf, off)[0]
        off += 2
    layer = PPP_PROTOCOLS.get(proto)
    return give_up(ctx, ppp_protocol_reason(proto)) if layer is None else layer(buf, off, end, ctx)


def _cisco_hdlc(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """Cisco HDLC: address (0x0F unicast, 0x8F broadcast), control (0), then an ethertype."""
    return _by_ethertype(_u16(buf, off + 2)[0], buf, off + 4, end, ctx)


def _ieee80211(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """IEEE 802.11 without a radio header (link type 105; no FCS, as Wireshark assumes)."""
    return _ieee80211_frame(buf, off, end, ctx, False)


def _ieee80211_frame(buf: bytes, off: int, end: int, ctx: FrameContext, padded: bool) -> SegmentFields | None:
    """An 802.11 data frame (data and QoS data; 3 or 4 addresses; +HTC), then 802.2 LLC/SNAP.

    `padded`: the header is padded to a multiple of 4 bytes (radiotap's data-pad flag). Not
    followed, as in Wireshark without keys: management and control frames, subtypes without a
    body (null data), protected frames (`dot11_protected`), and a fragment with more to come; nor
    (unlike Wireshark) an A-MSDU of several subframes, several packets where netlab's decoder
    gives one segment per frame.
    """
    fc_type, fc_flags = buf[off], buf[off + 1]
    if fc_type & _DOT11_TYPE_MASK != _DOT11_DATA or fc_type & _DOT11_NO_BODY:
        return None
    if fc_flags & _DOT11_PROTECTED:
        return not_decoded(ctx, "802.11 encrypted")
    if fc_flags & _DOT11_MORE_FRAGMENTS:  # the first fragments of a packet: not reassembled
        return None
    header = 30 if fc_flags & _DOT11_DS_BITS == _DOT11_DS_BITS else 24  # 4-address frames (WDS, mesh)
    amsdu = False
    if fc_type & _DOT11_QOS:
        amsdu = bool(buf[off + header] & _DOT11_QOS_AMSDU)
        header += 6 if fc_flags & _DOT11_ORDER else 2  # QoS control, and the HT control field (+HTC)
    if padded:
        header = (header + 3) & ~3
    body = off + header
    if amsdu:  # subframes: destination, source, length, the MSDU, padding to 4 bytes
        msdu_end = body + 14 + _u16(buf, body + 12)[0]
        if (msdu_end + 3) & ~3 < end:
            return not_decoded(ctx, "802.11 A-MSDU of several packets")
        return _llc(buf, body + 14, min(end, msdu_end), ctx)
    if buf[body : body + 4] == _DOT11_JUNK_SNAP:
        body += 2  # some drivers (OLPC, Ruckus, Atheros) put 2 zero bytes before the LLC header; Wireshark skips them
    return _llc(buf, body, end, ctx)


def dot11_protected(frame: bytes, off: int = 0) -> bool:
    """Whether the 802.11 frame at `frame[off]` is a data frame with the Protected bit set: its body
    is encrypted (WEP, WPA), so it carries nothing netlab can decode."""
    return (
        len(frame) > off + 1
        and frame[off] & _DOT11_TYPE_MASK == _DOT11_DATA
        and bool(frame[off + 1] & _DOT11_PROTECTED)
    )


def _radiotap(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """Radiotap (link type 127): its length (little-endian) at offset 2, then the 802.11 frame.

    The flags field (present bit 1) says whether the frame ends with its 4-byte FCS (0x10; not
    payload) and whether the 802.11 header is padded (0x20). It follows the present bitmaps (each
    with bit 31 set when another follows) and the 8-byte TSFT field (bit 0), aligned to 8.
    """
    length = _u16le(buf, off + 2)[0]
    present = word = _u32le(buf, off + 4)[0]
    pos = off + 8
    while word & _RADIOTAP_EXT:
        word = _u32le(buf, pos)[0]
        pos += 4
    flags = 0
    if present & _RADIOTAP_FLAGS_PRESENT:
        if present & _RADIOTAP_TSFT_PRESENT:
            pos = off + ((pos - off + 7) & ~7) + 8
        flags = buf[pos]
    if flags & _RADIOTAP_FCS:
        end -= 4
    return _ieee80211_frame(buf, off + length, end, ctx, bool(flags & _RADIOTAP_PADDED))


def _prism(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """Prism monitor-mode header (link type 119), as Wireshark reads it: an AVS header when the
    AVS magic comes first; a Prism header (message code 0x41 or 0x44, in either byte order) is
    skipped by its message length; anything else is taken for a bare 802.11 frame."""
    code = _u32be(buf, off)[0]
    if code in _AVS_MAGICS:
        return _avs(buf, off, end, ctx)
    if code in _PRISM_MSGCODES:
        off += _u32be(buf, off + 4)[0]
    elif _u32le(buf, off)[0] in _PRISM_MSGCODES:
        off += _u32le(buf, off + 4)[0]
    return _ieee80211_frame(buf, off, end, ctx, False)


def _avs(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """AVS WLAN capture header (link type 163): version and header length (big-endian), then 802.11."""
    return _ieee80211_frame(buf, off + _u32be(buf, off + 4)[0], end, ctx, False)


def _ppi(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """Per-Packet Information (link type 192): its length (little-endian) at offset 2 and the link
    type of what follows at offset 4 (any of `LINK_LAYERS`). An 802.11-common field
    (type 2) whose flags say "FCS present" takes the frame's last 4 bytes off the payload."""
    length = _u16le(buf, off + 2)[0]
    layer = LINK_LAYERS.get(_u32le(buf, off + 4)[0])
    if layer is None or (layer is _ppi and not enter_tunnel(ctx)):  # PPI in PPI: bounded like a tunnel
        return None
    pos, stop = off + 8, off + length
    while pos + 4 <= stop:
        field_type, field_len = _tlv_le(buf, pos)
        if field_type == _PPI_80211_COMMON and _u16le(buf, pos + 12)[0] & _PPI_FCS_PRESENT:
            end -= 4
        pos += 4 + field_len
    return layer(buf, stop, end, ctx)


def _fddi(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """FDDI: frame control, 6 + 6 bytes of addresses, then 802.2 LLC for asynchronous LLC frames."""
    if buf[off] & 0xF0 != _FDDI_LLC_ASYNC:
        return None
    return _llc(buf, off + 13, end, ctx)


def _arcnet_bsd(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """ARCNET as BSD captures it (link type 7): source and destination ids, then RFC 1201."""
    return _arcnet(buf, off + 2, end, ctx, True)


def _arcnet_linux(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """ARCNET as Linux captures it (link type 129): ids and a 2-byte offset field, then RFC 1201."""
    return _arcnet(buf, off + 4, end, ctx, False)


def _arcnet(buf: bytes, off: int, end: int, ctx: FrameContext, exceptions: bool) -> SegmentFields | None:
    """An ARCNET system code (`ARCNET_PROTOCOLS`) and, for RFC 1201 protocols, the split flag and
    the sequence number; BSD may insert an exception header (flag 0xFF, 2 bytes of padding, the
    system code again) before the real split flag. As in Wireshark, the split flag is read past,
    not acted on (Linux and FreeBSD hand over reassembled packets)."""
    code = buf[off]
    layer = ARCNET_PROTOCOLS.get(code)
    if layer is None:
        return None
    off += 1
    if code not in _ARCNET_RFC1051:
        if exceptions and buf[off] == 0xFF:
            off += 4
        off += 3
    return layer(buf, off, end, ctx)


def _ipoib(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """IP over InfiniBand (RFC 4391; link type 242): a 40-byte pseudo-header (a global route header,
    or zeros and the 20-byte destination address), then RFC 4391's 4-byte header, an ethertype and
    2 reserved bytes (as tcpdump and Wireshark read the link type)."""
    return _by_ethertype(_u16(buf, off + 40)[0], buf, off + 44, end, ctx)


def _juniper_ether(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """Juniper's Ethernet capture header (link type 178): the magic "MGC", a flags byte and, when
    the extension flag (0x80) is set, a 2-byte length of extension TLVs that follow it; then the
    Ethernet frame, or (flag 0x02, layer 2 header stripped) a little-endian JUNOS protocol number
    and that protocol (`JUNIPER_PROTOCOLS`)."""
    if buf[off : off + 3] != _JUNIPER_MAGIC:
        return None
    flags = buf[off + 3]
    off += 6 + _u16(buf, off + 4)[0] if flags & _JUNIPER_EXTENSIONS else 4
    if flags & _JUNIPER_NO_L2:
        layer = JUNIPER_PROTOCOLS.get(_u32le(buf, off)[0])
        return None if layer is None else layer(buf, off + 4, end, ctx)
    return _ethernet(buf, off, end, ctx)


# --- encapsulations by ethertype --------------------------------------------------------------


def _vlan(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """802.1Q / 802.1ad tags (QinQ: one after another): each adds its VLAN id to `ctx.vlan`."""
    ethertype = _VLAN_TPID
    while ethertype in _VLAN_TPIDS:  # a loop, not recursion: a frame may hold thousands of tags
        ctx.vlan += (_u16(buf, off)[0] & 0x0FFF,)
        ethertype = _u16(buf, off + 2)[0]
        off += 4
    return _ethernet_payload(ethertype, buf, off, end, ctx)


def _pppoe_session(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """PPPoE session stage: its length bounds the PPP frame (tshark honours it)."""
    end = min(end, off + 6 + _u16(buf, off + 4)[0])
    return _ppp_protocol(buf, off + 6, end, ctx)


def _mpls(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """An MPLS label stack; after the bottom label the IP version decides."""
    while not buf[off + 2] & 0x01:
        off += 4
    return _ip_by_version(buf, off + 4, end, ctx)


# --- IP ---------------------------------------------------------------------------------------


def _ipv4(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    ver_ihl = buf[off]
    ihl = (ver_ihl & 0x0F) * 4
    if len(buf) < off + 20:
        return give_up(ctx, CUT_SHORT)
    if ver_ihl >> 4 != 4 or ihl < 20:
        return not_decoded(ctx, "malformed IPv4 header")
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
        key = (ctx.src, ctx.dst, _u16(buf, off + 4)[0], proto)
        data = buf[start : min(ip_end, end)]
        return _fragment(key, proto, (fragment & 0x1FFF) * 8, bool(fragment & 0x2000), data, total - ihl, ctx)
    ctx.checkable = ctx.verify and ip_end <= end
    return _by_ip_protocol(proto, buf, start, min(ip_end, end), ctx)


def _ipv6(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    if len(buf) < off + 40:
        return give_up(ctx, CUT_SHORT)
    if buf[off] >> 4 != 6:
        return not_decoded(ctx, "malformed IPv6 header")
    plen = _u16(buf, off + 4)[0]
    nxt = buf[off + 6]
    ctx.src = buf[off + 8 : off + 24]
    ctx.dst = buf[off + 24 : off + 40]
    start = off + 40
    jumbo = plen == 0
    routed = False  # a routing header with segments left: the checksum's destination is another address
    while nxt in _IPV6_EXT_HEADERS or nxt == _IPV6_FRAGMENT:  # each pass moves on by 8 bytes or more
        if nxt == _IPV6_FRAGMENT:
            fragment = _u16(buf, start + 2)[0]
            if fragment & 0xFFF9:  # offset or M set: a real fragment of what follows the header
                ip_end, data = off + 40 + plen, start + 8
                proto = buf[start]
                key = (ctx.src, ctx.dst, _u32be(buf, start + 4)[0], proto)
                payload = buf[data : min(ip_end, end)]
                return _fragment(key, proto, fragment & 0xFFF8, bool(fragment & 1), payload, ip_end - data, ctx)
            ext_len = 8  # an atomic fragment (RFC 6946): the packet is whole
        elif nxt == _IPPROTO_AH:
            ext_len = (buf[start + 1] + 2) * 4
        else:
            ext_len = (buf[start + 1] + 1) * 8
            if nxt == 0 and jumbo:
                plen = _jumbo_length(buf, start + 2, start + ext_len)
            elif nxt == _IPV6_ROUTING and buf[start + 3]:
                routed = True
        nxt = buf[start]
        start += ext_len
    if plen == 0:
        return not_decoded(ctx, "IPv6 payload length 0 without a jumbo option")
    ip_end = off + 40 + plen
    ctx.checkable = ctx.verify and ip_end <= end and not routed
    return _by_ip_protocol(nxt, buf, start, min(ip_end, end), ctx)


def _ipv6_options(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """An IPv6 hop-by-hop, routing or destination options header met through `IP_PROTOCOLS`: at
    the start of a reassembled IPv6 fragment's payload, or inside IPv4 (Wireshark follows both)."""
    return _extension_headers(buf[off], buf, off + (buf[off + 1] + 1) * 8, end, ctx)


def _auth_header(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """An IPsec Authentication Header (RFC 4302) in IPv4, or after a reassembled IPv6 fragment: it
    authenticates what follows without hiding it. (ESP encrypts it: protocol 50 is not followed.)"""
    return _extension_headers(buf[off], buf, off + (buf[off + 1] + 2) * 4, end, ctx)


def _extension_headers(nxt: int, buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """Walk the rest of an extension-header chain in a loop (not by recursion: a reassembled
    datagram could hold thousands), then decode what it leads to."""
    while nxt in _IPV6_EXT_HEADERS:
        length = (buf[off + 1] + 2) * 4 if nxt == _IPPROTO_AH else (buf[off + 1] + 1) * 8
        if nxt == _IPV6_ROUTING and buf[off + 3]:
            ctx.checkable = False
        nxt = buf[off]
        off += length
    return _by_ip_protocol(nxt, buf, off, end, ctx)


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
    return give_up(ctx, ip_protocol_reason(proto)) if layer is None else layer(buf, off, end, ctx)


def _fragment(
    key: tuple[object, ...],
    proto: int,
    offset: int,
    more: bool,
    data: bytes,
    wire_len: int,
    ctx: FrameContext,
) -> SegmentFields | None:
    """An IP fragment: collect it; once its datagram is whole, decode the datagram's payload through
    `IP_PROTOCOLS` as if it had come in one frame (a TCP segment, a UDP datagram, a tunnel whose
    outer packets were fragmented), stamped with the frame that completed it, as in Wireshark.

    `key` is (source, destination, identification, protocol). Only protocols in `IP_PROTOCOLS` are
    collected: the fragments of anything netlab does not decode (ESP, ICMP ...) would only take
    memory. The `Defragmenter` bounds what it holds.
    """
    if proto not in IP_PROTOCOLS:
        return give_up(ctx, ip_protocol_reason(proto))
    if ctx.defrag is None:
        return not_decoded(ctx, "IP fragment (not reassembled)")
    if wire_len < 0:  # an IPv6 length short of its headers
        return not_decoded(ctx, "malformed IPv6 fragment")
    whole = ctx.defrag.add(key, ctx.ts, offset, more, data, wire_len)
    if whole is None:
        return give_up(ctx, HELD)
    ctx.checkable = ctx.verify and len(whole.data) == whole.wire_len
    return _by_ip_protocol(proto, whole.data, 0, whole.wire_len, ctx)


# --- tunnels ------------------------------------------------------------------------------------


def enter_tunnel(ctx: FrameContext) -> bool:
    """Count one more encapsulation; False past the limit (a malformed frame could nest forever)."""
    if ctx.depth >= _MAX_TUNNELS:
        not_decoded(ctx, f"tunnels nested deeper than {_MAX_TUNNELS}")
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
    """GRE (RFC 2784/2890, and RFC 1701's source routing); what is inside is looked up in
    `GRE_PROTOCOLS`. ERSPAN's protocol type with the sequence bit clear is ERSPAN type I: the
    mirrored Ethernet frame right after the GRE header, with no ERSPAN header (Wireshark's rule)."""
    if not enter_tunnel(ctx):
        return None
    flags, proto = _u16(buf, off)[0], _u16(buf, off + 2)[0]
    if flags & 0x0007:  # version 1 is PPTP's enhanced GRE: PPP inside, not followed
        return not_tcp(ctx, "PPTP (enhanced GRE)")
    inner = off + 4 + 4 * bool(flags & (_GRE_CHECKSUM | _GRE_ROUTING))  # checksum and offset
    inner += 4 * bool(flags & _GRE_KEY) + 4 * bool(flags & _GRE_SEQUENCE)
    if flags & _GRE_ROUTING:  # source route entries, up to the null one; each moves on 4 bytes or more
        while True:
            family, sre_len = _u16(buf, inner)[0], buf[inner + 3]
            inner += 4 + sre_len
            if family == 0 and sre_len == 0:
                break
    if proto == _ERSPAN and not flags & _GRE_SEQUENCE:
        return _ethernet(buf, inner, end, ctx)
    layer = GRE_PROTOCOLS.get(proto)
    if layer is None:
        return not_tcp(ctx, f"GRE carrying {ethertype_reason(proto)[1]}")
    return layer(buf, inner, end, ctx)


def _erspan(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """ERSPAN type II or III, told apart by the header's version (1 or 2), as Wireshark does:
    type II has an 8-byte header; type III a 12-byte one, and an 8-byte platform-specific
    subheader when its O flag is set. The mirrored Ethernet frame follows."""
    if buf[off] >> 4 == 2:
        return _ethernet(buf, off + 12 + 8 * (buf[off + 11] & 0x01), end, ctx)
    return _ethernet(buf, off + 8, end, ctx)


def _udp(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """UDP: tunnels on their registered port (`UDP_PORTS`) on either side. Like Wireshark, the
    lower of the two ports is tried first, and the higher one when the lower port's decoder
    rejects the header (returns before `enter_tunnel`, as GTP-U does for anything but GTPv1).
    The UDP length bounds what the datagram carries."""
    sport, dport, length, _cksum = _udp_head(buf, off)
    if length >= 8:  # 0 in an IPv6 jumbogram: the IP length decides
        end = min(end, off + length)
    if ctx.datagrams is not None:  # every UDP header counts, a tunnel's too, as in Wireshark's udp.stream
        _collect_datagram(buf, off, end, ctx)
    low, high = (sport, dport) if sport <= dport else (dport, sport)
    layer = UDP_PORTS.get(low)
    if layer is not None:
        depth = ctx.depth
        fields = layer(buf, off + 8, end, ctx)
        if fields is not None or ctx.depth != depth or high == low:
            return fields
    layer = UDP_PORTS.get(high)
    if layer is not None:
        return layer(buf, off + 8, end, ctx)
    return not_tcp(ctx, "UDP")  # not a tunnel: a plain UDP datagram


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
    """VXLAN (RFC 7348): an 8-byte header, then Ethernet. Its I flag is not required: Wireshark
    decodes what follows without it, and so does netlab."""
    if len(buf) < off + 8:
        return give_up(ctx, CUT_SHORT)
    if not enter_tunnel(ctx):
        return None
    return _ethernet(buf, off + 8, end, ctx)


# --- ICMP errors --------------------------------------------------------------------------------

_ICMP_ERRORS = frozenset({3, 4, 5, 11, 12})  # unreachable, source quench, redirect, time exceeded, parameter
_ICMPV6_ERRORS = frozenset({1, 2, 3, 4})  # unreachable, packet too big, time exceeded, parameter problem


def _icmp(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """An ICMP error quoting a TCP header (RFC 792): the quoted 4-tuple, flagged `QUOTED`."""
    if buf[off] not in _ICMP_ERRORS:
        return not_tcp(ctx, "ICMP")
    inner = off + 8
    ihl = (buf[inner] & 0x0F) * 4
    if buf[inner] >> 4 != 4 or ihl < 20 or buf[inner + 9] != IPPROTO_TCP:
        return not_tcp(ctx, "ICMP")
    return _quoted_tcp(buf, inner + ihl, buf[inner + 12 : inner + 16], buf[inner + 16 : inner + 20], ctx)


def _icmpv6(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """An ICMPv6 error quoting a TCP header (RFC 4443): the quoted 4-tuple, flagged `QUOTED`."""
    if buf[off] not in _ICMPV6_ERRORS:
        return not_tcp(ctx, "ICMPv6")
    inner = off + 8
    if buf[inner] >> 4 != 6 or buf[inner + 6] != IPPROTO_TCP:
        return not_tcp(ctx, "ICMPv6")
    return _quoted_tcp(buf, inner + 40, buf[inner + 8 : inner + 24], buf[inner + 24 : inner + 40], ctx)


def _quoted_tcp(buf: bytes, off: int, src: bytes, dst: bytes, ctx: FrameContext) -> SegmentFields | None:
    """The quoted header's ports (and sequence number, when quoted): not a segment of any connection."""
    if len(buf) < off + 4:  # the quote is cut before the ports: an ICMP message like any other
        return not_tcp(ctx, "ICMPv6" if len(src) == 16 else "ICMP")
    sport, dport = _u16(buf, off)[0], _u16(buf, off + 2)[0]
    seq = _u32be(buf, off + 4)[0] if len(buf) >= off + 8 else 0
    src_end, dst_end = _endpoint(src, sport), _endpoint(dst, dport)
    return segment_fields(ctx.number, ctx.ts, src_end, dst_end, seq, 0, QUOTED, 0, b"", 0, None, ctx.vlan, None)


def _geneve(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """Geneve (RFC 8926): an 8-byte header and its options (their length in 4-byte words in the
    first byte's low 6 bits), then what its protocol type names: 0x6558 Ethernet, else an
    ethertype. Any version is followed, as Wireshark does."""
    first = buf[off]
    if not enter_tunnel(ctx):
        return None
    proto, inner = _u16(buf, off + 2)[0], off + 8 + (first & 0x3F) * 4
    if proto == ETH_BRIDGED:
        return _ethernet(buf, inner, end, ctx)
    return _by_ethertype(proto, buf, inner, end, ctx)


def _gtp_u(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """GTP-U (3GPP TS 29.281): a GTPv1 G-PDU. 8 bytes, then 4 more (sequence number, N-PDU number,
    next extension header type) when any of the E, S or PN flags is set, then the extension
    headers (each one's length in 4-byte words first, the next one's type last); then an IP
    packet, whose version decides. Its length field bounds the packet."""
    flags = buf[off]
    if flags & 0xF0 != 0x30 or not enter_tunnel(ctx):  # version 1, GTP (not GTP'): else not GTP-U at all
        return None
    if buf[off + 1] != 0xFF:  # GTP-U, but not a G-PDU (an echo, an error indication): no user data
        return None
    end = min(end, off + 8 + _u16(buf, off + 2)[0])
    inner = off + 8
    if flags & 0x07:
        inner += 4
        next_type = buf[inner - 1] if flags & 0x04 else 0
        while next_type:
            size = buf[inner] * 4
            if size == 0:  # malformed: it would never move on
                return None
            inner += size
            next_type = buf[inner - 1]
    return _ip_by_version(buf, inner, end, ctx)


def _teredo(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """Teredo (RFC 4380): IPv6 in UDP, optionally after an authentication indicator (type 1: the
    client id and authentication value of the lengths it gives, an 8-byte nonce and a confirmation
    byte) and an origin indication (type 0, 8 bytes), in that order."""
    if not enter_tunnel(ctx):
        return None
    if _u16(buf, off)[0] == 1:
        off += 13 + buf[off + 2] + buf[off + 3]
    if _u16(buf, off)[0] == 0:
        off += 8
    return _ipv6(buf, off, end, ctx)


# --- TCP --------------------------------------------------------------------------------------


def _tcp(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """The segment itself, between the innermost IP header's `ctx.src` and `ctx.dst`."""
    if len(buf) < off + 20:
        return give_up(ctx, CUT_SHORT)
    sport, dport, seq, ack, off_byte, flags, window, _cksum = _tcp_head(buf, off)
    hlen = (off_byte >> 4) * 4
    if hlen < 20:
        return not_decoded(ctx, "malformed TCP header (data offset below 20)")
    wire_len = end - off - hlen
    if wire_len < 0:
        return not_decoded(ctx, "malformed TCP header (longer than its IP packet)")
    ok: bool | None = None
    if ctx.checkable and len(buf) >= end:
        ok = checksum_ok(ctx.src + ctx.dst + buf[off:end], IPPROTO_TCP, end - off)
    wscale: int | None = None
    sack: SackBlocks = ()
    if flags & _SYN:
        wscale = syn_window_scale(buf, off + 20, off + hlen, len(buf))
    elif hlen > 20:
        sack = sack_blocks(buf, off + 20, off + hlen, len(buf))
    src, dst = _endpoint(ctx.src, sport), _endpoint(ctx.dst, dport)
    payload = buf[off + hlen : end]
    return segment_fields(
        ctx.number, ctx.ts, src, dst, seq, ack, flags, window, payload, wire_len, ok, ctx.vlan, wscale, sack
    )


# --- the dispatch tables ------------------------------------------------------------------------

_VLAN_TPID = 0x8100
_VLAN_TPIDS = frozenset({_VLAN_TPID, 0x88A8, 0x9100})
_IEEE8023_MAX_LENGTH = 1500  # an Ethernet type field up to this is 802.3's length (ethertypes start at 0x0600)
_LLC_UI = 0x03  # unnumbered information
_SAP_SNAP = 0xAA
_SAP_IP = 0x06
_SNAP_ETHERTYPE_OUIS = frozenset({b"\0\0\0", b"\0\0\xf8"})  # RFC 1042 encapsulation; Cisco's 802.1H-like OUI
_CHDLC_ADDRESSES = frozenset({0x0F, 0x8F})
_DOT11_TYPE_MASK = 0x0F  # the type and protocol-version bits of the first frame-control byte
_DOT11_DATA = 0x08  # type 2, version 0
_DOT11_JUNK_SNAP = b"\0\0\xaa\xaa"
_DOT11_NO_BODY = 0x40  # data subtypes 4-7 and 12-15: null data, CF without data
_DOT11_QOS = 0x80  # data subtypes 8-15
_DOT11_QOS_AMSDU = 0x80  # QoS control: the body is an A-MSDU
_DOT11_DS_BITS = 0x03  # ToDS and FromDS: both set, the frame has a fourth address
_DOT11_MORE_FRAGMENTS = 0x04
_DOT11_PROTECTED = 0x40
_DOT11_ORDER = 0x80  # in a QoS frame: an HT control field follows the QoS control field
_RADIOTAP_TSFT_PRESENT = 0x01
_RADIOTAP_FLAGS_PRESENT = 0x02
_RADIOTAP_EXT = 0x80000000
_RADIOTAP_FCS = 0x10
_RADIOTAP_PADDED = 0x20
_PPI_80211_COMMON = 2
_PPI_FCS_PRESENT = 0x0001
_PRISM_MSGCODES = frozenset({0x41, 0x44})
_AVS_MAGICS = frozenset({0x80211001, 0x80211002})
_FDDI_LLC_ASYNC = 0x50
_ARCNET_RFC1051 = frozenset({0xF0, 0xF1})  # RFC 1051 IP and ARP: no split flag, no sequence number
_JUNIPER_MAGIC = b"MGC"
_JUNIPER_EXTENSIONS = 0x80
_JUNIPER_NO_L2 = 0x02

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
    LINKTYPE_ARCNET_BSD: _arcnet_bsd,
    LINKTYPE_PPP: _ppp,
    LINKTYPE_FDDI: _fddi,
    LINKTYPE_PPP_HDLC: _ppp,
    LINKTYPE_PPP_ETHER: _pppoe_session,
    LINKTYPE_C_HDLC: _cisco_hdlc,
    LINKTYPE_IEEE802_11: _ieee80211,
    LINKTYPE_PRISM_HEADER: _prism,
    LINKTYPE_IEEE802_11_RADIOTAP: _radiotap,
    LINKTYPE_IEEE802_11_AVS: _avs,
    LINKTYPE_ARCNET_LINUX: _arcnet_linux,
    LINKTYPE_JUNIPER_ETHER: _juniper_ether,
    LINKTYPE_PPI: _ppi,
    LINKTYPE_PPP_PPPD: _ppp_with_direction,
    LINKTYPE_IPOIB: _ipoib,
}
"""The decoder of each link-layer header type (pcap's LINKTYPE_* / DLT_* number)."""

LINKTYPE_NAMES: dict[int, str] = {
    0: "BSD loopback",
    1: "Ethernet",
    2: "Xerox experimental 3Mb Ethernet",
    3: "AX.25",
    4: "Proteon ProNET Token Ring",
    5: "MIT Chaosnet",
    6: "IEEE 802.5 Token Ring",
    7: "ARCNET",
    8: "SLIP",
    9: "PPP",
    10: "FDDI",
    12: "Raw IP",
    14: "Raw IP",
    50: "PPP in HDLC-like framing",
    51: "PPPoE session",
    99: "Symantec Enterprise Firewall",
    100: "RFC 1483 ATM",
    101: "Raw IP",
    104: "Cisco HDLC",
    105: "IEEE 802.11 Wireless LAN",
    106: "Linux ATM Classical IP",
    107: "Frame Relay",
    108: "OpenBSD loopback",
    109: "OpenBSD enc(4) encapsulating interface",
    113: "Linux cooked-mode capture v1",
    114: "Apple LocalTalk",
    117: "OpenBSD PF Firewall logs",
    119: "IEEE 802.11 plus Prism II monitor mode radio header",
    122: "RFC 2625 IP-over-Fibre Channel",
    123: "SunATM",
    127: "IEEE 802.11 plus radiotap radio header",
    129: "Linux ARCNET",
    138: "Apple IP-over-IEEE 1394",
    139: "SS7 MTP2 with pseudo-header",
    140: "SS7 MTP2",
    141: "SS7 MTP3",
    142: "SS7 SCCP",
    143: "DOCSIS",
    144: "Linux IrDA",
    **{147 + n: f"USER {n}" for n in range(16)},
    163: "IEEE 802.11 plus AVS radio header",
    165: "BACnet MS/TP",
    166: "PPP with directional info",
    169: "GPRS LLC",
    170: "GPF-T (ITU-T G.7041/Y.1303)",
    171: "GPF-F (ITU-T G.7041/Y.1303)",
    177: "Linux LAPD",
    178: "Juniper Ethernet",
    182: "MTP2 with Juniper pseudo-header",
    187: "Bluetooth H4",
    189: "USB packets with Linux header",
    192: "Per-Packet Information header",
    195: "IEEE 802.15.4 Wireless PAN",
    196: "SITA WAN packets",
    197: "Endace ERF",
    201: "Bluetooth H4 with linux header",
    202: "AX.25 with KISS header",
    203: "LAPD",
    204: "PPP with directional info (pppd)",
    205: "Cisco HDLC with directional info",
    206: "Frame Relay with directional info",
    207: "LAPB with directional info",
    209: "I2C with Linux-specific pseudo-header",
    210: "FlexRay",
    211: "MOST",
    212: "LIN",
    215: "IEEE 802.15.4 Wireless PAN non-ASK PHY",
    216: "Linux evdev events",
    220: "USB packets with Linux header and padding",
    224: "Fibre Channel FC-2",
    225: "Fibre Channel FC-2 with frame delimiters",
    226: "Solaris IPNET",
    227: "SocketCAN",
    228: "Raw IPv4",
    229: "Raw IPv6",
    230: "IEEE 802.15.4 Wireless PAN with FCS not present",
    231: "D-Bus",
    235: "DVB-CI (Common Interface)",
    236: "MUX27010",
    237: "STANAG 5066 D_PDU",
    239: "NFLOG",
    240: "netANALYZER",
    241: "netANALYZER-Transparent",
    242: "IP over InfiniBand",
    243: "ISO/IEC 13818-1 MPEG2-TS packets",
    244: "ng40 protocol tester",
    245: "NFC LLCP",
    247: "InfiniBand",
    248: "SCTP",
    249: "USB packets with USBPcap header",
    250: "RTAC serial-line",
    251: "Bluetooth Low Energy Link Layer",
    252: "Wireshark Upper PDU export",
    253: "Linux Netlink",
    254: "Bluetooth Linux Monitor",
    255: "Bluetooth BR/EDR Baseband RF",
    256: "Bluetooth Low Energy Link Layer RF",
    257: "PROFIBUS data link layer",
    258: "Apple PKTAP",
    259: "Ethernet Passive Optical Network",
    260: "IPMI HPM.2 trace packets",
    261: "Z-Wave RF profile R1 and R2",
    262: "Z-Wave RF profile R3",
    263: "WattStopper Digital Lighting Management",
    264: "ISO 14443 contactless smartcard",
    265: "Radio Data System",
    266: "USB packets from Darwin",
    267: "OpenFlow",
    268: "SDLC",
    269: "TI LLN sniffer",
    270: "LoRaTap",
    271: "Linux vsock",
    272: "nRF Sniffer for Bluetooth LE",
    273: "DOCSIS with Excentis XRA pseudo-header",
    274: "802.3br mPackets",
    275: "DisplayPort AUX channel monitoring",
    276: "Linux cooked-mode capture v2",
    278: "OpenVizsla USB",
    279: "Elektrobit High Speed Capture and Replay",
    280: "VPP graph dispatch tracer",
    281: "Broadcom Ethernet switch tag",
    282: "Broadcom Ethernet switch tag (prepended)",
    283: "IEEE 802.15.4 Wireless PAN with TAP header",
    284: "Marvell DSA tag",
    285: "Marvell EDSA tag",
    286: "ELEE lawful intercept",
    287: "Z-Wave serial",
    288: "USB 2.0/1.1/1.0",
    289: "ATSC Link-Layer Protocol",
    290: "Event Tracing for Windows",
    292: "ZBOSS NCP",
    293: "USB 2.0 low speed",
    294: "USB 2.0 full speed",
    295: "USB 2.0 high speed",
    296: "Auerswald log",
    297: "Z-Wave with TAP header",
    298: "Silicon Labs debug channel",
    299: "FiRa UWB controller interface",
    300: "MDB (Multi-Drop Bus)",
    301: "DECT-2020 New Radio",
}
"""Wireshark-like names of link-layer header types, the supported ones (`LINK_LAYERS`) and the
ones that commonly turn up in captures netlab cannot follow (https://www.tcpdump.org/linktypes.html)."""


def linktype_name(linktype: int) -> str:
    """The name of a link-layer header type, e.g. "IEEE 802.11 plus radiotap radio header"
    ("link type N" for a number not in `LINKTYPE_NAMES`)."""
    return LINKTYPE_NAMES.get(linktype, f"link type {linktype}")


ETHERTYPES: dict[int, Layer] = {
    ETH_IPV4: _ipv4,
    ETH_IPV6: _ipv6,
    **dict.fromkeys(_VLAN_TPIDS, _vlan),
    0x8864: _pppoe_session,
    0x8847: _mpls,  # unicast
    0x8848: _mpls,  # multicast
    0x0004: _llc,  # Linux's ETH_P_802_2: in cooked captures (SLL, SLL2), an 802.2 LLC frame
}
"""What Ethernet, VLAN tags and Linux cooked captures carry, by ethertype."""

PPP_PROTOCOLS: dict[int, Layer] = {0x0021: _ipv4, 0x0057: _ipv6, 0x0281: _mpls, 0x0283: _mpls}
"""What a PPP frame (link types 9, 50, 51, 204, and inside PPPoE) carries, by PPP protocol number."""

ARCNET_PROTOCOLS: dict[int, Layer] = {0xD4: _ipv4, 0xF0: _ipv4, 0xC4: _ipv6}
"""What an ARCNET frame carries, by system code (RFC 1201 IP, RFC 1051 IP, IPv6)."""

JUNIPER_PROTOCOLS: dict[int, Layer] = {
    2: _ipv4,
    3: _ipv4,  # MPLS label popped, IPv4
    6: _ipv6,
    7: _ipv6,  # MPLS label popped, IPv6
    4: _mpls,
    5: _mpls,
    8: _mpls,
    200: _ppp_protocol,
    202: _llc,
    203: _llc,
    204: _ethernet,
    208: _cisco_hdlc,
}
"""What a Juniper capture without its layer 2 header carries, by JUNOS protocol number."""

GRE_PROTOCOLS: dict[int, Layer] = {
    ETH_IPV4: _ipv4,
    ETH_IPV6: _ipv6,
    ETH_BRIDGED: _ethernet,
    _ERSPAN: _erspan,  # type II (type I, with the sequence bit clear, is decided in `_gre`)
    0x22EB: _erspan,  # type III
    0x8847: _mpls,
    0x8848: _mpls,
}
"""What GRE carries, by its protocol type (an ethertype)."""

IP_PROTOCOLS: dict[int, Layer] = {
    IPPROTO_TCP: _tcp,
    1: _icmp,  # errors quoting a TCP header (they keep Wireshark's stream numbers true)
    58: _icmpv6,
    4: _ip_in_ip,  # IPv4 in IPv4 or in IPv6
    41: _ipv6_in_ip,  # 6in4, IPv6 in IPv6
    47: _gre,
    IPPROTO_UDP: _udp,
    **dict.fromkeys(_IPV6_OPTION_HEADERS, _ipv6_options),
    _IPPROTO_AH: _auth_header,
}
"""What IPv4 and IPv6 carry, by protocol / next-header number. (IPv6 walks its own extension
headers; these entries serve IPv4 and the payload of reassembled IPv6 fragments.)"""

UDP_PORTS: dict[int, Layer] = {
    2152: _gtp_u,
    3544: _teredo,
    4789: _vxlan,
    6081: _geneve,
}
"""Encapsulations carried in UDP, by registered port (looked up on either side, the lower first)."""

SUPPORTED_LINKTYPES = frozenset(LINK_LAYERS)
