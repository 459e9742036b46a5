"""The transport layers: TCP (the segment itself), UDP (its datagrams, and the tunnels on its
ports), and ICMP/ICMPv6 errors quoting a TCP header; and the TCP/UDP checksum.

Only `_tcp` (and, for a quoted header, `_quoted_tcp`) builds the `SegmentFields` every layer below
returns. The fast path (`netlab.capture.decode.ethernet_ipv4_tcp`) gives the same fields for the
commonest frame without these functions.
"""

from __future__ import annotations

import struct

from netlab.capture import layer_tables
from netlab.capture.endpoints import intern_endpoint
from netlab.capture.frame_context import FrameContext, give_up, not_decoded, not_tcp
from netlab.capture.layer_tables import IPPROTO_TCP, IPPROTO_UDP
from netlab.capture.tcp_options import sack_blocks, syn_window_scale
from netlab.capture.undecoded import CUT_SHORT
from netlab.packets import QUOTED, Datagram, SackBlocks, SegmentFields, TcpFlag, segment_fields

# Bound by assignment, not imported by name: see netlab/capture/layer_tables.py (a method call per packet).
UDP_PORTS = layer_tables.UDP_PORTS

_SYN = int(TcpFlag.SYN)
_ICMP_ERRORS = frozenset({3, 4, 5, 11, 12})  # unreachable, source quench, redirect, time exceeded, parameter
_ICMPV6_ERRORS = frozenset({1, 2, 3, 4})  # unreachable, packet too big, time exceeded, parameter problem

_u16 = struct.Struct("!H").unpack_from
_u32be = struct.Struct("!I").unpack_from
_tcp_head = struct.Struct("!HHIIBBHH").unpack_from
_udp_head = struct.Struct("!HHHH").unpack_from


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
    src, dst = intern_endpoint(ctx.src, sport), intern_endpoint(ctx.dst, dport)
    payload = buf[off + hlen : end]
    return segment_fields(
        ctx.number, ctx.ts, src, dst, seq, ack, flags, window, payload, wire_len, ok, ctx.vlan, wscale, sack
    )


# --- UDP --------------------------------------------------------------------------------------


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
            intern_endpoint(ctx.src, sport),
            intern_endpoint(ctx.dst, dport),
            buf[off + 8 : end],
            wire_len,
            ok,
            ctx.vlan,
        )
    )


# --- ICMP errors ------------------------------------------------------------------------------


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
    src_end, dst_end = intern_endpoint(src, sport), intern_endpoint(dst, dport)
    return segment_fields(ctx.number, ctx.ts, src_end, dst_end, seq, 0, QUOTED, 0, b"", 0, None, ctx.vlan, None)
