"""The graphs' data (netlab.graphs.series, pure): properties over generated connections, and the lossy lab capture."""

from __future__ import annotations

import ast
import math
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlab.capture.pcapfile import read_segments
from netlab.graphs import series
from netlab.graphs.series import (
    GraphData,
    connection_ends,
    graph_data,
    rtt_series,
    throughput,
    time_sequence,
    window_series,
)
from netlab.graphs.streams import segments_by_stream
from netlab.packets import ACK, FIN, NO_WINDOW_SCALE, PSH, SYN, Endpoint, Segment
from netlab.stream.analysis import ConnectionAnalysis

DATA = Path(__file__).resolve().parents[1] / "data"
LOSSY = DATA / "lab_hosts4_lossy.pcap"
CLIENT = Endpoint("10.0.0.1", 40000)
SERVER = Endpoint("10.0.0.2", 55555)
M = 0xFFFFFFFF


class Conversation:
    """Builds the segments of one connection from relative sequence numbers (the ISNs are parameters)."""

    def __init__(self, isn_c: int, isn_s: int, t0: float = 1_700_000_000.0) -> None:
        self.isn = {True: isn_c, False: isn_s}
        self.t = t0
        self.segments: list[Segment] = []

    def add(
        self, forward: bool, seq: int, ack: int | None, length: int = 0, flags: int = ACK, dt: float = 0.01, **kw: int
    ) -> Segment:
        self.t += dt
        src, dst = (CLIENT, SERVER) if forward else (SERVER, CLIENT)
        flags |= ACK if ack is not None else 0
        ack_abs = (self.isn[not forward] + ack) & M if ack is not None else 0
        seg = Segment(
            len(self.segments) + 1,
            self.t,
            src,
            dst,
            (self.isn[forward] + seq) & M,
            ack_abs,
            flags,
            kw.get("window", 1000),
            b"x" * length,
            length,
            wscale=kw.get("wscale"),
        )
        self.segments.append(seg)
        return seg


WSCALE = st.one_of(st.none(), st.just(NO_WINDOW_SCALE), st.integers(0, 14))
STEP = st.tuples(
    st.sampled_from(["c", "s", "ack_c", "ack_s", "again_c", "again_s"]),
    st.integers(1, 1460),
    st.floats(0.0, 0.6),
    st.integers(0, 65535),
)


@st.composite
def conversations(draw: st.DrawFn) -> tuple[list[Segment], dict[str, object]]:
    """A connection with data both ways, ACKs, retransmissions and windows; ISNs anywhere (wrap included)."""
    isn_c, isn_s = draw(st.integers(0, M)), draw(st.integers(0, M))
    handshake = draw(st.booleans())
    scales = (draw(WSCALE), draw(WSCALE))
    conv = Conversation(isn_c, isn_s)
    sent = {True: 1, False: 1}
    got = {True: 1, False: 1}  # what each side acknowledges of the other
    earlier: dict[bool, list[tuple[int, int]]] = {True: [], False: []}
    if handshake:
        conv.add(True, 0, None, flags=SYN, wscale=scales[0], window=64240)  # type: ignore[arg-type]
        conv.add(False, 0, 1, flags=SYN, wscale=scales[1], window=65160)  # type: ignore[arg-type]
        conv.add(True, 1, 1)
    for kind, size, dt, window in draw(st.lists(STEP, min_size=1, max_size=40)):
        forward = kind.endswith("c")
        if kind.startswith("ack"):
            got[not forward] = sent[not forward]
            conv.add(forward, sent[forward], got[not forward], dt=dt, window=window)
        elif kind.startswith("again") and earlier[forward]:
            seq, length = earlier[forward][size % len(earlier[forward])]
            conv.add(forward, seq, got[not forward], length, PSH, dt=dt, window=window)
        else:
            earlier[forward].append((sent[forward], size))
            conv.add(forward, sent[forward], got[not forward], size, PSH, dt=dt, window=window)
            sent[forward] += size
    if draw(st.booleans()):
        conv.add(True, sent[True], got[False], flags=FIN)
    return conv.segments, {"handshake": handshake, "scales": scales}


def _verdicts(segments: list[Segment]) -> dict[int, bool]:
    analysis = ConnectionAnalysis()
    first = connection_ends(segments)[0]
    return {s.frame: analysis.feed(s.src == first, s).is_retransmission for s in segments}


