"""The pure TCP analyser: Wireshark's expert flags per segment (tshark agreement is in
tests/integration/test_analysis_tshark.py; these need no tshark)."""

from __future__ import annotations

import ast
import sys
from dataclasses import replace
from pathlib import Path

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from netlab.packets import Endpoint, Segment
from netlab.stream.analysis import NO_WINDOW_SCALE, AnalysisFlag, ConnectionAnalysis, FrameAnalysis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis_captures import SCENARIOS, syn_window_scales, write_scenarios  # noqa: E402
from analysis_compare import analyse_segments, verdict_of  # noqa: E402

from netlab.capture.pcapfile import read_segments  # noqa: E402

CLIENT = Endpoint("10.0.0.1", 40000)
SERVER = Endpoint("10.0.0.2", 80)
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
M = 0xFFFFFFFF
F = AnalysisFlag

RETRANSMISSION_KINDS = {F.RETRANSMISSION, F.FAST_RETRANSMISSION, F.SPURIOUS_RETRANSMISSION}


class Wire:
    """Segments of one connection with relative sequence numbers; `feed` returns each verdict."""

    def __init__(self, isn_c: int = 1000, isn_s: int = 5000, t0: float = 1000.0) -> None:
        self.isn = {True: isn_c, False: isn_s}
        self.t = t0
        self.frame = 0
        self.analysis = ConnectionAnalysis()

    def segment(
        self,
        forward: bool,
        seq: int,
        ack: int,
        flags: int = ACK,
        length: int = 0,
        dt: float = 0.001,
        **kw: object,
    ) -> Segment:
        self.frame += 1
        self.t += dt
        src, dst = (CLIENT, SERVER) if forward else (SERVER, CLIENT)
        ack_abs = (self.isn[not forward] + ack) & M if flags & ACK else 0
        window = int(kw.pop("window", 65535))  # type: ignore[call-overload]
        wscale = kw.pop("wscale", None)
        return Segment(
            self.frame,
            self.t,
            src,
            dst,
            (self.isn[forward] + seq) & M,
            ack_abs,
            flags,
            window,
            b"x" * length,
            length,
            None,
            (),
            wscale,  # type: ignore[arg-type]
        )

    def feed(self, forward: bool, seq: int, ack: int, flags: int = ACK, length: int = 0, **kw: object) -> FrameAnalysis:
        return self.analysis.feed(forward, self.segment(forward, seq, ack, flags, length, **kw))

    def handshake(self, rtt: float = 0.010) -> None:
        for verdict in (
            self.feed(True, 0, 0, SYN),
            self.feed(False, 0, 1, SYN | ACK, dt=rtt / 2),
            self.feed(True, 1, 1, dt=rtt / 2),
        ):
            assert verdict.flags == frozenset()


def test_analyser_is_pure() -> None:
    """Standard library and netlab's pure value modules only: no IO, no clock, no capture code."""
    import netlab.stream.analysis as module

    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "enum", "dataclasses", "netlab.packets", "netlab.stream.seq"}


# -- definitions, one case each -------------------------------------------------------------------


def test_plain_retransmission_after_the_rtt() -> None:
    w = Wire()
    w.handshake()
    assert not w.feed(True, 1, 1, ACK | PSH, 100).flags
    again = w.feed(True, 1, 1, ACK | PSH, 100, dt=0.5)
    assert again.flags == {F.RETRANSMISSION} and again.is_retransmission


def test_copy_of_acknowledged_bytes_is_spurious_and_matches_the_retransmission_filter() -> None:
    w = Wire()
    w.handshake()
    w.feed(True, 1, 1, ACK, 100)
    w.feed(False, 1, 101)
    again = w.feed(True, 1, 1, ACK, 100, dt=0.5)
    assert again.flags == {F.SPURIOUS_RETRANSMISSION}
    assert again.is_retransmission  # tshark's -Y tcp.analysis.retransmission matches it too


def test_out_of_order_within_the_initial_rtt_then_retransmission_after_it() -> None:
    w = Wire()
    w.handshake(rtt=0.050)
    assert w.feed(True, 101, 1, ACK, 100).flags == {F.LOST_SEGMENT}
    early = w.feed(True, 1, 1, ACK, 100, dt=0.010)  # 10 ms < 50 ms initial RTT
    assert early.flags == {F.OUT_OF_ORDER} and not early.is_retransmission
    late = w.feed(True, 1, 1, ACK, 50, dt=0.100)
    assert late.flags == {F.RETRANSMISSION}


