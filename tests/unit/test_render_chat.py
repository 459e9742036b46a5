"""`--format chat`: one line per chat message, both dialects, split anywhere, gaps in place."""

from __future__ import annotations

import re
from datetime import datetime

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from netlab.packets import Endpoint
from netlab.render.base import RenderOptions
from netlab.render.chat import ChatRenderer
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
        "#0 127.0.0.1:40000 alice joined (line dialect)",
        "#1 127.0.0.1:40001 bob joined (line dialect)",
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
    """A tutorial server (no netlab welcome): every chunk shown as it went, none judged or dropped."""
    wire = Wire()
    wire.open(0)
    wire.send(0, Direction.S2C, b"NICK")
    wire.send(0, Direction.C2S, b"carol")
    wire.send(0, Direction.C2S, b"carol: hello from the tutorial")
    wire.send(0, Direction.S2C, b"carol: hello from the tutorial")  # the server's bare copy
    wire.send(0, Direction.S2C, b"dave joined!")
    assert render(wire.events) == [
        "#0 127.0.0.1:40000 carol joined (nickname sent after the server's NICK)",
        "#0 127.0.0.1:40000 carol → server: carol: hello from the tutorial",
        "#0 127.0.0.1:40000 server → carol: carol: hello from the tutorial",
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
        "#1 127.0.0.1:40001 alice2 joined (line dialect)",
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
        "#0 127.0.0.1:40000 fay joined (line dialect)",
        "#0 127.0.0.1:40000 fay → everyone: early bird",
    ]


def test_overlong_line_is_a_protocol_break_not_a_crash() -> None:
    wire = Wire()
    wire.login(0, "gus")
    wire.send(0, Direction.C2S, b"x" * 5000 + b"\n")
    wire.send(0, Direction.C2S, b"after\n")
    lines = render(wire.events)[1:]
    assert lines == [
        "#0 127.0.0.1:40000 gus breaks the protocol: line too long (more than 4096 bytes without a newline)"
    ]


def test_switch_to_line_framing_shows_no_empty_message() -> None:
    """An older `netlab join --dialect auto`: bare nickname, then `/dialect line` (the server settles the line
    dialect on it, docs/protocol.md); the server's lone "\\n" is no message."""
    wire = Wire()
    wire.open(0)
    wire.send(0, Direction.S2C, b"NICK")
    wire.send(0, Direction.C2S, b"gus")
    wire.send(0, Direction.S2C, f"[{STAMP}] *** {WELCOME.format(nick='gus')}".encode())
    wire.send(0, Direction.C2S, b"/dialect line\n")
    wire.send(0, Direction.S2C, b"\n")
    wire.send(0, Direction.C2S, b"hello\n")
    assert render(wire.events) == [
        "#0 127.0.0.1:40000 gus joined (line dialect)",
        "#0 127.0.0.1:40000 gus → everyone: hello",
    ]


# -- any chat server: netlab's rules only where the stream speaks netlab's protocol (issue 12, item 4)


