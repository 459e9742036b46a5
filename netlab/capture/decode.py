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
encapsulation is one function in its layer's module plus one table entry here (docs/link-layers.md).

Where each part lives (netlab/capture/): this module has the entry points, the fast path and the
tables' entries; `layer_tables.py` declares the tables (empty, so that the layer modules can look
them up without importing one another in a circle) and the `Layer` signature; `frame_context.py`
has `FrameContext` and the helpers that name why a frame gives no segment; the layer functions are
in `link_layers.py`, `ieee80211.py`, `ip_layers.py`, `tunnels.py` and `transport.py` (TCP, UDP,
ICMP errors, the checksum); `tcp_options.py` reads the window scale and SACK blocks;
`endpoints.py` interns endpoints; `linktypes.py` has the link-type numbers and names. The names
callers use are all importable from here.

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

import struct
from collections import Counter
from typing import Any

from netlab.capture import endpoints, layer_tables
from netlab.capture.endpoints import endpoint_pair
from netlab.capture.frame_context import FrameContext, enter_tunnel, give_up, not_decoded, not_tcp
from netlab.capture.ieee80211 import _avs, _ieee80211, _ppi, _prism, _radiotap, dot11_protected
from netlab.capture.ip_layers import (
    IPPROTO_AH,
    IPV6_OPTION_HEADERS,
    _auth_header,
    _ip_by_version,
    _ipv4,
    _ipv6,
    _ipv6_options,
)
from netlab.capture.ipfrag import Defragmenter
from netlab.capture.layer_tables import ETH_BRIDGED, ETH_IPV4, ETH_IPV6, IPPROTO_TCP, IPPROTO_UDP, Layer
from netlab.capture.link_layers import (
    VLAN_TPIDS,
    _arcnet_bsd,
    _arcnet_linux,
    _cisco_hdlc,
    _ethernet,
    _fddi,
    _ipoib,
    _juniper_ether,
    _linux_sll,
    _linux_sll2,
    _llc,
    _mpls,
    _nflog,
    _null,
    _ppp,
    _ppp_protocol,
    _ppp_with_direction,
    _pppoe_session,
    _vlan,
)
from netlab.capture.linktypes import (
    LINKTYPE_ARCNET_BSD,
    LINKTYPE_ARCNET_LINUX,
    LINKTYPE_C_HDLC,
    LINKTYPE_ETHERNET,
    LINKTYPE_FDDI,
    LINKTYPE_IEEE802_11,
    LINKTYPE_IEEE802_11_AVS,
    LINKTYPE_IEEE802_11_RADIOTAP,
    LINKTYPE_IPOIB,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_JUNIPER_ETHER,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NAMES,
    LINKTYPE_NFLOG,
    LINKTYPE_NULL,
    LINKTYPE_PPI,
    LINKTYPE_PPP,
    LINKTYPE_PPP_ETHER,
    LINKTYPE_PPP_HDLC,
    LINKTYPE_PPP_PPPD,
    LINKTYPE_PRISM_HEADER,
    LINKTYPE_RAW,
    LINKTYPE_RAW_BSD,
    LINKTYPE_RAW_OPENBSD,
    linktype_label,
)
from netlab.capture.tcp_options import TCP_OPTION_TIMESTAMPS, sack_blocks, syn_window_scale
from netlab.capture.transport import _icmp, _icmpv6, _tcp, _udp, checksum_ok
from netlab.capture.tunnels import (
    ETH_ERSPAN,
    _erspan,
    _geneve,
    _gre,
    _gtp_u,
    _ip_in_ip,
    _ipv6_in_ip,
    _teredo,
    _vxlan,
)
from netlab.capture.undecoded import CUT_SHORT, HELD, LINK_TYPE, MALFORMED, Reason
from netlab.packets import Datagram, Segment, SegmentFields, TcpFlag

__all__ = [  # what callers import from here; the names stay here when their code moves
    "ARCNET_PROTOCOLS",
    "ETHERTYPES",
    "ETH_BRIDGED",
    "ETH_IPV4",
    "ETH_IPV6",
    "FrameContext",
    "GRE_PROTOCOLS",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "IP_PROTOCOLS",
    "JUNIPER_PROTOCOLS",
    "LINKTYPE_ARCNET_BSD",
    "LINKTYPE_ARCNET_LINUX",
    "LINKTYPE_C_HDLC",
    "LINKTYPE_ETHERNET",
    "LINKTYPE_FDDI",
    "LINKTYPE_IEEE802_11",
    "LINKTYPE_IEEE802_11_AVS",
    "LINKTYPE_IEEE802_11_RADIOTAP",
    "LINKTYPE_IPOIB",
    "LINKTYPE_IPV4",
    "LINKTYPE_IPV6",
    "LINKTYPE_JUNIPER_ETHER",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_LINUX_SLL2",
    "LINKTYPE_LOOP",
    "LINKTYPE_NAMES",
    "LINKTYPE_NFLOG",
    "LINKTYPE_NULL",
    "LINKTYPE_PPI",
    "LINKTYPE_PPP",
    "LINKTYPE_PPP_ETHER",
    "LINKTYPE_PPP_HDLC",
    "LINKTYPE_PPP_PPPD",
    "LINKTYPE_PRISM_HEADER",
    "LINKTYPE_RAW",
    "LINKTYPE_RAW_BSD",
    "LINKTYPE_RAW_OPENBSD",
    "LINK_LAYERS",
    "Layer",
    "PPP_PROTOCOLS",
    "SUPPORTED_LINKTYPES",
    "UDP_PORTS",
    "checksum_ok",
    "decode",
    "decode_all",
    "decode_ethernet_ipv4",
    "decode_fields",
    "decode_layers",
    "dot11_protected",
    "endpoint_pair",
    "enter_tunnel",
    "ethernet_ipv4_tcp",
    "give_up",
    "linktype_label",
    "not_decoded",
    "not_tcp",
    "sack_blocks",
    "syn_window_scale",
]

