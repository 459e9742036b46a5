"""Building a report from a capture: read, decode, reassemble, keep what the report shows.

The capture is streamed (`netlab.capture.pcapfile`), decoded (`netlab.capture.decode`) and
followed by `netlab.stream.pipeline.follow`, the pipeline of `netlab follow`; its events are the
single source of the dialogue, the ladder diagrams and the statistics. Per connection at most
`MAX_EVENTS_PER_CONNECTION` events are kept in memory
(the statistics still count everything), and the full transcript goes to `dialogue_sink` as it
is produced, so memory does not grow with the size of the capture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from netlab.capture.pcapfile import Progress, read_segments
from netlab.capture.prescan import connection_ends
from netlab.capture.undecoded import FrameTally
from netlab.chat.protocol import GREETING
from netlab.chat.wire import nick_problem
from netlab.errors import PcapReadError
from netlab.graphs.streams import MAX_GRAPH_SEGMENTS, SegmentKeeper
from netlab.packets import Datagram, Endpoint, Segment
from netlab.render import RenderOptions, make_renderer
from netlab.report.model import (
    MAX_CONNECTIONS_DRAWN,
    MAX_EVENTS_PER_CONNECTION,
    CaptureSummary,
    ConnectionView,
    Report,
    RunInfo,
)
from netlab.sockets.model import SocketRow
from netlab.stream.analysis import AnalysisFlag, ConnectionAnalysis
from netlab.stream.conn_summary import summarize
from netlab.stream.conversations import ConversationTracker
from netlab.stream.dialogue import build_dialogues
from netlab.stream.events import Closed, Data, Direction, Event, Opened, Packet, StreamStats, Transport
from netlab.stream.expert import ExpertAnalysis
from netlab.stream.pipeline import Renderer, follow
from netlab.stream.reassembly import Reassembler
from netlab.stream.roles import RoleHints, RoleJudge

TextSink = Callable[[str], object]


@dataclass(slots=True)
class _Accumulator:
    """What we keep of one stream while the capture streams by."""

    stream: int
    opened: Opened | None = None
    events: list[Event] = field(default_factory=list)
    left_out: int = 0
    stats: StreamStats | None = None
    first_c2s: bytes = b""
    first_s2c: bytes = b""
    flags: dict[AnalysisFlag, int] = field(default_factory=dict)

    def add(self, event: Event, cap: int) -> None:
        if type(event) is Packet:
            if event.analysis.flags:
                self.count_flags(event)
        elif isinstance(event, Opened):
            self.opened = event
        elif isinstance(event, Closed):
            self.stats = event.stats
        elif isinstance(event, Data):
            if event.direction is Direction.C2S and len(self.first_c2s) < 64:
                self.first_c2s += event.data[:64]
            elif event.direction is Direction.S2C and len(self.first_s2c) < 64:
                self.first_s2c += event.data[:64]
        if len(self.events) < cap or isinstance(event, (Opened, Closed)):
            self.events.append(event)
        else:
            self.left_out += 1

    def count_flags(self, packet: Packet) -> None:
        """Count the packet's TCP analysis flags (``retransmission`` as tshark's filter matches it)."""
        verdict = packet.analysis
        flags = set(verdict.flags)
        if verdict.is_retransmission:
            flags.add(AnalysisFlag.RETRANSMISSION)
        for flag in flags:
            self.flags[flag] = self.flags.get(flag, 0) + 1

    def flag_counts(self) -> tuple[tuple[AnalysisFlag, int], ...]:
        """The counts, in `AnalysisFlag`'s order."""
        return tuple((flag, self.flags[flag]) for flag in AnalysisFlag if flag in self.flags)


def guess_nickname(first_s2c: bytes, first_c2s: bytes) -> str:
    """The nickname a netlab-protocol client sent after the server's ``NICK`` greeting, or ''.

    Only a nickname the server accepts (`netlab.chat.wire.nick_problem`) counts.
    """
    if not first_s2c.startswith(GREETING):
        return ""
    line = first_c2s.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", errors="replace").strip()
    return line if nick_problem(line) is None else ""


class _Silent:
    """A renderer that renders nothing (no transcript wanted)."""

    def begin(self) -> str:
        return ""

    def on_event(self, event: Event) -> str:
        return ""

    def end(self) -> str:
        return ""


_SILENT = _Silent()


def _ignore(piece: str | bytes) -> None:
    """A writer for `_SILENT`'s nothing."""