def clock(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S.%f")[:-3]


def render_timed(events: list[Event]) -> list[str]:
    renderer = ChatRenderer(RenderOptions())
    return (renderer.begin() + "".join(renderer.on_event(event) for event in events) + renderer.end()).splitlines()


class Timeline(Wire):
    """A `Wire` whose frames are numbered in capture order and spaced a quarter second apart."""

    def __init__(self) -> None:
        super().__init__()
        self.frame = 0

    step = 0.25  # seconds between frames

    def next_frame(self) -> tuple[float, int]:
        self.ts += self.step
        self.frame += 1
        return self.ts, self.frame

    def open(self, stream: int) -> None:
        ts, frame = self.next_frame()
        self.events.append(Opened(stream, ts, frame, client(stream), SERVER, False))
        self.events.append(Control(stream, Direction.C2S, ts, frame, ControlKind.SYN, 0, 0, 0))

    def send(self, stream: int, direction: Direction, data: bytes) -> None:
        key = (stream, direction)
        offset = self.offsets.get(key, 0)
        self.offsets[key] = offset + len(data)
        src, dst = (client(stream), SERVER) if direction is Direction.C2S else (SERVER, client(stream))
        ts, frame = self.next_frame()
        self.events.append(Data(stream, direction, ts, frame, src, dst, data, offset))

    def put(self, stream: int, direction: Direction, data: bytes) -> int:
        """`send`, returning the frame number that carried `data`."""
        self.send(stream, direction, data)
        return self.frame

    def refused(self, stream: int) -> float:
        self.open(stream)
        ts, frame = self.next_frame()
        self.events.append(Control(stream, Direction.S2C, ts, frame, ControlKind.RST, 0, 1, 0))
        self.events.append(Closed(stream, ts, frame, CloseReason.RST, StreamStats()))
        return ts

    def close(self, stream: int) -> None:
        ts, frame = self.next_frame()
        self.events.append(Closed(stream, ts, frame, CloseReason.FIN, StreamStats()))


def stamps(timeline: Timeline) -> dict[int, str]:
    """Frame number → its capture time as the chat view prints it."""
    return {event.frame: clock(event.ts) for event in timeline.events if isinstance(event, Data)}


def test_raw_relay_gets_no_netlab_rules_and_keeps_every_line() -> None:
    wire = Timeline()
    wire.open(0)
    wire.open(1)
    wire.send(0, Direction.C2S, "Привет, bob! 👋".encode())
    wire.send(1, Direction.S2C, "\n[40000]: Привет, bob! 👋".encode())
    wire.send(1, Direction.C2S, b"/who")
    wire.send(0, Direction.S2C, b"\n[40001]: /who")
    lines = render(wire.events)
    assert lines == [
        "#0 127.0.0.1:40000 client → server: Привет, bob! 👋",
        "#1 127.0.0.1:40001 server → client: [40000]: Привет, bob! 👋",
        "#1 127.0.0.1:40001 client → server: /who",
        "#0 127.0.0.1:40000 server → client: [40001]: /who",
    ]
    assert not any("protocol" in line or "not allowed" in line or "asks who" in line for line in lines)


def test_tutorial_server_join_at_the_nickname_and_relayed_lines_kept() -> None:
    wire = Timeline()
    wire.open(0)
    wire.send(0, Direction.S2C, b"NICK")
    alice = wire.put(0, Direction.C2S, b"alice")
    wire.open(1)
    wire.send(1, Direction.S2C, b"NICK")
    bob = wire.put(1, Direction.C2S, "боб 🐻\n".encode())  # bob's join: no netlab nickname rules
    announced = wire.put(0, Direction.S2C, "боб 🐻 joined the chat!".encode())  # the server's own announcement
    said = wire.put(1, Direction.C2S, "боб 🐻: привет 🙂".encode())
    relayed = wire.put(0, Direction.S2C, "боб 🐻: привет 🙂".encode())  # relayed, not dropped
    who = wire.put(0, Direction.C2S, b"alice: /who")  # no command on a server that is not netlab's
    who_relayed = wire.put(1, Direction.S2C, b"alice: /who")
    at = stamps(wire)
    assert render_timed(wire.events) == [
        f"{at[alice]} #0 127.0.0.1:40000 alice joined (nickname sent after the server's NICK)",
        f"{at[bob]} #1 127.0.0.1:40001 боб 🐻 joined (nickname sent after the server's NICK)",
        f"{at[announced]} #0 127.0.0.1:40000 server → alice: боб 🐻 joined the chat!",
        f"{at[said]} #1 127.0.0.1:40001 боб 🐻 → server: боб 🐻: привет 🙂",
        f"{at[relayed]} #0 127.0.0.1:40000 server → alice: боб 🐻: привет 🙂",
        f"{at[who]} #0 127.0.0.1:40000 alice → server: alice: /who",
        f"{at[who_relayed]} #1 127.0.0.1:40001 server → боб 🐻: alice: /who",
    ]


def test_chunk_relay_each_chunk_at_its_own_frame_never_merged() -> None:
    """A relay that forwards each chunk unchanged (no newlines): one line per chunk, at its own time."""
    wire = Timeline()
    wire.open(0)
    first = wire.put(0, Direction.S2C, b"hello from 40001")
    second = wire.put(0, Direction.S2C, "второй 🚀".encode())  # quick, unrelated
    answer = wire.put(0, Direction.C2S, b"answer")
    wire.close(0)
    at = stamps(wire)
    assert render_timed(wire.events) == [
        f"{at[first]} #0 127.0.0.1:40000 server → client: hello from 40001",
        f"{at[second]} #0 127.0.0.1:40000 server → client: второй 🚀",
        f"{at[answer]} #0 127.0.0.1:40000 client → server: answer",
        f"{clock(wire.ts)} #0 127.0.0.1:40000 connection closed (fin)",
    ]


def test_line_relay_line_split_across_frames_takes_the_completing_frame() -> None:
    wire = Timeline()
    wire.open(0)
    wire.open(1)
    first = wire.put(0, Direction.S2C, b"[40001]: first\n")  # the direction frames lines
    wire.step = 0.01  # the segments of one line follow each other closely
    wire.send(0, Direction.S2C, "[40001]: сплит ".encode())  # half a line
    between = wire.put(1, Direction.C2S, b"between\n")  # another stream, in between
    completed = wire.put(0, Direction.S2C, "строки".encode())  # the rest, without its newline yet
    wire.send(0, Direction.S2C, b"\n")  # the newline alone ends it: the line keeps the frame before
    wire.send(0, Direction.S2C, b"\n")  # an empty line, nothing shown
    at = stamps(wire)
    assert render_timed(wire.events) == [
        f"{at[first]} #0 127.0.0.1:40000 server → client: [40001]: first",
        f"{at[between]} #1 127.0.0.1:40001 client → server: between",
        f"{at[completed]} #0 127.0.0.1:40000 server → client: [40001]: сплит строки",
    ]


def test_prefixing_relay_reads_naturally() -> None:
    """A relay that sends ``"\\n[port]: text"`` to everyone else: one line per message, its own time."""
    wire = Timeline()
    for stream in range(3):
        wire.open(stream)
    said = wire.put(0, Direction.C2S, "всем привет 👋".encode())
    copies = [wire.put(stream, Direction.S2C, "\n[40000]: всем привет 👋".encode()) for stream in (1, 2)]
    reply = wire.put(2, Direction.C2S, b"hi")
    back = [wire.put(stream, Direction.S2C, b"\n[40002]: hi") for stream in (0, 1)]
    at = stamps(wire)
    assert render_timed(wire.events) == [
        f"{at[said]} #0 127.0.0.1:40000 client → server: всем привет 👋",
        f"{at[copies[0]]} #1 127.0.0.1:40001 server → client: [40000]: всем привет 👋",
        f"{at[copies[1]]} #2 127.0.0.1:40002 server → client: [40000]: всем привет 👋",
        f"{at[reply]} #2 127.0.0.1:40002 client → server: hi",
        f"{at[back[0]]} #0 127.0.0.1:40000 server → client: [40002]: hi",
        f"{at[back[1]]} #1 127.0.0.1:40001 server → client: [40002]: hi",
    ]


def test_refused_connection_is_one_line_at_the_rst_in_time_order() -> None:
    wire = Timeline()
    wire.open(0)
    wire.send(0, Direction.C2S, b"before\n")
    rst = wire.refused(1)
    wire.send(0, Direction.C2S, b"after\n")
    lines = render_timed(wire.events)
    assert lines[1] == f"{clock(rst)} #1 127.0.0.1:40001 connection refused"
    assert [line.split(" ", 1)[1] for line in lines] == [
        "#0 127.0.0.1:40000 client → server: before",
        "#1 127.0.0.1:40001 connection refused",
        "#0 127.0.0.1:40000 client → server: after",
    ]


def test_netlab_join_at_the_nickname_before_the_servers_announcement() -> None:
    wire = Timeline()
    wire.login(0, "alice")
    wire.open(1)
    wire.send(1, Direction.S2C, b"NICK")
    wire.send(1, Direction.C2S, b"bob\n")  # the join's frame
    nick_frame = wire.frame
    wire.send(0, Direction.S2C, f"[{STAMP}] *** bob joined the chat\n".encode())
    wire.send(1, Direction.S2C, f"[{STAMP}] *** {WELCOME.format(nick='bob')}\n".encode())
    at = stamps(wire)
    assert render_timed(wire.events)[1:] == [
        f"{at[nick_frame]} #1 127.0.0.1:40001 bob joined (line dialect)",
        f"{at[nick_frame + 1]} #0 127.0.0.1:40000 *** bob joined the chat",
    ]


def test_netlab_nick_change_renames_the_speaker() -> None:
    wire = Timeline()
    wire.login(0, "alice")
    wire.login(1, "bob")
    wire.send(1, Direction.C2S, b"/nick boris\n")
    for stream in (0, 1):
        wire.send(stream, Direction.S2C, f"[{STAMP}] *** bob is now known as boris\n".encode())
    wire.send(1, Direction.C2S, "я теперь борис 🐻\n/who\n".encode())
    wire.send(0, Direction.S2C, f"[{STAMP}] boris: я теперь борис 🐻\n".encode())  # the copy: not repeated
    assert render(wire.events)[2:] == [
        "#1 127.0.0.1:40001 bob asks to be called boris",
        "#0 127.0.0.1:40000 *** bob is now known as boris",
        "#1 127.0.0.1:40001 boris → everyone: я теперь борис 🐻",
        "#1 127.0.0.1:40001 boris asks who is online",
    ]


def test_netlab_stream_relayed_command_text_is_not_a_command() -> None:
    """`/who` inside a message the server delivers is text; only client→server lines are commands."""
    wire = Timeline()
    wire.login(0, "alice")
    wire.send(0, Direction.S2C, f"[{STAMP}] zoe: /who\n".encode())
    assert render(wire.events)[1:] == ["#0 127.0.0.1:40000 zoe → everyone: /who (delivered to alice)"]


def test_tutorial_server_without_reply_is_decided_after_other_streams_move_on() -> None:
    """A bare NICK exchange with no answer from the server: plain lines, shown before later frames."""
    wire = Timeline()
    wire.open(0)
    wire.send(0, Direction.S2C, b"NICK")
    wire.send(0, Direction.C2S, b"carol")
    wire.open(1)
    for n in range(12):  # three seconds of another stream's traffic
        wire.send(1, Direction.C2S, f"line {n}\n".encode())
    lines = render(wire.events)
    assert lines[0] == "#0 127.0.0.1:40000 carol joined (nickname sent after the server's NICK)"
    assert lines[1:] == [f"#1 127.0.0.1:40001 client → server: line {n}" for n in range(12)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.booleans(), st.text(min_size=1, max_size=8)), max_size=30))
