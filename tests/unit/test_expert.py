"""The pure expert analysis behind `netlab analyze` (netlab.stream.expert, conn_summary, expert_run):
ack_rtt, bytes in flight, reused ports, Zeek's conn_state and history, the story; properties with
hypothesis. (Agreement with tshark: tests/integration/test_analyze_agreement.py.)"""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from netlab.packets import Endpoint, Segment
from netlab.stream.conn_summary import conn_state
from netlab.stream.expert import CLOSED, ESTABLISHED, INACTIVE, PARTIAL, RESET, SYN_ACK_SENT, SYN_SENT
from netlab.stream.expert_run import AnalysisResult, analyze
from netlab.stream.pipeline import StreamFilter

CLIENT = Endpoint("10.0.0.1", 40000)
SERVER = Endpoint("10.0.0.2", 80)
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
M = 0xFFFFFFFF
STREAM = Path(__file__).resolve().parents[2] / "netlab" / "stream"


class Wire:
    """Segments of one connection, sequence numbers relative to each side's ISN."""

    def __init__(self, isn_c: int = 1000, isn_s: int = 5000) -> None:
        self.isn = {True: isn_c, False: isn_s}
        self.t = 100.0
        self.segments: list[Segment] = []

    def send(
        self,
        forward: bool,
        seq: int,
        ack: int,
        flags: int = ACK,
        length: int = 0,
        dt: float = 0.01,
        sack: tuple[tuple[int, int], ...] = (),
    ) -> None:
        """One segment; `sack` blocks in the other side's relative sequence numbers."""
        self.t += dt
        src, dst = (CLIENT, SERVER) if forward else (SERVER, CLIENT)
        ack_abs = (self.isn[not forward] + ack) & M if flags & ACK else 0
        base = self.isn[not forward]
        blocks = tuple(((base + left) & M, (base + right) & M) for left, right in sack)
        self.segments.append(
            Segment(
                len(self.segments) + 1,
                self.t,
                src,
                dst,
                (self.isn[forward] + seq) & M,
                ack_abs,
                flags,
                65535,
                b"x" * length,
                length,
                True,
                (),
                None,
                blocks,
            )
        )

    def handshake(self) -> None:
        self.send(True, 0, 0, SYN)
        self.send(False, 0, 1, SYN | ACK)
        self.send(True, 1, 1)

    def result(self) -> AnalysisResult:
        return analyze(self.segments, keep_frames=True)


def test_ack_rtt_is_the_time_since_the_segment_acknowledged() -> None:
    wire = Wire()
    wire.handshake()
    wire.send(True, 1, 1, ACK | PSH, 100, dt=0.5)  # frame 4
    wire.send(False, 1, 101, dt=0.25)  # frame 5 acks it 0.25 s later
    frames = {f.frame: f for f in wire.result().frames}
    assert frames[5].acked_frame == 4
    assert frames[5].ack_rtt is not None and abs(frames[5].ack_rtt - 0.25) < 1e-9
    assert frames[2].acked_frame == 1  # the SYN-ACK acknowledges the SYN
    assert frames[3].acked_frame == 2
    assert frames[4].bytes_in_flight == 100
    assert wire.result().summaries[0].initial_rtt is not None


def test_a_retransmitted_segment_is_acknowledged_by_its_first_copy() -> None:
    """Wireshark's walk: the oldest segment ending exactly at the ACK is the one acknowledged."""
    wire = Wire()
    wire.handshake()
    wire.send(True, 1, 1, ACK | PSH, 10)  # 4
    wire.send(True, 1, 1, ACK | PSH, 10, dt=0.2)  # 5: retransmission
    wire.send(False, 1, 11)  # 6
    frames = {f.frame: f for f in wire.result().frames}
    assert "retransmission" in frames[5].flags
    assert frames[6].acked_frame == 4


