"""The reassembler: Wireshark's follow edge cases, netlab's improvements, and properties."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from _segments import ACK, FIN, PSH, RST, SYN, Builder, M, gaps, stream_bytes, with_markers
from conformance_kit import KIT
from hypothesis import given, settings
from hypothesis import strategies as st

from netlab.packets import QUOTED, Endpoint, Segment
from netlab.stream import Reassembler, build_dialogues
from netlab.stream.events import (
    Closed,
    CloseReason,
    Control,
    ControlKind,
    Data,
    Direction,
    Event,
    Gap,
    GapReason,
    Notice,
    NoticeKind,
    Opened,
)


def run(segments: list) -> list[Event]:  # type: ignore[type-arg]
    return Reassembler().feed_all(segments)


def run_fields(segments: list) -> list[Event]:  # type: ignore[type-arg]
    """`run` through `feed_batch`, the tuple path `follow --read` takes (batches of 1 to 4)."""
    r = Reassembler()
    names = [f.name for f in dataclasses.fields(Segment)]  # SegmentFields order
    fields = [tuple(getattr(seg, n) for n in names) for seg in segments]
    events: list[Event] = []
    for i in range(0, len(fields), 3):
        r.feed_batch(fields[i : i + 1], events)  # type: ignore[arg-type]
        r.feed_batch(fields[i + 1 : i + 3], events)  # type: ignore[arg-type]
    return events + r.flush()


def handshake(b: Builder, c_isn: int = 100, s_isn: int = 900) -> list:  # type: ignore[type-arg]
    return [b.c(c_isn, flags=SYN), b.s(s_isn, flags=SYN | ACK, ack=c_isn + 1), b.c(c_isn + 1, ack=s_isn + 1)]


def test_sequential() -> None:
    b = Builder()
    events = run([*handshake(b), b.c(101, b"hello "), b.c(107, b"world"), b.s(901, b"ok", ack=112)])
    assert stream_bytes(events) == b"hello world"
    assert stream_bytes(events, Direction.S2C) == b"ok"
    opened = events[0]
    assert isinstance(opened, Opened) and opened.client == b.client and not opened.roles_guessed
    kinds = [e.kind for e in events if isinstance(e, Control)]
    assert kinds == [ControlKind.SYN, ControlKind.SYN_ACK]


def test_swapped_segments_are_put_in_order() -> None:
    b = Builder()
    events = run([*handshake(b), b.c(107, b"world"), b.c(101, b"hello ")])
    assert stream_bytes(events) == b"hello world"
    assert [e.kind for e in events if isinstance(e, Notice)] == [NoticeKind.OUT_OF_ORDER]
    assert events[-1].stats.out_of_order == 1  # type: ignore[union-attr]


def test_bad_overlap_first_copy_wins_and_is_flagged() -> None:
    b = Builder()
    events = run([*handshake(b), b.c(101, b"abcdef"), b.c(104, b"XYZghi")])
    assert stream_bytes(events) == b"abcdefghi"
    closed = events[-1]
    assert isinstance(closed, Closed) and closed.stats.conflicts == 1
    # Counted as Wireshark's analysis does (checked with tshark): the overlap arrives within the
    # handshake's RTT of the highest segment, so it is out-of-order, not a retransmission.
    assert (closed.stats.retransmissions, closed.stats.out_of_order) == (0, 1)


def test_retransmission_with_extension() -> None:
    b = Builder()
    events = run([*handshake(b), b.c(101, b"abc"), b.c(101, b"abcdef"), b.c(101, b"abc")])
    assert stream_bytes(events) == b"abcdef"
    stats = events[-1].stats  # type: ignore[union-attr]
    assert (stats.retransmissions, stats.out_of_order) == (0, 2)  # as tshark: within the RTT, out-of-order


def test_overlap_with_incomplete_fragments() -> None:
    """Two overlapping out-of-order fragments wait for the hole; the first copy of each byte wins."""
    b = Builder()
    events = run([*handshake(b), b.c(105, b"EFGH"), b.c(107, b"ghIJ"), b.c(101, b"ABCD")])
    assert stream_bytes(events) == b"ABCDEFGHIJ"


def test_lost_but_acked_becomes_a_gap_where_the_bytes_were() -> None:
    b = Builder()
    events = run([*handshake(b), b.c(101, b"aaaa"), b.c(109, b"cccc"), b.s(901, ack=113), b.c(113, b"dd")])
    assert stream_bytes(events) == b"aaaaccccdd"
    assert gaps(events) == [(4, 4)]
    gap = next(e for e in events if isinstance(e, Gap))
    assert gap.reason is GapReason.LOST_ACKED
    assert with_markers(events) == b"aaaa[4 bytes missing in capture file]\0ccccdd"


def test_three_of_five_lost_but_acked() -> None:
    b = Builder()
    parts = [b"11111", b"22222", b"33333", b"44444", b"55555"]
    kept = [b.c(101 + 5 * i, p) for i, p in enumerate(parts) if i in (1, 3)]
    events = run([*handshake(b), *kept, b.s(901, ack=126)])
    assert stream_bytes(events) == b"2222244444"
    assert gaps(events) == [(0, 5), (10, 5)]
    assert all(e.reason is GapReason.LOST_ACKED for e in events if isinstance(e, Gap))


def test_data_after_an_unacked_hole_is_still_shown_after_a_gap() -> None:
    b = Builder()
    events = run([*handshake(b), b.c(101, b"aaaa"), b.c(109, b"cccc")])
    assert stream_bytes(events) == b"aaaacccc"
    gap = next(e for e in events if isinstance(e, Gap))
    assert (gap.offset, gap.size, gap.reason) == (4, 4, GapReason.LOST_UNACKED)


def test_sequence_wrap() -> None:
    b = Builder()
    isn = 2**32 - 3
    events = run([*handshake(b, c_isn=isn), b.c(isn + 1, b"abcd"), b.c(isn + 5, b"efgh"), b.c(isn + 9, b"ij")])
    assert stream_bytes(events) == b"abcdefghij"
    assert not gaps(events)


def test_syn_less_start_guesses_roles() -> None:
    b = Builder(client=Endpoint("10.0.0.1", 51000), server=Endpoint("10.0.0.2", 443))
    events = run([b.s(5000, b"late hello"), b.c(70, b"hi", ack=5010)])
    opened = events[0]
    assert isinstance(opened, Opened) and opened.roles_guessed
    assert opened.server.port == 443 and opened.first_sender is Direction.S2C
    assert stream_bytes(events, Direction.S2C) == b"late hello"
    assert stream_bytes(events) == b"hi"


def test_keep_alive_at_the_start_invents_no_gap() -> None:
    b = Builder()
    events = run([b.c(99), b.c(100, b"data", ack=5), b.s(5, ack=104)])
    assert stream_bytes(events) == b"data"
    assert not gaps(events)


def test_delayed_earlier_segment_at_the_start_loses_nothing() -> None:
    """Mid-stream capture: the segment before the first one seen arrives late (Wireshark drops it)."""
    b = Builder()
    segs = [b.s(5010, b"second"), b.c(70, ack=5000), b.s(5000, b"first one!"), b.c(70, ack=5016)]
    events = run(segs)
    assert stream_bytes(events, Direction.S2C) == b"first one!second"
    assert not gaps(events, Direction.S2C)
    data = [e for e in events if isinstance(e, Data)]
    assert [e.offset for e in data] == [0, 10]


def test_capture_starting_mid_flight_shows_the_leading_hole() -> None:
    b = Builder()
    segs = [b.s(5010, b"second"), b.c(70, ack=5000), b.c(70, ack=5016)]
    events = run(segs)
    assert stream_bytes(events, Direction.S2C) == b"second"
    assert gaps(events, Direction.S2C) == [(0, 10)]


def test_one_sided_syn_less_capture_is_not_held_forever() -> None:
    b = Builder()
    r = Reassembler()
    out: list[Event] = []
    for i in range(8):
        out += r.feed(b.c(100 + i, b"x"))
    assert stream_bytes(out) == b"x" * 8  # settled after a few segments, before the end of input


def test_a_replayed_handshake_after_a_close_is_a_late_duplicate() -> None:
    # Both ISNs as before (RFC 1122 TIME-WAIT refuses such a SYN as a new connection): Wireshark
    # and netlab see retransmissions of the closed connection; differing bytes are a conflict.
    b = Builder()
    first = [*handshake(b), b.c(101, b"one"), b.c(104, flags=FIN | ACK), b.s(901, flags=FIN | ACK, ack=105)]
    second = [*handshake(b), b.c(101, b"two")]
    r = Reassembler()
    events = r.feed_all(first + second)
    assert stream_bytes(events, stream=0) == b"one"
    assert {e.stream for e in events} == {0} and r.streams == 1 and not r.unused
    (closed,) = [e for e in events if isinstance(e, Closed)]
    assert closed.stats.conflicts == 1


def test_same_client_isn_answered_with_a_new_server_isn_is_a_new_stream() -> None:
    b = Builder()
    first = [*handshake(b), b.c(101, b"one"), b.c(104, flags=FIN | ACK), b.s(901, flags=FIN | ACK, ack=105)]
    second = [*handshake(b, s_isn=5000), b.c(101, b"two", ack=5001)]
    events = run(first + second)
    assert stream_bytes(events, stream=0) == b"one"
    assert stream_bytes(events, stream=1) == b"two"
    reasons = {e.stream: e.reason for e in events if isinstance(e, Closed)}
    assert reasons == {0: CloseReason.REUSED, 1: CloseReason.END}
    opened = [e for e in events if isinstance(e, Opened)]
    assert [o.frame for o in opened] == [first[0].frame, second[0].frame]  # the held SYN opens it


def test_late_duplicate_syn_is_a_retransmission_not_a_stream() -> None:
    b, other = Builder(), Builder(client=Endpoint("10.0.0.1", 40001))
    closed = [*handshake(b), b.c(101, b"one"), b.c(104, flags=FIN | ACK), b.s(901, flags=FIN | ACK, ack=105)]
    r = Reassembler()
    events = r.feed_all([*closed, b.c(100, flags=SYN), *handshake(other), other.c(101, b"next")])
    assert stream_bytes(events, stream=1) == b"next" and r.streams == 2 and not r.unused
    stats = {e.stream: e.stats for e in events if isinstance(e, Closed)}
    assert stats[0].retransmissions == 1 and stats[0].packets == 7


def test_late_syn_inside_the_closed_sequence_space_keeps_wiresharks_numbers() -> None:
    b, other = Builder(), Builder(client=Endpoint("10.0.0.1", 40001))
    closed = [*handshake(b), b.c(101, b"one"), b.c(104, flags=FIN | ACK), b.s(901, flags=FIN | ACK, ack=105)]
    r = Reassembler()
    events = r.feed_all([*closed, b.c(103, flags=SYN), *handshake(other), other.c(101, b"next")])
    assert stream_bytes(events, stream=2) == b"next"  # Wireshark's stream 1 is the late SYN
    assert sorted(r.unused) == [1] and "late duplicate SYN of stream 0" in r.unused[1]
    assert {e.stream for e in events if isinstance(e, Opened)} == {0, 2}


def test_rst_answering_the_syn_does_not_fix_the_servers_isn() -> None:
    b = Builder()
    segs = [
        b.c(100, flags=SYN),
        b.s(0, flags=RST | ACK, ack=101),
        b.c(100, flags=SYN),
        *handshake(b)[1:],
        b.c(101, b"hello"),
        b.s(901, b"hi there", ack=106),
    ]
    events = run(segs)
    assert stream_bytes(events, Direction.S2C) == b"hi there"
    assert not [e for e in events if isinstance(e, Gap)]


def test_two_syn_acks_follow_the_one_acknowledged() -> None:
    b = Builder()
    segs = [b.c(100, flags=SYN), b.s(900, flags=SYN | ACK, ack=101), b.s(5000, flags=SYN | ACK, ack=101)]
    segs += [b.c(101, ack=5001), b.c(101, b"hello", ack=5001), b.s(5001, b"hi", ack=106)]
    events = run(segs)
    assert stream_bytes(events, Direction.S2C) == b"hi" and not [e for e in events if isinstance(e, Gap)]
    first_acked = [b.c(100, flags=SYN), b.s(900, flags=SYN | ACK, ack=101), b.s(5000, flags=SYN | ACK, ack=101)]
    first_acked += [b.c(101, ack=901), b.s(901, b"hi", ack=101)]
    assert stream_bytes(run(first_acked), Direction.S2C) == b"hi"


def test_a_tcp_header_quoted_in_an_icmp_error_reserves_wiresharks_number() -> None:
    b, other = Builder(), Builder(client=Endpoint("10.0.0.1", 40001))
    quoted_new = dataclasses.replace(other.c(7, flags=SYN), flags=QUOTED)
    quoted_known = dataclasses.replace(b.c(101, flags=ACK), flags=QUOTED)
    r = Reassembler()
    events = r.feed_all([quoted_new, *handshake(b), quoted_known, b.c(101, b"x")])
    assert stream_bytes(events, stream=1) == b"x" and r.streams == 2
    assert list(r.unused) == [0] and "quoted in an ICMP error" in r.unused[0]
    later = Reassembler()
    events = later.feed_all([quoted_new, *handshake(other), other.c(101, b"y")])
    assert stream_bytes(events, stream=0) == b"y" and not later.unused  # the connection takes the number


def test_new_isn_on_a_used_tuple_is_a_new_stream() -> None:
    b = Builder()
    events = run([*handshake(b), b.c(101, b"one"), *handshake(b, c_isn=7000), b.c(7001, b"two")])
    assert stream_bytes(events, stream=1) == b"two"


def test_same_tuple_on_two_vlans() -> None:
    b10, b20 = Builder(vlan=(10,)), Builder(vlan=(20,))
    segs = [*handshake(b10), *handshake(b20), b10.c(101, b"ten"), b20.c(101, b"twenty")]
    split = Reassembler(vlans="split").feed_all(segs)
    assert stream_bytes(split, stream=0) == b"ten" and stream_bytes(split, stream=1) == b"twenty"
    merged = Reassembler(vlans="merge").feed_all(segs)  # Wireshark's view: one stream, first copy wins
    assert stream_bytes(merged, stream=0) == b"tennty" and not stream_bytes(merged, stream=1)  # "twenty" extends "ten"
    auto = Reassembler().feed_all(segs)  # the default: "twenty" contradicts "ten", so two streams
    assert stream_bytes(auto, stream=0) == b"ten" and stream_bytes(auto, stream=1) == b"twenty"


def test_snaplen_truncation_is_reported_not_passed_off() -> None:
    b = Builder()
    events = run([*handshake(b), b.c(101, b"abc", wire_len=10), b.c(111, b"xyz")])
    assert stream_bytes(events) == b"abcxyz"
    gap = next(e for e in events if isinstance(e, Gap))
    assert (gap.offset, gap.size, gap.reason) == (3, 7, GapReason.NOT_CAPTURED)


def test_bad_checksum_copy_loses_to_the_good_copy() -> None:
    b = Builder()
    events = run(
        [
            *handshake(b),
            b.c(101, b"XXXX", checksum_ok=False),
            b.c(105, b"tail"),
            b.c(101, b"good", checksum_ok=True),
        ]
    )
    assert stream_bytes(events) == b"goodtail"
    assert any(isinstance(e, Notice) and e.kind is NoticeKind.BAD_CHECKSUM_REPLACED for e in events)


def test_offloaded_bad_checksums_lose_nothing() -> None:
    b = Builder()
    segs = [*handshake(b)]
    for i in range(5):
        segs += [b.c(101 + 4 * i, b"abcd", checksum_ok=False), b.s(901, ack=105 + 4 * i)]
    events = run(segs)
    assert stream_bytes(events) == b"abcd" * 5 and not gaps(events)


def test_rst_payload_and_controls() -> None:
    b = Builder()
    events = run([*handshake(b), b.c(101, b"bye"), b.s(901, b"diag", flags=RST | ACK, ack=104)])
    assert stream_bytes(events, Direction.S2C) == b"diag"
    assert events[-1].reason is CloseReason.RST  # type: ignore[union-attr]


def test_dialogue_turns_and_stats() -> None:
    b = Builder()
    segs = [*handshake(b), b.c(101, b"a"), b.c(102, b"b"), b.s(901, b"c", ack=103), b.c(103, b"d", ack=902)]
    (dialogue,) = build_dialogues(run(segs))
    assert [(t.direction, t.data) for t in dialogue.turns] == [
        (Direction.C2S, b"ab"),
        (Direction.S2C, b"c"),
        (Direction.C2S, b"d"),
    ]
    assert dialogue.stats.bytes_c2s == 3 and dialogue.stats.packets == len(segs)


@pytest.mark.skipif(not KIT.is_dir(), reason="conformance kit not found")
def test_wireshark_badsegments_gaps_match_tshark_markers_exactly() -> None:
    from netlab.capture.pcapfile import read_segments

    events = run(list(read_segments(KIT / "pcaps" / "ws__tcp-badsegments.pcap")))
    expected = json.loads((KIT / "expected" / "ws__tcp-badsegments.pcap.json").read_text())[0]
    got = with_markers(events)
    assert len(got) == expected["node0_len"]
    assert hashlib.sha256(got).hexdigest() == expected["node0_bytes_sha256"]


# -- properties -------------------------------------------------------------------------------


@st.composite
def dialogue_segments(draw: st.DrawFn, drop: bool) -> tuple[bytes, bytes, list, list[tuple[int, int]]]:  # type: ignore[type-arg]
    b = Builder()
    c_isn = draw(st.integers(0, 2**32 - 1))
    s_isn = draw(st.integers(0, 2**32 - 1))
    payload = {d: draw(st.binary(min_size=0, max_size=300)) for d in Direction}
    segs: list = []  # type: ignore[type-arg]
    dropped: list[tuple[int, int]] = []
    for d, isn in ((Direction.C2S, c_isn), (Direction.S2C, s_isn)):
        data = payload[d]
        cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=12)))) if data else []
        bounds = [0, *[c for c in cuts if c < len(data)], len(data)]
        make = b.c if d is Direction.C2S else b.s
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            if hi <= lo:
                continue
            if drop and draw(st.booleans()):
                dropped.append((lo, hi - lo) if d is Direction.C2S else (-1, 0))
                continue
            segs.append(make(isn + 1 + lo, data[lo:hi], flags=PSH))
            if not drop:
                if draw(st.booleans()):
                    segs.append(make(isn + 1 + lo, data[lo:hi], flags=PSH))  # duplicate
                if draw(st.booleans()) and hi - lo > 1:
                    mid = lo + (hi - lo) // 2
                    segs.append(make(isn + 1 + mid, data[mid:hi], flags=PSH))  # identical overlap
    order = draw(st.permutations(range(len(segs))))
    syns = [b.c(c_isn, flags=SYN), b.s(s_isn, flags=SYN | ACK, ack=c_isn + 1)]
    return payload[Direction.C2S], payload[Direction.S2C], syns + [segs[i] for i in order], dropped


@settings(max_examples=150, deadline=None)
@given(dialogue_segments(drop=False))
def test_shuffled_duplicated_overlapping_segments_give_the_exact_bytes(case: tuple) -> None:  # type: ignore[type-arg]
    c2s, s2c, segs, _ = case
    events = run(segs)
    assert stream_bytes(events) == c2s
    assert stream_bytes(events, Direction.S2C) == s2c
    assert not gaps(events) and not gaps(events, Direction.S2C)
    assert run_fields(segs) == events


@settings(max_examples=150, deadline=None)
@given(dialogue_segments(drop=True))
def test_dropped_segments_become_gaps_of_the_right_size(case: tuple) -> None:  # type: ignore[type-arg]
    c2s, _, segs, dropped = case
    events = run(segs)
    assert run_fields(segs) == events
    lost = [r for r in dropped if r[0] >= 0]
    kept = bytearray()
    holes: list[tuple[int, int]] = []
    pos = 0
    for lo, size in sorted(lost):
        kept += c2s[pos:lo]
        pos = lo + size
    kept += c2s[pos:]
    assert stream_bytes(events) == bytes(kept)
    # expected gaps: merged runs of dropped bytes that some kept byte follows
    for lo, size in sorted(lost):
        if holes and holes[-1][0] + holes[-1][1] == lo:
            holes[-1] = (holes[-1][0], holes[-1][1] + size)
        else:
            holes.append((lo, size))
    holes = [h for h in holes if h[0] + h[1] < len(c2s)]
    assert gaps(events) == holes


def test_closed_connections_are_forgotten_so_memory_follows_open_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from netlab.stream import reassembly

    monkeypatch.setattr(reassembly, "_SWEEP_AT", 4)
    r = Reassembler()
    opened = 0
    for i in range(50):
        b = Builder(client=Endpoint("10.0.0.1", 30000 + i))
        for seg in [
            *handshake(b),
            b.c(101, b"hi"),
            b.c(103, flags=FIN | ACK),
            b.s(901, flags=FIN | ACK, ack=104),
        ]:
            opened += sum(isinstance(e, Opened) for e in r.feed(seg))
        assert len(r._all) <= 8  # noqa: SLF001 (the bound is the point of the test)
    assert opened == 50 and r.streams == 50
    closed = [e for e in r.flush() if isinstance(e, Closed)]
    assert closed and all(e.reason is CloseReason.FIN for e in closed)


def test_a_bad_syn_checksum_means_offload_so_nothing_waits() -> None:
    b = Builder()
    segs = [
        b.c(100, flags=SYN, checksum_ok=False),
        b.s(900, flags=SYN | ACK, ack=101),
        b.c(101, b"first", ack=901, checksum_ok=False),
    ]
    r = Reassembler()
    out = [e for seg in segs for e in r.feed(seg)]
    assert stream_bytes(out) == b"first"  # emitted at once, not held until an ACK or flush


def test_a_syn_answered_by_a_rst_is_a_refused_connection() -> None:
    b = Builder()
    events = run([b.c(100, flags=SYN), b.s(0, flags=RST | ACK, ack=101)])
    closed = events[-1]
    assert isinstance(closed, Closed) and closed.reason is CloseReason.REFUSED


_PORTS = st.sampled_from([40000, 40001, 40002])
_KINDS = st.sampled_from(["syn", "synack", "data", "fin", "rst", "quoted"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_KINDS, _PORTS, st.integers(0, 40), st.sampled_from([100, 104, 900, 5000])), max_size=40))
def test_stream_numbers_are_unique_and_accounted_for(script: list[tuple[str, int, int, int]]) -> None:
    """Port reuse, late SYNs, resets and quoted headers in any order: every stream number is either one
    connection's or listed in `unused`, never both, and the two ways of feeding agree."""
    builders = {port: Builder(client=Endpoint("10.0.0.1", port)) for port in (40000, 40001, 40002)}
    segs: list[Segment] = []
    for kind, port, offset, isn in script:
        b = builders[port]
        if kind == "syn":
            segs.append(b.c(isn, flags=SYN))
        elif kind == "synack":
            segs.append(b.s(isn, flags=SYN | ACK, ack=101))
        elif kind == "data":
            segs.append(b.c(101 + offset, b"d" * 3, ack=901))
        elif kind == "fin":
            segs += [b.c(101 + offset, flags=FIN | ACK, ack=901), b.s(901, flags=FIN | ACK, ack=102 + offset)]
        elif kind == "rst":
            segs.append(b.s(0, flags=RST | ACK, ack=101))
        else:
            segs.append(dataclasses.replace(b.c(isn, flags=SYN), flags=QUOTED))
    r = Reassembler()
    events = r.feed_all(segs)
    opened = [e.stream for e in events if isinstance(e, Opened)]
    assert len(opened) == len(set(opened))
    assert not set(opened) & set(r.unused)
    assert set(opened) | set(r.unused) == set(range(r.streams))
    assert sorted(e.stream for e in events if isinstance(e, Closed)) == sorted(opened)
    assert run_fields(segs) == events


