"""Dialogues: turns, gaps and controls grouped per stream from one event list."""

from __future__ import annotations

from _segments import ACK, FIN, SYN, Builder

from netlab.packets import Endpoint
from netlab.stream import Reassembler, Turn, build_dialogues
from netlab.stream.events import CloseReason, Control, ControlKind, Direction, Gap


def test_two_streams_turns_controls_and_stats() -> None:
    a = Builder()
    b = Builder(client=Endpoint("10.0.0.3", 41000))
    segs = [
        a.c(1, flags=SYN),
        b.c(50, flags=SYN),
        a.s(7, flags=SYN | ACK, ack=2),
        a.c(2, b"one", ack=8),
        b.c(51, b"x"),
        a.c(5, b"two", ack=8),
        a.s(8, b"reply", ack=8),
        a.c(8, flags=FIN | ACK, ack=13),
        a.s(13, flags=FIN | ACK, ack=9),
    ]
    first, second = build_dialogues(Reassembler().feed_all(segs))
    assert (first.stream, second.stream) == (0, 1)
    turns = first.turns
    assert [(t.direction, t.data, t.chunks) for t in turns] == [
        (Direction.C2S, b"onetwo", 2),
        (Direction.S2C, b"reply", 1),
    ]
    assert turns[0].first_frame == 3 and turns[0].last_frame == 4  # frames counted per builder
    controls = [i.kind for i in first.items if isinstance(i, Control)]
    assert controls == [ControlKind.SYN, ControlKind.SYN_ACK, ControlKind.FIN, ControlKind.FIN]
    assert first.close_reason is CloseReason.FIN and second.close_reason is CloseReason.END
    assert first.stats.packets == 7 and first.stats.bytes_c2s == 6 and first.stats.bytes_s2c == 5
    assert first.stats.duration == first.stats.last_ts - first.stats.first_ts > 0
    assert first.bytes(Direction.C2S) == b"onetwo" and second.bytes(Direction.C2S) == b"x"


def test_gap_splits_turns() -> None:
    a = Builder()
    segs = [a.c(1, flags=SYN), a.c(2, b"ab"), a.c(6, b"ef")]
    (dialogue,) = build_dialogues(Reassembler().feed_all(segs))
    kinds = [type(i) for i in dialogue.items]
    assert kinds == [Control, Turn, Gap, Turn]
    assert dialogue.stats.gap_bytes == 2
