"""What the layers of one frame's decoding share: the `FrameContext` each layer passes inward, and
the helpers that keep a frame from being dropped silently.

A layer that gives up names why on the context (`give_up`, `not_tcp`, `not_decoded`: each returns
None, for `return give_up(ctx, reason)`), and `netlab.capture.decode.decode_layers` counts that reason;
a tunnel counts itself in (`enter_tunnel`) so that a malformed frame cannot nest forever.
"""

from __future__ import annotations

from typing import Any

from netlab.capture.ipfrag import Defragmenter
from netlab.capture.undecoded import NOT_DECODED, NOT_TCP, Reason
from netlab.packets import SegmentFields

_MAX_TUNNELS = 3  # encapsulations followed at most (a malformed frame could nest forever)


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


def enter_tunnel(ctx: FrameContext) -> bool:
    """Count one more encapsulation; False past the limit (a malformed frame could nest forever)."""
    if ctx.depth >= _MAX_TUNNELS:
        not_decoded(ctx, f"tunnels nested deeper than {_MAX_TUNNELS}")
        return False
    ctx.depth += 1
    return True
