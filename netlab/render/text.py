"""`text`: the readable dialogue (pure, incremental).

Per stream a header with both endpoints and which is the client; then each turn (a run of data
in one direction) under a label with its direction and time; gaps in place as
`[N bytes missing in capture file]`. A UDP conversation says so in its header ("udp stream N",
with a note that datagrams are not sequenced) and shows each datagram as a turn of its own.
Bytes are decoded as UTF-8; undecodable bytes and control
characters other than newline and tab are shown as escapes (`\\x00`), never dropped.
"""

from __future__ import annotations

import re
import time

from netlab.render.base import RenderOptions
from netlab.stream.events import Closed, Data, Direction, Event, Gap, GapReason, Opened, Transport
from netlab.stream.roles import explain_roles

_RED, _BLUE, _DIM, _RESET = "\x1b[31m", "\x1b[34m", "\x1b[2m", "\x1b[0m"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def printable(data: bytes) -> str:
    """Bytes as text: UTF-8 where valid, `\\xNN` escapes for the rest and for control characters."""
    text = data.decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text.replace("\r\n", "\n"))


def clock(ts: float) -> str:
    """A capture time stamp as UTC wall-clock time with microseconds."""
    return time.strftime("%H:%M:%S", time.gmtime(ts)) + f".{int(round(ts % 1 * 1e6)) % 1000000:06d}"


UDP_NOTE = (
    "UDP: the first sender is the client; each datagram is one turn; "
    "datagrams are not sequenced, so loss and reordering cannot be seen"
)


def stream_name(opened: Opened | None, stream: int) -> str:
    """ "stream N" for a TCP stream, "udp stream N" for a UDP conversation."""
    return f"udp stream {stream}" if opened is not None and opened.proto is Transport.UDP else f"stream {stream}"


def gap_text(size: int, reason: GapReason) -> str:
    """The in-place marker for missing bytes (Wireshark's wording)."""
    if reason is GapReason.NOT_CAPTURED:
        return f"[{size} bytes not captured (snap length)]"
    return f"[{size} bytes missing in capture file]"


class TextRenderer:
    """Incremental dialogue renderer: a turn is printed as soon as its bytes are in order."""

    binary = False

    def __init__(self, options: RenderOptions) -> None:
        self._direction = options.direction
        self._color = options.color
        self._opened: dict[int, Opened] = {}
        self._turn: tuple[int, ...] | None = None
        self._udp: set[int] = set()  # the UDP conversations: one turn per datagram
        self._at_line_start = True

    def begin(self) -> str:
        return ""

    def _paint(self, text: str, direction: Direction | None) -> str:
        if not self._color:
            return text
        code = _DIM if direction is None else (_RED if direction is Direction.C2S else _BLUE)
        return f"{code}{text}{_RESET}"

    def _close_line(self) -> str:
        if self._at_line_start:
            return ""
        self._at_line_start = True
        return "\n"

    def _turn_key(self, event: Data | Gap) -> tuple[int, ...]:
        """What keeps a turn going: its stream and direction (and, for UDP, the datagram's frame)."""
        if event.stream in self._udp:
            return (event.stream, event.direction is Direction.C2S, event.frame)
        return (event.stream, event.direction is Direction.C2S)

    def on_event(self, event: Event) -> str:
        if isinstance(event, Data | Gap):
            if self._direction is not None and event.direction is not self._direction:
                return ""
            out = ""
            key = self._turn_key(event)
            if self._turn != key:
                out = self._close_line() + self._label(event)
                self._turn = key
            if isinstance(event, Data):
                body = printable(event.data)
            else:
                body = ("" if self._at_line_start else "\n") + gap_text(event.size, event.reason) + "\n"
            if body:
                self._at_line_start = body.endswith("\n")
            return out + self._paint(body, event.direction)
        if isinstance(event, Opened):
            self._opened[event.stream] = event
            if event.proto is Transport.UDP:
                self._udp.add(event.stream)
            self._turn = None
            return self._close_line() + self._header(event)
        if isinstance(event, Closed):
            self._turn = None
            s = event.stats
            units = "datagrams" if event.stream in self._udp else "packets"
            line = (
                f"-- {stream_name(self._opened.get(event.stream), event.stream)} ended ({event.reason.value}): "
                f"{s.bytes_c2s} bytes client→server, {s.bytes_s2c} bytes server→client, {s.packets} {units}, "
                f"{s.duration:.3f} s"
            )
            if s.not_captured_bytes and event.stream in self._udp:
                line += f", {s.not_captured_bytes} bytes not captured"
            if s.gaps:
                line += f", {s.gaps} gap(s)"
            if s.retransmissions:
                line += f", {s.retransmissions} retransmission(s)"
            return self._close_line() + self._paint(line, None) + "\n\n"
        return ""

    def _header(self, event: Opened) -> str:
        vlan = f" on VLAN {'/'.join(map(str, event.vlan))}" if event.vlan else ""
        line = f"== {stream_name(event, event.stream)}: client {event.client}  ⇄  server {event.server}{vlan}"
        if event.proto is Transport.UDP:
            line += f"  ({UDP_NOTE})"
        elif event.roles_guessed:
            line += f"  ({explain_roles(event.roles_reason)})"
        return self._paint(line, None) + "\n"

    def _label(self, event: Data | Gap) -> str:
        opened = self._opened.get(event.stream)
        if event.direction is Direction.C2S:
            who = f"client {opened.client} → server {opened.server}" if opened else "client → server"
        else:
            who = f"server {opened.server} → client {opened.client}" if opened else "server → client"
        label = f"-- {stream_name(opened, event.stream)}: {who}  {clock(event.ts)}  frame {event.frame}"
        return self._paint(label, event.direction) + "\n"

    def end(self) -> str:
        return self._close_line()
