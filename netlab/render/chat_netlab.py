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

The join names the client's dialect as the server's log does, once the session has settled it
(`DialectSettled`). A bare nickname leaves it *tentative* after the welcome (docs/protocol.md:
``netlab join`` completes its line with a lone ``\n``, an older one sends ``/dialect line``, a
tutorial client sends a chunk or nothing); the join waits, holding back later lines, until the
client's next bytes, its FIN or RST, the server's bytes after the welcome (it releases what it held
only once the dialect is settled), or `DIALECT_WINDOW_SECONDS` of capture time tell. What the
server sends while the dialect is tentative is the bare welcome alone, so its bytes are read as
chunks until then and as lines after a line client's ``\n``.

The server's copies of a message to each recipient are not repeated (a copy whose sender is the
nickname of a captured connection is never shown: the original is); a line only the server→client
direction shows (its sender's connection was not captured) is shown with the connection it was
delivered on. Server notices (``***``) are shown once however many clients got them
(`NetlabRoom.notice_is_new`), except that the answer to a client's own ``/who`` or ``/help`` is
shown on its connection; errors (``!!!``) per connection. Gaps are shown in place; the line they cut is dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from netlab.chat.limits import DIALECT_WINDOW_SECONDS
from netlab.chat.protocol import (
    GREETING,
    Act,
    Action,
    ChangeNick,
    ChatSession,
    ClaimNick,
    Close,
    Dialect,
    DialectSettled,
    Leave,
    LineFramer,
    ListUsers,
    Reply,
    Say,
    SessionState,
    Whisper,
    decode_line,
)
from netlab.chat.wire import (
    HELP_TEXT,
    WELCOME_RE,
    WHO_PREFIX,
    Incoming,
    MessageKind,
    neutralise,
    parse_rename,
    parse_server_line,
)
from netlab.errors import LocalProtocolError, RemoteProtocolError
from netlab.render.chat_common import Entry, Key
from netlab.render.chat_room import NetlabRoom as NetlabRoom
from netlab.stream.events import Closed, CloseReason, Control, ControlKind, Data, Direction, Event, Gap

#: Capture time a nickname claim waits for the server's verdict (retransmissions included) before
#: the view says the verdict is not in the capture and goes on as the client did.
VERDICT_WAIT_SECONDS = 10.0


def _reply_kind(text: str) -> str | None:
    """Which answer to one client a notice is: "who" (the online list), "help", or None (a broadcast)."""
    if text.startswith(WHO_PREFIX):
        return "who"
    return "help" if text == HELP_TEXT else None


@dataclass(frozen=True, slots=True)
class _Join:
    """A granted nickname whose join is shown once the client's dialect is settled."""

    at: Key  # the frame that carried the nickname: the join is shown there
    nick: str
    known: bool  # the nickname exchange was captured (else the dialect is not told)
    window_end: float  # capture time after which a silent client speaks the tutorial dialect


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
        self.joining: _Join | None = None  # a granted join whose dialect is not settled yet
        self.number = room.number()
        self.replies: deque[str] = deque()  # notices the server owes this client only: "who", "help"

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
        """The frame of a claim awaiting the server's verdict, or of a join awaiting its dialect (the
        join is shown there), or None."""
        if self.claim is not None:
            return self.claim_key
        return self.joining.at if self.joining is not None else None

    def due(self) -> float | None:
        """When a claim stops waiting for a verdict that is not in the capture, or a tentative
        dialect is settled by the client's silence; or None."""
        if self.claim is not None:
            return self.claim_key[0] + VERDICT_WAIT_SECONDS
        return self.joining.window_end if self.joining is not None else None

    def tick(self, now: float) -> list[Entry]:
        """A claim without a verdict `VERDICT_WAIT_SECONDS` later: say so, and go on as the client did.
        A tentative dialect past its window: the client stayed silent, so it speaks the tutorial dialect."""
        if self.joining is not None and now > self.joining.window_end:
            return self._silence(now, 0)
        if self.claim is None or now - self.claim_key[0] <= VERDICT_WAIT_SECONDS:
            return []
        nick, (ts, frame) = self.claim, self.claim_key
        self.claim, self.nick, self.unconfirmed = None, nick, True
        self.room.nicks.add(nick)
        self.room.speakers[nick.casefold()] = self
        out: list[Entry] = [
            (ts, frame, f"{neutralise(nick)} claimed the nickname (the server's answer is not in the capture)")
        ]
        try:
            out += self._apply(ts, frame, self.session.nick_granted(nick))
        except LocalProtocolError:
            self.session.renamed(nick)
        return out + self._release_held()

    def feed(self, event: Event) -> list[Entry]:
        """Entries for one event of this stream."""
        if self.joining is not None:
            settled = self._settle_before(self.joining, event)
            if settled is not None:
                return settled + self.feed(event)
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

    def _settle_before(self, joining: _Join, event: Event) -> list[Entry] | None:
        """While a bare-nick client's dialect is tentative (docs/protocol.md), what `event` tells of it
        before it is read: None when `event` itself settles it (the client's first bytes) or tells nothing.

        The server settles the tutorial dialect when the client stays silent through its dialect window,
        or closes; then it sends what it held, so server bytes after the welcome mean the same. A gap or
        a server that ends first leaves the dialect unknown.
        """
        if event.ts > joining.window_end:
            return self._silence(event.ts, event.frame)
        if isinstance(event, Data):
            return None if event.direction is Direction.C2S else self._silence(event.ts, event.frame)
        if isinstance(event, Gap | Closed):
            return self._settled(None)
        if not isinstance(event, Control) or event.kind not in (ControlKind.FIN, ControlKind.RST):
            return None
        if event.direction is Direction.S2C:
            return self._settled(None)
        return self._silence(event.ts, event.frame)  # the client closes: the server's eof, tutorial

    def _silence(self, ts: float, frame: int) -> list[Entry]:
        """The client sent nothing in its dialect window: the tutorial dialect (`ChatSession.quiet`)."""
        out = self._apply(ts, frame, self.session.quiet())
        return out + self._settled(None)  # nothing when quiet() settled it

    def _settled(self, dialect: Dialect | None) -> list[Entry]:
        """The join waiting for its dialect, shown at its nickname's frame (`dialect` None: not known)."""
        joining, self.joining = self.joining, None
        if joining is None:
            return []
        label = f" ({dialect.value} dialect)" if dialect is not None and joining.known else ""
        return [(*joining.at, f"{neutralise(joining.nick)} joined{label}")]

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
            if isinstance(action, DialectSettled):
                out += self._settled(action.dialect)
                continue
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
            self.replies.append("who")
            return f"{who} asks who is online"
        if isinstance(action, Close):
            return f"{who} breaks the protocol: {neutralise(action.reason)}"
        if isinstance(action, Reply) and action.kind is MessageKind.NOTICE:
            self.replies.append("help")
        return ""  # Reply: the server's answer shows on the server→client side

    def _grant(self, ts: float, frame: int, nick: str, *, bare: bool = False) -> list[Entry]:
        """The server's welcome to `nick` (`bare`: as a bare chunk, the nickname not captured)."""
        at = self.claim_key if self.claim is not None else (ts, frame)
        claimed, self.claim = self.claim, None
        late = self.unconfirmed and nick == self.nick  # the verdict came after all: the claim was shown
        self.nick, self.unconfirmed = nick, False
        self.room.nicks.add(nick)
        self.room.speakers[nick.casefold()] = self
        session = self.session
        self.joining = None if late else _Join(at, nick, claimed is not None or bare, ts + DIALECT_WINDOW_SECONDS)
        if session.state is not SessionState.AWAIT_NICK:  # the view went on without the verdict
            session.renamed(nick)
            out = [] if session.tentative else self._settled(session.dialect)
            return out + self._release_held()
        if claimed is None:  # the capture started after the nickname: tell the session, as the server was told
            session.framer.take_rest()
            if bare:
                session.receive(nick.encode())
                session.quiet()
            else:
                session.receive(nick.encode() + b"\n")
        try:
            out = self._apply(*at, session.nick_granted(nick))  # the join, once the dialect is settled
        except LocalProtocolError:
            session.renamed(nick)  # the session would not have claimed it: go on with the server's word
            out = self._settled(None)
        return out + self._release_held()

    def _refuse(self, ts: float, frame: int, reason: str) -> list[Entry]:
        """The server refused the claim with `reason` (its ``!!!`` line, shown): the session retries or ends.
        An end is the server's verdict, already shown, not the client breaking the protocol."""
        self.claim = None
        actions: list[Action] = [
            action for action in self.session.nick_refused(reason) if not isinstance(action, Close)
        ]
        return self._apply(ts, frame, actions) + self._release_held()

    # -- server → client

    def _server_bytes(self, event: Data) -> list[Entry]:
        data = event.data
        if not self.greeted:
            self.greeted = True
            data = data.removeprefix(GREETING)  # the bare "NICK" asking for a nickname (both dialects)
        data = _skip_cut_line(self.resync, Direction.S2C, data)
        if self.tutorial:  # bare chunks, one message each; a "\n" may separate merged ones
            lines = [decode_line(piece) for piece in data.split(b"\n") if piece.strip()]
        elif (nick := self._bare_welcome(data)) is not None:
            return self._grant(event.ts, event.frame, nick, bare=True)
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

    def _bare_welcome(self, data: bytes) -> str | None:
        """The nickname in a welcome sent as a bare chunk (no newline after it) when the nickname was not
        captured: the server sends it so only to a client that sent its nickname bare."""
        if self.claim is not None or self.session.state is not SessionState.AWAIT_NICK or self.server_lines.pending:
            return None
        chunk = data.lstrip(b"\r\n")
        if not chunk or b"\n" in chunk:
            return None
        welcome = WELCOME_RE.match(decode_line(chunk))
        return welcome["nick"] if welcome else None

    def _server_line(self, ts: float, frame: int, line: str) -> list[Entry]:
        if not line.strip():
            return []  # e.g. the lone "\n" that ends bare chunks when a client switches to line framing
        welcome = WELCOME_RE.match(line)
        if welcome:
            return self._grant(ts, frame, welcome["nick"])
        if self.joining is not None:  # more than the welcome: the server settled a silent client's dialect
            return self._silence(ts, frame) + self._server_line(ts, frame, line)
        incoming = parse_server_line(line)
        if incoming.kind is MessageKind.ERROR:
            out = [(ts, frame, f"server → {self.who}: !!! {neutralise(incoming.text)}")]
            if self.claim is not None and self.session.state is SessionState.AWAIT_NICK:
                out += self._refuse(ts, frame, incoming.text)
            return out
        if incoming.kind is MessageKind.NOTICE:
            return self._notice(ts, frame, incoming.line, incoming.text)
        if self._shown_elsewhere(incoming):
            return []
        return [(ts, frame, self._delivery(incoming.kind, incoming.sender or "?", incoming.text))]

    def _shown_elsewhere(self, incoming: Incoming) -> bool:
        """A delivered copy of a message shown (or to be shown) on its sender's own connection."""
        room = self.room
        if incoming.sender is not None and (
            (incoming.sender, incoming.text) in room.recent_count or incoming.sender in room.nicks
        ):
            return True
        if incoming.kind is MessageKind.RAW:  # the tutorial server's bare "nick: text" copy
            sender, colon, text = incoming.text.partition(": ")
            return bool(colon) and ((sender, text) in room.recent_count or sender in room.nicks)
        return False

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
        if self.replies and _reply_kind(text) == self.replies[0]:
            self.replies.popleft()  # this client's own answer, however like another's: shown
        elif not self.room.notice_is_new(whole, self.number):
            return []
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
