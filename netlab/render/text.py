"""`text`: the readable dialogue (pure, incremental).

Per stream a header with both endpoints and which is the client; then each turn (a run of data
in one direction) under a label with its direction and time; gaps in place as
`[N bytes missing in capture file]`. Bytes are decoded as UTF-8; undecodable bytes and control
characters other than newline and tab are shown as escapes (`\\x00`), never dropped.
"""

from __future__ import annotations

import re
import time

from netlab.render.base import RenderOptions
from netlab.stream.events import Closed, Data, Direction, Event, Gap, GapReason, Opened
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
        self._turn: tuple[int, Direction] | None = None
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

    def on_event(self, event: Event) -> str:
        if isinstance(event, Data | Gap):
            if self._direction is not None and event.direction is not self._direction:
                return ""
            out = ""
            if self._turn != (event.stream, event.direction):
                out = self._close_line() + self._label(event)
                self._turn = (event.stream, event.direction)
            if isinstance(event, Data):
                body = printable(event.data)
            else:
                body = ("" if self._at_line_start else "\n") + gap_text(event.size, event.reason) + "\n"
            if body:
                self._at_line_start = body.endswith("\n")
            return out + self._paint(body, event.direction)
        if isinstance(event, Opened):
            self._opened[event.stream] = event
            self._turn = None
            return self._close_line() + self._header(event)
        if isinstance(event, Closed):
            self._turn = None
            s = event.stats
            line = (
                f"-- stream {event.stream} ended ({event.reason.value}): {s.bytes_c2s} bytes client→server, "
                f"{s.bytes_s2c} bytes server→client, {s.packets} packets, {s.duration:.3f} s"
            )
            if s.gaps:
                line += f", {s.gaps} gap(s)"
            if s.retransmissions:
                line += f", {s.retransmissions} retransmission(s)"
            return self._close_line() + self._paint(line, None) + "\n\n"
        return ""

    def _header(self, event: Opened) -> str:
        vlan = f" on VLAN {'/'.join(map(str, event.vlan))}" if event.vlan else ""
        line = f"== stream {event.stream}: client {event.client}  ⇄  server {event.server}{vlan}"
        if event.roles_guessed:
            line += f"  ({explain_roles(event.roles_reason)})"
        return self._paint(line, None) + "\n"

    def _label(self, event: Data | Gap) -> str:
        opened = self._opened.get(event.stream)
        if event.direction is Direction.C2S:
            who = f"client {opened.client} → server {opened.server}" if opened else "client → server"
        else:
            who = f"server {opened.server} → client {opened.client}" if opened else "server → client"
        label = f"-- stream {event.stream}: {who}  {clock(event.ts)}  frame {event.frame}"
        return self._paint(label, event.direction) + "\n"

    def end(self) -> str:
        return self._close_line()
