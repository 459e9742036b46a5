"""`follow`: segments → reassembler → selection → renderer → a write callable (pure core).

With UDP asked for, datagrams go to a `ConversationTracker` beside the reassembler, and each
protocol's events to its own renderer (or to the one renderer when only UDP is followed).

The CLI plugs in a segment source (a pcap file today, a live capture tomorrow) and a writer; the
loop, the stream selection, the summary and the "flush, then re-raise" error policy live here
so every source behaves the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from netlab.errors import NetlabError
from netlab.packets import Datagram, Endpoint, Segment, SegmentFields
from netlab.stream.conversations import ConversationTracker
from netlab.stream.events import Closed, Data, Event, Opened, StreamStats
from netlab.stream.reassembly import Reassembler


class Renderer(Protocol):
    """What `follow` needs from a renderer (see `netlab.render.base.Renderer`).

    A renderer may also have `on_data(event: Data)`, giving what `on_event` gives for a `Data`
    event: `follow` then calls it for each data chunk, saving the renderer's own dispatch.
    """

    def begin(self) -> str | bytes: ...

    def on_event(self, event: Event) -> str | bytes: ...

    def end(self) -> str | bytes: ...


@runtime_checkable
class FieldBatchSource(Protocol):
    """A segment source that can also hand over its segments as batches of plain tuples.

    `follow` feeds those to `Reassembler.feed_batch`, which skips building a `Segment` for the
    common packets (`netlab.capture.pcapfile.SegmentReader` is one).
    """

    def field_batches(self) -> Iterator[list[SegmentFields]]: ...


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """Which streams to show: stream numbers, ports, hosts (empty = no constraint).

    A stream matches when its number is listed (if any are) and one of its endpoints has a
    listed port (if any) and one has a listed host (if any).
    """

    streams: frozenset[int] = frozenset()
    ports: frozenset[int] = frozenset()
    hosts: frozenset[str] = frozenset()

    def matches(self, opened: Opened) -> bool:
        """True when the stream announced by `opened` is selected."""
        if self.streams and opened.stream not in self.streams:
            return False
        ends: tuple[Endpoint, Endpoint] = (opened.client, opened.server)
        if self.ports and not any(e.port in self.ports for e in ends):
            return False
        return not self.hosts or any(e.ip in self.hosts for e in ends)

    @property
    def everything(self) -> bool:
        """True when no constraint is set."""
        return not (self.streams or self.ports or self.hosts)


@dataclass(frozen=True, slots=True)
class FollowSummary:
    """What `follow` saw: streams opened, streams shown, and the shown streams' totals.

    For a run that followed UDP too, `udp` is the same summary of its UDP conversations (the other
    fields count TCP streams only).
    """

    streams: int = 0
    shown: int = 0
    totals: StreamStats = StreamStats()
    interrupted: bool = False
    udp: FollowSummary | None = None
    unused: Mapping[int, str] = field(default_factory=dict)
    """Stream numbers Wireshark gives to something that is not a connection (`Reassembler.unused`)."""

    @property
    def connections(self) -> int:
        """Streams that are connections (`streams` counts Wireshark's numbers, `unused` ones too)."""
        return self.streams - len(self.unused)


class _Lane:
    """One protocol's share of a `follow` run: its renderer, its selection and its totals."""

    def __init__(
        self,
        renderer: Renderer,
        selection: StreamFilter,
        on_events: Callable[[list[Event]], object] | None,
    ) -> None:
        self.renderer = renderer
        self.selection = selection
        self.on_events = on_events
        self.shown: set[int] = set()
        self.closed = 0  # streams shown to the end, and their statistics added up
        self.totals = StreamStats()
        self.render = self.render_all if selection.everything and on_events is None else self.render_selected

    def render_all(self, events: Iterable[Event], parts: list[str | bytes]) -> None:
        """The hot path: every event shown, nobody else watching."""
        on_event = self.renderer.on_event
        on_data: Callable[[Data], str | bytes] = getattr(self.renderer, "on_data", on_event)
        append = parts.append
        for event in events:
            if type(event) is Data:
                append(on_data(event))
                continue
            out = on_event(event)
            if out:
                append(out)
            if type(event) is Closed:
                self.closed += 1
                self.totals += event.stats

    def render_selected(self, events: Iterable[Event], parts: list[str | bytes]) -> None:
        selection, shown, on_event = self.selection, self.shown, self.renderer.on_event
        everything = selection.everything
        seen: list[Event] = []
        for event in events:
            if not everything:
                if type(event) is Opened and selection.matches(event):
                    shown.add(event.stream)
                if event.stream not in shown:
                    continue
            out = on_event(event)
            if out:
                parts.append(out)
            if type(event) is Closed:
                self.closed += 1
                self.totals += event.stats
            seen.append(event)
        if seen and self.on_events is not None:
            self.on_events(seen)


def _feeding(
    segments: Iterable[Segment], reassembler: Reassembler
) -> tuple[Iterable[Any], Callable[[Any, list[Event]], None]]:
    """Batches of segments (or of their fields) and the function that feeds one batch."""
    if isinstance(segments, FieldBatchSource):
        return segments.field_batches(), reassembler.feed_batch

    def feed_one(segment: Segment, events: list[Event]) -> None:
        events.extend(reassembler.feed(segment))

    return segments, feed_one


def _mixed_feeding(
    segments: Iterable[Segment | Datagram],
    reassembler: Reassembler,
    conversations: ConversationTracker,
    tcp: _Lane | None,
    udp: _Lane,
) -> tuple[Iterable[list[Any]], Callable[[list[Any], list[tuple[_Lane, Iterator[Event]]]], None]]:
    """Batches holding TCP segments (or their fields) and UDP `Datagram`s, and the function that feeds
    one batch: each run of one protocol goes to its tracker, its events to the run list with their lane."""
    if isinstance(segments, FieldBatchSource):
        batches: Iterable[list[Any]] = segments.field_batches()
        feed_tcp: Callable[[list[Any], list[Event]], None] = reassembler.feed_batch
    else:
        batches = ([item] for item in segments)

        def feed_tcp(items: list[Any], events: list[Event]) -> None:
            for segment in items:
                events.extend(reassembler.feed(segment))

    feed_udp = conversations.feed_into

    def feed(batch: list[Any], runs: list[tuple[_Lane, Iterator[Event]]]) -> None:
        start, count = 0, len(batch)
        while start < count:
            udp_run = type(batch[start]) is Datagram
            stop = start + 1
            while stop < count and (type(batch[stop]) is Datagram) is udp_run:
                stop += 1
            events: list[Event] = []
            if udp_run:
                runs.append((udp, iter(events)))  # a list iterator also sees what is appended after
                for datagram in batch[start:stop]:
                    feed_udp(datagram, events)
            elif tcp is not None:
                runs.append((tcp, iter(events)))
                feed_tcp(batch[start:stop], events)
            start = stop

    return batches, feed


def follow(
    segments: Iterable[Segment],
    renderer: Renderer,
    write: Callable[[str | bytes], object],
    *,
    selection: StreamFilter | None = None,
    reassembler: Reassembler | None = None,
    on_events: Callable[[list[Event]], object] | None = None,
    conversations: ConversationTracker | None = None,
    udp_renderer: Renderer | None = None,
    on_udp_events: Callable[[list[Event]], object] | None = None,
    tcp: bool = True,
) -> FollowSummary:
    """Reassemble `segments`, render the selected streams' events and pass the output to `write`.

    Ctrl-C (KeyboardInterrupt raised by the source) is a normal stop: the rest is flushed and the
    summary says `interrupted`. A `NetlabError` from the source (e.g. a truncated pcap) is re-raised
    after everything read so far has been flushed and rendered. `on_events` (optional) sees every
    selected event too, e.g. to build statistics or a ladder diagram from the same list.

    UDP: given `conversations`, the source also yields `Datagram`s (in the same batches), which
    that tracker turns into conversation events, rendered by `udp_renderer` (by default `renderer`:
    give another one when both protocols are followed, since each numbers its streams from 0) and
    seen by `on_udp_events`; `tcp=False` leaves the TCP segments out. The selection applies to both.
    """
    selection = selection or StreamFilter()
    reassembler = reassembler or Reassembler()
    tcp_lane = _Lane(renderer, selection, on_events) if tcp else None
    udp_lane = None
    if conversations is not None:
        udp_lane = _Lane(udp_renderer or renderer, selection, on_udp_events)
    lanes = [lane for lane in (tcp_lane, udp_lane) if lane is not None]
    renderers = list(dict.fromkeys(lane.renderer for lane in lanes))

    def emit(runs: list[tuple[_Lane, Iterator[Event]]]) -> None:
        """Render the runs' events, taken one at a time, and write their output in one piece.

        After an interruption, what was rendered is still written and each run's iterator holds the rest.
        """
        parts: list[str | bytes] = []
        try:
            for lane, events in runs:
                lane.render(events, parts)
        finally:
            if parts:
                write("".join(parts) if isinstance(parts[0], str) else b"".join(parts))  # type: ignore[arg-type]

    for each in renderers:
        start = each.begin()
        if start:
            write(start)
    interrupted = False
    failure: NetlabError | None = None
    unrendered: list[tuple[_Lane, Iterator[Event]]] = []  # what was fed but not yet rendered
    try:
        if udp_lane is None:
            assert tcp_lane is not None
            batches, feed = _feeding(segments, reassembler)
            for batch in batches:
                events: list[Event] = []
                unrendered = [(tcp_lane, iter(events))]  # a list iterator also sees what `feed` appends after
                feed(batch, events)
                emit(unrendered)
        else:
            assert conversations is not None
            mixed, feed_mixed = _mixed_feeding(segments, reassembler, conversations, tcp_lane, udp_lane)
            for batch in mixed:
                unrendered = []
                feed_mixed(batch, unrendered)
                emit(unrendered)
    except KeyboardInterrupt:
        interrupted = True
    except NetlabError as err:
        failure = err
    emit(unrendered)  # after an interruption: the events of the batch not rendered yet
    if tcp_lane is not None:
        emit([(tcp_lane, iter(reassembler.flush()))])
    if udp_lane is not None and conversations is not None:
        emit([(udp_lane, iter(conversations.flush()))])
    for each in renderers:
        end = each.end()
        if end:
            write(end)
    if failure is not None:
        raise failure
    udp_summary = None
    if udp_lane is not None and conversations is not None:
        udp_summary = FollowSummary(conversations.streams, udp_lane.closed, udp_lane.totals, interrupted)
    if tcp_lane is None:
        return FollowSummary(interrupted=interrupted, udp=udp_summary)
    return FollowSummary(
        reassembler.streams, tcp_lane.closed, tcp_lane.totals, interrupted, udp_summary, dict(reassembler.unused)
    )
