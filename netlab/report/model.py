"""What a report is made of: the run, the sockets, each connection's events and statistics (pure)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from netlab.packets import Endpoint, Segment
from netlab.sockets.model import SocketRow
from netlab.stream.analysis import AnalysisFlag
from netlab.stream.dialogue import Dialogue
from netlab.stream.events import Event, Opened, StreamStats, Transport
from netlab.stream.roles import explain_roles

#: Per connection, the most events kept for the dialogue and the ladder (the statistics count all).
MAX_EVENTS_PER_CONNECTION = 1500
#: Per connection, the most payload bytes shown in the report's dialogue (dialogue.txt has all).
MAX_DIALOGUE_BYTES = 64 * 1024
#: The most connections drawn in full; the rest appear in the statistics only.
MAX_CONNECTIONS_DRAWN = 40
#: The most arrows in one ladder diagram.
MAX_LADDER_ROWS = 160
#: By default (`GraphPolicy.AUTO`), graphs are drawn when a report has at most this many connections.
AUTO_GRAPHED_CONNECTIONS = 6


class GraphPolicy(enum.Enum):
    """Which connections get graphs: AUTO every one when there are at most `AUTO_GRAPHED_CONNECTIONS`
    (else none), ALL every connection the report draws, NONE none."""

    AUTO = "auto"
    ALL = "all"
    NONE = "none"

    @property
    def connections(self) -> int:
        """How many connections (the first ones, by stream number) may get graphs: those keep their segments."""
        if self is GraphPolicy.NONE:
            return 0
        return AUTO_GRAPHED_CONNECTIONS if self is GraphPolicy.AUTO else MAX_CONNECTIONS_DRAWN


@dataclass(frozen=True, slots=True)
class Graph:
    """One graph of a connection, drawn (`netlab.report.figures`).

    Attributes:
        kind: ``seq``, ``rtt``, ``throughput`` or ``window`` (`netlab.graphs.series.GRAPH_KINDS`).
        title: what it shows, for a caption or a link.
        svg: the SVG markup to inline in HTML.
        file: the SVG file's name, beside report.md.
    """

    kind: str
    title: str
    svg: str
    file: str


@dataclass(frozen=True, slots=True)
class Command:
    """A command a student could type to do one step by hand, and what it does."""

    purpose: str
    command: str


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What ran and how.

    Attributes:
        title: the report's title.
        kind: "loopback", "namespaces" or "pcap".
        started: when the run (or the capture) began, seconds since the epoch (0 when unknown).
        settings: (name, value) pairs shown in a table (clients, port, impairments, ...).
        commands: how to do the same by hand.
        notes: anything the reader should know (e.g. the capture was skipped).
        script: the conversation that was played, in `netlab lab --script` format ("" for none).
    """

    title: str
    kind: str
    started: float = 0.0
    settings: tuple[tuple[str, str], ...] = ()
    commands: tuple[Command, ...] = ()
    notes: tuple[str, ...] = ()
    script: str = ""


@dataclass(frozen=True, slots=True)
class ConnectionView:
    """One TCP connection (or UDP conversation, by its `Opened` event's `proto`) as the report shows it.

    Attributes:
        stream: the stream number (tcp.stream in Wireshark).
        opened: its `Opened` event (None when the capture held no start for it).
        events: its events in order, at most `MAX_EVENTS_PER_CONNECTION` (see `events_left_out`).
        stats: the reassembler's statistics for the whole connection.
        client_label: who the client is (a nickname), or "".
        events_left_out: events not kept because of the cap.
        dialogue: the kept events grouped into turns (`netlab.stream.build_dialogues`).
        flag_counts: per TCP analysis flag, the frames Wireshark flags with it (flags never set are
            left out); ``retransmission`` counts as `tshark -Y tcp.analysis.retransmission` does,
            fast and spurious ones included.
        segments: the captured segments (payload dropped) the graphs are drawn from, at most
            `netlab.graphs.streams.MAX_GRAPH_SEGMENTS` (see `segments_left_out`).
        segments_left_out: segments beyond that cap.
        rtt_samples: ``(capture time, RTT seconds)`` pairs for the RTT graph (empty: none drawn).
        story: the connection's behaviour told in a few sentences, or None (nothing shown).
        graphs: its graphs, once drawn.
    """

    stream: int
    opened: Opened | None
    events: tuple[Event, ...]
    stats: StreamStats
    client_label: str = ""
    events_left_out: int = 0
    dialogue: Dialogue | None = None
    flag_counts: tuple[tuple[AnalysisFlag, int], ...] = ()
    segments: tuple[Segment, ...] = ()
    segments_left_out: int = 0
    rtt_samples: tuple[tuple[float, float], ...] = ()
    story: str | None = None
    graphs: tuple[Graph, ...] = ()

    @property
    def client(self) -> Endpoint | None:
        """The client end, when known."""
        return self.opened.client if self.opened else None

    @property
    def server(self) -> Endpoint | None:
        """The server end, when known."""
        return self.opened.server if self.opened else None

    def roles_note(self) -> str:
        """How the roles were decided when the handshake was not captured, else ''."""
        if self.opened is None or not self.opened.roles_guessed:
            return ""
        return explain_roles(self.opened.roles_reason)

    @property
    def udp(self) -> bool:
        """True for a UDP conversation."""
        return self.opened is not None and self.opened.proto is Transport.UDP

    def title(self) -> str:
        """A heading such as 'stream 0: alice 127.0.0.1:40000 → 127.0.0.1:55555'."""
        who = f"{self.client_label} " if self.client_label else ""
        ends = f"{self.client} → {self.server}" if self.opened else "(ends unknown)"
        return f"{'udp stream' if self.udp else 'stream'} {self.stream}: {who}{ends}"


@dataclass(frozen=True, slots=True)
class CaptureSummary:
    """The capture as a whole."""

    path: str
    frames: int
    tcp_segments: int
    connections: int
    first_ts: float = 0.0
    last_ts: float = 0.0
    notes: tuple[str, ...] = ()
    udp_datagrams: int = 0
    conversations: int = 0


@dataclass(frozen=True, slots=True)
class Report:
    """Everything a report shows; `sockets` is None when there was no snapshot (`report --read`).

    `conversations` are the capture's UDP conversations (Wireshark's Follow UDP Stream), shown after
    the TCP connections when there are any.
    `graphs_note` says which connections have no graphs and why ("" when each drawn one has them).
    """

    run: RunInfo
    capture: CaptureSummary | None
    connections: tuple[ConnectionView, ...]
    sockets: tuple[SocketRow, ...] | None = None
    sockets_note: str = ""
    conversations: tuple[ConnectionView, ...] = ()
    graphs_note: str = ""

    @property
    def drawn_conversations(self) -> tuple[ConnectionView, ...]:
        """The UDP conversations shown in full (their dialogue)."""
        return self.conversations[:MAX_CONNECTIONS_DRAWN]

    @property
    def drawn(self) -> tuple[ConnectionView, ...]:
        """The connections drawn in full (dialogue and ladder)."""
        return self.connections[:MAX_CONNECTIONS_DRAWN]

    @property
    def totals(self) -> StreamStats:
        """The statistics summed over every connection."""
        return sum((c.stats for c in self.connections), StreamStats())