def test_plain_output_is_in_capture_time_order(sends: list[tuple[int, bool, str]]) -> None:
    wire = Timeline()
    for stream in range(3):
        wire.open(stream)
    for stream, upstream, text in sends:
        wire.send(stream, Direction.C2S if upstream else Direction.S2C, text.encode())
    for stream in range(3):
        wire.close(stream)
    times = [line.split(" ", 1)[0] for line in render_timed(wire.events)]
    assert times == sorted(times)


def test_end_of_a_connection_is_shown_at_its_fins_or_rst_even_when_closed_later() -> None:
    """The reassembler may report a stream closed only at the end of the capture: the FINs and RSTs date it."""
    wire = Timeline()
    wire.login(0, "alice")
    wire.open(1)
    wire.send(1, Direction.C2S, b"plain client\n")
    ends = {}
    for stream in (0, 1):
        for direction in (Direction.C2S, Direction.S2C):
            ts, frame = wire.next_frame()
            wire.events.append(Control(stream, direction, ts, frame, ControlKind.FIN, 0, 0, 0))
        ends[stream] = clock(ts)
    wire.open(2)
    x = wire.put(2, Direction.C2S, b"x\n")
    ts, frame = wire.next_frame()
    wire.events.append(Control(2, Direction.S2C, ts, frame, ControlKind.RST, 0, 0, 0))
    ends[2] = clock(ts)
    wire.open(3)
    later = wire.put(3, Direction.C2S, b"later\n")
    for stream in (0, 1, 2):  # closed only now
        wire.events.append(Closed(stream, wire.ts, wire.frame, CloseReason.FIN, StreamStats()))
    lines = render_timed(wire.events)
    assert lines[-5:] == [
        f"{ends[0]} #0 127.0.0.1:40000 alice disconnected (fin)",
        f"{ends[1]} #1 127.0.0.1:40001 connection closed (fin)",
        f"{stamps(wire)[x]} #2 127.0.0.1:40002 client → server: x",
        f"{ends[2]} #2 127.0.0.1:40002 connection reset by the server",
        f"{stamps(wire)[later]} #3 127.0.0.1:40003 client → server: later",
    ]


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_plain_lines_split_anywhere_give_the_same_lines(data: st.DataObject) -> None:
    """A direction that frames lines: a line cut across segments (close together) is whole again."""
    payload = "привет 🙂\n[40001]: zweite Zeile\n跳舞 and more\n".encode()
    cuts = sorted(data.draw(st.sets(st.integers(1, len(payload) - 1), max_size=12)))
    texts = []
    for pieces in ([payload], [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]):
        wire = Timeline()
        wire.open(0)
        wire.send(0, Direction.S2C, b"hello\n")
        wire.step = 0.001
        for piece in pieces:
            wire.send(0, Direction.S2C, piece)
        texts.append([line.split(" ", 1)[1] for line in render_timed(wire.events)])
    assert texts[1] == texts[0]
    assert texts[0][-1] == "#0 127.0.0.1:40000 server → client: 跳舞 and more"


