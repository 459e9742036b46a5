"""The data behind Wireshark's TCP stream graphs, for one connection (pure: no plotting library).

Fed a connection's captured segments (`netlab.packets.Segment`, both directions, in capture
order), these functions compute what each graph plots; `netlab.graphs.draw` draws them.

- `time_sequence`: the time-sequence graph (tcptrace / Stevens style) of one direction: each
  segment that occupies sequence space (payload, SYN, FIN) as a vertical bar from its first to
  its last sequence number at its capture time; the receiver's ACK line; the receive-window line
  (ACK + advertised window << window scale). Retransmissions (plain, fast and spurious, exactly
  the frames ``tshark -Y tcp.analysis.retransmission`` lists) and out-of-order segments are kept
  apart so that the drawing marks them: the verdicts come from `ConnectionAnalysis`, the same
  analysis that counts them in the report's statistics.
- `throughput`: bits per second each way, a moving time window (and the goodput without
  retransmissions).
- `window_series`: the receiver's advertised window and the sender's bytes in flight.
- `rtt_series`: round-trip-time samples over time, from given ``(ts, rtt)`` pairs (the per-frame
  ``ack_rtt`` of the analysis).

Conventions. Times are seconds since `origin`: the connection's first captured segment unless
given. Sequence and ACK numbers are relative to the direction's initial sequence number, as
Wireshark shows them: the SYN is 0 and the first data byte 1; without a captured SYN, as in
Wireshark, the first ACK of the other side (or else the direction's first segment) reads as 1. They are computed
modulo 2**32 through `netlab.stream.seq`, so a capture that wraps gives a continuous graph.

Window scale (RFC 7323): a window is scaled by the shift its sender's SYN announced, only when
both SYNs carried the option; the window of a SYN itself is never scaled. When the handshake was
not captured the shift is unknown: the window is then drawn unscaled and the series says so
(`window_scale` is None), as Wireshark does.

Bytes in flight: the highest sequence number the sender has sent minus the highest ACK the
receiver has sent, at each segment with payload of the sender (Wireshark's
``tcp.analysis.bytes_in_flight`` is set on the same segments). A per-frame value computed
elsewhere can be given instead (`window_series(in_flight=...)`).

SACK blocks (RFC 2018, `Segment.sack`) the receiver reported are kept per ACK: at the ACK's time,
each block from its left to its right edge in the sender's relative numbers (tcptrace draws them
the same way), so a graph shows which bytes beyond a gap the receiver already held. D-SACK blocks
(below the ACK: bytes received twice) are kept too; they mark duplicates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from netlab.packets import ACK, FIN, NO_WINDOW_SCALE, RST, SYN, Endpoint, Segment
from netlab.stream.analysis import AnalysisFlag, ConnectionAnalysis, FrameAnalysis
from netlab.stream.seq import seq_add, seq_diff

__all__ = [
    "GRAPH_KINDS",
    "Bars",
    "GraphData",
    "Line",
    "RttSeries",
    "Throughput",
    "TimeSequence",
    "WindowSeries",
    "connection_ends",
    "graph_data",
    "rtt_series",
    "throughput",
    "time_sequence",
    "window_series",
]

#: The graphs there are, by the name `--graph` takes.
GRAPH_KINDS = ("seq", "rtt", "throughput", "window")
#: The moving window of the throughput graph, in seconds (Wireshark's default MA window is 1 s).
DEFAULT_THROUGHPUT_WINDOW = 1.0
_SYN_FIN = SYN | FIN


@dataclass(frozen=True, slots=True)
class Line:
    """Points of a line (or of marks): `x` in seconds since the origin, `y` the values; same lengths."""

    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True, slots=True)
class Bars:
    """Vertical bars: at time `x[i]` from sequence number `low[i]` to `high[i]`; `frames[i]` is its frame."""

    x: tuple[float, ...] = ()
    low: tuple[int, ...] = ()
    high: tuple[int, ...] = ()
    frames: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True, slots=True)
class TimeSequence:
    """The time-sequence graph of the bytes `sender` sent to `receiver`.

    Attributes:
        data: the segments not flagged below (new data, SYN and FIN occupy one number each).
        retransmissions: segments Wireshark flags as retransmissions (plain, fast or spurious).
        out_of_order: segments Wireshark flags as out-of-order.
        acks: the receiver's acknowledgement numbers over time.
        window: the receive window's right edge: ACK + advertised window (scaled).
        window_scale: the receiver's window-scale shift, None when unknown (window unscaled).
        sacks: the SACK blocks the receiver's ACKs carried: one bar per block, at the ACK's time,
            from the block's left edge to its right edge; `frames` are the ACKs' frames.
    """

    sender: Endpoint
    receiver: Endpoint
    origin: float
    data: Bars
    retransmissions: Bars
    out_of_order: Bars
    acks: Line
    window: Line
    window_scale: int | None
    sacks: Bars = Bars()

    @property
    def segments(self) -> int:
        """How many bars there are."""
        return len(self.data) + len(self.retransmissions) + len(self.out_of_order)


@dataclass(frozen=True, slots=True)
class Throughput:
    """Bits per second from `sender`, averaged over the last `window` seconds at each of its segments.

    `goodput` leaves retransmitted segments out; both are sampled at the segments with payload.
    """

    sender: Endpoint
    receiver: Endpoint
    origin: float
    window: float
    throughput: Line
    goodput: Line


@dataclass(frozen=True, slots=True)
class WindowSeries:
    """The window `receiver` advertised (bytes, scaled) and the bytes `sender` had in flight."""

    sender: Endpoint
    receiver: Endpoint
    origin: float
    receive_window: Line
    bytes_in_flight: Line
    window_scale: int | None


@dataclass(frozen=True, slots=True)
class RttSeries:
    """Round-trip-time samples: `samples.x` seconds since the origin, `samples.y` the RTT in seconds."""

    origin: float
    samples: Line


@dataclass(frozen=True, slots=True)
class GraphData:
    """What one graph draws: the `kind` (one of `GRAPH_KINDS`), a title and its series.

    `seq` and `window` have one panel per direction (`sequences`, `windows`); `throughput` one
    line per direction; `rtt` one series.
    """

    kind: str
    title: str
    sequences: tuple[TimeSequence, ...] = ()
    throughputs: tuple[Throughput, ...] = ()
    windows: tuple[WindowSeries, ...] = ()
    rtt: RttSeries | None = None

    @property
    def empty(self) -> bool:
        """True when there is nothing to draw."""
        if self.kind == "rtt":
            return self.rtt is None or not self.rtt.samples
        if self.kind == "seq":
            return not any(s.segments or s.acks for s in self.sequences)
        if self.kind == "throughput":
            return not any(t.throughput for t in self.throughputs)
        return not any(w.receive_window or w.bytes_in_flight for w in self.windows)


def connection_ends(segments: Sequence[Segment]) -> tuple[Endpoint, Endpoint]:
    """The two ends: the sender of the first SYN without ACK first (the client), else the first sender.

    Raises:
        ValueError: `segments` is empty.
    """
    if not segments:
        raise ValueError("a connection needs at least one segment")
    for seg in segments:
        if seg.flags & (SYN | ACK) == SYN:
            return seg.src, seg.dst
    return segments[0].src, segments[0].dst


@dataclass(slots=True)
class _Side:
    """What the walk knows of one direction so far."""

    base: int | None = None  # the sequence number that reads as 0 (the ISN)
    syn_scale: int | None = None  # the SYN's window-scale option; None: SYN not seen or its options unknown
    syn_seen: bool = False


@dataclass(frozen=True, slots=True)
class _Step:
    """One segment as the graphs see it: who sent it, relative numbers, the analysis verdict."""

    seg: Segment
    forward: bool  # sent by the first end
    seq: int  # relative to the sender's base
    ack: int | None  # relative to the receiver's base (None: no ACK flag or base unknown)
    verdict: FrameAnalysis


def _walk(segments: Sequence[Segment], first: Endpoint) -> tuple[list[_Step], dict[bool, _Side]]:
    """Relative numbers and Wireshark's verdict for each segment; the two sides' state at the end."""
    sides = {True: _Side(), False: _Side()}
    analysis = ConnectionAnalysis()
    steps: list[_Step] = []
    for seg in segments:
        forward = seg.src == first
        own, other = sides[forward], sides[not forward]
        if seg.flags & SYN:
            own.base = seg.seq
            own.syn_seen = True
            own.syn_scale = seg.wscale
        elif own.base is None:
            own.base = seq_add(seg.seq, -1)
        ack: int | None = None
        if seg.flags & ACK:
            if other.base is None:  # as Wireshark: an ACK tells where the other side starts
                other.base = seq_add(seg.ack, -1)
            ack = seq_diff(seg.ack, other.base)
        seq = seq_diff(seg.seq, own.base)
        steps.append(_Step(seg, forward, seq, ack, analysis.feed(forward, seg)))
    return steps, sides


def _window_shift(sides: Mapping[bool, _Side], receiver_forward: bool) -> int | None:
    """The receiver's window-scale shift (0: no scaling), None when the handshake does not tell."""
    own, other = sides[receiver_forward], sides[not receiver_forward]
    if own.syn_scale is None or other.syn_scale is None:
        return None
    if own.syn_scale == NO_WINDOW_SCALE or other.syn_scale == NO_WINDOW_SCALE:
        return 0
    return min(own.syn_scale, 14)


