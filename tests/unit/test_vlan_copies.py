"""One 4-tuple on several VLANs: copies of one connection merge, different connections stay apart."""

from __future__ import annotations

import dataclasses

import pytest
from _segments import ACK, FIN, PSH, SYN, Builder, gaps, stream_bytes
from hypothesis import given, settings
from hypothesis import strategies as st

from netlab.packets import Segment
from netlab.stream import Reassembler
from netlab.stream.events import Data, Direction, Event, Notice, NoticeKind, Opened
from netlab.stream.vlan_copies import MAX_SEGMENTS

S2C = Direction.S2C


def run(segments: list[Segment], vlans: str = "auto") -> list[Event]:
    return Reassembler(vlans=vlans).feed_all(segments)  # type: ignore[arg-type]


def run_fields(segments: list[Segment]) -> list[Event]:
    """The tuple path `follow --read` takes (`feed_batch`), in batches of 5."""
    r = Reassembler()
    names = [f.name for f in dataclasses.fields(Segment)]  # SegmentFields order
    fields = [tuple(getattr(seg, n) for n in names) for seg in segments]
    events: list[Event] = []
    for i in range(0, len(fields), 5):
        r.feed_batch(fields[i : i + 5], events)  # type: ignore[arg-type]
    return events + r.flush()


def streams(events: list[Event]) -> set[int]:
    return {e.stream for e in events if isinstance(e, Opened)}


def conversation(b: Builder, c: bytes, s: bytes, c_isn: int = 100, s_isn: int = 900) -> list[Segment]:
    """Handshake, the client's bytes in 5-byte segments, the server's answer, FIN both ways."""
    out = [b.c(c_isn, flags=SYN), b.s(s_isn, flags=SYN | ACK, ack=c_isn + 1), b.c(c_isn + 1, ack=s_isn + 1)]
    for i in range(0, len(c), 5):
        out.append(b.c(c_isn + 1 + i, c[i : i + 5], flags=PSH | ACK, ack=s_isn + 1))
    out.append(b.s(s_isn + 1, s, flags=PSH | ACK, ack=c_isn + 1 + len(c)))
    out.append(b.c(c_isn + 1 + len(c), flags=FIN | ACK, ack=s_isn + 1 + len(s)))
    out.append(b.s(s_isn + 1 + len(s), flags=FIN | ACK, ack=c_isn + 2 + len(c)))
    return out


def on_vlan(segments: list[Segment], vlan: tuple[int, ...]) -> list[Segment]:
    return [dataclasses.replace(seg, vlan=vlan) for seg in segments]


def interleave(a: list[Segment], b: list[Segment], lag: int) -> list[Segment]:
    """`b` starts `lag` frames after `a`; then one frame of each in turn."""
    out = a[:lag]
    rest_a, rest_b = a[lag:], list(b)
    while rest_a or rest_b:
        if rest_a:
            out.append(rest_a.pop(0))
        if rest_b:
            out.append(rest_b.pop(0))
    return out


def test_different_connections_with_the_same_isns_stay_apart() -> None:
    b10, b20 = Builder(vlan=(10,)), Builder(vlan=(20,))
    segs = interleave(
        conversation(b10, b"NICK alice\n", b"hi alice\n"), conversation(b20, b"NICK bob\n", b"hi bob\n"), 0
    )
    events = run(segs)
    assert streams(events) == {0, 1}
    assert stream_bytes(events, stream=0) == b"NICK alice\n" and stream_bytes(events, S2C, 0) == b"hi alice\n"
    assert stream_bytes(events, stream=1) == b"NICK bob\n" and stream_bytes(events, S2C, 1) == b"hi bob\n"
    vlan_of = {e.stream: e.vlan for e in events if isinstance(e, Opened)}
    assert vlan_of == {0: (10,), 1: (20,)}
    assert run_fields(segs) == events


def test_different_isns_split_at_the_syn() -> None:
    b10, b20 = Builder(vlan=(10,)), Builder(vlan=(20,))
    a = conversation(b10, b"one", b"1")
    b = conversation(b20, b"two", b"2", c_isn=5000, s_isn=7000)
    events = run(interleave(a, b, 1))
    assert stream_bytes(events, stream=0) == b"one" and stream_bytes(events, stream=1) == b"two"
    opened = [e for e in events if isinstance(e, Opened)]
    assert opened[1].frame == b[0].frame  # split at B's very first frame: its SYN


def test_a_connection_that_runs_ahead_of_the_idle_owner_is_split_once_the_owner_talks() -> None:
    b10, b20 = Builder(vlan=(10,)), Builder(vlan=(20,))
    a = conversation(b10, b"alpha", b"A")
    b = conversation(b20, b"bravo!", b"B")
    segs = a[:3] + b + a[3:]  # B's whole conversation while A is between handshake and data
    events = run(segs)
    assert stream_bytes(events, stream=0) == b"alpha" and stream_bytes(events, S2C, 0) == b"A"
    assert stream_bytes(events, stream=1) == b"bravo!" and stream_bytes(events, S2C, 1) == b"B"


