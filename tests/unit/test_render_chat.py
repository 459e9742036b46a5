"""`--format chat`: one line per chat message, both dialects, split anywhere, gaps in place."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from netlab.capture.model import Endpoint
from netlab.render.base import RenderOptions
from netlab.render.chat import ChatRenderer
from netlab.stream.events import (
    Closed,
    CloseReason,
    Data,
    Direction,
    Event,
    Gap,
    GapReason,
    Opened,
    StreamStats,
)
from netlab.stream.roles import RoleReason

SERVER = Endpoint("127.0.0.1", 55555)
STAMP = "2026-11-23 16:00:00"
WELCOME = "Welcome to netlab chat, {nick}! 1 online: {nick}. Commands: /who /nick /me /msg /quit /help"


def client(n: int) -> Endpoint:
    return Endpoint("127.0.0.1", 40000 + n)


class Wire:
    """Builds reassembler events for a few chat connections."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.offsets: dict[tuple[int, Direction], int] = {}
        self.ts = 1_700_000_000.0

    def open(self, stream: int) -> None:
        self.events.append(Opened(stream, self.ts, 1, client(stream), SERVER, RoleReason.SYN))

    def send(self, stream: int, direction: Direction, data: bytes) -> None:
        key = (stream, direction)
        offset = self.offsets.get(key, 0)
        self.offsets[key] = offset + len(data)
        src, dst = (client(stream), SERVER) if direction is Direction.C2S else (SERVER, client(stream))
        self.ts += 0.001
        self.events.append(Data(stream, direction, self.ts, 1, src, dst, data, offset))

    def gap(self, stream: int, direction: Direction, size: int) -> None:
        self.events.append(Gap(stream, direction, self.ts, 1, size, 0, GapReason.LOST_ACKED))

    def close(self, stream: int) -> None:
        self.events.append(Closed(stream, self.ts, 1, CloseReason.FIN, StreamStats()))

    def login(self, stream: int, nick: str) -> None:
        self.open(stream)
        self.send(stream, Direction.S2C, b"NICK")
        self.send(stream, Direction.C2S, nick.encode() + b"\n")
        self.send(stream, Direction.S2C, f"[{STAMP}] *** {WELCOME.format(nick=nick)}\n".encode())


def render(events: list[Event]) -> list[str]:
    renderer = ChatRenderer(RenderOptions())
    text = renderer.begin() + "".join(renderer.on_event(event) for event in events) + renderer.end()
    # Drop the local-time clock so the tests do not depend on the time zone.
    return [re.sub(r"^\d\d:\d\d:\d\d\.\d{3} ", "", line) for line in text.splitlines()]


def test_line_dialect_session_one_line_per_message() -> None:
    wire = Wire()
    wire.login(0, "alice")
    wire.login(1, "bob")
    wire.send(0, Direction.C2S, "привет 🙂\n/me waves\n/msg bob hi there\n".encode())
    # the server's copies to bob (and of the private message) are not repeated
    wire.send(1, Direction.S2C, f"[{STAMP}] alice: привет 🙂\n[{STAMP}] * alice waves\n".encode())
    wire.send(1, Direction.S2C, f"[{STAMP}] alice (private): hi there\n".encode())
    wire.send(0, Direction.C2S, b"/quit\n")
    wire.close(0)
    assert render(wire.events) == [
        "#0 127.0.0.1:40000 alice joined",
        "#1 127.0.0.1:40001 bob joined",
        "#0 127.0.0.1:40000 alice → everyone: привет 🙂",
        "#0 127.0.0.1:40000 * alice waves",
        "#0 127.0.0.1:40000 alice → bob (private): hi there",
        "#0 127.0.0.1:40000 alice leaves (quit)",
    ]


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_split_anywhere_gives_the_same_lines(data: st.DataObject) -> None:
    payload = "привет 🙂\nzweite Zeile\n/me 跳舞\n".encode()
    cuts = sorted(data.draw(st.sets(st.integers(1, len(payload) - 1), max_size=12)))
    whole, split = Wire(), Wire()
    for wire in (whole, split):
        wire.login(0, "alice")
    whole.send(0, Direction.C2S, payload)
    for start, end in zip([0, *cuts], [*cuts, len(payload)], strict=True):
        split.send(0, Direction.C2S, payload[start:end])
    assert render(split.events) == render(whole.events)
    assert "#0 127.0.0.1:40000 * alice 跳舞" in render(split.events)


