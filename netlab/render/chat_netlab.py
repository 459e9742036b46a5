"""The chat view of a stream that speaks netlab's protocol (pure).

Used only for streams whose server answered the nickname as netlab's server does (its stamped
welcome or ``!!!`` error after the bare ``NICK``; `netlab.render.chat` decides). Client→server
bytes go through the server's own sans-IO `ChatSession`, so such a stream is read exactly as
`netlab serve` read it: both client dialects of docs/protocol.md (lines, and the tutorial
dialect's bare chunks — merged chunks split at each ``nick: `` prefix, the farewell chunk,
``/dialect line``), commands, the nickname handshake. Only client→server lines are commands; what
the server delivers is text.

A nickname claim waits for the server's verdict, like the server's own session: lines the client
sent after it are held and shown, each at its own frame's time, once the verdict is seen. The
join is shown at the time of the frame that carried the nickname (before the server's "X joined"
notice to the others); a verdict missing from the capture is said so after `VERDICT_WAIT_SECONDS`
of capture time, and the client taken at its word. A ``/nick`` change takes effect when the server announces it
(``*** old is now known as new``): the speaker is called by the new name from then on.

The server's copies of a message to each recipient are not repeated (a copy whose sender is the
nickname of a captured connection is never shown: the original is); a line only the server→client
direction shows (its sender's connection was not captured) is shown with the connection it was
delivered on. Server notices (``***``) are shown once however many clients got them; errors
(``!!!``) per connection. Gaps are shown in place; the line they cut is dropped.
"""

from __future__ import annotations

from collections import deque

from netlab.chat.protocol import (
    GREETING,
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
    Say,
    SessionState,
    Whisper,
    decode_line,
)
from netlab.chat.wire import WELCOME_RE, MessageKind, neutralise, parse_rename, parse_server_line
from netlab.errors import LocalProtocolError, RemoteProtocolError
from netlab.render.chat_common import Entry, Key
from netlab.stream.events import Closed, CloseReason, Control, ControlKind, Data, Direction, Event, Gap

#: How many recent messages and notices are remembered to recognise the server's copies of them.
RECENT_MESSAGES = 4096
#: Capture time a nickname claim waits for the server's verdict (retransmissions included) before
#: the view says the verdict is not in the capture and goes on as the client did.
VERDICT_WAIT_SECONDS = 10.0


class NetlabRoom:
    """What the netlab streams of one capture share: recent messages and notices, who is called what."""

    def __init__(self) -> None:
        self.recent: deque[tuple[str, str]] = deque(maxlen=RECENT_MESSAGES)
        self.recent_count: dict[tuple[str, str], int] = {}
        self.notices: deque[str] = deque(maxlen=RECENT_MESSAGES)
        #: Nicknames of captured connections: the server's copies of their messages are never repeated,
        #: even when the reassembler releases a copy before the original (the original is shown).
        self.nicks: set[str] = set()
        self.speakers: dict[str, NetlabStream] = {}  # casefolded nickname → its connection

    def remember(self, sender: str, text: str) -> None:
        """`sender` said `text`: the server's copies of it are not shown again."""
        if len(self.recent) == self.recent.maxlen:
            old = self.recent[0]
            self.recent_count[old] -= 1
            if not self.recent_count[old]:
                del self.recent_count[old]
        key = (sender, text)
        self.recent.append(key)
        self.recent_count[key] = self.recent_count.get(key, 0) + 1

    def rename(self, old: str, new: str) -> None:
        """The server announced that `old` is now known as `new`."""
        self.nicks.add(new)
        stream = self.speakers.pop(old.casefold(), None)
        if stream is not None:
            stream.nick = new
            stream.session.renamed(new)
            self.speakers[new.casefold()] = stream


def _skip_cut_line(resync: set[Direction], direction: Direction, data: bytes) -> bytes:
    """After a gap, drop the rest of the line the gap cut (up to and including its newline)."""
    if direction not in resync:
        return data
    newline = data.find(b"\n")
    if newline < 0:
        return b""
    resync.discard(direction)
    return data[newline + 1 :]


