"""The reassembler's state machines: declared tables, typed errors, a read-only flow view."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from _segments import ACK, SYN, Builder, stream_bytes
from hypothesis import given
from hypothesis import strategies as st

from netlab.packets import Endpoint, Segment
from netlab.stream import Reassembler
from netlab.stream.analysis import AnalysisFlag
from netlab.stream.connection import Connection
from netlab.stream.events import ControlKind, Event, Packet
from netlab.stream.flow import FlowView
from netlab.stream.states import (
    CONN_TRANSITIONS,
    FLOW_TRANSITIONS,
    ConnState,
    FlowEvent,
    FlowState,
    IllegalTransition,
    advance,
)

A, B = Endpoint("10.0.0.1", 40000), Endpoint("10.0.0.2", 80)


@pytest.mark.parametrize(("state", "event"), list(itertools.product(FlowState, FlowEvent)))
def test_every_flow_pair_is_in_the_table_or_raises_naming_both(state: FlowState, event: FlowEvent) -> None:
    if (state, event) in FLOW_TRANSITIONS:
        assert advance(FLOW_TRANSITIONS, "flow", state, event) is FLOW_TRANSITIONS[(state, event)]
        return
    with pytest.raises(IllegalTransition) as caught:
        advance(FLOW_TRANSITIONS, "flow", state, event)
    assert event.name in str(caught.value) and state.name in str(caught.value)
    assert caught.value.state is state and caught.value.event is event


def test_a_flow_starts_once() -> None:
    flow = Connection(0, A, B, 0.0).c2s
    flow.start(100, syn=True, empty=True)
    assert flow.state is FlowState.SETTLED and flow.isn == 100
    with pytest.raises(IllegalTransition, match="START_SYN in state SETTLED"):
        flow.start(100, syn=True, empty=True)


def test_the_connection_table_covers_syn_ack_and_rst_in_every_state() -> None:
    for state in ConnState:
        for kind in (ControlKind.SYN_ACK, ControlKind.RST):
            assert (state, kind) in CONN_TRANSITIONS
    conn = Connection(0, A, B, 0.0)
    for kind, expected in [
        (ControlKind.SYN, ConnState.UNCONFIRMED),  # SYN and FIN leave the connection state alone
        (ControlKind.RST, ConnState.REFUSED),
        (ControlKind.SYN_ACK, ConnState.ESTABLISHED),
        (ControlKind.FIN, ConnState.ESTABLISHED),
        (ControlKind.RST, ConnState.RESET),
    ]:
        conn.control(kind)
        assert conn.state is expected
    assert conn.closed and conn.state.handshake


@given(st.lists(st.sampled_from(list(FlowEvent)), max_size=8))
def test_flow_states_follow_the_table(events: list[FlowEvent]) -> None:
    state = FlowState.IDLE
    for event in events:
        expected = FLOW_TRANSITIONS.get((state, event))
        if expected is None:
            with pytest.raises(IllegalTransition):
                advance(FLOW_TRANSITIONS, "flow", state, event)
            return
        state = advance(FLOW_TRANSITIONS, "flow", state, event)
        assert state is expected
        assert state.provisional == (state in (FlowState.UNSETTLED, FlowState.UNSETTLED_EMPTY))


def test_the_flow_view_reads_and_cannot_write() -> None:
    flow = Connection(0, A, B, 0.0).c2s
    view = FlowView(flow)
    assert not view.started
    flow.start(1000, syn=True, empty=True)
    assert view.started and view.isn == 1000 and view.next == 0 and view.absolute(1001 + 5) == 5
    with pytest.raises(AttributeError):
        view.next = 3
    with pytest.raises(AttributeError):
        view.flow = flow


# -- SegmentFields with the window-scale option (13 elements) -----------------------------------------


def _window_full_conversation() -> list[Segment]:
    """A handshake with window-scale options, the server's window of 10 bytes, 10 bytes filling it."""
    b = Builder()
    return [
        dataclasses.replace(b.c(100, flags=SYN), wscale=0),
        dataclasses.replace(b.s(900, flags=SYN | ACK, ack=101), wscale=0),
        b.c(101, ack=901),
        dataclasses.replace(b.s(901, ack=101), window=10),
        b.c(101, b"0123456789", ack=901),
        b.s(901, b"ok", ack=111),
        b.c(111, ack=903),
    ]


def _batched(segments: list[Segment], *, packets: bool) -> list[Event]:
    names = [f.name for f in dataclasses.fields(Segment)]
    r = Reassembler(packets=packets)
    events: list[Event] = []
    r.feed_batch([tuple(getattr(seg, n) for n in names) for seg in segments], events)
    return events + r.flush()


@pytest.mark.parametrize("packets", [False, True])
@pytest.mark.parametrize("options", ["none", "window scale", "SACK"])
def test_feed_batch_gives_what_feed_gives(options: str, packets: bool) -> None:
    """`feed_batch` (all of `Segment`'s fields as tuples; its quick path) against `feed`, with the
    SYN's window-scale option missing or there, and with SACK blocks on the ACKs (which skip the
    quick path, so that the analysis sees them)."""
    segments = _window_full_conversation()
    if options == "none":
        segments = [dataclasses.replace(seg, wscale=None) for seg in segments]
    elif options == "SACK":
        segments = [
            dataclasses.replace(seg, sack=((seg.ack + 10, seg.ack + 20),)) if seg.flags == ACK else seg
            for seg in segments
        ]
    assert _batched(segments, packets=packets) == Reassembler(packets=packets).feed_all(segments)
    assert stream_bytes(_batched(segments, packets=packets)) == b"0123456789"


def test_the_window_scale_in_the_fields_reaches_the_analysis() -> None:
    def full(segments: list[Segment]) -> list[int]:
        events = _batched(segments, packets=True)
        return [e.frame for e in events if isinstance(e, Packet) and e.analysis.has(AnalysisFlag.WINDOW_FULL)]

    assert full(_window_full_conversation()) == [5]
    unknown = [dataclasses.replace(seg, wscale=None) for seg in _window_full_conversation()]
    assert full(unknown) == []  # without the option the scale is unknown: never window full (Wireshark)