def test_out_of_order_threshold_is_3_ms_without_a_handshake() -> None:
    w = Wire()
    w.feed(True, 201, 1, ACK, 100)
    assert w.feed(True, 1, 1, ACK, 100, dt=0.002).flags == {F.OUT_OF_ORDER}
    w.feed(True, 301, 1, ACK, 100, dt=0.001)
    assert w.feed(True, 101, 1, ACK, 100, dt=0.004).flags == {F.RETRANSMISSION}


def test_a_gap_equal_to_the_initial_rtt_is_not_within_it() -> None:
    """Wireshark compares nanoseconds: "less than the RTT" is false at exactly the RTT, though
    float seconds since the epoch make the two differences unequal in their last bits."""
    w = Wire(t0=1_700_000_176.147759)
    w.handshake(rtt=0.0005)
    w.feed(True, 1, 1, ACK, 100)
    w.feed(True, 201, 1, ACK, 100, dt=0.0003)
    late = w.feed(True, 101, 1, ACK, 100, dt=0.0005)
    assert late.flags == {F.RETRANSMISSION}


def test_fast_retransmission_after_duplicate_acks() -> None:
    w = Wire()
    w.handshake()
    for i in range(4):
        w.feed(True, 1 + 100 * i, 1, ACK, 100, dt=0.0001)
    first = w.feed(False, 1, 101)
    dups = [w.feed(False, 1, 101, dt=0.0002) for _ in range(3)]
    assert not first.flags
    assert [d.dup_ack_count for d in dups] == [1, 2, 3]
    assert all(d.flags == {F.DUPLICATE_ACK} and d.dup_ack_of == w.frame - 3 for d in dups)
    fast = w.feed(True, 101, 1, ACK, 100, dt=0.002)
    assert fast.flags == {F.FAST_RETRANSMISSION} and fast.is_retransmission


def test_syn_synack_and_fin_repeats_are_retransmissions() -> None:
    w = Wire()
    w.feed(True, 0, 0, SYN)
    assert w.feed(True, 0, 0, SYN, dt=1.0).flags == {F.RETRANSMISSION}
    w.feed(False, 0, 1, SYN | ACK)
    assert w.feed(False, 0, 1, SYN | ACK, dt=1.0).flags == {F.RETRANSMISSION}
    w.feed(True, 1, 1)
    w.feed(True, 1, 1, FIN | ACK)
    assert w.feed(True, 1, 1, FIN | ACK, dt=0.001).flags == {F.RETRANSMISSION}  # ends at nextseq


def test_keep_alive_is_decided_before_retransmission() -> None:
    w = Wire()
    w.handshake()
    w.feed(True, 1, 1, ACK, 10)
    w.feed(False, 1, 11)
    for probe_len in (0, 1):
        keep_alive = w.feed(True, 10, 1, ACK, probe_len, dt=45.0)
        assert keep_alive.flags == {F.KEEP_ALIVE} and not keep_alive.is_retransmission
        assert w.feed(False, 1, 11).flags == {F.KEEP_ALIVE_ACK}


def test_zero_window_probe_and_its_ack_and_the_window_update() -> None:
    w = Wire()
    w.handshake()
    w.feed(True, 1, 1, ACK, 1000)
    assert w.feed(False, 1, 1001, window=0).flags == {F.ZERO_WINDOW}
    assert w.feed(True, 1001, 1, ACK, 1, dt=0.2).flags == {F.ZERO_WINDOW_PROBE}
    assert w.feed(False, 1, 1001, window=0).flags == {F.ZERO_WINDOW, F.ZERO_WINDOW_PROBE_ACK}
    assert w.feed(False, 1, 1001, window=4096).flags == {F.WINDOW_UPDATE}
    assert not w.feed(True, 1001, 1, ACK, 500).flags  # the probe did not advance the sequence


def test_lost_and_acked_lost_segments() -> None:
    w = Wire()
    w.handshake()
    w.feed(True, 1, 1, ACK, 100)
    assert w.feed(True, 201, 1, ACK, 100).flags == {F.LOST_SEGMENT}
    assert w.feed(False, 1, 301).flags == {F.ACK_LOST_SEGMENT}
    assert not w.feed(False, 1, 301, ACK | PSH, 10).flags  # flagged once per hole


def test_window_full_needs_the_window_scale() -> None:
    for known in (True, False):
        w = Wire()
        scale = {"wscale": 2} if known else {}
        w.feed(True, 0, 0, SYN, **scale)
        w.feed(False, 0, 1, SYN | ACK, **({"wscale": 3} if known else {}))
        w.feed(True, 1, 1)
        w.feed(False, 1, 1, window=125)  # 125 << 3 = 1000 bytes
        w.feed(True, 1, 1, ACK, 600)
        full = w.feed(True, 601, 1, ACK, 400)
        assert full.flags == ({F.WINDOW_FULL} if known else set())


