"""Which captured segments belong to which stream, for the graphs (pure).

A graph is drawn from a connection's captured segments, and a connection is what the reassembler
says it is (Wireshark's ``tcp.stream``; a reused 4-tuple is a new stream). The reassembler, asked
for `Packet` events, emits one for each segment it is fed, with the segment's stream number, while
it is fed that segment; `SegmentKeeper` pairs the two. Payloads are dropped (graphs need the
lengths, which `Segment.wire_len` keeps), and at most `cap` segments are kept per stream, so memory
stays bounded on large captures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from netlab.packets import Segment
from netlab.stream.events import Packet
from netlab.stream.reassembly import Reassembler

#: The most segments kept per connection for its graphs (the first ones, in capture order).
MAX_GRAPH_SEGMENTS = 5000


class SegmentKeeper:
    """Keeps, per stream, the segments (without payload) whose `Packet` events it is shown.

    Args:
        wanted: which stream numbers to keep (default: all).
        cap: the most segments kept per stream; the others are counted in `left_out`.

    Not thread-safe.
    """

    def __init__(self, wanted: Callable[[int], bool] | None = None, cap: int = MAX_GRAPH_SEGMENTS) -> None:
        self.wanted = wanted
        self.cap = cap
        self.segments: dict[int, list[Segment]] = {}
        self.left_out: dict[int, int] = {}

    def keep(self, packet: Packet, segment: Segment) -> None:
        """Keep `segment` for `packet`'s stream, when `packet` is that segment's event (same frame)."""
        if packet.frame != segment.frame or (self.wanted is not None and not self.wanted(packet.stream)):
            return
        kept = self.segments.setdefault(packet.stream, [])
        if len(kept) < self.cap:
            kept.append(replace(segment, payload=b"") if segment.payload else segment)
        else:
            self.left_out[packet.stream] = self.left_out.get(packet.stream, 0) + 1


def segments_by_stream(
    segments: Iterable[Segment], streams: Iterable[int] | None = None, cap: int = MAX_GRAPH_SEGMENTS
) -> dict[int, list[Segment]]:
    """The segments of each stream (only `streams`, when given), numbered as `netlab follow` numbers them.

    Segments the reassembler holds back to compare VLAN copies produce their events later and are
    not kept (a 4-tuple seen on several VLANs at once).
    """
    wanted = None if streams is None else frozenset(streams).__contains__
    keeper = SegmentKeeper(wanted, cap)
    reassembler = Reassembler(packets=True)
    for segment in segments:
        for event in reassembler.feed(segment):
            if type(event) is Packet:
                keeper.keep(event, segment)
    reassembler.flush()
    return keeper.segments
