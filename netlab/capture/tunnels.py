"""Tunnels: IP in IP (IP-in-IP, 6in4, IPv6-in-IPv6), GRE (with ERSPAN I/II/III), and the UDP
encapsulations on their registered ports (VXLAN, Geneve, GTP-U, Teredo: `UDP_PORTS`).

Each tunnel first counts itself in (`enter_tunnel`: at most 3 deep, so a malformed frame cannot
nest forever), then decodes what it carries as a frame of its own: Ethernet, an ethertype, or IP.
"""

from __future__ import annotations

import struct

from netlab.capture import layer_tables
from netlab.capture.frame_context import FrameContext, enter_tunnel, give_up, not_tcp
from netlab.capture.ip_layers import _ip_by_version, _ipv4, _ipv6
from netlab.capture.layer_tables import ETH_BRIDGED
from netlab.capture.link_layers import _by_ethertype, _ethernet
from netlab.capture.undecoded import CUT_SHORT, ethertype_reason
from netlab.packets import SegmentFields

# Bound by assignment, not imported by name: see netlab/capture/layer_tables.py (a method call per packet).
GRE_PROTOCOLS = layer_tables.GRE_PROTOCOLS

_GRE_CHECKSUM, _GRE_ROUTING, _GRE_KEY, _GRE_SEQUENCE = 0x8000, 0x4000, 0x2000, 0x1000
ETH_ERSPAN = 0x88BE  # ERSPAN type II, or type I when the GRE sequence bit is clear

_u16 = struct.Struct("!H").unpack_from


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
    if proto == ETH_ERSPAN and not flags & _GRE_SEQUENCE:
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


def _vxlan(buf: bytes, off: int, end: int, ctx: FrameContext) -> SegmentFields | None:
    """VXLAN (RFC 7348): an 8-byte header, then Ethernet. Its I flag is not required: Wireshark
    decodes what follows without it, and so does netlab."""
    if len(buf) < off + 8:
        return give_up(ctx, CUT_SHORT)
    if not enter_tunnel(ctx):
        return None
    return _ethernet(buf, off + 8, end, ctx)


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
