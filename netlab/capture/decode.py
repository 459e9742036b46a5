"""Frames to `Segment`s: a struct-based decoder for the hot path (no scapy).

`decode(linktype, frame, number, ts)` finds the IPv4/IPv6 layer behind Ethernet (with 802.1Q /
QinQ tags and PPPoE), Linux cooked capture (SLL, SLL2), BSD loopback (DLT_NULL / DLT_LOOP),
raw IP (DLT 101, 12, 14, 228, 229), NFLOG, MPLS, and tunnels (VXLAN, GRE with IP, Ethernet or
ERSPAN inside, IP-in-IP, IPv6-in-IPv4), and returns the TCP segment in it, or None for anything
else. Given a `Defragmenter` (one per capture), IPv4 and IPv6 fragments of TCP segments are
reassembled as Wireshark does: the segment comes out of the frame that completed it. The payload is bounded by the IP length (Ethernet padding is not
payload) and by what the capture kept (`Segment.wire_len` says what the wire carried).

Endpoints are interned: the same address and port give the same `Endpoint` object, which keeps
the per-packet cost low and makes dictionary lookups cheap.
"""

from __future__ import annotations

import socket
import struct

from netlab.capture.ipfrag import Defragmenter
from netlab.capture.model import Endpoint, Segment, SegmentFields

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

SUPPORTED_LINKTYPES = frozenset(
    {
        LINKTYPE_NULL,
        LINKTYPE_ETHERNET,
        LINKTYPE_RAW_OPENBSD,
        LINKTYPE_RAW_BSD,
        LINKTYPE_RAW,
        LINKTYPE_LOOP,
        LINKTYPE_LINUX_SLL,
        LINKTYPE_IPV4,
        LINKTYPE_IPV6,
        LINKTYPE_NFLOG,
        LINKTYPE_LINUX_SLL2,
    }
)

_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD
_ETH_VLAN = frozenset({0x8100, 0x88A8, 0x9100})
_ETH_PPPOE_SESSION = 0x8864
_ETH_MPLS = frozenset({0x8847, 0x8848})
_ETH_BRIDGED = 0x6558  # GRE: transparent Ethernet bridging
_ETH_ERSPAN_2 = 0x88BE
_ETH_ERSPAN_3 = 0x22EB
_IPPROTO_IPIP = 4
_IPPROTO_TCP = 6
_IPPROTO_UDP = 17
_IPPROTO_IPV6 = 41
_IPPROTO_GRE = 47
_MAX_TUNNELS = 3  # encapsulations followed at most (a malformed frame could nest forever)
_VXLAN_PORT = 4789
_NO_END = 1 << 62  # no link-layer bound on the network layer
_IPV6_EXT_HEADERS = frozenset({0, 43, 60})  # hop-by-hop, routing, destination options
_IPV6_FRAGMENT = 44

_u16 = struct.Struct("!H").unpack_from
_u32le = struct.Struct("<I").unpack_from
_u32be = struct.Struct("!I").unpack_from
_tcp_head = struct.Struct("!HHIIBBHH").unpack_from

# Ethernet + IPv4 (no options) + TCP in one unpack, from offset 12: ethertype, version/IHL, total length,
# fragment field, protocol, the 12 bytes src ip/dst ip/ports, seq, ack, data offset, flags, window.
_fast_head = struct.Struct("!HBxHxxHxBxx12xIIBBH").unpack_from  # from offset 12: ethertype first
ETH_IPV4_TCP_HEAD = struct.Struct("!HBxHxxHxBxx12sIIBBH")
"""`_fast_head` with the 12 bytes of addresses and ports kept (the `endpoint_pair` key): for fused capture loops."""

_endpoints: dict[bytes, Endpoint] = {}
_pairs: dict[bytes, tuple[Endpoint, Endpoint]] = {}
ENDPOINT_PAIRS = _pairs
"""The interned (src, dst) pairs by their 12 raw bytes (see `endpoint_pair`); fused loops look here first."""
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


