"""The TCP options the analysis reads (RFC 7323 window scale, RFC 2018 SACK blocks), from a
header's option list in place: no copy of the frame."""

from __future__ import annotations

import struct

from netlab.packets import NO_WINDOW_SCALE, SackBlocks

_TCP_OPTION_WSCALE = 3
_TCP_OPTION_SACK = 5
TCP_OPTION_TIMESTAMPS = 8
_SACK_EDGES = [struct.Struct(f"!{2 * n}I").unpack_from for n in range(5)]  # by block count, 0-4


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