def test_capture_started_after_nick_still_reads_netlabs_protocol() -> None:
    wire = Timeline()
    wire.open(0)  # the NICK was not captured
    wire.send(0, Direction.C2S, b"hana\n")
    wire.send(0, Direction.S2C, f"[{STAMP}] *** {WELCOME.format(nick='hana')}\n".encode())
    wire.send(0, Direction.C2S, b"/me waves\n")
    assert render(wire.events) == ["#0 127.0.0.1:40000 hana joined (line dialect)", "#0 127.0.0.1:40000 * hana waves"]


def test_capture_started_mid_chat_on_netlab_is_shown_plain_without_verdicts() -> None:
    wire = Timeline()
    wire.open(0)
    wire.send(0, Direction.C2S, "Привет, bob! 👋\n".encode())
    wire.send(0, Direction.S2C, f"[{STAMP}] bob: hi\n".encode())
    assert render(wire.events) == [
        "#0 127.0.0.1:40000 client → server: Привет, bob! 👋",
        f"#0 127.0.0.1:40000 server → client: [{STAMP}] bob: hi",
    ]


def test_segment_released_after_a_retransmission_is_dated_when_it_became_readable() -> None:
    """Out of order ahead of a lost segment: readable (and shown) only once the retransmission filled the hole."""
    wire = Timeline()
    wire.open(0)
    wire.open(1)
    wire.send(0, Direction.C2S, b"first\n")
    early_ts, early_frame = wire.next_frame()  # "third" arrives ahead of the lost "second": held
    other = wire.put(1, Direction.C2S, b"meanwhile\n")
    filler = wire.put(0, Direction.C2S, b"second\n")  # the retransmission
    wire.events.append(Data(0, Direction.C2S, early_ts, early_frame, client(0), SERVER, b"third\n", 13))
    at = stamps(wire)
    assert [line for line in render_timed(wire.events)][1:] == [
        f"{at[other]} #1 127.0.0.1:40001 client → server: meanwhile",
        f"{at[filler]} #0 127.0.0.1:40000 client → server: second",
        f"{at[filler]} #0 127.0.0.1:40000 client → server: third",
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.booleans(), st.binary(min_size=1, max_size=12), st.booleans()), max_size=30
    )
)
def test_any_output_is_in_capture_time_order(sends: list[tuple[int, bool, bytes, bool]]) -> None:
    """Whatever the bytes (greetings, welcomes, lines, chunks) and even with segments released late."""
    wire = Timeline()
    welcome = f"[{STAMP}] *** {WELCOME.format(nick='x')}\n".encode()
    for stream in range(3):
        wire.open(stream)
    for stream, upstream, data, late in sends:
        if data[0] % 5 == 0:
            data = b"NICK"
        elif data[0] % 5 == 1:
            data = welcome
        wire.send(stream, Direction.C2S if upstream else Direction.S2C, data)
        if late:  # released after a later frame, with its own earlier time
            wire.events[-1] = wire.events[-1]._replace(ts=wire.ts - 1.0)  # type: ignore[union-attr]
    for stream in range(3):
        wire.close(stream)
    renderer = ChatRenderer(RenderOptions())
    text = "".join(renderer.on_event(event) for event in wire.events) + renderer.end()
    lines = text.split("\n")[:-1]
    assert all(
        len(line.splitlines()) == 1 and not any(ord(char) < 0x20 or char == "\x7f" for char in line) for line in lines
    )  # nothing from the wire can split a line or drive the terminal
    times = [line.split(" ", 1)[0] for line in lines]
    assert times == sorted(times)