class NetlabStream:
    """One connection to a netlab server, decoded (see the module docstring). Not thread-safe."""

    def __init__(self, room: NetlabRoom) -> None:
        self.room = room
        self.session = ChatSession()
        self.nick: str | None = None
        self.claim: str | None = None  # a nickname claimed and not yet granted or refused
        self.claim_key: Key = (0.0, 0)  # the frame that carried the claim
        self.held: deque[tuple[float, int, bytes]] = deque()  # client bytes sent after the claim
        self.server_lines = LineFramer()
        self.greeted = False  # the server's first bytes were seen
        self.resync: set[Direction] = set()  # skipping to the next newline after a gap
        self.leave_shown = False
        self.fins: set[Direction] = set()  # the directions that sent a FIN
        self.ended = False  # the end of the connection was shown
        self.unconfirmed = False  # the nickname was taken without a verdict in the capture

    @property
    def who(self) -> str:
        return neutralise(self.nick or self.claim or "(no nickname yet)")

    @property
    def closed(self) -> bool:
        return self.session.state is SessionState.CLOSED

    @property
    def tutorial(self) -> bool:
        return self.session.dialect is Dialect.TUTORIAL

    def hold(self) -> Key | None:
        """The frame of a claim awaiting the server's verdict (its join is shown there), or None."""
        return self.claim_key if self.claim is not None else None

    def due(self) -> float | None:
        """When a claim stops waiting for a verdict that is not in the capture, or None."""
        return self.claim_key[0] + VERDICT_WAIT_SECONDS if self.claim is not None else None

    def tick(self, now: float) -> list[Entry]:
        """A claim without a verdict `VERDICT_WAIT_SECONDS` later: say so, and go on as the client did."""
        if self.claim is None or now - self.claim_key[0] <= VERDICT_WAIT_SECONDS:
            return []
        nick, (ts, frame) = self.claim, self.claim_key
        self.claim, self.nick, self.unconfirmed = None, nick, True
        self.room.nicks.add(nick)
        self.room.speakers[nick.casefold()] = self
        out: list[Entry] = [(ts, frame, f"{neutralise(nick)} claimed the nickname (the server's answer is not in the capture)")]
        try:
            out += self._apply(ts, frame, self.session.nick_granted(nick))
        except LocalProtocolError:
            self.session.renamed(nick)
        return out + self._release_held()

    def feed(self, event: Event) -> list[Entry]:
        """Entries for one event of this stream."""
        if isinstance(event, Data):
            if event.direction is Direction.C2S:
                return self._client_bytes(event)
            return self._server_bytes(event)
        if isinstance(event, Gap):
            return self._gap(event)
        if isinstance(event, Control):
            return self._control(event)
        if isinstance(event, Closed):
            return [] if self.ended else self._closed(event.ts, event.frame, event.reason)
        return []

    def _control(self, event: Control) -> list[Entry]:
        """The end is shown at the FIN that completes it or at the RST (the stream is closed later)."""
        if self.ended or event.kind not in (ControlKind.FIN, ControlKind.RST):
            return []
        if event.kind is ControlKind.FIN:
            self.fins.add(event.direction)
            if len(self.fins) < 2:
                return []
        reason = CloseReason.FIN if event.kind is ControlKind.FIN else CloseReason.RST
        return self._closed(event.ts, event.frame, reason)

    # -- client → server

    def _client_bytes(self, event: Data) -> list[Entry]:
        data = _skip_cut_line(self.resync, Direction.C2S, event.data)
        if not data:
            return []
        if self.claim is not None:  # the server holds what follows a claim until its verdict
            self.held.append((event.ts, event.frame, data))
            return []
        return self._receive(event.ts, event.frame, data)

    def _receive(self, ts: float, frame: int, data: bytes) -> list[Entry]:
        session = self.session
        if session.state is SessionState.CLOSED:
            return []
        if session.dialect is None and not session.framer.pending and b"\n" not in data:
            # a bare chunk first: the tutorial dialect's nickname
            return self._apply(ts, frame, [*session.receive(data), *session.quiet()])
        if self.tutorial and session.state is SessionState.ACTIVE:
            return self._apply(ts, frame, session.receive(data))  # one chunk
        out: list[Entry] = []
        start = 0
        while start < len(data) and not self.closed:  # line by line: each keeps its frame, lines after a claim wait
            if self.claim is not None:
                self.held.append((ts, frame, data[start:]))
                break
            newline = data.find(b"\n", start)
            end = len(data) if newline < 0 else newline + 1
            out += self._apply(ts, frame, session.receive(data[start:end]))
            start = end
        return out

    def _release_held(self) -> list[Entry]:
        out: list[Entry] = []
        while self.held and self.claim is None:
            ts, frame, data = self.held.popleft()
            out += self._receive(ts, frame, data)
        return out

    def _apply(self, ts: float, frame: int, actions: list[Action]) -> list[Entry]:
        out: list[Entry] = []
        for action in actions:
            text = self._action(ts, frame, action)
            if text:
                out.append((ts, frame, text))
        return out

    def _action(self, ts: float, frame: int, action: Action) -> str:
        who, room = self.who, self.room
        if isinstance(action, ClaimNick):
            self.claim, self.claim_key = action.nick, (ts, frame)
            room.nicks.add(action.nick)
            return ""
        if isinstance(action, Say):
            room.remember(self.nick or "", action.text)
            return f"{who} → everyone: {action.text}"
        if isinstance(action, Act):
            room.remember(self.nick or "", action.text)
            return f"* {who} {action.text}"
        if isinstance(action, Whisper):
            room.remember(self.nick or "", action.text)
            return f"{who} → {neutralise(action.target)} (private): {action.text}"
        if isinstance(action, ChangeNick):
            return f"{who} asks to be called {neutralise(action.nick)}"
        if isinstance(action, Leave):
            self.leave_shown = True
            return f"{who} leaves ({neutralise(action.reason)})"
        if isinstance(action, ListUsers):
            return f"{who} asks who is online"
        if isinstance(action, Close):
            return f"{who} breaks the protocol: {neutralise(action.reason)}"
        return ""  # Reply: the server's answer shows on the server→client side

    def _grant(self, ts: float, frame: int, nick: str) -> list[Entry]:
        at = self.claim_key if self.claim is not None else (ts, frame)
        claimed, self.claim = self.claim, None
        late = self.unconfirmed and nick == self.nick  # the verdict came after all: the claim was shown
        self.nick, self.unconfirmed = nick, False
        self.room.nicks.add(nick)
        self.room.speakers[nick.casefold()] = self
        dialect = " (tutorial dialect)" if self.tutorial else ""
        out: list[Entry] = [] if late else [(*at, f"{neutralise(nick)} joined{dialect}")]
        session = self.session
        if session.state is not SessionState.AWAIT_NICK:
            session.renamed(nick)
            return out + self._release_held()
        if claimed is None:  # the capture started after the nickname: tell the session, as the server was told
            session.framer.take_rest()
            session.receive(nick.encode() + b"\n")
        try:
            out += self._apply(*at, session.nick_granted(nick))
        except LocalProtocolError:
            session.renamed(nick)  # the session would not have claimed it: go on with the server's word
        return out + self._release_held()

    def _refuse(self, ts: float, frame: int, reason: str) -> list[Entry]:
        self.claim = None
        return self._apply(ts, frame, self.session.nick_refused(reason)) + self._release_held()

    # -- server → client

    def _server_bytes(self, event: Data) -> list[Entry]:
        data = event.data
        if not self.greeted:
            self.greeted = True
            data = data.removeprefix(GREETING)  # the bare "NICK" asking for a nickname (both dialects)
        data = _skip_cut_line(self.resync, Direction.S2C, data)
        if self.tutorial:  # bare chunks, one message each; a "\n" may separate merged ones
            lines = [decode_line(piece) for piece in data.split(b"\n") if piece.strip()]
        else:
            try:
                lines = self.server_lines.feed(data)
            except RemoteProtocolError as error:
                self.server_lines = LineFramer()
                return [(event.ts, event.frame, f"[server→client: {error}]")]
        out: list[Entry] = []
        for line in lines:
            out += self._server_line(event.ts, event.frame, line)
        return out

    def _server_line(self, ts: float, frame: int, line: str) -> list[Entry]:
        if not line.strip():
            return []  # e.g. the lone "\n" that ends bare chunks when a client switches to line framing
        welcome = WELCOME_RE.match(line)
        if welcome:
            return self._grant(ts, frame, welcome["nick"])
        incoming = parse_server_line(line)
        if incoming.kind is MessageKind.ERROR:
            out = [(ts, frame, f"server → {self.who}: !!! {neutralise(incoming.text)}")]
            if self.claim is not None and self.session.state is SessionState.AWAIT_NICK:
                out += self._refuse(ts, frame, incoming.text)
            return out
        if incoming.kind is MessageKind.NOTICE:
            return self._notice(ts, frame, incoming.line, incoming.text)
        room = self.room
        if incoming.sender is not None and (
            (incoming.sender, incoming.text) in room.recent_count or incoming.sender in room.nicks
        ):
            return []  # a copy of a message shown (or to be shown) on its sender's own connection
        if incoming.kind is MessageKind.RAW:
            sender, colon, text = incoming.text.partition(": ")
            if colon and ((sender, text) in room.recent_count or sender in room.nicks):
                return []  # the tutorial server's bare copy of a message already shown
        return [(ts, frame, self._delivery(incoming.kind, incoming.sender or "?", incoming.text))]

    def _delivery(self, kind: MessageKind, sender: str, text: str) -> str:
        me, who = self.who, neutralise(sender)
        if kind is MessageKind.ACTION:
            return f"* {who} {text} (delivered to {me})"
        if kind is MessageKind.PRIVATE:
            return f"{who} → {me} (private): {text}"
        if kind is MessageKind.CHAT:
            return f"{who} → everyone: {text} (delivered to {me})"
        return f"server → {me}: {neutralise(text)}"

    def _notice(self, ts: float, frame: int, whole: str, text: str) -> list[Entry]:
        if whole in self.room.notices:
            return []
        self.room.notices.append(whole)
        renamed = parse_rename(text)
        if renamed is not None:
            self.room.rename(*renamed)
        return [(ts, frame, f"*** {neutralise(text)}")]

    # -- gaps and the end

    def _gap(self, event: Gap) -> list[Entry]:
        if event.direction is Direction.C2S:
            if self.session.framer.take_rest() or not self.tutorial:
                self.resync.add(Direction.C2S)
        else:
            self.server_lines = LineFramer()
            if not self.tutorial:
                self.resync.add(Direction.S2C)
        side = "client→server" if event.direction is Direction.C2S else "server→client"
        return [(event.ts, event.frame, f"[{event.size} bytes missing in capture, {side}]")]

    def _closed(self, ts: float, frame: int, reason: CloseReason) -> list[Entry]:
        self.ended = True
        out: list[Entry] = []
        if self.claim is not None:  # no verdict was captured: what the client sent is shown as it stands
            self.claim = None
            out += self._release_held()
        session = self.session
        if session.state is not SessionState.CLOSED and session.framer.pending and not self.tutorial:
            rest = decode_line(session.framer.take_rest())
            out.append((ts, frame, f"{self.who} sent an incomplete last line: {rest}"))
        if not self.leave_shown:
            out.append((ts, frame, f"{self.who} disconnected ({reason.value})"))
        if self.nick is not None and self.room.speakers.get(self.nick.casefold()) is self:
            del self.room.speakers[self.nick.casefold()]
        return out