def _prepare(
    segments: Sequence[Segment], sender: Endpoint | None, origin: float | None
) -> tuple[list[_Step], dict[bool, _Side], Endpoint, Endpoint, bool, float]:
    """The walk, the two ends (sender first), whether the sender is the walk's forward end, the origin."""
    first, second = connection_ends(segments)
    steps, sides = _walk(segments, first)
    sender = first if sender is None else sender
    if sender not in (first, second):
        raise ValueError(f"{sender} is not an end of this connection ({first}, {second})")
    receiver = second if sender == first else first
    start = segments[0].ts if origin is None else origin
    return steps, sides, sender, receiver, sender == first, start


def _bars(items: list[tuple[float, int, int, int]]) -> Bars:
    if not items:
        return Bars()
    x, low, high, frames = zip(*items, strict=True)
    return Bars(x, low, high, frames)


def _line(points: list[tuple[float, float]]) -> Line:
    if not points:
        return Line()
    x, y = zip(*points, strict=True)
    return Line(x, y)


def time_sequence(
    segments: Sequence[Segment], sender: Endpoint | None = None, *, origin: float | None = None
) -> TimeSequence:
    """The time-sequence graph of what `sender` (default: the client) sent.

    Args:
        segments: every captured segment of one connection, both directions, in capture order.
        sender: the end whose bytes are graphed; the other end's ACKs and windows are drawn.
        origin: time 0 of the graph (default: the first segment's time stamp).

    Raises:
        ValueError: no segments, or `sender` is not an end of the connection.
    """
    steps, sides, sender, receiver, fwd, start = _prepare(segments, sender, origin)
    shift = _window_shift(sides, not fwd)
    plain: list[tuple[float, int, int, int]] = []
    again: list[tuple[float, int, int, int]] = []
    early: list[tuple[float, int, int, int]] = []
    acks: list[tuple[float, float]] = []
    edge: list[tuple[float, float]] = []
    sacks: list[tuple[float, int, int, int]] = []
    for step in steps:
        seg = step.seg
        t = seg.ts - start
        if step.forward == fwd:
            span = seg.wire_len + (1 if seg.flags & _SYN_FIN else 0)
            if span:
                bar = (t, step.seq, step.seq + span, seg.frame)
                if step.verdict.is_retransmission:
                    again.append(bar)
                elif step.verdict.has(AnalysisFlag.OUT_OF_ORDER):
                    early.append(bar)
                else:
                    plain.append(bar)
        elif step.ack is not None:
            acks.append((t, step.ack))
            scaled = seg.window if seg.flags & SYN else seg.window << (shift or 0)
            edge.append((t, step.ack + scaled))
            base = seq_add(seg.ack, -step.ack)  # the sender's base, as this ACK reads
            for left, right in seg.sack:
                low, high = seq_diff(left, base), seq_diff(right, base)
                if low < high:
                    sacks.append((t, low, high, seg.frame))
    return TimeSequence(
        sender,
        receiver,
        start,
        _bars(plain),
        _bars(again),
        _bars(early),
        _line(acks),
        _line(edge),
        shift,
        _bars(sacks),
    )