@settings(max_examples=150, deadline=None)
@given(conversations())
def test_every_segment_with_sequence_space_is_one_bar_of_its_length(conv: tuple[list[Segment], object]) -> None:
    segments, _ = conv
    retransmitted = _verdicts(segments)
    for sender in connection_ends(segments):
        graph = time_sequence(segments, sender)
        mine = [s for s in segments if s.src == sender and (s.wire_len or s.flags & (SYN | FIN))]
        frames = [*graph.data.frames, *graph.retransmissions.frames, *graph.out_of_order.frames]
        assert sorted(frames) == [s.frame for s in mine]
        by_frame = {s.frame: s for s in mine}
        for bars in (graph.data, graph.retransmissions, graph.out_of_order):
            for frame, low, high in zip(bars.frames, bars.low, bars.high, strict=True):
                seg = by_frame[frame]
                assert high - low == seg.wire_len + (1 if seg.flags & (SYN | FIN) else 0)
        assert set(graph.retransmissions.frames) == {f for f in by_frame if retransmitted[f]}


@settings(max_examples=100, deadline=None)
@given(conversations(), st.integers(0, M), st.integers(0, M), st.floats(-1e6, 1e6))
def test_the_series_do_not_depend_on_the_isns_or_the_clock(
    conv: tuple[list[Segment], object], shift_c: int, shift_s: int, dt: float
) -> None:
    segments, _ = conv

    def moved(seg: Segment) -> Segment:
        mine, other = (shift_c, shift_s) if seg.src == CLIENT else (shift_s, shift_c)
        ack = (seg.ack + other) & M if seg.flags & ACK else seg.ack
        return replace(seg, seq=(seg.seq + mine) & M, ack=ack, ts=seg.ts + dt)

    other = [moved(s) for s in segments]
    for kind in ("seq", "throughput", "window"):
        a, b = graph_data(kind, segments), graph_data(kind, other)
        assert _rounded(a) == _rounded(b), kind


def _rounded(data: GraphData) -> object:
    """The series with times rounded (a shifted clock changes float times in the last bits) and origins dropped."""

    def clean(value: object) -> object:
        if isinstance(value, float):
            return round(value, 4)
        if isinstance(value, tuple):
            return tuple(clean(v) for v in value)
        if hasattr(value, "__dataclass_fields__"):
            return tuple(clean(getattr(value, f)) for f in value.__dataclass_fields__ if f != "origin")
        return value

    return clean((data.sequences, data.throughputs, data.windows))


def test_an_in_order_transfer_climbs_without_a_gap_from_the_syn_across_2_to_the_32() -> None:
    conv = Conversation(M - 100, 7)  # the client's sequence numbers wrap past 2**32
    conv.add(True, 0, None, flags=SYN, wscale=7)
    conv.add(False, 0, 1, flags=SYN, wscale=2)
    conv.add(True, 1, 1)
    for i in range(5):
        conv.add(True, 1 + 60 * i, 1, 60, PSH)
        conv.add(False, 1, 1 + 60 * (i + 1), window=500)
    graph = time_sequence(conv.segments)
    assert graph.data.low == (0, 1, 61, 121, 181, 241)
    assert graph.data.high == (1, 61, 121, 181, 241, 301)
    assert not graph.retransmissions and not graph.out_of_order
    # the server's window is scaled by its own shift (2), since both SYNs carried the option
    assert graph.window_scale == 2
    assert [w - a for w, a in zip(graph.window.y, graph.acks.y, strict=True)] == [
        1000,
        *[500 << 2] * 5,
    ]  # the SYN-ACK's own window is never scaled


@pytest.mark.parametrize(
    ("client", "server", "shift"),
    [(7, 2, 2), (7, NO_WINDOW_SCALE, 0), (NO_WINDOW_SCALE, 5, 0), (None, 5, None), (3, None, None)],
)
def test_the_window_is_scaled_only_when_both_syns_carried_the_option(
    client: int | None, server: int | None, shift: int | None
) -> None:
    conv = Conversation(100, 200)
    conv.add(True, 0, None, flags=SYN, wscale=client)  # type: ignore[arg-type]
    conv.add(False, 0, 1, flags=SYN, wscale=server)  # type: ignore[arg-type]
    conv.add(True, 1, 1, 10, PSH)
    conv.add(False, 1, 11, window=100)
    assert time_sequence(conv.segments).window_scale == shift
    windows = window_series(conv.segments)
    assert windows.window_scale == shift
    assert windows.receive_window.y[-1] == 100 << (shift or 0)


