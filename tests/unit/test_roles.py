"""Who is the server when the handshake was not captured: `netlab.stream.roles` and the reassembler."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from netlab.packets import Endpoint, Segment
from netlab.stream.events import Opened
from netlab.stream.reassembly import Reassembler
from netlab.stream.roles import RoleHints, RoleJudge, RoleReason, explain_roles

LOCAL = "127.0.0.1"
ACK, SYN = 0x10, 0x02


def ep(port: int, ip: str = LOCAL) -> Endpoint:
    return Endpoint(ip, port)


def test_the_port_the_user_named_decides_even_against_the_lower_port() -> None:
    judge = RoleJudge(RoleHints(ports=frozenset({55555})))
    assert judge.decide(ep(55555), ep(39602)) == (ep(55555), RoleReason.PORT_OPTION)
    assert judge.decide(ep(39602), ep(55555)) == (ep(55555), RoleReason.PORT_OPTION)


def test_a_port_option_matching_both_ends_falls_to_the_next_rule() -> None:
    judge = RoleJudge(RoleHints(ports=frozenset({5000}), listening=frozenset({ep(5000, "10.0.0.2")})))
    server, reason = judge.decide(ep(5000, "10.0.0.1"), ep(5000, "10.0.0.2"))
    assert (server, reason) == (ep(5000, "10.0.0.2"), RoleReason.LISTENING)


def test_a_listening_socket_decides_and_a_wildcard_listener_matches_any_address() -> None:
    judge = RoleJudge(RoleHints(listening=frozenset({ep(40000, "0.0.0.0")})))
    assert judge.decide(ep(40000), ep(38000)) == (ep(40000), RoleReason.LISTENING)
    judge = RoleJudge(RoleHints(listening=frozenset({ep(40000, "::")})))
    assert judge.decide(ep(38000, "::1"), ep(40000, "::1")) == (ep(40000, "::1"), RoleReason.LISTENING)


def test_the_server_record_decides() -> None:
    judge = RoleJudge(RoleHints(recorded=frozenset({ep(55555)})))
    assert judge.decide(ep(39602), ep(55555)) == (ep(55555), RoleReason.SERVER_RECORD)


def test_an_end_that_accepted_another_connection_is_the_server() -> None:
    judge = RoleJudge()
    judge.observe(ep(39000), ep(55555), server=ep(55555))
    assert judge.decide(ep(55555), ep(39602)) == (ep(55555), RoleReason.HANDSHAKE_SEEN)


def test_fan_in_one_end_shared_by_several_connections_is_the_server() -> None:
    judge = RoleJudge()
    judge.observe(ep(55555), ep(39602))
    judge.observe(ep(39610), ep(55555))
    assert judge.decide(ep(55555), ep(39620)) == (ep(55555), RoleReason.FAN_IN)


def test_fan_in_is_learned_ahead_from_the_capture_when_the_first_connection_is_judged() -> None:
    ahead = [(ep(55555), ep(39602), False), (ep(55555), ep(39610), False), (ep(39620), ep(55555), False)]
    calls = []

    def lookahead() -> list[tuple[Endpoint, Endpoint, bool]]:
        calls.append(1)
        return ahead

    judge = RoleJudge(lookahead=lookahead)
    assert judge.decide(ep(55555), ep(39602)) == (ep(55555), RoleReason.FAN_IN)
    assert judge.decide(ep(39610), ep(55555)) == (ep(55555), RoleReason.FAN_IN)
    assert calls == [1]  # read ahead once


def test_lookahead_is_not_read_when_a_stronger_rule_decides() -> None:
    def lookahead() -> list[tuple[Endpoint, Endpoint, bool]]:
        raise AssertionError("read ahead without need")

    judge = RoleJudge(RoleHints(ports=frozenset({8080})), lookahead)
    assert judge.decide(ep(8080), ep(2000))[1] is RoleReason.PORT_OPTION


def test_port_ranges_well_known_and_registered_ports_beat_ephemeral_ones() -> None:
    judge = RoleJudge()
    assert judge.decide(ep(60000), ep(8080)) == (ep(8080), RoleReason.PORT_RANGE)
    assert judge.decide(ep(39602), ep(12345)) == (ep(12345), RoleReason.PORT_RANGE)
    assert judge.decide(ep(2000), ep(443)) == (ep(443), RoleReason.PORT_RANGE)
    custom = RoleJudge(RoleHints(ephemeral=(10000, 20000)))
    assert custom.decide(ep(15000), ep(25000)) == (ep(25000), RoleReason.PORT_RANGE)


def test_lower_port_only_without_any_other_evidence() -> None:
    server, reason = RoleJudge().decide(ep(55555), ep(39602))
    assert (server, reason) == (ep(39602), RoleReason.LOWER_PORT)
    assert "lower port" in explain_roles(reason)


endpoints = st.builds(Endpoint, st.sampled_from(["10.0.0.1", "10.0.0.2", "::1"]), st.integers(1, 65535))


@given(endpoints, endpoints, st.lists(st.tuples(endpoints, endpoints), max_size=8), st.sets(st.integers(1, 65535)))
def test_the_decision_is_one_of_the_ends_and_does_not_depend_on_which_end_spoke_first(
    a: Endpoint, b: Endpoint, others: list[tuple[Endpoint, Endpoint]], ports: set[int]
) -> None:
    def judge() -> RoleJudge:
        j = RoleJudge(RoleHints(ports=frozenset(ports)))
        for x, y in others:
            j.observe(x, y)
        return j

    server, reason = judge().decide(a, b)
    assert server in (a, b)
    assert reason is not RoleReason.SYN
    if a.port != b.port:
        assert judge().decide(b, a) == (server, reason)


def _mid_chat(server: Endpoint, clients: list[Endpoint]) -> list[Segment]:
    """Broadcasts from `server` to every client, then a reply from each: no handshakes captured."""
    segs: list[Segment] = []
    frame = 0
    for round_ in range(2):
        for i, client in enumerate(clients):
            frame += 1
            segs.append(
                Segment(
                    frame, float(frame), server, client, 1000 + 6 * round_, 500 + 4 * round_, ACK, 100, b"hello\n", 6
                )
            )
            frame += 1
            segs.append(
                Segment(
                    frame,
                    float(frame),
                    client,
                    server,
                    500 + 4 * round_,
                    1006 + 6 * round_,
                    ACK,
                    100,
                    f"c{i}!\n".encode(),
                    4,
                )
            )
    return segs


def _opened(events: list[object]) -> list[Opened]:
    return [e for e in events if isinstance(e, Opened)]


def test_reassembler_mid_chat_server_on_an_ephemeral_port_is_found_by_fan_in_from_a_read_ahead() -> None:
    server = ep(55555)
    clients = [ep(39602), ep(39610), ep(39620)]
    segs = _mid_chat(server, clients)
    ahead = [(s.src, s.dst, False) for s in segs]
    events = Reassembler(roles=RoleJudge(lookahead=lambda: ahead)).feed_all(segs)
    opened = _opened(events)
    assert [o.server for o in opened] == [server] * 3
    assert [o.client for o in opened] == clients
    assert all(o.roles_reason is RoleReason.FAN_IN and o.roles_guessed for o in opened)


def test_reassembler_without_read_ahead_learns_fan_in_as_connections_open() -> None:
    server = ep(55555)
    clients = [ep(39602), ep(39610), ep(39620)]
    opened = _opened(Reassembler().feed_all(_mid_chat(server, clients)))
    assert opened[0].roles_reason is RoleReason.LOWER_PORT  # nothing else known yet: a guess, said so
    assert [o.server for o in opened[1:]] == [server, server]
    assert all(o.roles_reason is RoleReason.FAN_IN for o in opened[1:])


def test_reassembler_with_a_port_hint_labels_every_stream() -> None:
    server = ep(55555)
    clients = [ep(39602)]
    judge = RoleJudge(RoleHints(ports=frozenset({55555})))
    (opened,) = _opened(Reassembler(roles=judge).feed_all(_mid_chat(server, clients)))
    assert (opened.client, opened.server, opened.roles_reason) == (clients[0], server, RoleReason.PORT_OPTION)


def test_a_captured_handshake_decides_and_teaches_the_judge() -> None:
    server, early, late = ep(55555), ep(39000), ep(39602)
    segs = [
        Segment(1, 1.0, early, server, 10, 0, SYN, 100, b"", 0),
        Segment(2, 2.0, server, early, 90, 11, SYN | ACK, 100, b"", 0),
        Segment(3, 3.0, server, late, 1000, 500, ACK, 100, b"hi\n", 3),
    ]
    opened = _opened(Reassembler().feed_all(segs))
    assert opened[0].roles_reason is RoleReason.SYN and not opened[0].roles_guessed
    assert (opened[1].server, opened[1].roles_reason) == (server, RoleReason.HANDSHAKE_SEEN)