def test_capture_started_between_nickname_and_welcome_goes_on_as_netlabs_protocol() -> None:
    wire = Timeline()
    wire.open(0)  # the NICK and the nickname were not captured
    wire.send(0, Direction.S2C, f"[{STAMP}] *** {WELCOME.format(nick='ivy')}\n".encode())
    wire.send(0, Direction.C2S, "hello 🌿\n/who\n".encode())
    assert render(wire.events) == [
        "#0 127.0.0.1:40000 ivy joined",
        "#0 127.0.0.1:40000 ivy → everyone: hello 🌿",
        "#0 127.0.0.1:40000 ivy asks who is online",
    ]


def test_nickname_verdict_missing_from_the_capture_is_said_and_the_view_goes_on() -> None:
    wire = Timeline()
    wire.login(0, "jo")
    wire.open(1)
    wire.send(1, Direction.S2C, b"NICK")
    wire.send(1, Direction.C2S, b"jo\n")
    wire.send(1, Direction.S2C, f"[{STAMP}] !!! Nickname 'jo' is taken; try another\n".encode())
    wire.send(1, Direction.C2S, b"kim\nhello\n")
    ts, frame = wire.next_frame()  # the welcome's frame was lost: the ACK after it shows the gap
    wire.events.append(Gap(1, Direction.S2C, ts, frame, 200, 0, GapReason.LOST_ACKED))
    wire.step = 1.0
    for n in range(12):  # the others go on talking
        wire.send(0, Direction.C2S, f"m{n}\n".encode())
    assert render(wire.events)[1:5] == [
        "#1 127.0.0.1:40001 server → jo: !!! Nickname 'jo' is taken; try another",
        "#1 127.0.0.1:40001 kim claimed the nickname (the server's answer is not in the capture)",
        "#1 127.0.0.1:40001 kim → everyone: hello",
        "#1 127.0.0.1:40001 [200 bytes missing in capture, server→client]",
    ]
    assert len(render(wire.events)) == 5 + 12


# -- the tentative dialect: `netlab join` answers NICK with the bare nickname (docs/protocol.md)


def bare_welcome(nick: str) -> bytes:
    """netlab's welcome to a bare nickname: a bare chunk, its newline left for the dialect to settle."""
    return f"[{STAMP}] *** {WELCOME.format(nick=nick)}".encode()


