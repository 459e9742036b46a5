"""`--format chat`: the chat protocol decoded, one line per chat message (pure).

Each message is shown once, as its sender sent it (client→server), with who said it, to whom,
when and from which connection::

    16:30:01.123 #0 127.0.0.1:41234 alice → everyone: привет 🙂
    16:30:01.456 #1 127.0.0.1:41240 bob → alice (private): hi
    16:30:02.001 #0 127.0.0.1:41234 * alice waves

Client→server bytes go through the server's own sans-IO `ChatSession`, so a capture is read
exactly as `netlab serve` read it: both dialects of docs/protocol.md (netlab's line protocol, and
the tutorial dialect's bare chunks — merged chunks split at each ``nick: `` prefix, the farewell
chunk, ``/dialect line``), commands, the nickname handshake. A client's nickname is taken as
granted when the server's welcome line says so (or, for servers without one, when the client goes
on talking), refused when the server answers with an error.

The server's copies of a message to each recipient are not repeated (a copy whose sender is the
nickname of a captured connection is never shown: the original is); a line only the server→client
direction shows (its sender's connection was not captured) is shown with the connection it was
delivered on. Server notices (`***`) are shown once however many clients got them; errors (`!!!`)
per connection. Gaps are shown in place; the line they cut is dropped, never shown as a message of
its own. `--direction` does not apply: a chat line needs both directions to be told.
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
    Action,
    ChangeNick,
    ChatSession,
    ClaimNick,
    Close,
    Dialect,
    Leave,
    LineFramer,
    ListUsers,
    MessageKind,
    Say,
    SessionState,
    Whisper,
    decode_line,
    neutralise,
    parse_server_line,
)
from netlab.errors import LocalProtocolError, RemoteProtocolError
from netlab.render.base import RenderOptions
from netlab.stream.events import Closed, Data, Direction, Event, Gap, Opened

#: How many recent messages and notices are remembered to recognise the server's copies of them.
RECENT_MESSAGES = 4096


@dataclass(slots=True)
class _Conn:
    """What the renderer knows about one chat connection (one TCP stream)."""

    stream: int
    client: Endpoint
    session: ChatSession = field(default_factory=ChatSession)
    claim: str | None = None  # a nickname claimed and not yet granted or refused
    nick: str | None = None
    server_lines: LineFramer = field(default_factory=LineFramer)
    greeted: bool = False  # the server's first bytes were seen
    resync: set[Direction] = field(default_factory=set)  # skipping to the next newline after a gap
    leave_shown: bool = False

    @property
    def who(self) -> str:
        return self.nick or self.claim or "(no nickname yet)"

    @property
    def tutorial(self) -> bool:
        return self.session.dialect is Dialect.TUTORIAL


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S.%f")[:-3]


def _skip_cut_line(conn: _Conn, direction: Direction, data: bytes) -> bytes:
    """After a gap, drop the rest of the line the gap cut (up to and including its newline)."""
    if direction not in conn.resync:
        return data
    newline = data.find(b"\n")
    if newline < 0:
        return b""
    conn.resync.discard(direction)
    return data[newline + 1 :]


class ChatRenderer:
    """Incremental chat-message renderer (see the module docstring). Not thread-safe."""

    binary = False

    def __init__(self, options: RenderOptions) -> None:
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
            if event.direction is Direction.C2S:
                return self._client_bytes(conn, event)
            return self._server_bytes(conn, event)
        if isinstance(event, Gap):
            return self._gap(conn, event)
        if isinstance(event, Closed):
            return self._closed(conn, event)
        return ""

    # -- client → server

    def _client_bytes(self, conn: _Conn, event: Data) -> str:
        session = conn.session
        data = _skip_cut_line(conn, Direction.C2S, event.data)
        if not data or session.state is SessionState.CLOSED:
            return ""
        out = ""
        actions: list[Action] = []
        if session.dialect is None and not session.framer.pending and b"\n" not in data:
            actions += session.receive(data)  # a bare chunk first: the tutorial dialect's nickname
            actions += session.quiet()
        else:
            if conn.claim is not None and conn.tutorial:
                out = self._grant(conn, event.ts, conn.claim)  # no verdict seen, and the client goes on
            actions += session.receive(data)
        return out + self._apply(conn, event.ts, actions)

    def _apply(self, conn: _Conn, ts: float, actions: list[Action]) -> str:
        return "".join(self._action(conn, ts, action) for action in actions)

    def _action(self, conn: _Conn, ts: float, action: Action) -> str:
        who = neutralise(conn.who)
        if isinstance(action, ClaimNick):
            conn.claim = action.nick
            self._nicks.add(action.nick)
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
        if isinstance(action, Close):
            return self._line(conn, ts, f"{who} breaks the protocol: {neutralise(action.reason)}")
        return ""  # Reply: the server's answer shows on the server→client side

    def _grant(self, conn: _Conn, ts: float, nick: str) -> str:
        conn.nick, conn.claim = nick, None
        self._nicks.add(nick)
        dialect = " (tutorial dialect)" if conn.tutorial else ""
        joined = self._line(conn, ts, f"{neutralise(nick)} joined{dialect}")
        session = conn.session
        if session.state is SessionState.AWAIT_NICK and session.nick is None:
            try:
                return joined + self._apply(conn, ts, session.nick_granted(nick))
            except LocalProtocolError:
                return joined  # the session saw no claim (the capture started mid-handshake)
        session.renamed(nick)
        return joined

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
        data = _skip_cut_line(conn, Direction.S2C, data)
        if conn.tutorial:  # bare chunks, one message each; a "\n" may separate merged ones
            lines = [decode_line(piece) for piece in data.split(b"\n") if piece.strip()]
        else:
            try:
                lines = conn.server_lines.feed(data)
            except RemoteProtocolError as error:
                conn.server_lines = LineFramer()
                return self._line(conn, event.ts, f"[server→client: {error}]")
        return "".join(self._server_line(conn, event.ts, line) for line in lines)

    def _server_line(self, conn: _Conn, ts: float, line: str) -> str:
        if not line.strip():
            return ""  # e.g. the lone "\n" that ends bare chunks when a client switches to line framing
        welcome = WELCOME_RE.match(line)
        if welcome:
            return self._grant(conn, ts, welcome["nick"])
        incoming = parse_server_line(line)
        if incoming.kind is MessageKind.ERROR:
            out = self._line(conn, ts, f"server → {neutralise(conn.who)}: !!! {neutralise(incoming.text)}")
            if conn.claim is not None and conn.session.state is SessionState.AWAIT_NICK:
                conn.claim = None
                out += self._apply(conn, ts, conn.session.nick_refused(incoming.text))
            return out
        if incoming.kind is MessageKind.NOTICE:
            return self._notice(conn, ts, incoming.line, incoming.text)
        if incoming.sender is not None and (
            (incoming.sender, incoming.text) in self._recent_set or incoming.sender in self._nicks
        ):
            return ""  # a copy of a message shown (or to be shown) on its sender's own connection
        if incoming.kind is MessageKind.RAW:
            sender, colon, text = incoming.text.partition(": ")
            if colon and ((sender, text) in self._recent_set or sender in self._nicks):
                return ""  # the tutorial server's bare copy of a message already shown
        return self._delivery(conn, ts, incoming.kind, incoming.sender or "?", incoming.text)

    def _delivery(self, conn: _Conn, ts: float, kind: MessageKind, sender: str, text: str) -> str:
        to, who = f"(delivered to {neutralise(conn.who)})", neutralise(sender)
        if kind is MessageKind.ACTION:
            return self._line(conn, ts, f"* {who} {text} {to}")
        if kind is MessageKind.PRIVATE:
            return self._line(conn, ts, f"{who} → {neutralise(conn.who)} (private): {text}")
        if kind is MessageKind.CHAT:
            return self._line(conn, ts, f"{who} → everyone: {text} {to}")
        return self._line(conn, ts, f"server → {neutralise(conn.who)}: {neutralise(text)}")

    def _notice(self, conn: _Conn, ts: float, whole: str, text: str) -> str:
        if whole in self._notices:
            return ""
        self._notices.append(whole)
        return self._line(conn, ts, f"*** {neutralise(text)}")

    # -- gaps and the end

    def _gap(self, conn: _Conn, event: Gap) -> str:
        if event.direction is Direction.C2S:
            if conn.session.framer.take_rest() or not conn.tutorial:
                conn.resync.add(Direction.C2S)
        else:
            conn.server_lines = LineFramer()
            if not conn.tutorial:
                conn.resync.add(Direction.S2C)
        side = "client→server" if event.direction is Direction.C2S else "server→client"
        return self._line(conn, event.ts, f"[{event.size} bytes missing in capture, {side}]")

    def _closed(self, conn: _Conn, event: Closed) -> str:
        out = ""
        session = conn.session
        if session.state is not SessionState.CLOSED and session.framer.pending and not conn.tutorial:
            rest = decode_line(session.framer.take_rest())
            out += self._line(conn, event.ts, f"{neutralise(conn.who)} sent an incomplete last line: {rest}")
        if not conn.leave_shown:
            out += self._line(conn, event.ts, f"{neutralise(conn.who)} disconnected ({event.reason.value})")
        del self._conns[conn.stream]
        return out

    def _line(self, conn: _Conn, ts: float, text: str) -> str:
        return f"{_clock(ts)} #{conn.stream} {conn.client} {neutralise(text)}\n"