def test_window_full_without_scaling_options() -> None:
    w = Wire()
    w.feed(True, 0, 0, SYN, wscale=NO_WINDOW_SCALE)
    w.feed(False, 0, 1, SYN | ACK, wscale=NO_WINDOW_SCALE)
    w.feed(True, 1, 1)
    w.feed(False, 1, 1, window=700)
    assert w.feed(True, 1, 1, ACK, 700).flags == {F.WINDOW_FULL}


def test_sequence_wrap_around() -> None:
    w = Wire(isn_c=M - 150, isn_s=M - 5)
    w.handshake()
    w.feed(True, 1, 1, ACK, 100)
    w.feed(True, 101, 1, ACK, 100)  # crosses 2**32
    assert w.feed(True, 301, 1, ACK, 100).flags == {F.LOST_SEGMENT}
    assert w.feed(True, 201, 1, ACK, 100, dt=0.5).flags == {F.RETRANSMISSION}
    assert w.feed(False, 1, 401).flags == frozenset()


def test_scenarios_show_their_flags(tmp_path: Path) -> None:
    """Every scenario of the tshark test shows the flags it was written for (tshark not needed)."""
    path = tmp_path / "scenarios.pcap"
    frames = write_scenarios(path)
    scales = syn_window_scales(path)
    segments = [replace(s, wscale=scales[s.frame]) if s.frame in scales else s for s in read_segments(path)]
    verdicts = {frame: verdict_of(a) for frame, a in analyse_segments(segments).items()}
    for name, (_script, flags) in SCENARIOS.items():
        seen = set().union(*(verdicts[f].fields for f in frames[name]))
        assert set(flags) <= seen, name


# -- properties ---------------------------------------------------------------------------------------

messages = st.lists(st.tuples(st.booleans(), st.integers(2, 1400)), max_size=30)


def _clean_exchange(msgs: list[tuple[bool, int]], isn_c: int, isn_s: int, gap: float = 0.05) -> list[Segment]:
    """Handshake, each message ACKed by the other side, FIN close: nothing unusual at all."""
    w = Wire(isn_c, isn_s)
    nxt = {True: 1, False: 1}
    segs = [w.segment(True, 0, 0, SYN), w.segment(False, 0, 1, SYN | ACK), w.segment(True, 1, 1)]
    for forward, length in msgs:
        segs.append(w.segment(forward, nxt[forward], nxt[not forward], ACK | PSH, length, dt=gap))
        nxt[forward] += length
        segs.append(w.segment(not forward, nxt[not forward], nxt[forward], dt=gap))
    segs.append(w.segment(True, nxt[True], nxt[False], FIN | ACK, dt=gap))
    segs.append(w.segment(False, nxt[False], nxt[True] + 1, FIN | ACK, dt=gap))
    segs.append(w.segment(True, nxt[True] + 1, nxt[False] + 1, dt=gap))
    return segs


def _run(segs: list[Segment]) -> list[FrameAnalysis]:
    analysis = ConnectionAnalysis()
    return [analysis.feed(seg.src == CLIENT, seg) for seg in segs]


@settings(max_examples=150, deadline=None)
@given(messages, st.integers(0, M), st.integers(0, M))
def test_clean_in_order_exchange_has_no_flags(msgs: list[tuple[bool, int]], isn_c: int, isn_s: int) -> None:
    segs = _clean_exchange(msgs, isn_c, isn_s)
    # Wireshark's own sentinel: a sequence or ACK number of exactly 0 reads as "none yet"
    assume(all(s.seq and (s.ack or not s.flags & ACK) for s in segs))
    assert [v.flags for v in _run(segs)] == [frozenset()] * len(segs)


@settings(max_examples=150, deadline=None)
@given(messages.filter(lambda m: len(m) > 0), st.integers(0, M), st.integers(0, M), st.data())
def test_a_repeated_data_segment_is_a_retransmission(
    msgs: list[tuple[bool, int]], isn_c: int, isn_s: int, data: st.DataObject
) -> None:
    """Repeated later than the RTT, a data segment matches `tcp.analysis.retransmission`."""
    segs = _clean_exchange(msgs, isn_c, isn_s, gap=0.05)
    assume(all(s.seq and (s.ack or not s.flags & ACK) for s in segs))
    data_idx = [i for i, s in enumerate(segs) if s.wire_len]
    i = data.draw(st.sampled_from(data_idx))
    j = data.draw(st.integers(i + 1, len(segs)))
    ts = segs[j - 1].ts + 0.02 if j < len(segs) else segs[-1].ts + 0.02
    copy = replace(segs[i], frame=10_000, ts=ts)
    verdicts = _run([*segs[:j], copy, *segs[j:]])
    assert verdicts[j].flags & RETRANSMISSION_KINDS, verdicts[j]
    assert verdicts[j].is_retransmission