@dataclass(frozen=True, slots=True)
class Collected:
    """The outcome of one pass over a capture (`conversations`: its UDP conversations, if any)."""

    connections: tuple[ConnectionView, ...]
    frames: int
    tcp_segments: int
    first_ts: float
    last_ts: float
    notes: tuple[str, ...]
    conversations: tuple[ConnectionView, ...] = ()
    udp_datagrams: int = 0


def collect(
    segments: Iterable[Segment | Datagram],
    *,
    nicknames: Mapping[Endpoint, str] | None = None,
    dialogue_sink: TextSink | None = None,
    cap: int = MAX_EVENTS_PER_CONNECTION,
    roles: RoleJudge | None = None,
    graph_segments: int = MAX_GRAPH_SEGMENTS,
    graph_connections: int = MAX_CONNECTIONS_DRAWN,
) -> Collected:
    """Reassemble `segments` and keep, per connection, its first `cap` events and its statistics.

    Only the first `MAX_CONNECTIONS_DRAWN` connections (the ones a report draws) keep events;
    the others keep their statistics alone, so memory stays bounded on captures with many
    connections. UDP `Datagram`s among `segments` become UDP conversations, kept the same way.

    `nicknames` maps a client endpoint to the label shown for its connection; without an entry
    the nickname is read from the netlab handshake when the capture holds it. The follow
    transcript (the `text` format of `netlab follow`) is passed to `dialogue_sink` piece by piece.
    `roles` decides who is the server where a handshake was not captured (`netlab.stream.roles`).
    The first `graph_connections` connections also keep their first `graph_segments` segments,
    without payload, for their graphs, and every connection counts its TCP analysis flags.
    """
    drawn = MAX_CONNECTIONS_DRAWN  # later connections are only counted: keep no events for them
    experts: dict[int, ExpertAnalysis] = {}  # the drawn connections' analysis: RTTs and their story

    def analyser(stream: int, reused: bool) -> ConnectionAnalysis:
        if stream >= drawn:
            return ConnectionAnalysis()
        expert = experts[stream] = ExpertAnalysis(stream, reused=reused)
        return expert

    # the ladder draws every captured segment (`packets`)
    reassembler = Reassembler(roles=roles, packets=True, analysis=analyser)
    streams: dict[int, _Accumulator] = {}
    udp_streams: dict[int, _Accumulator] = {}
    graphed = min(drawn, graph_connections)
    keeper = SegmentKeeper(lambda stream: stream < graphed, graph_segments)  # the graphs' segments
    count = datagrams = 0
    first_ts = last_ts = 0.0

    def taker(kept: dict[int, _Accumulator], graphs: bool) -> Callable[[list[Event]], None]:
        def take(events: list[Event]) -> None:
            for event in events:
                acc = kept.get(event.stream)
                if acc is None:
                    acc = kept[event.stream] = _Accumulator(event.stream)
                acc.add(event, cap if event.stream < drawn else 0)  # later ones: counted only
                if graphs and type(event) is Packet:
                    keeper.keep(event)

        return take

    def counted() -> Iterator[Segment | Datagram]:
        nonlocal count, datagrams, first_ts, last_ts
        for segment in segments:
            if type(segment) is Datagram:
                datagrams += 1
            else:
                count += 1
                keeper.fed(segment)  # type: ignore[arg-type]
            first_ts = first_ts or segment.ts
            last_ts = segment.ts
            yield segment

    renderer: Renderer = _SILENT
    udp_renderer: Renderer = _SILENT
    write: Callable[[str | bytes], object] = _ignore
    if dialogue_sink is not None:
        renderer, udp_renderer = make_renderer("text", RenderOptions()), make_renderer("text", RenderOptions())
        write = lambda piece: dialogue_sink(str(piece))  # noqa: E731
    summary = follow(
        counted(),  # type: ignore[arg-type]
        renderer,
        write,
        reassembler=reassembler,
        on_events=taker(streams, True),
        conversations=ConversationTracker(),
        udp_renderer=udp_renderer,
        on_udp_events=taker(udp_streams, False),
    )
    if summary.interrupted:  # `follow` stops quietly on Ctrl-C; a report is not made of half a capture
        raise KeyboardInterrupt
    views = [_with_story(view, experts.get(view.stream)) for view in _views(streams, nicknames or {}, keeper)]
    notes = []
    capped = sum(1 for v in views[:drawn] if v.events_left_out)
    if capped:
        notes.append(
            f"{capped} connection(s) had more than {cap} events; their dialogue and diagram in this report "
            "stop there (statistics count everything; dialogue.txt has the whole transcript)"
        )
    conversations = _views(udp_streams, {}, None)
    return Collected(tuple(views), 0, count, first_ts, last_ts, tuple(notes), tuple(conversations), datagrams)


