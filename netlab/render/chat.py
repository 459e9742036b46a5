"""`--format chat`: the chat protocol decoded, one line per chat message (pure).

Each message is shown once, as its sender sent it (client→server), with who said it, to whom,
when and from which connection::

    16:30:01.123 #0 127.0.0.1:41234 alice → everyone: привет 🙂
    16:30:01.456 #1 127.0.0.1:41240 bob → alice (private): hi
    16:30:02.001 #0 127.0.0.1:41234 * alice waves

The server's copies of a message to each recipient are not repeated (a copy whose sender is the
nickname of a captured connection is never shown: the original is); a line that only the
server→client direction shows (the sender's connection was not captured) is shown with the
connection it was delivered on. Server notices (`***`) are shown once however many clients got
them; errors (`!!!`) are shown per connection.

Both dialects of docs/protocol.md are understood: netlab's line protocol (a nickname line, then
one message or /command per line) and the tutorial dialect (a bare nickname chunk, then
``nick: text`` chunks without newlines). The dialect is read from the first client→server bytes:
a chunk without a newline means the tutorial dialect. Gaps in the capture are shown in place; the
line they cut is dropped up to its newline, never shown as a message of its own.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from netlab.capture.model import Endpoint
from netlab.chat.protocol import (
    GREETING,
    WELCOME_RE,
    Act,
    ChangeNick,
    Leave,
    LineFramer,
    ListUsers,
    MessageKind,
    Say,
    Whisper,
    decode_line,
    neutralise,
    parse_command,
    parse_server_line,
)
from netlab.errors import RemoteProtocolError
from netlab.render.base import RenderOptions
from netlab.stream.events import Closed, Data, Direction, Event, Gap, Opened

#: How many recent messages are remembered to recognise the server's copies of them.
RECENT_MESSAGES = 4096


@dataclass(slots=True)
class _Conn:
    """What the renderer knows about one chat connection (one TCP stream)."""

    stream: int
    client: Endpoint
    nick: str | None = None
    naming: bool = True  # still choosing a nickname
    refused: bool = False  # the server refused the last claim (line dialect may retry)
    tutorial: bool | None = None  # None until the first client bytes
    framers: dict[Direction, LineFramer] = field(default_factory=dict)
    leave_shown: bool = False
    greeted: bool = False  # the server's first bytes were seen
    resync: set[Direction] = field(default_factory=set)  # skipping to the next newline after a gap

    def framer(self, direction: Direction) -> LineFramer:
        found = self.framers.get(direction)
        if found is None:
            found = self.framers[direction] = LineFramer()
        return found

    @property
    def who(self) -> str:
        return self.nick or "(no nickname yet)"


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S.%f")[:-3]


class ChatRenderer:
    """Incremental chat-message renderer (see the module docstring). Not thread-safe."""

    binary = False

    def __init__(self, options: RenderOptions) -> None:
        self._direction = options.direction
        self._conns: dict[int, _Conn] = {}
        self._recent: deque[tuple[str, str]] = deque(maxlen=RECENT_MESSAGES)
        self._recent_set: dict[tuple[str, str], int] = {}
        self._notices: deque[str] = deque(maxlen=RECENT_MESSAGES)
        #: Nicknames of captured connections: the server's copies of their messages are never repeated,
        #: even when the reassembler releases a copy before the original (the original is shown).
        self._nicks: set[str] = set()

    def begin(self) -> str:
        return ""

    def end(self) -> str:
        return ""

    def on_event(self, event: Event) -> str:
        if isinstance(event, Opened):
            self._conns[event.stream] = _Conn(event.stream, event.client)
            return ""
        conn = self._conns.get(event.stream)
        if conn is None:
            return ""
        if isinstance(event, Data):
            if self._direction is not None and event.direction is not self._direction:
                return ""
            if event.direction is Direction.C2S:
                return self._client_bytes(conn, event)
            return self._server_bytes(conn, event)
        if isinstance(event, Gap):
            conn.framers.pop(event.direction, None)  # the partial line is cut; start afresh
            conn.resync.add(event.direction)
            side = "client→server" if event.direction is Direction.C2S else "server→client"
            return self._line(conn, event.ts, f"[{event.size} bytes missing in capture, {side}]")
        if isinstance(event, Closed):
            return self._closed(conn, event)
        return ""

    # -- client → server

    def _client_bytes(self, conn: _Conn, event: Data) -> str:
        if conn.tutorial is None:
            conn.tutorial = b"\n" not in event.data
        if conn.tutorial:
            return self._tutorial_chunk(conn, event)
        out = []
        for line in self._frame(conn, Direction.C2S, event.data):
            out.append(self._client_line(conn, event.ts, line))
        return "".join(out)

    def _frame(self, conn: _Conn, direction: Direction, data: bytes) -> list[str]:
        if direction in conn.resync:  # after a gap: the rest of the cut line is not a message
            newline = data.find(b"\n")
            if newline < 0:
                return []
            conn.resync.discard(direction)
            data = data[newline + 1 :]
        try:
            return conn.framer(direction).feed(data)
        except RemoteProtocolError as error:
            conn.framers.pop(direction, None)
            return [f"\x00{error}"]  # NUL never survives decoding from the wire: marks our note

    def _client_line(self, conn: _Conn, ts: float, line: str) -> str:
        if line.startswith("\x00"):
            return self._line(conn, ts, f"[{line[1:]}]")
        if conn.naming and (conn.nick is None or conn.refused):
            conn.nick, conn.refused = line.strip(), False
            self._nicks.add(conn.nick)
            return ""
        conn.naming = False
        return self._message(conn, ts, line)

    def _tutorial_chunk(self, conn: _Conn, event: Data) -> str:
        text = decode_line(event.data.rstrip(b"\n"))
        if conn.nick is None:
            conn.nick, conn.naming = text.strip(), False
            self._nicks.add(conn.nick)
            return self._line(conn, event.ts, f"{neutralise(conn.who)} joined (tutorial dialect)")
        prefix = f"{conn.nick}: "
        body = text[len(prefix) :] if text.startswith(prefix) else text
        return self._message(conn, event.ts, body)

    def _message(self, conn: _Conn, ts: float, text: str) -> str:
        action = parse_command(text)
        who = neutralise(conn.who)
        if action is None:
            return ""
        if isinstance(action, Say):
            self._remember(conn.who, action.text)
            return self._line(conn, ts, f"{who} → everyone: {action.text}")
        if isinstance(action, Act):
            self._remember(conn.who, action.text)
            return self._line(conn, ts, f"* {who} {action.text}")
        if isinstance(action, Whisper):
            self._remember(conn.who, action.text)
            return self._line(conn, ts, f"{who} → {neutralise(action.target)} (private): {action.text}")
        if isinstance(action, ChangeNick):
            self._nicks.add(action.nick)
            return self._line(conn, ts, f"{who} asks to be called {neutralise(action.nick)}")
        if isinstance(action, Leave):
            conn.leave_shown = True
            return self._line(conn, ts, f"{who} leaves ({neutralise(action.reason)})")
        if isinstance(action, ListUsers):
            return self._line(conn, ts, f"{who} asks who is online")
        return self._line(conn, ts, f"{who} sends {neutralise(text)}")

    def _remember(self, sender: str, text: str) -> None:
        if len(self._recent) == self._recent.maxlen:
            old = self._recent[0]
            self._recent_set[old] -= 1
            if not self._recent_set[old]:
                del self._recent_set[old]
        key = (sender, text)
        self._recent.append(key)
        self._recent_set[key] = self._recent_set.get(key, 0) + 1

    # -- server → client

    def _server_bytes(self, conn: _Conn, event: Data) -> str:
        data = event.data
        if not conn.greeted:
            conn.greeted = True
            data = data.removeprefix(GREETING)  # the bare "NICK" asking for a nickname (both dialects)
        if conn.tutorial and b"\n" not in data and not conn.framer(Direction.S2C).pending:
            return self._server_line(conn, event.ts, decode_line(data)) if data else ""  # one bare chunk
        out = []
        for line in self._frame(conn, Direction.S2C, data):
            out.append(self._server_line(conn, event.ts, line))
        return "".join(out)

    def _server_line(self, conn: _Conn, ts: float, line: str) -> str:
        if line.startswith("\x00"):
            return self._line(conn, ts, f"[{line[1:]}]")
        welcome = WELCOME_RE.match(line)
        if welcome:
            conn.nick, conn.naming = welcome["nick"], False
            self._nicks.add(conn.nick)
            return self._line(conn, ts, f"{neutralise(conn.who)} joined")
        incoming = parse_server_line(line)
        if incoming.kind is MessageKind.ERROR:
            conn.refused = conn.naming
            return self._line(conn, ts, f"server → {neutralise(conn.who)}: !!! {neutralise(incoming.text)}")
        if incoming.kind is MessageKind.NOTICE:
            return self._notice(conn, ts, incoming.line, incoming.text)
        if incoming.sender is not None and (
            (incoming.sender, incoming.text) in self._recent_set or incoming.sender in self._nicks
        ):
            return ""  # a copy of a message shown (or to be shown) on its sender's own connection
        if incoming.kind is MessageKind.RAW:
            sender, colon, text = incoming.text.partition(": ")
            if not incoming.text.strip() or (colon and (sender, text) in self._recent_set):
                return ""  # blank, or the tutorial server's bare copy of a message already shown
        label = f"(delivered to {neutralise(conn.who)})"
        if incoming.kind is MessageKind.ACTION:
            return self._line(conn, ts, f"* {neutralise(incoming.sender or '?')} {incoming.text} {label}")
        if incoming.kind is MessageKind.PRIVATE:
            return self._line(
                conn,
                ts,
                f"{neutralise(incoming.sender or '?')} → {neutralise(conn.who)} (private): {incoming.text}",
            )
        if incoming.kind is MessageKind.CHAT:
            return self._line(
                conn, ts, f"{neutralise(incoming.sender or '?')} → everyone: {incoming.text} {label}"
            )
        return self._line(conn, ts, f"server → {neutralise(conn.who)}: {neutralise(incoming.text)}")

    def _notice(self, conn: _Conn, ts: float, whole: str, text: str) -> str:
        if whole in self._notices:
            return ""
        self._notices.append(whole)
        return self._line(conn, ts, f"*** {neutralise(text)}")

    def _closed(self, conn: _Conn, event: Closed) -> str:
        out = []
        framer = conn.framers.get(Direction.C2S)
        if framer is not None and framer.pending:
            rest = decode_line(framer.take_rest())
            out.append(
                self._line(
                    conn, event.ts, f"{neutralise(conn.who)} sent an incomplete last line: {neutralise(rest)}"
                )
            )
        if not conn.leave_shown:
            out.append(
                self._line(conn, event.ts, f"{neutralise(conn.who)} disconnected ({event.reason.value})")
            )
        del self._conns[conn.stream]
        return "".join(out)

    def _line(self, conn: _Conn, ts: float, text: str) -> str:
        return f"{_clock(ts)} #{conn.stream} {conn.client} {neutralise(text)}\n"