@st.composite
def acknowledged_conversation(draw: st.DrawFn) -> list[Segment]:
    """Chat-like traffic both ways with acknowledgements, the shape `follow --read` mostly sees: data in
    order, pure ACKs, and now and then a retransmission, two segments swapped, a lost segment, a
    duplicate ACK, a closed window, a bad checksum, a window-scale option, a capture started
    mid-stream, time steps from none to long, and several connections interleaved."""
    per_conn: list[list[Segment]] = []
    frame, ts = 0, 1000.0
    for conn in range(draw(st.integers(1, 3))):
        segs: list[Segment] = []
        per_conn.append(segs)
        client, server = Endpoint("10.0.0.1", 40000 + conn), Endpoint("10.0.0.2", 7000)
        isn = {True: draw(st.integers(0, M)), False: draw(st.integers(0, M))}
        nxt = {side: (isn[side] + 1) & M for side in isn}  # next sequence number each way
        acked = dict(nxt)  # what each side acknowledged of the other
        handshake = draw(st.booleans())
        wscale = draw(st.sampled_from([None, 0, 2]))
        steps: list[tuple[bool, int, int, int, bytes, int, bool | None, int | None]] = []
        if handshake:
            syns = [(True, isn[True], 0, SYN, b"", 65535, None, wscale)]
            if draw(st.booleans()):  # the SYN-ACK (else not captured)
                synack = (False, isn[False], nxt[True], SYN | ACK, b"", 65535, None, wscale)
                syns.append(synack)
                if draw(st.booleans()):  # and another with another ISN: the client's ACK decides (`Flow.other_isn`)
                    other = (False, (isn[False] + 5000) & M, *synack[2:])
                    syns.insert(draw(st.integers(1, 2)), other)
            steps += syns
            if draw(st.booleans()):
                steps.append((True, nxt[True], nxt[False], ACK, b"", 65535, None, None))
        sent: list[tuple[bool, int, bytes]] = []
        for _ in range(draw(st.integers(0, 30))):
            side = draw(st.booleans())
            kind = draw(st.sampled_from(["data", "data", "data", "ack", "ack", "resend", "swap", "lose", "dup"]))
            window = draw(st.sampled_from([65535, 65535, 65535, 0, 10]))
            ok = draw(st.sampled_from([None, True, True, False]))
            if kind in ("data", "swap", "lose"):
                data = draw(st.binary(min_size=1, max_size=6))
                step = (side, nxt[side], nxt[not side], ACK | PSH, data, window, ok, None)
                sent.append((side, nxt[side], data))
                nxt[side] = (nxt[side] + len(data)) & M
                if kind == "swap" and steps:
                    steps.insert(len(steps) - 1, step)
                elif kind != "lose":
                    steps.append(step)
            elif kind == "resend" and sent:
                who, seq, data = draw(st.sampled_from(sent))
                steps.append((who, seq, nxt[not who], ACK | PSH, data, window, ok, None))
            else:  # a pure ACK, moving the acknowledgement or repeating it
                if kind == "ack":
                    acked[side] = nxt[not side]
                steps.append((side, nxt[side], acked[side], ACK, b"", window, None, None))
        for forward, seq, ack, flags, data, window, ok, scale in steps:
            frame += 1
            ts += draw(st.sampled_from([0.0, 0.0001, 0.002, 0.5]))
            src, dst = (client, server) if forward else (server, client)
            seg = Segment(frame, ts, src, dst, seq, ack, flags, window, data, len(data), ok, (), scale)
            segs.append(seg)
    if not draw(st.booleans()):
        return [seg for segs in per_conn for seg in segs]
    mixed = sorted(  # interleaved, each connection's segments in their order
        ((i, n, seg) for n, segs in enumerate(per_conn) for i, seg in enumerate(segs)), key=lambda t: t[:2]
    )
    return [dataclasses.replace(seg, frame=k, ts=1000.0 + k / 1000) for k, (_, _, seg) in enumerate(mixed, 1)]


