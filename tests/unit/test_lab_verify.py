"""Checking a capture's client→server bytes against what participants wrote (pure)."""

from __future__ import annotations

from netlab.lab.verify import check_sent, expected_bytes
from netlab.packets import Endpoint
from netlab.stream.dialogue import Turn, build_dialogues
from netlab.stream.events import Closed, CloseReason, Data, Direction, Event, Opened, StreamStats
from netlab.stream.roles import RoleReason

C = Endpoint("127.0.0.1", 40000)
S = Endpoint("127.0.0.1", 55555)


def _dialogue(*chunks: bytes) -> list[Event]:
    events: list[Event] = [Opened(0, 0.0, 1, C, S, RoleReason.SYN)]
    offset = 0
    for index, chunk in enumerate(chunks):
        events.append(Data(0, Direction.C2S, float(index), index + 2, C, S, chunk, offset))
        offset += len(chunk)
    events.append(Closed(0, 9.0, 99, CloseReason.FIN, StreamStats()))
    return events


def test_expected_bytes_are_the_nick_line_then_each_line() -> None:
    assert expected_bytes("алиса", ["hi 👋", "/quit"]) == "алиса\nhi 👋\n/quit\n".encode()


def test_equal_streams_pass_however_they_were_segmented() -> None:
    wrote = expected_bytes("alice", ["hello", "/quit"])
    dialogues = build_dialogues(_dialogue(wrote[:3], wrote[3:9], wrote[9:]))
    assert any(isinstance(i, Turn) for i in dialogues[0].items)
    assert check_sent(dialogues, {C: ("alice", wrote)}) == []


def test_a_difference_names_the_participant_and_the_first_differing_byte() -> None:
    wrote = expected_bytes("alice", ["hello"])
    problems = check_sent(build_dialogues(_dialogue(b"alice\nhellO\n")), {C: ("alice", wrote)})
    assert problems == [
        "alice: the capture holds 12 bytes client→server, the participant wrote 12; they differ from byte 10"
    ]
    short = check_sent(build_dialogues(_dialogue(b"alice\n")), {C: ("alice", wrote)})
    assert short and "differ from byte 6" in short[0]


def test_a_missing_connection_is_a_problem() -> None:
    other = Endpoint("127.0.0.1", 40001)
    assert check_sent([], {other: ("bob", b"bob\n")}) == ["bob: no connection from 127.0.0.1:40001 in the capture"]