@settings(max_examples=150, deadline=None)
@given(messages, st.integers(0, M), st.integers(0, M), st.integers(1, M))
def test_verdicts_do_not_depend_on_where_the_sequence_numbers_start(
    msgs: list[tuple[bool, int]], isn_c: int, isn_s: int, shift: int
) -> None:
    """Wrap-around: moving both ISNs changes no verdict (Wireshark's 0 sentinels aside)."""
    a = _clean_exchange(msgs, isn_c, isn_s)
    # a lost segment, a retransmission and a duplicate ACK on top
    b = _clean_exchange(msgs, (isn_c + shift) & M, (isn_s + shift) & M)
    for segs in (a, b):
        assume(all(s.seq and (s.ack or not s.flags & ACK) for s in segs))
    extra = [len(a) // 2]
    a = [s for k, s in enumerate(a) if k not in extra] + a[3:5]
    b = [s for k, s in enumerate(b) if k not in extra] + b[3:5]
    assert [v.flags for v in _run(a)] == [v.flags for v in _run(b)]


segments = st.builds(
    lambda fwd, seq, ack, flags, window, length, dt, wscale: (
        fwd,
        seq,
        ack,
        flags,
        window,
        length,
        dt,
        wscale,
    ),
    st.booleans(),
    st.integers(0, M),
    st.integers(0, M),
    st.integers(0, 0xFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 3000),
    st.floats(-1.0, 5.0),
    st.one_of(st.none(), st.integers(-1, 20)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(segments, max_size=40))
def test_arbitrary_segments_never_raise_and_verdicts_are_consistent(
    segs: list[tuple[bool, int, int, int, int, int, float, int | None]],
) -> None:
    analysis = ConnectionAnalysis()
    t = 0.0
    for frame, (fwd, seq, ack, flags, window, length, dt, wscale) in enumerate(segs, 1):
        t += dt
        verdict = analysis.observe(fwd, frame, t, seq, ack, flags, window, length, wscale)
        assert (verdict.dup_ack_count > 0) == verdict.has(F.DUPLICATE_ACK)
        assert (verdict.dup_ack_of is not None) == verdict.has(F.DUPLICATE_ACK)
        assert verdict.is_retransmission == bool(verdict.flags & RETRANSMISSION_KINDS)
        assert (
            len(verdict.flags & {F.RETRANSMISSION, F.FAST_RETRANSMISSION, F.SPURIOUS_RETRANSMISSION, F.OUT_OF_ORDER})
            <= 1
        )


class _GeneralPathOnly(ConnectionAnalysis):
    _fast_path = False


@settings(max_examples=400, deadline=None)
@given(st.lists(segments, max_size=40), st.integers(0, M), st.data())
def test_fast_path_gives_what_the_general_path_gives(
    segs: list[tuple[bool, int, int, int, int, int, float, int | None]], base: int, data: st.DataObject
) -> None:
    """The cheap path for ordinary segments changes no verdict (streams mix made-up and plausible segments)."""
    fast, general = ConnectionAnalysis(), _GeneralPathOnly()
    nxt = {True: base, False: (base * 7 + 12345) & M}
    t = 0.0
    for frame, (fwd, seq, ack, flags, window, length, dt, wscale) in enumerate(segs, 1):
        t += dt
        if data.draw(st.booleans()):  # plausible: in order, acknowledging the other side
            seq, ack, flags = nxt[fwd], nxt[not fwd], ACK | (flags & (PSH | FIN))
            nxt[fwd] = (nxt[fwd] + length + (1 if flags & FIN else 0)) & M
        args = (fwd, frame, t, seq, ack, flags, window, length, wscale)
        assert fast.observe(*args) == general.observe(*args)
        assert _state(fast) == _state(general)  # what later verdicts depend on, too


def _state(analysis: ConnectionAnalysis) -> list[tuple[object, ...]]:
    """Both directions' state (white box: the slots `ConnectionAnalysis.ordinary` records)."""
    sides = (analysis._fwd, analysis._rev)
    return [tuple(getattr(side, name) for name in type(side).__slots__) for side in sides]