def test_bytes_in_flight_grow_with_unacknowledged_data_and_fall_with_acks() -> None:
    wire = Wire()
    wire.handshake()
    for i in range(3):
        wire.send(True, 1 + 100 * i, 1, ACK, 100)  # 4, 5, 6
    wire.send(False, 1, 201)  # 7 acks two of them
    wire.send(True, 301, 1, ACK, 100)  # 8
    frames = {f.frame: f for f in wire.result().frames}
    assert [frames[n].bytes_in_flight for n in (4, 5, 6, 8)] == [100, 200, 300, 200]
    assert frames[7].bytes_in_flight is None  # no data: Wireshark shows none


def test_a_new_isn_on_the_same_ports_is_reused_ports_in_a_new_stream() -> None:
    wire = Wire()
    wire.handshake()
    wire.send(True, 1, 1, FIN | ACK)
    wire.send(False, 1, 2, FIN | ACK)
    wire.send(True, 2, 2)
    wire.isn = {True: 90000, False: 70000}
    wire.send(True, 0, 0, SYN)
    result = wire.result()
    assert [s.stream for s in result.summaries] == [0, 1]
    reused = [f for f in result.frames if "reused_ports" in f.flags]
    assert [(f.frame, f.stream) for f in reused] == [(7, 1)]


def test_conn_state_and_history_of_a_whole_connection() -> None:
    wire = Wire()
    wire.handshake()
    wire.send(True, 1, 1, ACK | PSH, 5)
    wire.send(False, 1, 6, ACK | PSH, 7)
    wire.send(True, 6, 8, FIN | ACK)
    wire.send(False, 8, 7, FIN | ACK)
    wire.send(True, 7, 9)
    summary = wire.result().summaries[0]
    assert summary.conn_state == "SF"
    assert summary.history == "ShADdFf"  # the server sent no pure ACK: no "a"
    assert (summary.packets_c2s, summary.packets_s2c, summary.bytes_c2s, summary.bytes_s2c) == (5, 3, 5, 7)
    assert "Both sides closed it" in " ".join(summary.story)


def test_refused_unanswered_and_midstream_connections() -> None:
    refused = Wire()
    refused.send(True, 0, 0, SYN)
    refused.send(False, 0, 1, RST | ACK)
    assert refused.result().summaries[0].conn_state == "REJ"
    unanswered = Wire()
    unanswered.send(True, 0, 0, SYN)
    assert unanswered.result().summaries[0].conn_state == "S0"
    midstream = Wire()
    midstream.send(True, 10, 10, ACK | PSH, 5)
    midstream.send(False, 10, 15)
    summary = midstream.result().summaries[0]
    assert summary.conn_state == "OTH"
    assert "handshake was not captured" in summary.story[0]


def test_conn_state_follows_zeeks_table() -> None:
    assert conn_state(SYN_SENT, INACTIVE, 0, 0, "S") == "S0"
    assert conn_state(ESTABLISHED, ESTABLISHED, 1, 1, "ShAD") == "S1"
    assert conn_state(CLOSED, CLOSED, 1, 1, "ShADFf") == "SF"
    assert conn_state(SYN_SENT, RESET, 0, 0, "Sr") == "REJ"
    assert conn_state(ESTABLISHED, RESET, 1, 1, "ShADr") == "RSTR"
    assert conn_state(PARTIAL, RESET, 1, 1, "Dr") == "RSTRH"
    assert conn_state(RESET, ESTABLISHED, 1, 1, "ShADR") == "RSTO"
    assert conn_state(RESET, INACTIVE, 0, 0, "SR") == "RSTOS0"
    assert conn_state(CLOSED, INACTIVE, 0, 0, "SF") == "SH"
    assert conn_state(CLOSED, ESTABLISHED, 1, 1, "ShADF") == "S2"
    assert conn_state(PARTIAL, CLOSED, 1, 1, "hf") == "SHR"
    assert conn_state(ESTABLISHED, CLOSED, 1, 1, "ShADf") == "S3"
    assert conn_state(SYN_ACK_SENT, INACTIVE, 0, 0, "H") == "OTH"