def test_a_new_syn_after_the_owner_closed_is_a_new_connection_even_with_the_same_bytes() -> None:
    b10, b20 = Builder(vlan=(10,)), Builder(vlan=(20,))
    segs = conversation(b10, b"same", b"ok") + conversation(b20, b"same", b"ok")
    events = run(segs)
    assert streams(events) == {0, 1}
    assert stream_bytes(events, stream=1) == b"same"


@pytest.mark.parametrize("lag", [0, 1, 3, 7])
def test_copies_on_another_vlan_are_merged_like_wireshark(lag: int) -> None:
    b = Builder(vlan=(10,))
    a = conversation(b, b"hello there, general", b"kenobi")
    segs = interleave(a, on_vlan(a, (20,)), lag)
    events = run(segs)
    assert streams(events) == {0}
    assert stream_bytes(events) == b"hello there, general" and stream_bytes(events, S2C) == b"kenobi"
    assert [e.kind for e in events if isinstance(e, Notice) and e.kind is NoticeKind.VLAN_COPY] == [
        NoticeKind.VLAN_COPY
    ]
    merged = run(segs, vlans="merge")  # exactly Wireshark's view
    data = lambda ev: [(e.direction, e.data) for e in ev if isinstance(e, Data)]  # noqa: E731
    assert data(events) == data(merged)
    assert run_fields(segs) == events


def test_copies_from_three_vlans_and_qinq_are_one_stream() -> None:
    a = conversation(Builder(), b"x" * 23, b"y" * 7)
    segs = interleave(interleave(a, on_vlan(a, (42,)), 1), on_vlan(a, (10, 20)), 4)
    events = run(segs)
    assert streams(events) == {0}
    assert stream_bytes(events) == b"x" * 23 and stream_bytes(events, S2C) == b"y" * 7


def test_each_direction_on_its_own_vlan_is_one_stream() -> None:
    a = conversation(Builder(), b"request", b"response")
    segs = [dataclasses.replace(s, vlan=(10,) if s.src.port == 40000 else ()) for s in a]
    events = run(segs)
    assert streams(events) == {0}
    assert stream_bytes(events) == b"request" and stream_bytes(events, S2C) == b"response"


def test_long_copies_are_merged_after_a_bounded_hold() -> None:
    a = conversation(Builder(vlan=(10,)), bytes(range(256)) * 4, b"ok")
    assert len(a) > MAX_SEGMENTS
    events = run(interleave(a, on_vlan(a, (20,)), 2))
    assert streams(events) == {0}
    assert stream_bytes(events) == bytes(range(256)) * 4


def test_merge_and_split_modes_force_either_way() -> None:
    a = conversation(Builder(vlan=(10,)), b"same", b"ok")
    segs = interleave(a, on_vlan(a, (20,)), 0)
    assert streams(run(segs, vlans="split")) == {0, 1}
    assert streams(run(segs, vlans="merge")) == {0}
    with pytest.raises(ValueError, match="vlans must be one of"):
        Reassembler(vlans="sometimes")  # type: ignore[arg-type]


@settings(max_examples=80, deadline=None)
@given(
    c1=st.binary(min_size=1, max_size=60),
    s1=st.binary(min_size=1, max_size=60),
    c2=st.binary(min_size=1, max_size=60),
    s2=st.binary(min_size=1, max_size=60),
    same_isns=st.booleans(),
    lag=st.integers(0, 12),
    order=st.randoms(use_true_random=False),
)
def test_two_connections_on_two_vlans_keep_their_own_bytes(
    c1: bytes, s1: bytes, c2: bytes, s2: bytes, same_isns: bool, lag: int, order: object
) -> None:
    c2 = bytes([c1[0] ^ 0xFF]) + c2[1:]  # the two conversations differ from their first byte
    b10, b20 = Builder(vlan=(10,)), Builder(vlan=(20,))
    a = conversation(b10, c1, s1)
    b = conversation(b20, c2, s2, *((100, 900) if same_isns else (31337, 4242)))
    events = run(interleave(a, b, lag))
    assert stream_bytes(events, stream=0) == c1 and stream_bytes(events, S2C, 0) == s1
    assert stream_bytes(events, stream=1) == c2 and stream_bytes(events, S2C, 1) == s2


@settings(max_examples=80, deadline=None)
@given(
    c=st.binary(min_size=1, max_size=400),
    s=st.binary(min_size=1, max_size=100),
    lag=st.integers(0, 40),
    drop=st.sets(st.integers(0, 200), max_size=5),
)
def test_copies_with_any_lag_and_losses_on_the_copy_give_one_exact_stream(
    c: bytes, s: bytes, lag: int, drop: set[int]
) -> None:
    a = conversation(Builder(vlan=(10,)), c, s)
    copy = [seg for i, seg in enumerate(on_vlan(a, (20,))) if i not in drop]
    lag = min(lag, len(a) - 2)  # a SYN copy after the owner's close would be a new connection
    events = run(interleave(a, copy, lag))
    assert streams(events) == {0}
    assert stream_bytes(events) == c and stream_bytes(events, S2C) == s
    assert not gaps(events) and not gaps(events, S2C)


def test_frames_are_stamped_in_order_for_the_builder() -> None:
    b = Builder()
    first, second = b.c(1, flags=ACK), b.c(2, flags=ACK)
    assert first.frame < second.frame  # the helpers above rely on this