def test_tutorial_dialect_chunks() -> None:
    wire = Wire()
    wire.open(0)
    wire.send(0, Direction.S2C, b"NICK")
    wire.send(0, Direction.C2S, b"carol")
    wire.send(0, Direction.C2S, b"carol: hello from the tutorial")
    wire.send(0, Direction.S2C, b"carol: hello from the tutorial")  # the server's bare copy
    wire.send(0, Direction.S2C, b"dave joined!")
    assert render(wire.events) == [
        "#0 127.0.0.1:40000 carol joined (tutorial dialect)",
        "#0 127.0.0.1:40000 carol → everyone: hello from the tutorial",
        "#0 127.0.0.1:40000 server → carol: dave joined!",
    ]


def test_gap_is_shown_in_place_and_cuts_the_partial_line() -> None:
    wire = Wire()
    wire.login(0, "alice")
    wire.send(0, Direction.C2S, b"first\nhalf of a li")
    wire.gap(0, Direction.C2S, 120)
    wire.send(0, Direction.C2S, b"ne\nafter the gap\n")
    assert render(wire.events)[1:] == [
        "#0 127.0.0.1:40000 alice → everyone: first",
        "#0 127.0.0.1:40000 [120 bytes missing in capture, client→server]",
        "#0 127.0.0.1:40000 alice → everyone: after the gap",
    ]


def test_notices_once_errors_per_connection_and_nick_retry() -> None:
    wire = Wire()
    wire.login(0, "alice")
    wire.open(1)
    wire.send(1, Direction.S2C, b"NICK")
    wire.send(1, Direction.C2S, b"alice\n")
    wire.send(1, Direction.S2C, f"[{STAMP}] !!! Nickname 'alice' is taken; try another\n".encode())
    wire.send(1, Direction.C2S, b"alice2\n")
    wire.send(1, Direction.S2C, f"[{STAMP}] *** {WELCOME.format(nick='alice2')}\n".encode())
    for stream in (0, 1):
        wire.send(stream, Direction.S2C, f"[{STAMP}] *** alice2 joined\n".encode())
    assert render(wire.events)[1:] == [
        "#1 127.0.0.1:40001 server → alice: !!! Nickname 'alice' is taken; try another",
        "#1 127.0.0.1:40001 alice2 joined",
        "#0 127.0.0.1:40000 *** alice2 joined",
    ]


def test_message_seen_only_on_delivery_is_shown_once_with_its_connection() -> None:
    wire = Wire()
    wire.login(0, "alice")
    wire.send(0, Direction.S2C, f"[{STAMP}] zoe: from a connection we did not capture\n".encode())
    assert render(wire.events)[1:] == [
        "#0 127.0.0.1:40000 zoe → everyone: from a connection we did not capture (delivered to alice)",
    ]


def test_terminal_control_sequences_are_neutralised() -> None:
    wire = Wire()
    wire.login(0, "alice")
    wire.send(0, Direction.C2S, b"\x1b[2Jgotcha\x07\n")
    (line,) = render(wire.events)[1:]
    assert "\x1b" not in line and "\x07" not in line
    assert line.endswith("alice → everyone: ^[[2Jgotcha^G")


