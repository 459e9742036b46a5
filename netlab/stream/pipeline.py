"""`follow`: segments → reassembler → selection → renderer → a write callable (pure core).

The CLI plugs in a segment source (a pcap file today, a live capture tomorrow) and a writer; the
loop, the stream selection, the summary and the "flush, then re-raise" error policy live here
so every source behaves the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from netlab.errors import NetlabError
from netlab.packets import Endpoint, Segment, SegmentFields
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
    """What `follow` saw: streams opened, streams shown, and the shown streams' totals."""

    streams: int = 0
    shown: int = 0
    totals: StreamStats = StreamStats()
    interrupted: bool = False
    unused: Mapping[int, str] = field(default_factory=dict)
    """Stream numbers Wireshark gives to something that is not a connection (`Reassembler.unused`)."""

    @property
    def connections(self) -> int:
        """Streams that are connections (`streams` counts Wireshark's numbers, `unused` ones too)."""
        return self.streams - len(self.unused)


def _feeding(
    segments: Iterable[Segment], reassembler: Reassembler
) -> tuple[Iterable[Any], Callable[[Any, list[Event]], None]]:
    """Batches of segments (or of their fields) and the function that feeds one batch."""
    if isinstance(segments, FieldBatchSource):
        return segments.field_batches(), reassembler.feed_batch

    def feed_one(segment: Segment, events: list[Event]) -> None:
        events.extend(reassembler.feed(segment))

    return segments, feed_one


def follow(
    segments: Iterable[Segment],
    renderer: Renderer,
    write: Callable[[str | bytes], object],
    *,
    selection: StreamFilter | None = None,
    reassembler: Reassembler | None = None,
    on_events: Callable[[list[Event]], object] | None = None,
) -> FollowSummary:
    """Reassemble `segments`, render the selected streams' events and pass the output to `write`.

    Ctrl-C (KeyboardInterrupt raised by the source) is a normal stop: the rest is flushed and the
    summary says `interrupted`. A `NetlabError` from the source (e.g. a truncated pcap) is re-raised
    after everything read so far has been flushed and rendered. `on_events` (optional) sees every
    selected event too, e.g. to build statistics or a ladder diagram from the same list.
    """
    selection = selection or StreamFilter()
    reassembler = reassembler or Reassembler()
    shown: set[int] = set()
    closed = 0  # streams shown to the end, and their statistics added up
    totals = StreamStats()
    everything = selection.everything
    on_event = renderer.on_event
    on_data: Callable[[Data], str | bytes] = getattr(renderer, "on_data", on_event)

    def render_all(events: Iterable[Event], parts: list[str | bytes]) -> None:
        """The hot path: every event shown, nobody else watching."""
        nonlocal closed, totals
        append = parts.append
        for event in events:
            if type(event) is Data:
                append(on_data(event))
                continue
            out = on_event(event)
            if out:
                append(out)
            if type(event) is Closed:
                closed += 1
                totals += event.stats

    def render_selected(events: Iterable[Event], parts: list[str | bytes]) -> None:
        nonlocal closed, totals
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
                closed += 1
                totals += event.stats
            seen.append(event)
        if seen and on_events is not None:
            on_events(seen)

    render = render_all if everything and on_events is None else render_selected

    def emit(events: Iterable[Event]) -> None:
        """Render the selected events, taken one at a time, and write their output in one piece.

        After an interruption, what was rendered is still written and `events` holds the rest.
        """
        parts: list[str | bytes] = []
        try:
            render(events, parts)
        finally:
            if parts:
                write("".join(parts) if isinstance(parts[0], str) else b"".join(parts))  # type: ignore[arg-type]

    start = renderer.begin()
    if start:
        write(start)
    interrupted = False
    failure: NetlabError | None = None
    unrendered: Iterator[Event] = iter(())  # what was fed but not yet rendered
    try:
        batches, feed = _feeding(segments, reassembler)
        for batch in batches:
            events: list[Event] = []
            unrendered = iter(events)  # a list iterator also sees what `feed` appends after
            feed(batch, events)
            emit(unrendered)
    except KeyboardInterrupt:
        interrupted = True
    except NetlabError as err:
        failure = err
    emit(unrendered)  # after an interruption: the events of the batch not rendered yet
    emit(reassembler.flush())
    end = renderer.end()
    if end:
        write(end)
    if failure is not None:
        raise failure
    return FollowSummary(reassembler.streams, closed, totals, interrupted, dict(reassembler.unused))