def test_a_retransmission_is_its_own_bar_and_marked() -> None:
    conv = Conversation(1000, 2000)
    conv.add(True, 0, None, flags=SYN)
    conv.add(False, 0, 1, flags=SYN)
    conv.add(True, 1, 1)
    conv.add(True, 1, 1, 100, PSH)
    lost = conv.add(True, 101, 1, 100, PSH)
    conv.add(False, 1, 101)
    again = conv.add(True, 101, 1, 100, PSH, dt=1.0)  # after an RTO
    graph = time_sequence(conv.segments)
    assert graph.retransmissions.frames == (again.frame,)
    assert (graph.retransmissions.low, graph.retransmissions.high) == ((101,), (201,))
    assert lost.frame in graph.data.frames


@settings(max_examples=150, deadline=None)
@given(conversations(), st.floats(0.05, 3.0))
def test_throughput_is_the_bits_of_the_last_window_and_its_area_is_every_bit_sent(
    conv: tuple[list[Segment], object], window: float
) -> None:
    segments, _ = conv
    start = segments[0].ts
    for sender in connection_ends(segments):
        put = throughput(segments, sender, window=window)
        sent = [(s.ts - start, s.wire_len) for s in segments if s.src == sender and s.wire_len]
        assert len(put.throughput) == 0 if not sent else put.throughput.y[-1] == 0
        for t, rate in zip(put.throughput.x, put.throughput.y, strict=True):
            bits = 8 * sum(size for ts, size in sent if t - window + 1e-9 < ts <= t + 1e-9)  # float slack
            assert math.isclose(rate, bits / window, rel_tol=1e-9, abs_tol=1e-6)
        area = sum(
            r * (b - a) for a, b, r in zip(put.throughput.x, put.throughput.x[1:], put.throughput.y, strict=False)
        )
        assert math.isclose(area, 8 * sum(size for _, size in sent), rel_tol=1e-6, abs_tol=1e-6)
        for t in put.goodput.x:
            assert _at(put.goodput, t) <= _at(put.throughput, t) + 1e-6


def _at(line: series.Line, t: float) -> float:
    """The step function's value at t (post steps: a point holds until the next)."""
    value = 0.0
    for x, y in zip(line.x, line.y, strict=True):
        if x > t:
            break
        value = y
    return value


def test_throughput_window_must_be_positive() -> None:
    conv = Conversation(1, 2)
    conv.add(True, 1, None, 10, PSH)
    with pytest.raises(ValueError, match="positive"):
        throughput(conv.segments, window=0)


@settings(max_examples=150, deadline=None)
@given(conversations())
def test_bytes_in_flight_is_the_highest_sequence_sent_minus_the_highest_ack(conv: tuple[list[Segment], object]) -> None:
    segments, _ = conv
    for sender in connection_ends(segments):
        win = window_series(segments, sender)
        expected = []
        base: dict[Endpoint, int] = {}
        highest, acked = 0, None
        for seg in segments:
            if seg.flags & SYN:
                base[seg.src] = seg.seq
            base.setdefault(seg.src, (seg.seq - 1) & M)
            if seg.flags & ACK:
                base.setdefault(seg.dst, (seg.ack - 1) & M)
            if seg.src == sender:
                span = seg.wire_len + (1 if seg.flags & (SYN | FIN) else 0)
                highest = max(highest, ((seg.seq - base[sender]) & M) + span)
                if seg.wire_len and acked is not None:
                    expected.append(max(0, highest - acked))
            elif seg.flags & ACK:
                ack = (seg.ack - base[sender]) & M
                acked = ack if acked is None else max(acked, ack)
        assert list(win.bytes_in_flight.y) == expected
        assert all(y >= 0 for y in win.receive_window.y)