@settings(max_examples=300, deadline=None)
@given(acknowledged_conversation())
def test_the_quick_path_gives_what_feed_gives_with_acknowledgements_both_ways(segs: list[Segment]) -> None:
    """`feed_batch`'s hand-written quick path (pure ACKs and in-order data, the plain analysis' ordinary
    segments) against `feed`: the same events, and after every segment the same state of every
    connection (its flows and its analysis: what later segments' events and counts depend on)."""
    names = [f.name for f in dataclasses.fields(Segment)]  # SegmentFields order
    general, quick = Reassembler(), Reassembler()
    for seg in segs:
        events: list[Event] = []
        quick.feed_batch([tuple(getattr(seg, n) for n in names)], events)  # type: ignore[list-item]
        assert events == general.feed(seg)
        assert _state(quick) == _state(general)
    assert quick.flush() == general.flush()
    assert run_fields(segs) == run(segs)


def _state(r: Reassembler) -> list[tuple[object, ...]]:
    """What the reassembler keeps of each open connection (white box: flows and analysis slots)."""

    def slots(obj: object) -> tuple[object, ...]:
        return tuple(
            bytes(value) if isinstance(value, bytearray) else value
            for name in type(obj).__slots__
            if name not in ("conn", "frags", "held")
            for value in [getattr(obj, name)]
        )

    return [
        (slots(conn.c2s), slots(conn.s2c), slots(conn.analysis._fwd), slots(conn.analysis._rev), conn.counts)
        for conn in r._all.values()
    ]