def test_disconnect_without_quit_and_incomplete_last_line() -> None:
    wire = Wire()
    wire.login(0, "alice")
    wire.send(0, Direction.C2S, b"no newline at the end")
    wire.close(0)
    assert render(wire.events)[1:] == [
        "#0 127.0.0.1:40000 alice sent an incomplete last line: no newline at the end",
        "#0 127.0.0.1:40000 alice disconnected (fin)",
    ]


def test_copy_released_before_the_original_is_not_shown_twice() -> None:
    wire = Wire()
    wire.login(0, "alice")
    wire.login(1, "bob")
    wire.send(0, Direction.S2C, f"[{STAMP}] bob (private): early copy\n".encode())
    wire.send(1, Direction.C2S, b"/msg alice early copy\n")
    assert render(wire.events)[2:] == ["#1 127.0.0.1:40001 bob → alice (private): early copy"]


def test_tutorial_dialect_as_the_server_reads_it() -> None:
    """Merged chunks split at each prefix, stamped prefixes, commands, the farewell (docs/protocol.md)."""
    wire = Wire()
    wire.open(0)
    wire.send(0, Direction.S2C, b"NICK")
    wire.send(0, Direction.C2S, b"dana")
    wire.send(0, Direction.S2C, f"[{STAMP}] *** {WELCOME.format(nick='dana')}".encode())  # a bare chunk
    wire.send(0, Direction.C2S, "dana: один[2026-11-23 16:00:01] dana: два".encode())  # two merged chunks
    wire.send(0, Direction.S2C, f"\n[{STAMP}] *** ed joined the chat".encode())  # "\n" before a quick chunk
    wire.send(0, Direction.C2S, b"dana: /who")
    wire.send(0, Direction.C2S, b"dana has left the chat.")
    assert render(wire.events) == [
        "#0 127.0.0.1:40000 dana joined (tutorial dialect)",
        "#0 127.0.0.1:40000 dana → everyone: один",
        "#0 127.0.0.1:40000 dana → everyone: два",
        "#0 127.0.0.1:40000 *** ed joined the chat",
        "#0 127.0.0.1:40000 dana asks who is online",
        "#0 127.0.0.1:40000 dana leaves (left the chat)",
    ]


def test_line_dialect_lines_sent_before_the_welcome_wait_for_it() -> None:
    wire = Wire()
    wire.open(0)
    wire.send(0, Direction.S2C, b"NICK")
    wire.send(0, Direction.C2S, b"fay\nearly bird\n")
    wire.send(0, Direction.S2C, f"[{STAMP}] *** {WELCOME.format(nick='fay')}\n".encode())
    assert render(wire.events) == [
        "#0 127.0.0.1:40000 fay joined",
        "#0 127.0.0.1:40000 fay → everyone: early bird",
    ]


def test_overlong_line_is_a_protocol_break_not_a_crash() -> None:
    wire = Wire()
    wire.login(0, "gus")
    wire.send(0, Direction.C2S, b"x" * 5000 + b"\n")
    wire.send(0, Direction.C2S, b"after\n")
    lines = render(wire.events)[1:]
    assert lines == ["#0 127.0.0.1:40000 gus breaks the protocol: line too long (more than 4096 bytes without a newline)"]


def test_switch_to_line_framing_shows_no_empty_message() -> None:
    """`netlab join --dialect auto`: bare nickname, then `/dialect line`; the server's lone "\\n" is no message."""
    wire = Wire()
    wire.open(0)
    wire.send(0, Direction.S2C, b"NICK")
    wire.send(0, Direction.C2S, b"gus")
    wire.send(0, Direction.S2C, f"[{STAMP}] *** {WELCOME.format(nick='gus')}".encode())
    wire.send(0, Direction.C2S, b"/dialect line\n")
    wire.send(0, Direction.S2C, b"\n")
    wire.send(0, Direction.C2S, b"hello\n")
    assert render(wire.events) == [
        "#0 127.0.0.1:40000 gus joined (tutorial dialect)",
        "#0 127.0.0.1:40000 gus → everyone: hello",
    ]
