"""The chat view of a stream that does not speak netlab's protocol (pure).

Tutorial-dialect servers (a bare ``NICK`` prompt, bare chunks) and relays that forward what they
get (unchanged, or prefixed with ``"\\n[port]: "`` or ``"nick: "``) have no rules netlab could
check, so nothing is judged and nothing is interpreted: each line is shown as it went, with its
direction and its sender's side, at the capture time of the frame that carried it.

Framing, per direction:

* a newline ends a line; empty lines are not shown;
* bytes after the last newline of a segment are a *bare chunk* and shown at once, unless the
  direction frames lines (a segment of it ended with a newline, and no chunk since): then they
  are the start of a line that a later segment of that direction completes, and are shown as a
  chunk of their own only when the direction goes quiet for `QUIET_SECONDS` of capture time (the
  server's own rule for a bare chunk), the other direction speaks, a gap cuts them, the stream
  ends or they pass `MAX_LINE_BYTES` (memory stays bounded);
* a line takes the capture time of the frame that carried its last character: for a line split
  across segments that is the frame that completed it; a newline arriving alone later only ends it.

When the server's first bytes are the tutorial's bare ``NICK`` and the client's next chunk is one
line, that line is the client's nickname (no rules: it is whatever the server took): it names the client from then
on, and the join is shown
at the time of the frame that carried it. A connection that ends in a RST with no data and no
SYN-ACK is one line, "connection refused", at the RST's time; a RST after that is "connection
reset by" its sender, also at its own time; a close by both FINs is "connection closed (fin)" at
the second FIN.
"""

from __future__ import annotations

from netlab.chat.limits import MAX_LINE_BYTES, QUIET_SECONDS
from netlab.chat.protocol import GREETING, decode_line
from netlab.chat.wire import neutralise
from netlab.render.chat_common import Entry, Key
from netlab.stream.events import Closed, CloseReason, Control, ControlKind, Data, Direction, Event, Gap

_SIDE = {Direction.C2S: "client→server", Direction.S2C: "server→client"}


class _Framer:
    """One direction's bytes cut into lines and bare chunks (see the module docstring)."""

    __slots__ = ("line_framed", "pending", "key")

    def __init__(self) -> None:
        self.line_framed = False  # the direction ends its messages with a newline (so far)
        self.pending = bytearray()  # the start of a line not yet completed
        self.key: Key = (0.0, 0)  # the frame that carried the last byte of `pending`

    def feed(self, data: bytes, key: Key) -> list[tuple[Key, bytes]]:
        """The lines and chunks `data` completes, each with the frame it is shown at."""
        out: list[tuple[Key, bytes]] = []
        start = 0
        while (newline := data.find(b"\n", start)) >= 0:
            if newline > start:
                self.pending += data[start:newline]
                self.key = key
            if self.pending:
                out.append(self._cut())
            start = newline + 1
        if data.endswith(b"\n"):
            self.line_framed = True
        if start < len(data):
            self.pending += data[start:]
            self.key = key
            if not self.line_framed or len(self.pending) > MAX_LINE_BYTES:
                out.append(self._cut())
        return out

    def take(self) -> tuple[Key, bytes]:
        """The pending bytes as a chunk of their own: the direction does not always end its messages with a newline."""
        self.line_framed = False
        return self._cut()

    def _cut(self) -> tuple[Key, bytes]:
        chunk = bytes(self.pending)
        self.pending.clear()
        return self.key, chunk