def test_bytes_in_flight_given_per_frame_are_used_as_they_are() -> None:
    conv = Conversation(1, 2)
    conv.add(True, 0, None, flags=SYN)
    conv.add(False, 0, 1, flags=SYN)
    first = conv.add(True, 1, 1, 10, PSH)
    second = conv.add(True, 11, 1, 10, PSH)
    win = window_series(conv.segments, in_flight={first.frame: 7, second.frame: 1234})
    assert win.bytes_in_flight.y == (7, 1234)


@given(st.lists(st.tuples(st.floats(allow_nan=True), st.floats(allow_nan=True))), st.floats(-1e9, 1e9))
def test_rtt_series_keeps_finite_nonnegative_samples_in_time_order(
    samples: list[tuple[float, float]], origin: float
) -> None:
    got = rtt_series(samples, origin)
    kept = [(t, r) for t, r in samples if math.isfinite(t) and math.isfinite(r) and r >= 0]
    assert sorted(got.samples.y) == sorted(r for _, r in kept)
    assert list(got.samples.x) == sorted(got.samples.x)
    assert got.origin == origin


def test_unknown_graph_and_foreign_sender_are_refused() -> None:
    conv = Conversation(1, 2)
    conv.add(True, 1, None, 10, PSH)
    with pytest.raises(ValueError, match="unknown graph"):
        graph_data("pie", conv.segments)
    with pytest.raises(ValueError, match="not an end"):
        time_sequence(conv.segments, Endpoint("192.0.2.1", 1))
    with pytest.raises(ValueError, match="at least one segment"):
        time_sequence([])


def test_the_lossy_lab_capture_marks_the_frames_tshark_calls_retransmissions() -> None:
    # tshark -r lab_hosts4_lossy.pcap -Y "tcp.stream==1 && tcp.analysis.retransmission": frames 17, 67, 71, 98, 109, 113
    segments = segments_by_stream(read_segments(LOSSY), [1])[1]
    marked: set[int] = set()
    for sender in connection_ends(segments):
        marked |= set(time_sequence(segments, sender).retransmissions.frames)
    assert marked == {17, 67, 71, 98, 109, 113}


def test_the_series_module_imports_no_plotting_and_no_io() -> None:
    tree = ast.parse(Path(str(series.__file__)).read_text(encoding="utf-8"))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    roots = {name.split(".")[0] for name in names}
    assert not roots & {"matplotlib", "numpy", "socket", "threading", "os", "subprocess", "scapy"}
    assert {n for n in names if n.startswith("netlab")} <= {
        "netlab.packets",
        "netlab.stream.analysis",
        "netlab.stream.seq",
    }


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, M), st.integers(0, M), st.lists(st.tuples(st.integers(1, 5000), st.integers(1, 1460)), max_size=6)
)
def test_sack_blocks_are_bars_at_their_acks_in_the_senders_relative_numbers(
    isn_c: int, isn_s: int, blocks: list[tuple[int, int]]
) -> None:
    """Each block the receiver reports is one bar at its ACK's time, left edge to right edge, whatever the ISNs."""
    conv = Conversation(isn_c, isn_s)
    conv.add(True, 0, None, flags=SYN)
    conv.add(False, 0, 1, flags=SYN | ACK)
    conv.add(True, 1, 1)
    conv.add(True, 1, 1, 100)
    raw = tuple(((isn_c + left) & M, (isn_c + left + size) & M) for left, size in blocks)
    ack = conv.add(False, 1, 101)
    conv.segments[-1] = replace(ack, sack=raw)
    seq = time_sequence(conv.segments)
    assert list(zip(seq.sacks.low, seq.sacks.high, strict=True)) == [(left, left + size) for left, size in blocks]
    assert set(seq.sacks.frames) <= {ack.frame} and len(seq.sacks) == len(blocks)
    assert all(x == seq.acks.x[-1] for x in seq.sacks.x)
    assert not time_sequence(conv.segments, SERVER).sacks  # the client's data only


def test_the_sack_capture_draws_its_blocks() -> None:
    segments = segments_by_stream(read_segments(DATA / "wireshark_differences" / "sack_four_blocks.pcap"))[0]
    seq = time_sequence(segments)
    assert len(seq.sacks) == 1 + 3 + 4 + 4  # frames 10, 11, 12 and 14
    assert (201, 301) in zip(seq.sacks.low, seq.sacks.high, strict=True)