def throughput(
    segments: Sequence[Segment],
    sender: Endpoint | None = None,
    *,
    window: float = DEFAULT_THROUGHPUT_WINDOW,
    origin: float | None = None,
) -> Throughput:
    """Bits per second `sender` sent, averaged over a moving window of `window` seconds.

    The rate at time t is the payload bits of the sender's segments captured in (t - window, t],
    divided by `window`. It is a step function: the lines hold a point at every time it changes
    (a segment enters the window at its time stamp and leaves `window` seconds later), to be drawn
    as steps; between a connection's bursts it falls back to 0. Payload bytes on the wire count
    (`Segment.wire_len`; headers do not). The goodput leaves out the segments Wireshark flags as
    retransmissions.

    Raises:
        ValueError: no segments, `sender` is not an end, or `window` is not positive.
    """
    if not window > 0:
        raise ValueError(f"the throughput window must be positive, not {window}")
    steps, _, sender, receiver, fwd, start = _prepare(segments, sender, origin)
    sent = [(s.seg.ts - start, s.seg.wire_len, s.verdict.is_retransmission) for s in steps if s.forward == fwd]
    every = _moving_rate([(t, size) for t, size, _ in sent if size], window)
    good = _moving_rate([(t, size) for t, size, again in sent if size and not again], window)
    return Throughput(sender, receiver, start, window, every, good)