def _views(
    streams: dict[int, _Accumulator], labels: Mapping[Endpoint, str], keeper: SegmentKeeper | None
) -> list[ConnectionView]:
    """What the report shows of each stream, in stream order (`keeper`: the TCP graphs' segments)."""
    views = []
    for stream in sorted(streams):
        acc = streams[stream]
        label = ""
        if acc.opened is not None and acc.opened.proto is Transport.TCP:
            label = labels.get(acc.opened.client, "") or guess_nickname(acc.first_s2c, acc.first_c2s)
        dialogues = build_dialogues(acc.events)
        views.append(
            ConnectionView(
                stream,
                acc.opened,
                tuple(acc.events),
                acc.stats or StreamStats(),
                label,
                acc.left_out if stream < MAX_CONNECTIONS_DRAWN else 0,
                dialogues[0] if dialogues else None,
                flag_counts=acc.flag_counts() if keeper is not None else (),
                segments=tuple(keeper.segments.get(stream, ())) if keeper is not None else (),
                segments_left_out=keeper.left_out.get(stream, 0) if keeper is not None else 0,
            )
        )
    return views


def _with_story(view: ConnectionView, expert: ExpertAnalysis | None) -> ConnectionView:
    """`view` with its RTT samples and its story (`netlab analyze`'s), when it was analysed."""
    if expert is None or view.opened is None:
        return view
    summary = summarize(expert, view.opened.client, view.opened.server)
    story = " ".join(summary.story)
    return replace(view, rtt_samples=tuple(zip(expert.rtt_times, expert.rtts, strict=True)), story=story)


def read_capture(
    path: Path,
    *,
    nicknames: Mapping[Endpoint, str] | None = None,
    dialogue_sink: TextSink | None = None,
    hints: RoleHints | None = None,
    tally: FrameTally | None = None,
    progress: Progress | None = None,
    graph_connections: int = MAX_CONNECTIONS_DRAWN,
) -> tuple[Collected, PcapReadError | None]:
    """`collect` over a capture file; a truncated/corrupt tail is returned, not raised.

    Roles of connections without a captured handshake are decided from `hints` and from the
    file's other connections (read ahead when needed). `tally` (given or not) counts the frames
    that gave no TCP segment or UDP datagram, and the report's notes name them; `progress` is
    called after each read block (`netlab.capture.pcapfile.Progress`). `graph_connections`: how
    many connections (the first ones) keep their segments for graphs.

    Raises:
        PcapReadError: the file is missing or not a capture at all (nothing readable).
        UnsupportedLinkType: no link type of the file has a decoder.
    """
    tally = tally if tally is not None else FrameTally()
    roles = RoleJudge(hints or RoleHints(), lambda: connection_ends(path))
    segments = read_segments(path, tally=tally, progress=progress, udp=True).with_datagrams()
    collected = collect(
        segments, nicknames=nicknames, dialogue_sink=dialogue_sink, roles=roles, graph_connections=graph_connections
    )
    notes = collected.notes + tuple(tally.lines())
    broken = tally.damage
    if broken is not None:
        notes += (f"the capture ends early: {broken}",)
    return replace(collected, frames=tally.frames, notes=notes), broken


def build_report(
    run: RunInfo,
    collected: Collected | None,
    *,
    capture_path: str = "",
    sockets: Iterable[SocketRow] | None = None,
    sockets_note: str = "",
) -> Report:
    """Put a report together from a run description, a collected capture and a socket snapshot."""
    summary = None
    connections: tuple[ConnectionView, ...] = ()
    if collected is not None:
        summary = CaptureSummary(
            capture_path,
            collected.frames,
            collected.tcp_segments,
            len(collected.connections),
            collected.first_ts,
            collected.last_ts,
            tuple(collected.notes),
            collected.udp_datagrams,
            len(collected.conversations),
        )
        connections = tuple(collected.connections)
    return Report(
        run=run,
        capture=summary,
        connections=connections,
        sockets=None if sockets is None else tuple(sockets),
        sockets_note=sockets_note,
        conversations=() if collected is None else collected.conversations,
    )