# Bound by assignment, not imported by name: see netlab/capture/layer_tables.py (a method call per packet).
LINK_LAYERS = layer_tables.LINK_LAYERS
ETHERTYPES = layer_tables.ETHERTYPES
PPP_PROTOCOLS = layer_tables.PPP_PROTOCOLS
ARCNET_PROTOCOLS = layer_tables.ARCNET_PROTOCOLS
JUNIPER_PROTOCOLS = layer_tables.JUNIPER_PROTOCOLS
GRE_PROTOCOLS = layer_tables.GRE_PROTOCOLS
IP_PROTOCOLS = layer_tables.IP_PROTOCOLS
UDP_PORTS = layer_tables.UDP_PORTS
_pairs = endpoints.interned_pairs

_SYN = int(TcpFlag.SYN)

# Ethernet + IPv4 (no options) + TCP in one unpack, from offset 12: ethertype, version/IHL and TOS
# as one word, total length, fragment field, TTL and protocol as one word, the 12 bytes src ip/dst
# ip/ports (the `endpoint_pair` key), seq, ack, data offset, flags, window.
_fast_head = struct.Struct("!IHxxIxx12sIIBBH").unpack_from
_ETH_IPV4_NO_OPTIONS = (ETH_IPV4 << 8) | 0x45  # the ethertype and IPv4's version/IHL byte
_NOT_FRAGMENT_TCP = 0x3FFF00FF  # the fragment field (but DF and the reserved bit) and the protocol


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
    elif hlen > 20 and (hlen != 32 or caplen < 57 or buf[off + 56] != TCP_OPTION_TIMESTAMPS):
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


# --- the dispatch tables' entries (what each table holds: netlab/capture/layer_tables.py) -------

LINK_LAYERS.update(
    {
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
)

ETHERTYPES.update(
    {
        ETH_IPV4: _ipv4,
        ETH_IPV6: _ipv6,
        **dict.fromkeys(VLAN_TPIDS, _vlan),
        0x8864: _pppoe_session,
        0x8847: _mpls,  # unicast
        0x8848: _mpls,  # multicast
        0x0004: _llc,  # Linux's ETH_P_802_2: in cooked captures (SLL, SLL2), an 802.2 LLC frame
    }
)

PPP_PROTOCOLS.update({0x0021: _ipv4, 0x0057: _ipv6, 0x0281: _mpls, 0x0283: _mpls})

ARCNET_PROTOCOLS.update({0xD4: _ipv4, 0xF0: _ipv4, 0xC4: _ipv6})

JUNIPER_PROTOCOLS.update(
    {
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
)

GRE_PROTOCOLS.update(
    {
        ETH_IPV4: _ipv4,
        ETH_IPV6: _ipv6,
        ETH_BRIDGED: _ethernet,
        ETH_ERSPAN: _erspan,  # type II (type I, with the sequence bit clear, is decided in `_gre`)
        0x22EB: _erspan,  # type III
        0x8847: _mpls,
        0x8848: _mpls,
    }
)

IP_PROTOCOLS.update(
    {
        IPPROTO_TCP: _tcp,
        1: _icmp,  # errors quoting a TCP header (they keep Wireshark's stream numbers true)
        58: _icmpv6,
        4: _ip_in_ip,  # IPv4 in IPv4 or in IPv6
        41: _ipv6_in_ip,  # 6in4, IPv6 in IPv6
        47: _gre,
        IPPROTO_UDP: _udp,
        **dict.fromkeys(IPV6_OPTION_HEADERS, _ipv6_options),
        IPPROTO_AH: _auth_header,
    }
)

UDP_PORTS.update(
    {
        2152: _gtp_u,
        3544: _teredo,
        4789: _vxlan,
        6081: _geneve,
    }
)

SUPPORTED_LINKTYPES = frozenset(LINK_LAYERS)
