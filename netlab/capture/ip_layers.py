"""The IP layers: IPv4, IPv6 and its extension headers (and IPsec AH), and IP fragments.

Each sets the innermost IP header's addresses on the `FrameContext` (the TCP/UDP pseudo-header) and
whether its packet was wholly captured (`ctx.checkable`), then decodes what it carries through
`IP_PROTOCOLS`. Fragments are collected by the capture's `Defragmenter`; a datagram made whole is
decoded as if it had come in one frame.
"""

from __future__ import annotations

import struct

from netlab.capture import layer_tables
from netlab.capture.frame_context import FrameContext, give_up, not_decoded
from netlab.capture.undecoded import CUT_SHORT, HELD, ip_protocol_reason
from netlab.packets import SegmentFields

# Bound by assignment, not imported by name: see netlab/capture/layer_tables.py (a method call per packet).
IP_PROTOCOLS = layer_tables.IP_PROTOCOLS

_IPV6_ROUTING = 43
_IPV6_FRAGMENT = 44
IPPROTO_AH = 51  # IPsec Authentication Header: its length counts 4-byte words, minus 2
IPV6_OPTION_HEADERS = frozenset({0, _IPV6_ROUTING, 60})  # hop-by-hop, routing, destination options
_IPV6_EXT_HEADERS = IPV6_OPTION_HEADERS | {IPPROTO_AH}

_u16 = struct.Struct("!H").unpack_from
_u32be = struct.Struct("!I").unpack_from


def _ip_by_version(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """An IP packet without a type field in front: its version nibble decides."""
    version = buf[off] >> 4
    if version == 4:
        return _ipv4(buf, off, end, ctx)
    if version == 6:
        return _ipv6(buf, off, end, ctx)
    return not_decoded(ctx, f"not IPv4 or IPv6 (IP version {version})")


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
        elif nxt == IPPROTO_AH:
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
        length = (buf[off + 1] + 2) * 4 if nxt == IPPROTO_AH else (buf[off + 1] + 1) * 8
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
