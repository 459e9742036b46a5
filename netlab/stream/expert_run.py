"""`analyze`: segments → reassembler (with `ExpertAnalysis` per connection) → frames and summaries (pure).

The reassembler numbers the connections as Wireshark numbers its TCP streams and feeds each
connection's segments, in capture order, to that connection's `ExpertAnalysis` (the same path
`follow` takes, so the flags are the ones `follow` counts). When a connection is over (its
`Closed` event) its flagged frames are kept and its summary is made, so memory follows the open
connections and the flagged frames, not the capture's size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from netlab.errors import NetlabError
from netlab.packets import Endpoint, Segment
from netlab.stream.analysis import ConnectionAnalysis
from netlab.stream.conn_summary import ConnectionSummary, summarize
from netlab.stream.events import Closed, Data, Event, Opened, Packet
from netlab.stream.expert import ExpertAnalysis, FrameResult
from netlab.stream.pipeline import FieldBatchSource, StreamFilter
from netlab.stream.reassembly import Reassembler
from netlab.stream.roles import RoleJudge
from netlab.stream.vlan_copies import VlanMode

__all__ = ["AnalysisResult", "PacketSink", "analyze"]


class PacketSink(Protocol):
    """Told of every segment fed and of its `Packet` event (`netlab.graphs.streams.SegmentKeeper`)."""

    def fed(self, segment: Segment) -> None: ...

    def keep(self, packet: Packet) -> None: ...


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    """What `analyze` found in the selected streams.

    Attributes:
        frames: the flagged frames (every frame with `keep_frames`), by frame number.
        summaries: one per selected connection, by stream number.
        streams: how many stream numbers the capture has (selected or not), as Wireshark numbers them.
        unused: the numbers among them that are no connection, and what they were (`Reassembler.unused`).
        interrupted: the source was interrupted (Ctrl-C); what was read is analysed.
        failure: the error that ended the source early (a damaged file), after what was read.
    """

    frames: tuple[FrameResult, ...]
    summaries: tuple[ConnectionSummary, ...]
    streams: int
    interrupted: bool = False
    failure: NetlabError | None = None
    unused: Mapping[int, str] = field(default_factory=dict)

    @property
    def connections(self) -> int:
        """Streams that are connections (`streams` counts the `unused` numbers too)."""
        return self.streams - len(self.unused)


class _Collector:
    """Each connection's `ExpertAnalysis`, and what the selected ones left when they closed."""

    def __init__(self, selection: StreamFilter, keep_frames: bool) -> None:
        self.selection = selection
        self.keep_frames = keep_frames
        self.analyses: dict[int, ExpertAnalysis] = {}
        self.ends: dict[int, tuple[Endpoint, Endpoint]] = {}  # selected streams: client, server
        self.frames: list[FrameResult] = []
        self.summaries: list[ConnectionSummary] = []

    def make(self, stream: int, reused: bool) -> ConnectionAnalysis:
        analysis = ExpertAnalysis(stream, reused=reused, keep_frames=self.keep_frames)
        self.analyses[stream] = analysis
        return analysis

    def take(self, events: Iterable[Event]) -> None:
        for event in events:
            kind = type(event)
            if kind is Data:
                continue
            if kind is Opened:
                assert isinstance(event, Opened)
                if self.selection.matches(event):
                    self.ends[event.stream] = (event.client, event.server)
            elif kind is Closed:
                analysis = self.analyses.pop(event.stream, None)
                ends = self.ends.pop(event.stream, None)
                if analysis is not None and ends is not None:
                    self.frames.extend(analysis.frames)
                    self.summaries.append(summarize(analysis, *ends))


def analyze(
    segments: Iterable[Segment],
    *,
    selection: StreamFilter | None = None,
    keep_frames: bool = False,
    vlans: VlanMode = "auto",
    roles: RoleJudge | None = None,
    packets: PacketSink | None = None,
) -> AnalysisResult:
    """Analyse every TCP connection in `segments` (capture order) the way Wireshark's expert info does.

    Args:
        selection: which streams to report (all by default); every stream is still numbered.
        keep_frames: keep every frame's `FrameResult` of the selected streams (for graphs), not only
            the flagged ones.
        vlans, roles: as `Reassembler`'s.
        packets: told of every segment and of its `Packet` event, in the same pass (the graphs'
            segments, numbered as this analysis numbers them); slower: no batches.

    Ctrl-C (KeyboardInterrupt from the source) and a `NetlabError` from the source end the read; what
    was read is analysed (`AnalysisResult.interrupted`, `AnalysisResult.failure`).
    """
    collector = _Collector(selection or StreamFilter(), keep_frames)
    reassembler = Reassembler(vlans=vlans, roles=roles, analysis=collector.make, packets=packets is not None)
    interrupted = False
    failure: NetlabError | None = None
    events: list[Event] = []
    try:
        if packets is not None:
            for segment in segments:
                packets.fed(segment)
                events = reassembler.feed(segment)
                _tell(packets, events)
                collector.take(events)
                events = []
        elif isinstance(segments, FieldBatchSource):
            for batch in segments.field_batches():
                events = []
                reassembler.feed_batch(batch, events)
                collector.take(events)
        else:
            for segment in segments:
                events = reassembler.feed(segment)
                collector.take(events)
                events = []
    except KeyboardInterrupt:
        interrupted = True
        collector.take(events)  # feed_batch appended them before the interruption
    except NetlabError as error:
        failure = error
    events = reassembler.flush()
    if packets is not None:
        _tell(packets, events)
    collector.take(events)
    return AnalysisResult(
        tuple(sorted(collector.frames, key=_frame_number)),
        tuple(sorted(collector.summaries, key=_stream_number)),
        reassembler.streams,
        interrupted,
        failure,
        dict(reassembler.unused),
    )


def _tell(sink: PacketSink, events: list[Event]) -> None:
    for event in events:
        if type(event) is Packet:
            sink.keep(event)


def _frame_number(result: FrameResult) -> int:
    return result.frame


def _stream_number(summary: ConnectionSummary) -> int:
    return summary.stream