class PlainStream:
    """Lines of one stream shown as they went, without any protocol's rules. Not thread-safe.

    `datagrams`: a UDP conversation, which has no connection to open or close (no such line is shown).
    """

    def __init__(self, *, datagrams: bool = False) -> None:
        self.nick: str | None = None
        self._framers = {Direction.C2S: _Framer(), Direction.S2C: _Framer()}
        self._asked_nick = False  # the server's first bytes were the bare NICK, the client has not answered
        self._heard = {Direction.C2S: False, Direction.S2C: False}
        self._answered = False  # a SYN-ACK was seen
        self._fins: set[Direction] = set()  # the directions that sent a FIN
        self._ended = datagrams  # the end of the connection was shown (both FINs, or a RST), or has none

    @property
    def client_name(self) -> str:
        return neutralise(self.nick) if self.nick else "client"

    def hold(self) -> Key | None:
        """The earliest frame this stream may still show a line at (a line not yet completed), or None."""
        keys = [framer.key for framer in self._framers.values() if framer.pending]
        return min(keys) if keys else None

    def due(self) -> float | None:
        """The capture time after which a line start waiting here becomes a chunk of its own, or None."""
        times = [framer.key[0] + QUIET_SECONDS for framer in self._framers.values() if framer.pending]
        return min(times) if times else None

    def tick(self, now: float) -> list[Entry]:
        """Capture time moved on to `now`: a line start quiet for `QUIET_SECONDS` is a chunk of its own."""
        out: list[Entry] = []
        for direction, framer in self._framers.items():
            if framer.pending and now - framer.key[0] > QUIET_SECONDS:
                out += self._lines(direction, [framer.take()])
        return out

    def feed(self, event: Event) -> list[Entry]:
        """Entries for one event of this stream."""
        if isinstance(event, Data):
            return self._data(event)
        if isinstance(event, Gap):
            out = self._flush(event.direction)
            return [*out, (event.ts, event.frame, f"[{event.size} bytes missing in capture, {_SIDE[event.direction]}]")]
        if isinstance(event, Control):
            return self._control(event)
        if isinstance(event, Closed):
            return self._closed(event)
        return []

    def _control(self, event: Control) -> list[Entry]:
        if event.kind is ControlKind.SYN_ACK:
            self._answered = True
        if self._ended or event.kind not in (ControlKind.FIN, ControlKind.RST):
            return []
        if event.kind is ControlKind.FIN:  # shown at the FIN that completes the close
            self._fins.add(event.direction)
            if len(self._fins) < 2:
                return []
            self._ended = True
            return [*self._flush_both(), (event.ts, event.frame, f"connection closed ({CloseReason.FIN.value})")]
        self._ended = True  # shown at the RST itself: the reassembler may close the stream only later
        if not (self._heard[Direction.C2S] or self._heard[Direction.S2C] or self._answered):
            return [(event.ts, event.frame, "connection refused")]
        by = "server" if event.direction is Direction.S2C else self.client_name
        return [*self._flush_both(), (event.ts, event.frame, f"connection reset by the {by}")]

    def _data(self, event: Data) -> list[Entry]:
        data, key = event.data, (event.ts, event.frame)
        first = not self._heard[event.direction]
        self._heard[event.direction] = True
        out = self._flush(event.direction.reverse)  # the other side speaks: what it started is whole
        if event.direction is Direction.S2C:
            if first and not self._heard[Direction.C2S] and data.startswith(GREETING):
                data = data.removeprefix(GREETING)  # the tutorial's bare NICK: asks for a nickname
                self._asked_nick = not data.strip()
        elif self._asked_nick:
            self._asked_nick = False
            nick = decode_line(data.strip())
            if nick and "\n" not in nick:  # one line: the answer to NICK, whatever the tutorial server makes of it
                self.nick = nick
                return [*out, (*key, f"{neutralise(nick)} joined (nickname sent after the server's NICK)")]
        return [*out, *self._lines(event.direction, self._framers[event.direction].feed(data, key))]

    def _lines(self, direction: Direction, pieces: list[tuple[Key, bytes]]) -> list[Entry]:
        arrow = f"{self.client_name} → server" if direction is Direction.C2S else f"server → {self.client_name}"
        out: list[Entry] = []
        for (ts, frame), raw in pieces:
            text = decode_line(raw)
            if text.strip():
                out.append((ts, frame, f"{arrow}: {neutralise(text)}"))
        return out

    def _flush(self, direction: Direction) -> list[Entry]:
        framer = self._framers[direction]
        return self._lines(direction, [framer.take()]) if framer.pending else []

    def _flush_both(self) -> list[Entry]:
        return sorted([*self._flush(Direction.C2S), *self._flush(Direction.S2C)], key=lambda entry: entry[:2])

    def _closed(self, event: Closed) -> list[Entry]:
        out = self._flush_both()
        if self._ended:
            return out
        if event.reason is CloseReason.END:
            return [*out, (event.ts, event.frame, "capture ended, connection still open")]
        return [*out, (event.ts, event.frame, f"connection closed ({event.reason.value})")]