def _checksum_ok(pseudo: bytes, tcp: bytes) -> bool:
    """One's-complement checksum check: the sum of all 16-bit words is 0 modulo 0xFFFF.

    2**16 ≡ 1 (mod 0xFFFF), so the big-endian integer of the bytes is congruent to the sum of
    its 16-bit words; one bignum `%` replaces a Python loop.
    """
    if len(tcp) & 1:
        tcp += b"\0"
    return (int.from_bytes(pseudo, "big") + int.from_bytes(tcp, "big")) % 0xFFFF == 0


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
) -> SegmentFields | None:
    """`decode` as a `SegmentFields` tuple (positional arguments only, for capture loops)."""
    if linktype == LINKTYPE_ETHERNET:
        fields = ethernet_ipv4_fields(frame, number, ts, verify, orig_len)
        if fields is not None:
            return fields
    return _decode_general(linktype, frame, number, ts, verify, orig_len, defrag)


def decode_ethernet_ipv4(
    frame: bytes, number: int, ts: float, verify: bool, orig_len: int | None
) -> Segment | None:
    """The hot path of `decode` for LINKTYPE_ETHERNET: untagged IPv4 without options, TCP.

    Returns None for any other frame (then `decode`'s general path decides); positional
    arguments only, so capture loops can call it without keyword overhead.
    """
    fields = ethernet_ipv4_fields(frame, number, ts, verify, orig_len)
    return None if fields is None else Segment(*fields)


def ethernet_ipv4_fields(
    frame: bytes, number: int, ts: float, verify: bool, orig_len: int | None
) -> SegmentFields | None:
    """`decode_ethernet_ipv4` as a `SegmentFields` tuple: what capture loops feed the reassembler.

    A tuple is far cheaper to build than a frozen dataclass (bench/follow_bench.py), and the
    reassembler's in-order path never needs the `Segment`.
    """
    if len(frame) < 54:
        return None
    ethertype, ver_ihl, total, frag, proto, seq, ack, off_byte, flags, window = _fast_head(frame, 12)
    hlen = (off_byte >> 4) * 4
    if not (
        ethertype == _ETH_IPV4
        and ver_ihl == 0x45
        and proto == 6
        and not frag & 0x3FFF
        and hlen >= 20
        and total >= 20 + hlen
    ):
        return None
    end = 14 + total
    if orig_len is not None and end > orig_len:  # the IP length claims more than the wire had
        end = max(orig_len, 34 + hlen)
        verify = False
    start = 34 + hlen
    checksum_ok: bool | None = None
    # Checked where it decides something: data (a good copy beats a bad one) and SYNs (a bad SYN
    # checksum means the sender offloads checksums); pure ACKs are skipped, they are half the packets.
    if verify and (end > start or flags & 0x02) and len(frame) >= end:
        # src, dst and the TCP segment are contiguous: one integer holds all their words
        tcp_len = total - 20
        words = int.from_bytes(frame[26:end], "big")
        if tcp_len & 1:
            words <<= 8
        checksum_ok = (words + 6 + tcp_len) % 0xFFFF == 0
    key = frame[26:38]
    pair = _pairs.get(key)
    src, dst = pair if pair is not None else endpoint_pair(key)
    return (number, ts, src, dst, seq, ack, flags, window, frame[start:end], end - start, checksum_ok, ())


def _decode_general(
    linktype: int,
    frame: bytes,
    number: int,
    ts: float,
    verify: bool,
    orig_len: int | None,
    defrag: Defragmenter | None = None,
) -> SegmentFields | None:
    try:
        ip_off, ethertype, vlan, link_end = _link_layer(linktype, frame)
    except (struct.error, IndexError):
        return None
    if ip_off < 0:
        return None
    limit = min(link_end, len(frame) if orig_len is None else max(orig_len, len(frame)))
    try:
        return _ip_layer(frame, ip_off, ethertype, vlan, 0, limit, _Frame(number, ts, verify, defrag))
    except (struct.error, IndexError):  # a header cut short inside a tunnel
        return None


