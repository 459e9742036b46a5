"""The link layers and what Ethernet carries besides IP: Ethernet II and IEEE 802.3 with 802.2
LLC/SNAP, BSD loopback, Linux cooked captures (SLL, SLL2), NFLOG, PPP (plain, HDLC-framed, in PPPoE,
with pppd's direction byte), Cisco HDLC, FDDI, ARCNET, IP over InfiniBand, Juniper Ethernet, and
802.1Q/802.1ad tags, PPPoE sessions and MPLS label stacks. (802.11 and its radio headers:
`netlab/capture/ieee80211.py`.)

Each reads its header and hands what follows to the layer a table names (`ETHERTYPES`,
`PPP_PROTOCOLS`, `ARCNET_PROTOCOLS`, `JUNIPER_PROTOCOLS`) or, where the header leaves no choice, to
IP or LLC directly.
"""

from __future__ import annotations

import struct

from netlab.capture import layer_tables
from netlab.capture.frame_context import FrameContext, give_up, not_decoded, not_tcp
from netlab.capture.ip_layers import _ip_by_version, _ipv4
from netlab.capture.undecoded import CUT_SHORT, ethertype_reason, ppp_protocol_reason
from netlab.packets import SegmentFields

# Bound by assignment, not imported by name: see netlab/capture/layer_tables.py (a method call per packet).
ETHERTYPES = layer_tables.ETHERTYPES
PPP_PROTOCOLS = layer_tables.PPP_PROTOCOLS
ARCNET_PROTOCOLS = layer_tables.ARCNET_PROTOCOLS
JUNIPER_PROTOCOLS = layer_tables.JUNIPER_PROTOCOLS

_VLAN_TPID = 0x8100
VLAN_TPIDS = frozenset({_VLAN_TPID, 0x88A8, 0x9100})
_IEEE8023_MAX_LENGTH = 1500  # an Ethernet type field up to this is 802.3's length (ethertypes start at 0x0600)
_LLC_UI = 0x03  # unnumbered information
_SAP_SNAP = 0xAA
_SAP_IP = 0x06
_SNAP_ETHERTYPE_OUIS = frozenset({b"\0\0\0", b"\0\0\xf8"})  # RFC 1042 encapsulation; Cisco's 802.1H-like OUI
_CHDLC_ADDRESSES = frozenset({0x0F, 0x8F})
_FDDI_LLC_ASYNC = 0x50
_ARCNET_RFC1051 = frozenset({0xF0, 0xF1})  # RFC 1051 IP and ARP: no split flag, no sequence number
_JUNIPER_MAGIC = b"MGC"
_JUNIPER_EXTENSIONS = 0x80
_JUNIPER_NO_L2 = 0x02

_u16 = struct.Struct("!H").unpack_from
_u32le = struct.Struct("<I").unpack_from
_tlv_le = struct.Struct("<HH").unpack_from


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
    while ethertype in VLAN_TPIDS:  # a loop, not recursion: a frame may hold thousands of tags
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
