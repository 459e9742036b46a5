"""The SVG ladder diagram: rows from stream events, turns as in the transcript, escaping, caps."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from netlab.capture.model import Endpoint
from netlab.render.ladder import ladder_rows, render_ladder
from netlab.stream.dialogue import Turn, build_dialogues
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
    StreamStats,
)
from netlab.stream.roles import RoleReason

C = Endpoint("10.0.0.2", 40000)
S = Endpoint("10.0.0.1", 55555)
SVG = "{http://www.w3.org/2000/svg}"


def _data(direction: Direction, payload: bytes, ts: float, frame: int, offset: int = 0) -> Data:
    src, dst = (C, S) if direction is Direction.C2S else (S, C)
    return Data(0, direction, ts, frame, src, dst, payload, offset)


def _conversation() -> list[Event]:
    return [
        Opened(0, 0.0, 1, C, S, RoleReason.SYN),
        Control(0, Direction.C2S, 0.0, 1, ControlKind.SYN, 0, 0, 0),
        Control(0, Direction.S2C, 0.001, 2, ControlKind.SYN_ACK, 0, 1, 0),
        _data(Direction.S2C, b"NICK", 0.002, 4),
        _data(Direction.C2S, b"alice\n", 0.003, 6),
        _data(Direction.C2S, b"hello <b>&\n", 0.004, 7, 6),
        Notice(0, Direction.C2S, 0.005, 8, NoticeKind.RETRANSMISSION, 11),
        _data(Direction.S2C, b"welcome\n", 0.006, 9, 4),
        Gap(0, Direction.S2C, 0.007, 10, 100, 12, GapReason.LOST_ACKED),
        Notice(0, Direction.S2C, 0.008, 11, NoticeKind.OUT_OF_ORDER, 20),
        Control(0, Direction.C2S, 0.009, 12, ControlKind.FIN, 18, 200, 0),
        Control(0, Direction.S2C, 0.010, 13, ControlKind.RST, 200, 19, 0),
        Closed(0, 0.010, 13, CloseReason.RST, StreamStats(first_ts=0.0, last_ts=0.010)),
    ]


def test_rows_follow_the_events_and_merge_turns_like_the_dialogue() -> None:
    rows = ladder_rows(_conversation())
    assert [(r.kind, r.direction, r.label) for r in rows] == [
        ("control", Direction.C2S, "SYN"),
        ("control", Direction.S2C, "SYN-ACK"),
        ("data", Direction.S2C, "4 B"),
        ("inferred", Direction.C2S, "ACK"),
        ("data", Direction.C2S, "17 B"),
        ("retransmission", Direction.C2S, "retransmission 11 B"),
        ("data", Direction.S2C, "8 B"),
        ("gap", Direction.S2C, "[100 bytes missing]"),
        ("out-of-order", Direction.S2C, "out-of-order 20 B"),
        ("control", Direction.C2S, "FIN"),
        ("control", Direction.S2C, "RST"),
    ]
    dialogue = build_dialogues(_conversation())[0]
    turn_sizes = [f"{len(t.data)} B" for t in dialogue.items if isinstance(t, Turn)]
    assert turn_sizes == [r.label for r in rows if r.kind == "data"]


def test_svg_is_well_formed_escaped_and_coloured_by_direction() -> None:
    svg = render_ladder(_conversation(), client_label="alice <x>", title="t & t")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("class") == "ladder" and root.get("data-stream") == "0"
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert "alice <x>" in texts
    assert any("hello <b>&" in t for t in texts)
    assert "<b>" not in svg and "hello &lt;b&gt;&amp;" in svg
    colours = {g.get("class"): g.find(f"{SVG}line").get("stroke") for g in root.iter(f"{SVG}g")}  # type: ignore[union-attr]
    assert colours["row control c2s"] == "#c0392b"
    assert colours["row control s2c"] == "#1f4fbf"
    assert any("closed: rst" in t for t in texts)


def test_a_long_connection_is_capped_and_says_so() -> None:
    events: list[Event] = [Opened(0, 0.0, 1, C, S, RoleReason.LOWER_PORT)]
    for i in range(300):
        events.append(_data(Direction.C2S if i % 2 else Direction.S2C, b"x", i, i + 2, i))
    svg = render_ladder(events, max_rows=50)
    root = ET.fromstring(svg)
    assert len([g for g in root.iter(f"{SVG}g")]) == 50
    assert "250 more events not drawn" in svg
    assert "roles inferred: lower-port" in svg


@given(st.lists(st.tuples(st.booleans(), st.binary(min_size=1, max_size=20)), max_size=40))
def test_any_data_sequence_gives_one_arrow_per_transcript_turn(chunks: list[tuple[bool, bytes]]) -> None:
    events: list[Event] = [Opened(0, 0.0, 1, C, S, RoleReason.SYN)]
    for index, (c2s, payload) in enumerate(chunks):
        events.append(_data(Direction.C2S if c2s else Direction.S2C, payload, float(index), index + 2))
    events.append(Closed(0, 99.0, 99, CloseReason.END, StreamStats()))
    turns = [t for t in build_dialogues(events)[0].items if isinstance(t, Turn)]
    arrows = [r for r in ladder_rows(events) if r.kind == "data"]
    assert [(t.direction, f"{len(t.data)} B") for t in turns] == [(r.direction, r.label) for r in arrows]
    ET.fromstring(render_ladder(events))