def test_auto_join_line_client_joins_in_the_line_dialect_with_held_lines_after_the_welcome() -> None:
    """Bare nick, bare welcome, the others' lines held by the server, the client's lone "\\n" that completes
    its nickname line, then the held lines with the welcome's newline in front: every line once, at its frame."""
    wire = Timeline()
    wire.login(0, "alice")
    wire.open(1)
    wire.send(1, Direction.S2C, b"NICK")
    nick = wire.put(1, Direction.C2S, b"ann")
    wire.send(1, Direction.S2C, bare_welcome("ann"))
    joined = wire.put(0, Direction.S2C, f"[{STAMP}] *** ann joined the chat\n".encode())
    hi = wire.put(0, Direction.C2S, "привет 👋\n".encode())  # held for ann while its dialect is tentative
    wire.send(1, Direction.C2S, b"\n")  # completes "ann\n"
    held = wire.put(1, Direction.S2C, f"\n[{STAMP}] alice: привет 👋\n[{STAMP}] *** zoe joined the chat\n".encode())
    said = wire.put(1, Direction.C2S, "Привет всем 🙂\n".encode())
    wire.send(0, Direction.S2C, f"[{STAMP}] ann: Привет всем 🙂\n".encode())
    ask = wire.put(1, Direction.C2S, "/nick анна\n".encode())
    renamed = wire.put(1, Direction.S2C, f"[{STAMP}] *** ann is now known as анна\n".encode())
    wire.send(0, Direction.S2C, f"[{STAMP}] *** ann is now known as анна\n".encode())
    again = wire.put(1, Direction.C2S, "я анна 🐱\n/quit\n".encode())
    wire.send(0, Direction.S2C, f"[{STAMP}] анна: я анна 🐱\n[{STAMP}] *** анна left the chat\n".encode())
    wire.close(1)
    at = stamps(wire)
    assert render_timed(wire.events)[1:] == [
        f"{at[nick]} #1 127.0.0.1:40001 ann joined (line dialect)",
        f"{at[joined]} #0 127.0.0.1:40000 *** ann joined the chat",
        f"{at[hi]} #0 127.0.0.1:40000 alice → everyone: привет 👋",
        f"{at[held]} #1 127.0.0.1:40001 *** zoe joined the chat",
        f"{at[said]} #1 127.0.0.1:40001 ann → everyone: Привет всем 🙂",
        f"{at[ask]} #1 127.0.0.1:40001 ann asks to be called анна",
        f"{at[renamed]} #1 127.0.0.1:40001 *** ann is now known as анна",
        f"{at[again]} #1 127.0.0.1:40001 анна → everyone: я анна 🐱",
        f"{at[again]} #1 127.0.0.1:40001 анна leaves (quit)",
        f"{at[again + 1]} #0 127.0.0.1:40000 *** анна left the chat",
    ]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_held_lines_after_the_completed_nickname_split_anywhere_give_the_same_lines(data: st.DataObject) -> None:
    """Once the client's "\\n" settled the line dialect, the server's bytes are lines, however TCP cuts them."""
    held = f"\n[{STAMP}] *** zoe joined the chat\n[{STAMP}] zoe: длинное сообщение 🚀\n[{STAMP}] * zoe waves\n".encode()
    cuts = sorted(data.draw(st.sets(st.integers(1, len(held) - 1), max_size=10)))
    texts = []
    for pieces in ([held], [held[a:b] for a, b in zip([0, *cuts], [*cuts, len(held)], strict=True)]):
        wire = Wire()
        wire.open(0)
        wire.send(0, Direction.S2C, b"NICK")
        wire.send(0, Direction.C2S, b"ann")
        wire.send(0, Direction.S2C, bare_welcome("ann"))
        wire.send(0, Direction.C2S, b"\n")
        for piece in pieces:
            wire.send(0, Direction.S2C, piece)
        texts.append(render(wire.events))
    assert (
        texts[1]
        == texts[0]
        == [
            "#0 127.0.0.1:40000 ann joined (line dialect)",
            "#0 127.0.0.1:40000 *** zoe joined the chat",
            "#0 127.0.0.1:40000 zoe → everyone: длинное сообщение 🚀 (delivered to ann)",
            "#0 127.0.0.1:40000 * zoe waves (delivered to ann)",
        ]
    )


def test_silent_bare_nick_client_settles_in_the_tutorial_dialect_after_its_window() -> None:
    """A tutorial client says nothing after the welcome: the server settles its dialect when the window
    passes and sends what it held; the join waits for that, and is shown at the nickname's frame."""
    wire = Timeline()
    wire.login(0, "alice")
    wire.open(1)
    wire.send(1, Direction.S2C, b"NICK")
    nick = wire.put(1, Direction.C2S, "дана".encode())
    wire.send(1, Direction.S2C, bare_welcome("дана"))
    hi = wire.put(0, Direction.C2S, b"hi\n")  # within the window: held for dana
    wire.step = 1.0
    released = wire.put(1, Direction.S2C, f"\n[{STAMP}] alice: hi\n[{STAMP}] *** zoe joined the chat".encode())
    wire.step = 0.25
    said = wire.put(1, Direction.C2S, "дана: привет 🙂".encode())
    at = stamps(wire)
    assert render_timed(wire.events)[1:] == [
        f"{at[nick]} #1 127.0.0.1:40001 дана joined (tutorial dialect)",
        f"{at[hi]} #0 127.0.0.1:40000 alice → everyone: hi",
        f"{at[released]} #1 127.0.0.1:40001 *** zoe joined the chat",
        f"{at[said]} #1 127.0.0.1:40001 дана → everyone: привет 🙂",
    ]