def test_fast_retransmission_story_counts_the_duplicate_acks() -> None:
    wire = Wire()
    wire.handshake()
    for i in range(4):
        wire.send(True, 1 + 100 * i, 1, ACK, 100, dt=0.001)  # 4..7; 5 is lost below
    del wire.segments[4]  # frame 5 was lost before the capture point
    for _ in range(3):
        wire.send(False, 1, 101, dt=0.001)  # the ACK, then two duplicates
    wire.send(True, 101, 1, ACK, 100, dt=0.001)  # fast retransmission
    wire.send(False, 1, 401)
    summary = wire.result().summaries[0]
    assert summary.count("fast_retransmission") == 1
    assert any("after 2 duplicate ACKs (fast retransmit)" in s for s in summary.story)
    assert summary.retransmitted_bytes_c2s == 100


def test_selection_reports_only_the_selected_streams() -> None:
    wire = Wire()
    wire.handshake()
    result = analyze(wire.segments, selection=StreamFilter(streams=frozenset({3})))
    assert result.summaries == () and result.streams == 1


def test_the_core_imports_no_io_and_no_plotting() -> None:
    banned = {"socket", "threading", "matplotlib", "scapy", "typer", "rich", "subprocess", "os"}
    for name in ("expert.py", "conn_summary.py", "expert_run.py"):
        tree = ast.parse((STREAM / name).read_text())
        imported = {
            (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        assert not {m.split(".")[0] for m in imported} & banned, name


# -- properties --------------------------------------------------------------------------------

_flags = st.sampled_from([ACK, ACK | PSH, SYN, SYN | ACK, FIN | ACK, RST, RST | ACK, 0, ACK | FIN | PSH])
_segments = st.lists(
    st.tuples(
        st.booleans(),  # forward
        st.integers(-3000, 3000),  # seq offset
        st.integers(-3000, 3000),  # ack offset
        _flags,
        st.integers(0, 1500),  # length
        st.sampled_from([0, 1, 512, 65535]),  # window
        st.floats(0, 0.5),  # dt
    ),
    max_size=60,
)


def _wire(specs: list[tuple[bool, int, int, int, int, int, float]], isn_c: int, isn_s: int) -> list[Segment]:
    t = 10.0
    out = []
    for i, (forward, seq, ack, flags, length, window, dt) in enumerate(specs):
        t += dt
        src, dst = (CLIENT, SERVER) if forward else (SERVER, CLIENT)
        out.append(
            Segment(
                i + 1,
                t,
                src,
                dst,
                (isn_c if forward else isn_s) + seq & M,
                (isn_s if forward else isn_c) + ack & M,
                flags,
                window,
                b"y" * length,
                length,
                True,
                (),
                None,
            )
        )
    return out


@settings(max_examples=300, deadline=None)
@given(_segments, st.integers(0, M), st.integers(0, M))
def test_any_segments_give_consistent_results(specs, isn_c, isn_s) -> None:  # type: ignore[no-untyped-def]
    """Never raises; every segment has one result, in its stream; counts add up; nothing negative."""
    segments = _wire(specs, isn_c, isn_s)
    result = analyze(segments, keep_frames=True)
    assert [f.frame for f in result.frames] == [s.frame for s in segments]
    assert len(result.summaries) == result.connections
    packets = sum(s.packets_c2s + s.packets_s2c for s in result.summaries)
    assert packets == len(segments)
    assert sum(s.bytes_c2s + s.bytes_s2c for s in result.summaries) == sum(s.wire_len for s in segments)
    for frame in result.frames:
        assert frame.bytes_in_flight is None or 0 < frame.bytes_in_flight < 2_000_000_000
        assert frame.ack_rtt is None or frame.ack_rtt > 0
        assert frame.acked_frame is None or frame.acked_frame < frame.frame
        assert (frame.dup_ack_of is None) == ("duplicate_ack" not in frame.flags)
        assert frame.dup_ack_of is None or frame.dup_ack_of < frame.frame
    for summary in result.summaries:
        assert summary.duration >= 0
        assert summary.zero_window_time >= 0 and summary.window_full_time >= 0
        assert 0 <= summary.retransmitted_bytes <= summary.bytes_c2s + summary.bytes_s2c
        if summary.rtt_samples:
            assert summary.rtt_min is not None and summary.rtt_median is not None and summary.rtt_max is not None
            assert 0 < summary.rtt_min <= summary.rtt_median <= summary.rtt_max
        assert summary.conn_state in {
            "S0",
            "S1",
            "SF",
            "REJ",
            "S2",
            "S3",
            "RSTO",
            "RSTR",
            "RSTOS0",
            "RSTRH",
            "SH",
            "SHR",
            "OTH",
        }
        assert len(set(summary.history)) == len(summary.history)  # each letter once per direction
        assert set(summary.history) <= set("ShadfrtwSHADFRTW".lower() + "SHADFRTW")
        assert summary.story and all(s.endswith((".", ")")) for s in summary.story)


@settings(max_examples=100, deadline=None)
@given(_segments, st.integers(0, M), st.integers(0, M))
def test_flagged_frames_are_the_same_with_or_without_every_frame_kept(specs, isn_c, isn_s) -> None:  # type: ignore[no-untyped-def]
    segments = _wire(specs, isn_c, isn_s)
    every = analyze(segments, keep_frames=True)
    flagged = analyze(segments)
    assert [f for f in every.frames if f.flags] == [f for f in flagged.frames]
    assert every.summaries == flagged.summaries


def _two_synacks(acked_isn: int) -> AnalysisResult:
    """SYN, a SYN-ACK with ISN 5000, one with ISN 9000, then the client's ACK of `acked_isn` and data."""
    wire = Wire()
    wire.send(True, 0, 0, SYN)
    wire.send(False, 0, 1, SYN | ACK)
    wire.isn[False] = 9000
    wire.send(False, 0, 1, SYN | ACK)
    wire.isn[False] = acked_isn
    wire.send(True, 1, 1)
    wire.send(False, 1, 1, ACK | PSH, 10)
    wire.send(True, 1, 11)
    return wire.result()


def test_two_synacks_the_acknowledged_one_is_the_connection() -> None:
    """Whichever SYN-ACK the client acknowledges, the server's data after it is ordinary (Wireshark
    keeps the first ISN and flags the rest; docs/wireshark-differences.md)."""
    for isn, frame in ((9000, 3), (5000, 2)):
        result = _two_synacks(isn)
        assert [f for f in result.frames if f.flags] == []
        story = " ".join(result.summaries[0].story)
        assert f"acknowledged frame {frame}'s" in story


@settings(max_examples=200, deadline=None)
@given(_segments, st.integers(0, M), st.integers(0, M))
def test_analyze_flags_what_follow_counts(specs, isn_c, isn_s) -> None:  # type: ignore[no-untyped-def]
    """The expert analysis adds measurements, never changes a flag `follow` counts (the reassembler's
    own analysis), except after a second SYN-ACK with another ISN, where netlab knows better."""
    from netlab.stream.events import Packet
    from netlab.stream.expert import flag_names
    from netlab.stream.reassembly import Reassembler

    segments = _wire(specs, isn_c, isn_s)
    first_isn: dict[tuple[object, ...], int] = {}
    until = len(segments) + 1  # compare the frames before a second SYN-ACK with another ISN
    for seg in segments:
        if seg.flags & (SYN | ACK) == SYN | ACK:
            if first_isn.setdefault((seg.src, seg.dst), seg.seq) != seg.seq:
                until = seg.frame
                break
    plain = {
        e.frame: flag_names(e.analysis.flags)
        for e in Reassembler(packets=True).feed_all(segments)
        if isinstance(e, Packet) and e.analysis.flags
    }
    ours = {f.frame: tuple(n for n in f.flags if n != "reused_ports") for f in analyze(segments, vlans="auto").frames}
    assert {k: v for k, v in ours.items() if v and k < until} == {k: v for k, v in plain.items() if k < until}


def test_window_full_and_zero_window_periods_are_told() -> None:
    t = 100.0
    frames = [
        (True, 0, 0, SYN, 0, 65535, -1),
        (False, 0, 1, SYN | ACK, 0, 100, -1),
        (True, 1, 1, ACK, 0, 65535, None),
        (True, 1, 1, ACK | PSH, 100, 65535, None),  # fills the server's 100-byte window
        (False, 1, 101, ACK, 0, 0, None),  # 0.05 s later: zero window
        (False, 1, 101, ACK, 0, 1000, None),  # 0.2 s later: open again (window update)
    ]
    segments = []
    for i, (forward, seq, ack, flags, length, window, wscale) in enumerate(frames):
        t += 0.05 if i != 5 else 0.2
        src, dst = (CLIENT, SERVER) if forward else (SERVER, CLIENT)
        seq_abs = (1000 if forward else 5000) + seq
        ack_abs = ((5000 if forward else 1000) + ack) if flags & ACK else 0
        segments.append(
            Segment(i + 1, t, src, dst, seq_abs, ack_abs, flags, window, b"z" * length, length, True, (), wscale)
        )
    result = analyze(segments)
    flags = {f.frame: f.flags for f in result.frames}
    assert flags[4] == ("window_full",) and flags[5] == ("zero_window",) and flags[6] == ("window_update",)
    summary = result.summaries[0]
    assert abs(summary.zero_window_time - 0.2) < 1e-9 and abs(summary.window_full_time - 0.05) < 1e-9
    assert "W" not in summary.history and "w" in summary.history
    story = " ".join(summary.story)
    assert "window was full 1 time, for 50 ms in all" in story
    assert "zero window 1 time, for 200 ms in all" in story


# -- SACK ------------------------------------------------------------------------------------------


def test_sacked_bytes_leave_the_flight_until_the_cumulative_ack_passes_them() -> None:
    wire = Wire()
    wire.handshake()
    for i in range(4):
        wire.send(True, 1 + 100 * i, 1, ACK, 100)  # 4-7: 1..401
    wire.send(False, 1, 101)  # 8
    wire.send(False, 1, 101, sack=((201, 301),))  # 9: 101..201 missing at the receiver
    wire.send(False, 1, 101, sack=((201, 401),))  # 10
    wire.send(True, 401, 1, ACK, 100)  # 11: 101..501 less 201..401
    wire.send(False, 1, 101)  # 12: a pure ACK without blocks: the receiver still holds 201..401
    wire.send(True, 501, 1, ACK, 100)  # 13
    wire.send(True, 101, 1, ACK, 100)  # 14: the hole, resent
    wire.send(False, 1, 601)  # 15: all of it
    wire.send(True, 601, 1, ACK, 100)  # 16
    frames = {f.frame: f for f in wire.result().frames}
    assert [frames[n].bytes_in_flight for n in (11, 13, 14, 16)] == [200, 300, 300, 100]
    assert "sacked_retransmission" not in frames[14].flags  # not SACKed: a real resend
    summary = wire.result().summaries[0]
    assert summary.sack_blocks == 2


def test_a_dsack_block_below_the_ack_is_no_delivery() -> None:
    wire = Wire()
    wire.handshake()
    wire.send(True, 1, 1, ACK, 100)  # 4
    wire.send(False, 1, 101, sack=((1, 101),))  # 5: D-SACK, received twice
    wire.send(True, 101, 1, ACK, 100)  # 6
    frames = {f.frame: f for f in wire.result().frames}
    assert frames[6].bytes_in_flight == 100
    assert wire.result().summaries[0].sack_blocks == 0


def test_a_resend_of_sacked_bytes_is_needless_and_a_resend_of_part_of_them_is_not() -> None:
    wire = Wire()
    wire.handshake()
    for i in range(3):
        wire.send(True, 1 + 100 * i, 1, ACK, 100)  # 4-6
    wire.send(False, 1, 101, sack=((201, 301),))  # 7
    wire.send(True, 201, 1, ACK, 100, dt=0.3)  # 8: all SACKed
    wire.send(True, 151, 1, ACK, 100, dt=0.3)  # 9: half of it was not
    frames = {f.frame: f for f in wire.result().frames}
    assert frames[8].flags == ("retransmission", "sacked_retransmission")  # Wireshark's flag, then netlab's
    assert "sacked_retransmission" not in frames[9].flags and "retransmission" in frames[9].flags


def test_a_gap_the_receiver_sacks_across_was_missing_only_from_the_capture() -> None:
    wire = Wire()
    wire.handshake()
    wire.send(True, 1, 1, ACK, 100)  # 4
    wire.send(True, 201, 1, ACK, 100)  # 5: 101..201 not captured
    wire.send(False, 1, 101, sack=((101, 301),))  # 6: ...but the receiver holds it (a reneging-free SACK)
    summary = wire.result().summaries[0]
    assert (summary.lost_in_capture, summary.lost_on_wire) == (1, 0)


_sack_runs = st.lists(
    st.tuples(
        st.integers(0, 19),  # which 100-byte segment the client sends (a resend when sent before)
        st.booleans(),  # lost before the receiver
        st.booleans(),  # the receiver answers
        st.integers(1, 4),  # SACK blocks it may put in its answer
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(_sack_runs, st.integers(0, M), st.integers(0, M))
def test_sack_verdicts_never_claim_more_than_the_receiver_had(runs, isn_c, isn_s) -> None:  # type: ignore[no-untyped-def]
    """A true receiver (cumulative ACK, then up to four blocks of what it holds above it, the newest
    first): a resend called needless (`sacked_retransmission`) only resends bytes it had, and bytes
    in flight stay positive and below Wireshark's limit."""
    wire = Wire(isn_c, isn_s)
    wire.handshake()
    held: set[int] = set()  # segment numbers the receiver holds
    newest: list[int] = []  # the receiver's segments, newest first
    truth: dict[int, bool] = {}  # client frame -> the receiver already held every byte of it
    for index, lost, answer, room in runs:
        truth[len(wire.segments) + 1] = index in held
        wire.send(True, 1 + 100 * index, 1, ACK, 100)
        if not lost:
            held.add(index)
            newest = [index, *[n for n in newest if n != index]]
        if answer:
            cumulative = 0
            while cumulative in held:
                cumulative += 1
            above = [n for n in newest if n > cumulative]
            blocks: list[tuple[int, int]] = []
            for n in above:
                start = n
                while start - 1 in held and start - 1 > cumulative:
                    start -= 1
                end = n + 1
                while end in held:
                    end += 1
                block = (1 + 100 * start, 1 + 100 * end)
                if block not in blocks:
                    blocks.append(block)
            wire.send(False, 1, 1 + 100 * cumulative, sack=tuple(blocks[:room]))
    result = wire.result()
    for frame in result.frames:
        if frame.frame in truth and "sacked_retransmission" in frame.flags:
            assert truth[frame.frame], frame
            assert "retransmission" in frame.flags  # only ever beside Wireshark's own verdict
        if frame.bytes_in_flight is not None:
            assert 0 < frame.bytes_in_flight < 2_000_000_000


@settings(max_examples=200, deadline=None)
@given(_segments, st.integers(0, M), st.integers(0, M), st.lists(st.integers(-3000, 3000), max_size=8))
def test_sack_blocks_change_only_in_flight_and_resends_of_sacked_bytes(specs, isn_c, isn_s, edges) -> None:  # type: ignore[no-untyped-def]
    """Any segments, SACK blocks anywhere (junk included): never raises; Wireshark's flags are the same
    as without SACK (netlab only adds `sacked_retransmission` to a retransmission); bytes in flight
    are never more than without SACK."""
    import dataclasses

    plain = _wire(specs, isn_c, isn_s)
    blocks = tuple((isn_c + a & M, isn_c + b & M) for a, b in zip(edges[::2], edges[1::2], strict=False))
    sacked = [dataclasses.replace(seg, sack=blocks) if seg.src == SERVER else seg for seg in plain]
    without = {f.frame: f for f in analyze(plain, keep_frames=True).frames}
    for frame in analyze(sacked, keep_frames=True).frames:
        other = without[frame.frame]
        assert tuple(n for n in frame.flags if n != "sacked_retransmission") == other.flags
        assert "sacked_retransmission" not in frame.flags or "retransmission" in frame.flags
        if frame.bytes_in_flight is not None and other.bytes_in_flight is not None:
            assert frame.bytes_in_flight <= other.bytes_in_flight
