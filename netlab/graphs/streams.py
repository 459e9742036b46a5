"""Which captured segments belong to which stream, for the graphs (pure).

A graph is drawn from a connection's captured segments, and a connection is what the reassembler
says it is (Wireshark's ``tcp.stream``; a reused 4-tuple is a new stream). The reassembler, asked
for `Packet` events, emits one for each segment it is fed, with the segment's stream number: while
it is fed that segment, or later for a segment it holds back (a VLAN copy it compares with the
next). `SegmentKeeper` is told of each segment fed (`fed`) and of each `Packet` event (`keep`), and
pairs them by frame number. Payloads are dropped (graphs need the lengths, which
`Segment.wire_len` keeps), and at most `cap` segments are kept per stream, so memory stays bounded
on large captures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from netlab.packets import Segment
from netlab.stream.events import Packet
from netlab.stream.reassembly import Reassembler
from netlab.stream.vlan_copies import VlanMode

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
        self._pending: dict[int, Segment] = {}  # fed, no `Packet` event yet: by frame, oldest first

    def fed(self, segment: Segment) -> None:
        """`segment` is being fed to the reassembler: its `Packet` event comes now or later."""
        pending = self._pending
        pending[segment.frame] = segment
        if len(pending) > _MAX_PENDING:  # a segment that makes no `Packet` (an ICMP quote): forget the oldest
            del pending[next(iter(pending))]

    def keep(self, packet: Packet) -> None:
        """Keep the segment of `packet` (fed before, same frame) for `packet`'s stream."""
        segment = self._pending.pop(packet.frame, None)
        if segment is None or (self.wanted is not None and not self.wanted(packet.stream)):
            return
        kept = self.segments.setdefault(packet.stream, [])
        if len(kept) < self.cap:
            kept.append(replace(segment, payload=b"") if segment.payload else segment)
        else:
            self.left_out[packet.stream] = self.left_out.get(packet.stream, 0) + 1


_MAX_PENDING = 4096


def segments_by_stream(
    segments: Iterable[Segment],
    streams: Iterable[int] | None = None,
    cap: int = MAX_GRAPH_SEGMENTS,
    vlans: VlanMode = "auto",
) -> dict[int, list[Segment]]:
    """The segments of each stream (only `streams`, when given), numbered as the reassembler numbers
    them with `vlans` (`netlab follow`'s default; `netlab analyze` merges, as Wireshark)."""
    wanted = None if streams is None else frozenset(streams).__contains__
    keeper = SegmentKeeper(wanted, cap)
    reassembler = Reassembler(packets=True, vlans=vlans)
    for segment in segments:
        keeper.fed(segment)
        for event in reassembler.feed(segment):
            if type(event) is Packet:
                keeper.keep(event)
    for event in reassembler.flush():
        if type(event) is Packet:
            keeper.keep(event)
    return keeper.segments