def test_tentative_join_is_settled_by_the_window_while_other_streams_go_on() -> None:
    """Nothing more on the joiner's stream: its join is shown (tutorial) once the window has passed, in order."""
    wire = Timeline()
    wire.open(0)
    wire.send(0, Direction.S2C, b"NICK")
    nick = wire.put(0, Direction.C2S, b"quiet")
    wire.send(0, Direction.S2C, bare_welcome("quiet"))
    wire.login(1, "bob")
    for n in range(8):  # two seconds of bob's messages
        wire.send(1, Direction.C2S, f"m{n}\n".encode())
    renderer = ChatRenderer(RenderOptions())
    shown = "".join(renderer.on_event(event) for event in wire.events)  # before the end of the capture
    assert shown.splitlines()[0] == f"{clock(wire.events[3].ts)} #0 127.0.0.1:40000 quiet joined (tutorial dialect)"
    assert wire.events[3].frame == nick
    assert "bob → everyone: m3" in shown


def test_client_leaving_during_the_tentative_window_joined_in_the_tutorial_dialect() -> None:
    """The server reads EOF before the dialect settled: tutorial, as it logs; the leave is shown once."""
    wire = Timeline()
    wire.login(0, "alice")
    wire.open(1)
    wire.send(1, Direction.S2C, b"NICK")
    nick = wire.put(1, Direction.C2S, b"gus")
    wire.send(1, Direction.S2C, bare_welcome("gus"))
    ts, frame = wire.next_frame()
    wire.events.append(Control(1, Direction.C2S, ts, frame, ControlKind.FIN, 0, 0, 0))
    left = wire.put(0, Direction.S2C, f"[{STAMP}] *** gus left the chat (connection closed)\n".encode())
    ts2, frame2 = wire.next_frame()
    wire.events.append(Control(1, Direction.S2C, ts2, frame2, ControlKind.FIN, 0, 0, 0))
    wire.close(1)
    at = stamps(wire)
    assert render_timed(wire.events)[1:] == [
        f"{at[nick]} #1 127.0.0.1:40001 gus joined (tutorial dialect)",
        f"{at[left]} #0 127.0.0.1:40000 *** gus left the chat (connection closed)",
        f"{clock(ts2)} #1 127.0.0.1:40001 gus disconnected (fin)",
    ]


def test_tutorial_client_first_chunk_settles_its_dialect_and_is_its_first_message() -> None:
    wire = Timeline()
    wire.open(0)
    wire.send(0, Direction.S2C, b"NICK")
    nick = wire.put(0, Direction.C2S, "кот".encode())
    wire.send(0, Direction.S2C, bare_welcome("кот"))
    said = wire.put(0, Direction.C2S, "кот: мяу 😺".encode())
    at = stamps(wire)
    assert render_timed(wire.events) == [
        f"{at[nick]} #0 127.0.0.1:40000 кот joined (tutorial dialect)",
        f"{at[said]} #0 127.0.0.1:40000 кот → everyone: мяу 😺",
    ]


def test_lost_completing_newline_leaves_the_dialect_untold() -> None:
    wire = Timeline()
    wire.open(0)
    wire.send(0, Direction.S2C, b"NICK")
    wire.send(0, Direction.C2S, b"ann")
    wire.send(0, Direction.S2C, bare_welcome("ann"))
    ts, frame = wire.next_frame()
    wire.events.append(Gap(0, Direction.C2S, ts, frame, 1, 0, GapReason.LOST_ACKED))
    assert render(wire.events)[0] == "#0 127.0.0.1:40000 ann joined"


def test_capture_started_at_a_bare_welcome_dates_the_join_there_and_follows_the_settled_dialect() -> None:
    """The nickname was not captured, but a welcome without its newline shows it was sent bare: the view
    goes on as the server did (tentative, then line after a lone "\\n", or tutorial after a chunk)."""
    line, tutorial = Timeline(), Timeline()
    for wire in (line, tutorial):
        wire.open(0)
    welcome = {wire: wire.put(0, Direction.S2C, bare_welcome("ann")) for wire in (line, tutorial)}
    line.send(0, Direction.C2S, b"\n")
    zoe = line.put(0, Direction.S2C, f"\n[{STAMP}] *** zoe joined the chat\n".encode())
    hi = line.put(0, Direction.C2S, "hi 🙂\n".encode())
    at = stamps(line)
    assert render_timed(line.events)[:3] == [
        f"{at[welcome[line]]} #0 127.0.0.1:40000 ann joined (line dialect)",
        f"{at[zoe]} #0 127.0.0.1:40000 *** zoe joined the chat",
        f"{at[hi]} #0 127.0.0.1:40000 ann → everyone: hi 🙂",
    ]
    tutorial.step = 1.5  # silent through the window: the server sends what it held as chunks
    zoe = tutorial.put(0, Direction.S2C, f"\n[{STAMP}] *** zoe joined the chat".encode())
    hi = tutorial.put(0, Direction.C2S, "ann: hi 🙂".encode())
    bob = tutorial.put(0, Direction.S2C, f"\n[{STAMP}] *** bob left the chat".encode())
    at = stamps(tutorial)
    assert render_timed(tutorial.events) == [
        f"{at[welcome[tutorial]]} #0 127.0.0.1:40000 ann joined (tutorial dialect)",
        f"{at[zoe]} #0 127.0.0.1:40000 *** zoe joined the chat",
        f"{at[hi]} #0 127.0.0.1:40000 ann → everyone: hi 🙂",
        f"{at[bob]} #0 127.0.0.1:40000 *** bob left the chat",
    ]


