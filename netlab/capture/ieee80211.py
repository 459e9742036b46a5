"""IEEE 802.11 data frames, bare (link type 105) and behind their radio headers: radiotap (127),
Prism (119), AVS (163) and PPI (192), which names the link type of what it precedes.

What a data frame carries goes on through 802.2 LLC/SNAP (`netlab/capture/link_layers.py`). Not
followed, as in Wireshark without keys: management and control frames, null data, encrypted frames
(`dot11_protected` tells them apart) and fragments with more to come.
"""

from __future__ import annotations

import struct

from netlab.capture import layer_tables
from netlab.capture.frame_context import FrameContext, enter_tunnel, not_decoded
from netlab.capture.link_layers import _llc
from netlab.packets import SegmentFields

# Bound by assignment, not imported by name: see netlab/capture/layer_tables.py (a method call per packet).
LINK_LAYERS = layer_tables.LINK_LAYERS

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

_u16 = struct.Struct("!H").unpack_from
_u32be = struct.Struct("!I").unpack_from
_u16le = struct.Struct("<H").unpack_from
_u32le = struct.Struct("<I").unpack_from
_tlv_le = struct.Struct("<HH").unpack_from


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
