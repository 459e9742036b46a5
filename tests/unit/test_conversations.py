"""The UDP conversation tracker: numbering like udp.stream, one turn per datagram, counts, VLANs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netlab.packets import Datagram, Endpoint
from netlab.stream.conversations import ConversationTracker
from netlab.stream.events import Closed, CloseReason, Data, Direction, Event, Gap, GapReason, Opened, Transport
from netlab.stream.roles import RoleReason

ENDS = [Endpoint("10.0.0.1", 5000), Endpoint("10.0.0.2", 53), Endpoint("fd00::1", 53), Endpoint("10.0.0.1", 5001)]


def _datagram(
    n: int, src: Endpoint, dst: Endpoint, payload: bytes, wire_len: int | None = None, vlan: tuple[int, ...] = ()
) -> Datagram:
    return Datagram(n, 1000.0 + n, src, dst, payload, len(payload) if wire_len is None else wire_len, None, vlan)


def _feed_all(tracker: ConversationTracker, datagrams: list[Datagram]) -> list[Event]:
    events: list[Event] = []
    for datagram in datagrams:
        events += tracker.feed(datagram)
    return events + tracker.flush()


datagrams_st = st.lists(
    st.tuples(
        st.sampled_from(ENDS),
        st.sampled_from(ENDS),
        st.binary(max_size=6),
        st.sampled_from([(), (10,)]),
        st.integers(0, 3),
    ),
    max_size=40,
).map(
    lambda rows: [
        _datagram(i + 1, src, dst, payload, len(payload) + extra, vlan)
        for i, (src, dst, payload, vlan, extra) in enumerate(rows)
    ]
)


def _model(datagrams: list[Datagram], by_vlan: bool) -> list[tuple[int, Endpoint]]:
    """Per datagram: its conversation's number and first sender, numbered in order of first datagram."""
    numbers: dict[tuple[object, ...], tuple[int, Endpoint]] = {}
    out = []
    for d in datagrams:
        key = (frozenset((d.src, d.dst)), d.vlan if by_vlan else ())
        if key not in numbers:
            numbers[key] = (len(numbers), d.src)
        out.append(numbers[key])
    return out


@pytest.mark.parametrize("vlans", ["auto", "merge"])
@given(datagrams=datagrams_st)
def test_each_datagram_is_one_turn_of_its_numbered_conversation(vlans: str, datagrams: list[Datagram]) -> None:
    events = _feed_all(ConversationTracker(vlans=vlans), datagrams)  # type: ignore[arg-type]
    model = _model(datagrams, by_vlan=vlans != "merge")
    data = [e for e in events if isinstance(e, Data)]
    expected = [(m, d) for m, d in zip(model, datagrams, strict=True) if d.payload]
    assert [(e.stream, e.data, e.frame) for e in data] == [(n, d.payload, d.frame) for (n, _), d in expected]
    for event, ((_, first), d) in zip(data, expected, strict=True):
        assert event.direction is (Direction.C2S if d.src == first else Direction.S2C)
        assert (event.src, event.dst) == (d.src, d.dst)
    opened = [e for e in events if isinstance(e, Opened)]
    assert [e.stream for e in opened] == list(range(len(opened)))
    assert all(e.proto is Transport.UDP and e.roles_reason is RoleReason.FIRST_SENDER for e in opened)
    assert not any(
        isinstance(e, Gap) and e.reason is not GapReason.NOT_CAPTURED for e in events
    )  # no loss is ever claimed


@given(datagrams=datagrams_st)
def test_counts_add_up_and_every_conversation_closes_at_the_end(datagrams: list[Datagram]) -> None:
    tracker = ConversationTracker()
    events = _feed_all(tracker, datagrams)
    closed = [e for e in events if isinstance(e, Closed)]
    assert [e.stream for e in closed] == list(range(tracker.streams))
    assert all(e.reason is CloseReason.END for e in closed)
    assert sum(e.stats.packets for e in closed) == len(datagrams)
    assert sum(e.stats.bytes_c2s + e.stats.bytes_s2c for e in closed) == sum(d.wire_len for d in datagrams)
    missing = sum(e.size for e in events if isinstance(e, Gap))
    assert sum(e.stats.not_captured_bytes for e in closed) == missing == sum(d.missing for d in datagrams)


@given(datagrams=datagrams_st, cut=st.integers(0, 40))
def test_feeding_in_two_runs_gives_the_same_events(datagrams: list[Datagram], cut: int) -> None:
    whole = _feed_all(ConversationTracker(), datagrams)
    tracker = ConversationTracker()
    events: list[Event] = []
    for d in datagrams[:cut]:
        tracker.feed_into(d, events)
    for d in datagrams[cut:]:
        events += tracker.feed(d)
    assert events + tracker.flush() == whole


def test_the_first_sender_is_the_client_whoever_has_the_lower_port() -> None:
    server, client = Endpoint("10.0.0.2", 53), Endpoint("10.0.0.1", 40000)
    events = _feed_all(
        ConversationTracker(), [_datagram(1, server, client, b"unsolicited"), _datagram(2, client, server, b"re")]
    )
    opened = events[0]
    assert isinstance(opened, Opened) and (opened.client, opened.server) == (server, client)
    assert [e.direction for e in events if isinstance(e, Data)] == [Direction.C2S, Direction.S2C]


def test_the_same_pair_on_two_vlans_is_two_conversations_unless_merged() -> None:
    a, b = ENDS[0], ENDS[1]
    datagrams = [_datagram(1, a, b, b"x", vlan=(10,)), _datagram(2, b, a, b"y", vlan=(20,))]
    assert ConversationTracker().feed(datagrams[0])[0].stream == 0
    split = _feed_all(ConversationTracker(vlans="split"), datagrams)
    merged = _feed_all(ConversationTracker(vlans="merge"), datagrams)
    assert sum(isinstance(e, Opened) for e in split) == 2
    assert sum(isinstance(e, Opened) for e in merged) == 1


def test_an_empty_datagram_counts_but_shows_nothing() -> None:
    a, b = ENDS[0], ENDS[1]
    events = _feed_all(ConversationTracker(), [_datagram(1, a, b, b"")])
    assert [type(e) for e in events] == [Opened, Closed]
    closed = events[-1]
    assert isinstance(closed, Closed) and closed.stats.packets_c2s == 1 and closed.frame == 1


def test_unknown_vlan_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="vlans must be one of"):
        ConversationTracker(vlans="sometimes")  # type: ignore[arg-type]