def test_bare_nickname_refused_is_the_servers_line_once_not_a_protocol_break() -> None:
    """`netlab join` (auto) with a taken nickname: the server's `!!!` line is the verdict, said once."""
    wire = Timeline()
    wire.login(0, "ann")
    wire.open(1)
    wire.send(1, Direction.S2C, b"NICK")
    wire.send(1, Direction.C2S, b"ann")
    refusal = "Nickname 'ann' is taken; try another; reconnect with another nickname"
    wire.send(1, Direction.S2C, f"[{STAMP}] !!! {refusal}\n".encode())
    wire.close(1)
    assert render(wire.events)[1:] == [
        f"#1 127.0.0.1:40001 server → ann: !!! {refusal}",
        "#1 127.0.0.1:40001 (no nickname yet) disconnected (fin)",
    ]


def test_the_same_reply_to_two_clients_in_one_second_is_shown_for_each() -> None:
    """A `/who` reply is sent to one client: two clients asking within a second get the same stamped line, twice."""
    wire = Timeline()
    wire.login(0, "alice")
    wire.login(1, "bob")
    online = f"[{STAMP}] *** Online (2): alice, bob\n".encode()
    wire.send(0, Direction.C2S, b"/who\n")
    wire.send(0, Direction.S2C, online)
    wire.send(1, Direction.C2S, b"/who\n")
    wire.send(1, Direction.S2C, online)
    assert render(wire.events)[2:] == [
        "#0 127.0.0.1:40000 alice asks who is online",
        "#0 127.0.0.1:40000 *** Online (2): alice, bob",
        "#1 127.0.0.1:40001 bob asks who is online",
        "#1 127.0.0.1:40001 *** Online (2): alice, bob",
    ]


def test_a_notice_repeated_within_one_second_is_shown_each_time_its_copies_once() -> None:
    """carol joins, leaves and joins again within a second: three notices, each copied to two clients."""
    wire = Timeline()
    wire.login(0, "alice")
    wire.login(1, "bob")
    notices = [
        f"[{STAMP}] *** carol joined the chat\n",
        f"[{STAMP}] *** carol left the chat\n",
        f"[{STAMP}] *** carol joined the chat\n",
    ]
    for stream in (0, 1):  # the server's flusher sends all that is queued for one client at once
        wire.send(stream, Direction.S2C, "".join(notices).encode())
    assert render(wire.events)[2:] == [
        "#0 127.0.0.1:40000 *** carol joined the chat",
        "#0 127.0.0.1:40000 *** carol left the chat",
        "#0 127.0.0.1:40000 *** carol joined the chat",
    ]


@settings(max_examples=80, deadline=None)
@given(st.floats(0.01, 2.5), st.sampled_from([b"\n", b"\r\n", b"\nhi\n", b"ann: hi", b"/dialect line\nhi\n", b"hi"]))
def test_a_bare_nick_clients_dialect_is_the_one_the_server_settles(after: float, first: bytes) -> None:
    """Its first bytes `after` seconds past the welcome: a leading newline within the window means the line
    dialect (so does `/dialect line`); anything else, or anything after the window, the tutorial one."""
    assume(abs(after - 1.0) > 1e-3)  # the window's edge is as sharp as the capture's clock, no sharper
    wire = Timeline()
    wire.open(0)
    wire.send(0, Direction.S2C, b"NICK")
    nick = wire.put(0, Direction.C2S, b"ann")
    wire.send(0, Direction.S2C, bare_welcome("ann"))
    wire.step = after
    wire.send(0, Direction.C2S, first)
    wire.step = 0.25
    wire.close(0)
    in_window = after <= 1.0
    line = in_window and (first.startswith((b"\n", b"\r\n")) or first.startswith(b"/dialect line\n"))
    lines = render_timed(wire.events)
    assert lines[0] == f"{stamps(wire)[nick]} #0 127.0.0.1:40000 ann joined ({'line' if line else 'tutorial'} dialect)"
    assert [text.split(" ", 1)[0] for text in lines] == sorted(text.split(" ", 1)[0] for text in lines)