def _link_layer(linktype: int, frame: bytes) -> tuple[int, int, tuple[int, ...], int]:
    """Offset of the network layer, its ethertype (0 = look at the IP version) and VLAN tags."""
    if linktype == LINKTYPE_ETHERNET:
        return _ethernet(frame, 0)
    if linktype in (LINKTYPE_RAW, LINKTYPE_RAW_OPENBSD, LINKTYPE_RAW_BSD, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return 0, 0, (), _NO_END
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        # The address family is in host byte order (NULL) or network order (LOOP): AF_INET is
        # 2 everywhere, AF_INET6 is 10, 24, 28 or 30 depending on the OS; the IP version decides.
        return 4, 0, (), _NO_END
    if linktype == LINKTYPE_LINUX_SLL:
        return 16, _u16(frame, 14)[0], (), _NO_END
    if linktype == LINKTYPE_LINUX_SLL2:
        return 20, _u16(frame, 0)[0], (), _NO_END
    if linktype == LINKTYPE_NFLOG:
        return _nflog(frame)
    return -1, 0, (), _NO_END


def _ethernet(frame: bytes, off: int) -> tuple[int, int, tuple[int, ...], int]:
    ethertype = _u16(frame, off + 12)[0]
    off += 14
    vlan: tuple[int, ...] = ()
    while ethertype in _ETH_VLAN:
        vlan += (_u16(frame, off)[0] & 0x0FFF,)
        ethertype = _u16(frame, off + 2)[0]
        off += 4
    end = _NO_END
    if ethertype == _ETH_PPPOE_SESSION:  # PPPoE's length bounds the PPP frame (tshark honours it)
        end = off + 6 + _u16(frame, off + 4)[0]
        ppp_proto = _u16(frame, off + 6)[0]
        off += 8
        ethertype = {0x0021: _ETH_IPV4, 0x0057: _ETH_IPV6}.get(ppp_proto, -1)
    elif ethertype in _ETH_MPLS:  # a label stack; after the bottom label the IP version decides
        while not frame[off + 2] & 0x01:
            off += 4
        off += 4
        ethertype = 0
    return off, ethertype, vlan, end


def _nflog(frame: bytes) -> tuple[int, int, tuple[int, ...], int]:
    """NFLOG: a 4-byte header then TLVs (little-endian lengths, 4-byte aligned); type 9 is the payload."""
    off = 4
    while off + 4 <= len(frame):
        tlv_len, tlv_type = struct.unpack_from("<HH", frame, off)
        if tlv_len < 4:
            break
        if tlv_type == 9:
            return off + 4, 0, (), _NO_END
        off += (tlv_len + 3) & ~3
    return -1, 0, (), _NO_END


class _Frame:
    """What every layer of one frame's general decoding passes on unchanged."""

    __slots__ = ("number", "ts", "verify", "defrag")

    def __init__(self, number: int, ts: float, verify: bool, defrag: Defragmenter | None) -> None:
        self.number = number
        self.ts = ts
        self.verify = verify
        self.defrag = defrag


def _pseudo_header(src: bytes, dst: bytes, length: int) -> bytes:
    """The TCP checksum's pseudo-header for a segment of `length` bytes (IPv4 or IPv6 by address size)."""
    if len(src) == 16:
        return src + dst + length.to_bytes(4, "big") + b"\0\0\0\x06"
    return src + dst + b"\0\x06" + length.to_bytes(2, "big")


def _ip_layer(
    frame: bytes, off: int, ethertype: int, vlan: tuple[int, ...], depth: int, limit: int, ctx: _Frame
) -> SegmentFields | None:
    if off >= len(frame):
        return None
    version = frame[off] >> 4
    if ethertype == _ETH_IPV4 or (ethertype == 0 and version == 4):
        return _ipv4(frame, off, vlan, depth, limit, ctx) if version == 4 else None
    if ethertype == _ETH_IPV6 or (ethertype == 0 and version == 6):
        return _ipv6(frame, off, vlan, depth, limit, ctx) if version == 6 else None
    return None


def _ipv4(
    frame: bytes, off: int, vlan: tuple[int, ...], depth: int, limit: int, ctx: _Frame
) -> SegmentFields | None:
    ihl = (frame[off] & 0x0F) * 4
    if ihl < 20 or len(frame) < off + 20:
        return None
    total = _u16(frame, off + 2)[0]
    proto = frame[off + 9]
    src = frame[off + 12 : off + 16]
    dst = frame[off + 16 : off + 20]
    if total < ihl:  # TSO on the sending host can leave 0 here: trust the captured length
        total = len(frame) - off
    start = off + ihl
    end = off + total
    fragment = _u16(frame, off + 6)[0]
    if fragment & 0x3FFF:  # MF set or offset non-zero
        if proto != _IPPROTO_TCP:
            return None
        key = (src, dst, proto, _u16(frame, off + 4)[0])
        more = bool(fragment & 0x2000)
        return _fragment(
            key,
            (fragment & 0x1FFF) * 8,
            more,
            frame[start : min(end, limit)],
            total - ihl,
            src,
            dst,
            vlan,
            ctx,
        )
    if proto == _IPPROTO_TCP:
        pseudo = _pseudo_header(src, dst, total - ihl)
        return _tcp(
            frame,
            start,
            min(end, limit),
            src,
            dst,
            pseudo,
            vlan,
            ctx.number,
            ctx.ts,
            ctx.verify and end <= limit,
        )
    return _tunnel(frame, start, min(end, limit), proto, vlan, depth, ctx)


def _ipv6(
    frame: bytes, off: int, vlan: tuple[int, ...], depth: int, limit: int, ctx: _Frame
) -> SegmentFields | None:
    if len(frame) < off + 40:
        return None
    plen = _u16(frame, off + 4)[0]
    nxt = frame[off + 6]
    src = frame[off + 8 : off + 24]
    dst = frame[off + 24 : off + 40]
    start = off + 40
    jumbo = plen == 0
    while nxt in _IPV6_EXT_HEADERS or nxt == _IPV6_FRAGMENT:
        if nxt == _IPV6_FRAGMENT:
            fragment = _u16(frame, start + 2)[0]
            if fragment & 0xFFF9:  # offset or M set: a real fragment of what follows the header
                if frame[start] != _IPPROTO_TCP:
                    return None
                end, data = off + 40 + plen, start + 8
                key = (src, dst, _u32be(frame, start + 4)[0])
                more = bool(fragment & 1)
                return _fragment(
                    key,
                    fragment & 0xFFF8,
                    more,
                    frame[data : min(end, limit)],
                    end - data,
                    src,
                    dst,
                    vlan,
                    ctx,
                )
            ext_len = 8
        else:
            ext_len = (frame[start + 1] + 1) * 8
            if nxt == 0 and jumbo:
                plen = _jumbo_length(frame, start + 2, start + ext_len)
        nxt = frame[start]
        start += ext_len
    if plen == 0:
        return None
    end = off + 40 + plen
    if nxt == _IPPROTO_TCP:
        pseudo = _pseudo_header(src, dst, end - start)
        return _tcp(
            frame,
            start,
            min(end, limit),
            src,
            dst,
            pseudo,
            vlan,
            ctx.number,
            ctx.ts,
            ctx.verify and end <= limit,
        )
    return _tunnel(frame, start, min(end, limit), nxt, vlan, depth, ctx)


def _fragment(
    key: tuple[object, ...],
    offset: int,
    more: bool,
    data: bytes,
    wire_len: int,
    src: bytes,
    dst: bytes,
    vlan: tuple[int, ...],
    ctx: _Frame,
) -> SegmentFields | None:
    """An IP fragment of a TCP segment: collect it; decode the segment once the datagram is whole."""
    if ctx.defrag is None:
        return None
    whole = ctx.defrag.add(key, ctx.ts, offset, more, data, wire_len)
    if whole is None:
        return None
    n = whole.wire_len
    verify = ctx.verify and len(whole.data) == n
    return _tcp(whole.data, 0, n, src, dst, _pseudo_header(src, dst, n), vlan, ctx.number, ctx.ts, verify)


def _tunnel(
    frame: bytes, start: int, end: int, proto: int, vlan: tuple[int, ...], depth: int, ctx: _Frame
) -> SegmentFields | None:
    """Follow an encapsulation (IP-in-IP, IPv6-in-IP, GRE, VXLAN) to the IP packet inside."""
    if depth >= _MAX_TUNNELS:
        return None
    depth += 1
    if proto == _IPPROTO_IPIP:
        return _ip_layer(frame, start, _ETH_IPV4, vlan, depth, end, ctx)
    if proto == _IPPROTO_IPV6:
        return _ip_layer(frame, start, _ETH_IPV6, vlan, depth, end, ctx)
    if proto == _IPPROTO_GRE:
        return _gre(frame, start, end, vlan, depth, ctx)
    if proto == _IPPROTO_UDP:
        return _vxlan(frame, start, end, vlan, depth, ctx)
    return None


def _gre(
    frame: bytes, start: int, end: int, vlan: tuple[int, ...], depth: int, ctx: _Frame
) -> SegmentFields | None:
    """GRE (RFC 2784/2890): IP inside, or Ethernet (bridged, ERSPAN type II or III) inside."""
    flags, proto = _u16(frame, start)[0], _u16(frame, start + 2)[0]
    if flags & 0x0007:  # version 1 is PPTP's enhanced GRE: PPP inside, not followed
        return None
    inner = start + 4 + 4 * bool(flags & 0x8000) + 4 * bool(flags & 0x2000) + 4 * bool(flags & 0x1000)
    if proto in (_ETH_IPV4, _ETH_IPV6):
        return _ip_layer(frame, inner, proto, vlan, depth, end, ctx)
    if proto == _ETH_ERSPAN_2:
        inner += 8
    elif proto == _ETH_ERSPAN_3:
        inner += 12 + 8 * (frame[inner + 11] & 0x01)  # the optional platform-specific subheader
    elif proto != _ETH_BRIDGED:
        return None
    return _inner_ethernet(frame, inner, end, vlan, depth, ctx)


def _inner_ethernet(
    frame: bytes, off: int, end: int, vlan: tuple[int, ...], depth: int, ctx: _Frame
) -> SegmentFields | None:
    """An Ethernet frame carried inside a tunnel (its VLAN tags follow the outer ones)."""
    ip_off, ethertype, inner_vlan, inner_end = _ethernet(frame, off)
    return _ip_layer(frame, ip_off, ethertype, vlan + inner_vlan, depth, min(end, inner_end), ctx)


def _jumbo_length(frame: bytes, off: int, end: int) -> int:
    """The payload length from a hop-by-hop Jumbo Payload option (RFC 2675), or 0."""
    while off < end:
        opt = frame[off]
        if opt == 0:  # Pad1
            off += 1
            continue
        if opt == 0xC2:
            return int(_u32be(frame, off + 2)[0])  # everything after the IPv6 header
        off += 2 + frame[off + 1]
    return 0


def _vxlan(
    frame: bytes, udp: int, end: int, vlan: tuple[int, ...], depth: int, ctx: _Frame
) -> SegmentFields | None:
    if len(frame) < udp + 16 or _u16(frame, udp + 2)[0] != _VXLAN_PORT or not frame[udp + 8] & 0x08:
        return None
    return _inner_ethernet(frame, udp + 16, end, vlan, depth, ctx)


def _tcp(
    frame: bytes,
    start: int,
    end: int,
    src_ip: bytes,
    dst_ip: bytes,
    pseudo: bytes,
    vlan: tuple[int, ...],
    number: int,
    ts: float,
    verify: bool,
) -> SegmentFields | None:
    if len(frame) < start + 20:
        return None
    sport, dport, seq, ack, off_byte, flags, window, _cksum = _tcp_head(frame, start)
    hlen = (off_byte >> 4) * 4
    if hlen < 20:
        return None
    wire_len = end - start - hlen
    if wire_len < 0:
        return None
    payload = frame[start + hlen : end]
    checksum_ok: bool | None = None
    if verify and len(frame) >= end:
        checksum_ok = _checksum_ok(pseudo, frame[start:end])
    src, dst = _endpoint(src_ip, sport), _endpoint(dst_ip, dport)
    return (number, ts, src, dst, seq, ack, flags, window, payload, wire_len, checksum_ok, vlan)