def _moving_rate(sent: list[tuple[float, int]], window: float) -> Line:
    """The step function of `throughput` for (time, bytes) pairs: one point per time it changes."""
    changes = sorted([(t, size) for t, size in sent] + [(t + window, -size) for t, size in sent])
    points: list[tuple[float, float]] = []
    total = 0
    for index, (t, delta) in enumerate(changes):
        total += delta
        if index + 1 < len(changes) and changes[index + 1][0] == t:
            continue  # the rate at t counts every change at t
        points.append((t, total * 8 / window))
    return _line(points)


def window_series(
    segments: Sequence[Segment],
    sender: Endpoint | None = None,
    *,
    origin: float | None = None,
    in_flight: Mapping[int, int] | None = None,
) -> WindowSeries:
    """The receiver's advertised window (scaled, bytes) and the sender's bytes in flight.

    Bytes in flight, at each segment with payload of `sender`: the highest sequence number it has
    sent (SYN and FIN count one) minus the highest ACK the receiver has sent, never below 0; none
    before the receiver's first ACK. `in_flight` (frame number → bytes), when given, is used
    instead, for the frames it names.

    Raises:
        ValueError: no segments, or `sender` is not an end of the connection.
    """
    steps, sides, sender, receiver, fwd, start = _prepare(segments, sender, origin)
    shift = _window_shift(sides, not fwd)
    windows: list[tuple[float, float]] = []
    flight: list[tuple[float, float]] = []
    highest = 0
    acked: int | None = None
    for step in steps:
        seg = step.seg
        t = seg.ts - start
        if step.forward == fwd:
            end = step.seq + seg.wire_len + (1 if seg.flags & _SYN_FIN else 0)
            highest = max(highest, end)
            if not seg.wire_len:
                continue
            if in_flight is not None:
                if seg.frame in in_flight:
                    flight.append((t, in_flight[seg.frame]))
            elif acked is not None:
                flight.append((t, max(0, highest - acked)))
        else:
            if not seg.flags & RST:  # a RST's window means nothing
                windows.append((t, seg.window if seg.flags & SYN else seg.window << (shift or 0)))
            if step.ack is not None:
                acked = step.ack if acked is None else max(acked, step.ack)
    return WindowSeries(sender, receiver, start, _line(windows), _line(flight), shift)


def rtt_series(samples: Iterable[tuple[float, float]], origin: float) -> RttSeries:
    """RTT samples over time: each ``(ts, rtt)`` pair (capture time, seconds) at ``ts - origin``.

    Samples that are not finite or are negative are left out; the rest are sorted by time (stable).
    """
    kept = sorted(
        ((ts - origin, rtt) for ts, rtt in samples if math.isfinite(ts) and math.isfinite(rtt) and rtt >= 0),
        key=lambda point: point[0],
    )
    return RttSeries(origin, _line(kept))


def _title(kind: str, segments: Sequence[Segment]) -> str:
    first, second = connection_ends(segments)
    names = {
        "seq": "Time-sequence",
        "rtt": "Round-trip time",
        "throughput": "Throughput",
        "window": "Window and bytes in flight",
    }
    return f"{names[kind]}: {first} ↔ {second}"


def graph_data(
    kind: str,
    segments: Sequence[Segment],
    rtt_samples: Iterable[tuple[float, float]] = (),
    *,
    title: str = "",
    origin: float | None = None,
    in_flight: Mapping[int, int] | None = None,
) -> GraphData:
    """Everything graph `kind` draws for one connection (both directions, the client's first).

    `seq` and `window` get one panel per direction that sent anything; `rtt` plots `rtt_samples`;
    `in_flight` (frame number → bytes) replaces the computed bytes in flight of `window`.

    Raises:
        ValueError: an unknown `kind`, or no segments.
    """
    if kind not in GRAPH_KINDS:
        raise ValueError(f"unknown graph {kind!r}; choose one of {', '.join(GRAPH_KINDS)}")
    first, second = connection_ends(segments)
    start = segments[0].ts if origin is None else origin
    title = title or _title(kind, segments)
    senders = [end for end in (first, second) if any(seg.src == end for seg in segments)]
    if kind == "seq":
        return GraphData(kind, title, sequences=tuple(time_sequence(segments, e, origin=start) for e in senders))
    if kind == "throughput":
        return GraphData(kind, title, throughputs=tuple(throughput(segments, e, origin=start) for e in senders))
    if kind == "window":
        panels = tuple(window_series(segments, e, origin=start, in_flight=in_flight) for e in senders)
        return GraphData(kind, title, windows=panels)
    return GraphData(kind, title, rtt=rtt_series(rtt_samples, start))
