"""One TCP connection as the reassembler keeps it: its two flows, its state and its counts (pure).

The counts are `StreamStats`' own fields: packets and bytes per direction live on the two
`Flow`s (plain attributes, touched for every segment), the rarer counts in `counts`, keyed by
the `StreamStats` field they end up in, so no count is declared twice.
"""

from __future__ import annotations

from netlab.packets import Endpoint, SackBlocks
from netlab.stream.analysis import AnalysisFlag, ConnectionAnalysis, FrameAnalysis
from netlab.stream.events import CloseReason, ControlKind, Direction, StreamStats
from netlab.stream.flow import Flow
from netlab.stream.states import CONN_TRANSITIONS, ConnState, advance

# The analysis flags `StreamStats` counts, and the field each is counted in.
_COUNTED: tuple[tuple[AnalysisFlag, str], ...] = (
    (AnalysisFlag.FAST_RETRANSMISSION, "fast_retransmissions"),
    (AnalysisFlag.SPURIOUS_RETRANSMISSION, "spurious_retransmissions"),
    (AnalysisFlag.OUT_OF_ORDER, "out_of_order"),
    (AnalysisFlag.LOST_SEGMENT, "lost_segments"),
    (AnalysisFlag.DUPLICATE_ACK, "duplicate_acks"),
)
_RARE_COUNTS = (
    "retransmissions",
    *(name for _, name in _COUNTED),
    "conflicts",
    "gaps",
    "gap_bytes",
    "not_captured_bytes",
)


class Connection:
    """Both directions of one stream, its `ConnState`, its analysis and its counts (mutable)."""

    __slots__ = (
        "stream",
        "client",
        "server",
        "c2s",
        "s2c",
        "state",
        "analysis",
        "counts",
        "first_ts",
        "last_ts",
        "last_frame",
    )

    def __init__(self, stream: int, client: Endpoint, server: Endpoint, ts: float) -> None:
        self.stream = stream
        self.client = client
        self.server = server
        self.c2s = Flow(Direction.C2S, client, server, self)
        self.s2c = Flow(Direction.S2C, server, client, self)
        self.state = ConnState.UNCONFIRMED
        self.analysis = ConnectionAnalysis()  # Wireshark's TCP analysis of each frame
        self.counts = dict.fromkeys(_RARE_COUNTS, 0)  # the other `StreamStats` counts, by field name
        self.first_ts = ts
        self.last_ts = ts  # time stamp and frame number of the latest segment of this connection
        self.last_frame = 0

    @property
    def closed(self) -> bool:
        """True when it is over: reset after the handshake, or a FIN both ways."""
        return self.state is ConnState.RESET or (self.c2s.fin and self.s2c.fin)

    def control(self, kind: ControlKind) -> None:
        """A SYN-ACK or RST was seen (other kinds leave the state as it is)."""
        if kind is ControlKind.SYN_ACK or kind is ControlKind.RST:
            self.state = advance(CONN_TRANSITIONS, "connection", self.state, kind)

    def record(
        self,
        flow: Flow,
        frame: int,
        ts: float,
        seq: int,
        ack: int,
        flags: int,
        window: int,
        length: int,
        wscale: int | None = None,
        sack: SackBlocks = (),
    ) -> FrameAnalysis:
        """Count one segment sent along `flow` and return Wireshark's analysis of it."""
        flow.packets += 1
        self.last_ts = ts
        self.last_frame = frame
        verdict = self.analysis.observe(flow is self.c2s, frame, ts, seq, ack, flags, window, length, wscale, sack)
        if verdict.flags:
            self.count(verdict)
        return verdict

    def count(self, verdict: FrameAnalysis) -> None:
        """Count a frame Wireshark's analysis flagged (the counts of `StreamStats`)."""
        counts = self.counts
        if verdict.is_retransmission:
            counts["retransmissions"] += 1
        flags = verdict.flags
        for flag, name in _COUNTED:
            if flag in flags:
                counts[name] += 1

    def stats(self) -> StreamStats:
        """The connection's counts so far."""
        c2s, s2c = self.c2s, self.s2c
        return StreamStats(
            packets_c2s=c2s.packets,
            packets_s2c=s2c.packets,
            bytes_c2s=c2s.bytes,
            bytes_s2c=s2c.bytes,
            first_ts=self.first_ts,
            last_ts=self.last_ts,
            **self.counts,
        )

    def close_reason(self) -> CloseReason:
        """How the connection ended, from what was seen (when the capture ended first: END)."""
        if self.state is ConnState.RESET:
            return CloseReason.RST
        if self.state is ConnState.REFUSED and not (self.c2s.bytes or self.s2c.bytes):
            return CloseReason.REFUSED
        if self.c2s.fin and self.s2c.fin:
            return CloseReason.FIN
        return CloseReason.END
