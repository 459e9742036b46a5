"""The chat protocol as a pure state machine (sans-IO, like h11).

Feed a `ChatSession` the bytes read from one client (`receive`), tell it when the
line has been quiet during the handshake (`quiet`) or closed (`eof`), and it returns
*actions* (frozen dataclasses) for the server edge to carry out: claim a nickname,
broadcast a message, reply to the sender, close. The session never touches sockets,
threads or clocks; time stamps are passed in already formatted.

Framing (docs/protocol.md): UTF-8 lines ending in ``\\n`` (a trailing ``\\r`` is dropped),
at most `MAX_LINE_BYTES` bytes, decoded per line with ``errors="replace"``. A client of
the *tutorial* dialect sends its nickname and each message as a bare chunk without a
newline; such a client is recognised when its first bytes are followed by a quiet period
without a newline (the edge calls `quiet()`).

A client that sent its nickname bare may still be a line client that did not know which server it
reached (``netlab join --dialect auto``): it completes its nickname line with the ``\\n`` it left out,
as the first bytes it sends after the welcome. Until a bare-nick client's first bytes arrive (or the
edge calls `quiet()` once its dialect window has passed) its dialect is *tentative*; the session then
reports the settled dialect with one `DialectSettled` action (line clients get it when their nickname
is granted), so the server names a client's dialect once, and truly.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from dataclasses import dataclass

from netlab.chat.limits import MAX_LINE_BYTES
from netlab.chat.wire import HELP_TEXT, LEAVE_SUFFIX, STAMP_RE, MessageKind, neutralise, nick_problem, shorten
from netlab.errors import LocalProtocolError, RemoteProtocolError

MAX_NICK_ATTEMPTS = 5
GREETING = b"NICK"


class Dialect(enum.Enum):
    """How a client frames what it sends (decided during the handshake)."""

    LINE = "line"
    TUTORIAL = "tutorial"


class SessionState(enum.Enum):
    """Where a session is: waiting for a nickname, chatting, or done."""

    AWAIT_NICK = "await-nick"
    ACTIVE = "active"
    CLOSED = "closed"


# ---------------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class ClaimNick:
    """The client asks for `nick`; the edge checks uniqueness and answers with `nick_granted`/`nick_refused`."""

    nick: str
    dialect: Dialect


@dataclass(frozen=True, slots=True)
class Reply:
    """Send one line to this client only (`kind` is NOTICE or ERROR)."""

    text: str
    kind: MessageKind = MessageKind.NOTICE


@dataclass(frozen=True, slots=True)
class Say:
    """Broadcast a chat message from this client to everyone else."""

    text: str


@dataclass(frozen=True, slots=True)
class Act:
    """Broadcast a `/me` action from this client to everyone else."""

    text: str


@dataclass(frozen=True, slots=True)
class Whisper:
    """Send a private message to `target` only."""

    target: str
    text: str


@dataclass(frozen=True, slots=True)
class ListUsers:
    """Reply with who is online."""


@dataclass(frozen=True, slots=True)
class ChangeNick:
    """The client wants to be called `nick` (the edge checks uniqueness)."""

    nick: str


@dataclass(frozen=True, slots=True)
class Leave:
    """The client leaves cleanly (`/quit`, `/exit`, EOF, the tutorial's farewell)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Close:
    """Tell the client `reason` as an error line, then close (protocol violation)."""

    reason: str


@dataclass(frozen=True, slots=True)
class DialectSettled:
    """The client's dialect is final (the server logs the join with it)."""

    dialect: Dialect


Action = ClaimNick | Reply | Say | Act | Whisper | ListUsers | ChangeNick | Leave | Close | DialectSettled


# ---------------------------------------------------------------------------------- framing


class LineFramer:
    """Split a byte stream into text lines, never holding more than `max_line` bytes.

    `feed` returns the complete lines found so far (without ``\\n`` and one trailing ``\\r``),
    each decoded as UTF-8 with ``errors="replace"``, so a character split across reads is
    whole again. Raises `RemoteProtocolError` when a line exceeds `max_line` bytes; the
    framer is then unusable.
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        self._failed = False

    @property
    def pending(self) -> int:
        """Bytes held that do not yet form a complete line."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[str]:
        """Add `data`; return the complete lines it finishes."""
        if self._failed:
            raise LocalProtocolError("the framer already failed: line too long")
        lines: list[str] = []
        start = 0
        while True:
            newline = data.find(b"\n", start)
            if newline < 0:
                break
            if len(self._buffer) + newline - start > self.max_line:
                return self._fail()
            self._buffer += data[start:newline]
            lines.append(decode_line(bytes(self._buffer)))
            self._buffer.clear()
            start = newline + 1
        if len(self._buffer) + len(data) - start > self.max_line:
            return self._fail()
        self._buffer += data[start:]
        return lines

    def _fail(self) -> list[str]:
        self._failed = True
        self._buffer.clear()
        raise RemoteProtocolError(f"line too long (more than {self.max_line} bytes without a newline)")

    def finish(self) -> None:
        """The stream ended. Raises `RemoteProtocolError` ("incomplete line") if a line was left unfinished."""
        if self._buffer:
            count = len(self._buffer)
            self._buffer.clear()
            raise RemoteProtocolError(f"incomplete line: {count} bytes without a newline at the end of the stream")

    def take_rest(self) -> bytes:
        """Remove and return the bytes of an incomplete line (used at EOF and for bare chunks)."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest


def decode_line(raw: bytes) -> str:
    """Decode one line: UTF-8 with replacement, one trailing CR dropped."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------- commands


def parse_command(text: str) -> Action | None:
    """Turn a line of an active client into an action; None for an empty line."""
    if not text.strip():
        return None
    if text.startswith("//"):
        return Say(neutralise(text[1:]))
    if not text.startswith("/"):
        return Say(neutralise(text))
    name, _, rest = text[1:].partition(" ")
    name, rest = name.lower(), rest.strip()
    if name == "who":
        return ListUsers()
    if name in ("quit", "exit"):
        return Leave(rest or "quit")
    if name == "help":
        return Reply(HELP_TEXT)
    if name == "me":
        return Act(neutralise(rest)) if rest else Reply("Usage: /me ACTION", MessageKind.ERROR)
    if name == "nick":
        if not rest:
            return Reply("Usage: /nick NEW", MessageKind.ERROR)
        problem = nick_problem(rest)
        return Reply(problem, MessageKind.ERROR) if problem else ChangeNick(rest)
    if name == "msg":
        target, _, body = rest.partition(" ")
        if not target or not body.strip():
            return Reply("Usage: /msg NICK TEXT", MessageKind.ERROR)
        return Whisper(target, neutralise(body))
    return Reply(f"Unknown command /{shorten(neutralise(name), 20)}; try /help", MessageKind.ERROR)


@dataclass(frozen=True, slots=True)
class OperatorCommand:
    """A command typed at the server's operator console (`name` in who/kick/say/shutdown/help)."""

    name: str
    target: str = ""
    text: str = ""


def parse_operator_command(line: str) -> OperatorCommand | str:
    """Parse an operator console line; returns the command, or an error/usage string."""
    text = line.strip()
    if not text:
        return "Commands: /who, /kick NICK [reason], /say TEXT, /shutdown"
    name, _, rest = text.lstrip("/").partition(" ")
    name, rest = name.lower(), rest.strip()
    if name in ("who", "shutdown", "help"):
        return OperatorCommand(name)
    if name == "kick":
        target, _, reason = rest.partition(" ")
        return OperatorCommand("kick", target, reason.strip()) if target else "Usage: /kick NICK [reason]"
    if name == "say":
        return OperatorCommand("say", text=rest) if rest else "Usage: /say TEXT"
    return f"Unknown command {shorten(text, 30)!r}; commands: /who, /kick NICK [reason], /say TEXT, /shutdown"


# ---------------------------------------------------------------------------------- session


class ChatSession:
    """The protocol state of one client connection, as seen by the server.

    Not thread-safe: one reader thread owns a session. Methods return lists of actions.
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self.state = SessionState.AWAIT_NICK
        self.dialect: Dialect | None = None
        self.nick: str | None = None
        self.framer = LineFramer(max_line)
        self.nick_attempts = 0
        self._claiming = False
        self._tutorial_prefix: re.Pattern[str] | None = None
        self._held: deque[str] = deque()
        self._tentative = False

    @property
    def tentative(self) -> bool:
        """True while a bare-nick client may still turn out to be a line client (see the module docstring)."""
        return self._tentative

    # -- events from the edge

    def receive(self, data: bytes) -> list[Action]:
        """Bytes arrived from the client. In the tutorial dialect each call is one chunk."""
        if self.state is SessionState.CLOSED:
            raise LocalProtocolError("receive() on a closed session")
        if not data:
            return self.eof()
        if self._tentative:
            return self._settle_by(data)
        if self.dialect is Dialect.TUTORIAL and self.state is SessionState.ACTIVE:
            return self._tutorial_chunk(data)
        try:
            lines = self.framer.feed(data)
        except RemoteProtocolError as error:
            return self._close(str(error))
        self._held.extend(lines)
        return self._drain()

    def _drain(self) -> list[Action]:
        """Handle held lines until they run out, a nickname claim awaits its verdict, or the session closes."""
        actions: list[Action] = []
        while self._held and not self._claiming and self.state is not SessionState.CLOSED:
            actions.extend(self._line(self._held.popleft()))
        if self.state is SessionState.CLOSED:
            self._held.clear()
        return actions

    def quiet(self) -> list[Action]:
        """The client has been silent for a moment: a bare nickname chunk means the tutorial dialect,
        and a tentative client that stayed silent through its dialect window stays tutorial."""
        if self._tentative:
            self._tentative = False
            return [DialectSettled(Dialect.TUTORIAL)]
        if self.state is not SessionState.AWAIT_NICK or self._claiming or not self.framer.pending:
            return []
        nick = decode_line(self.framer.take_rest()).strip()
        return self._nick_candidate(nick, Dialect.TUTORIAL)

    def eof(self) -> list[Action]:
        """The client closed its side. An incomplete last line is dropped (said in the reason)."""
        if self.state is SessionState.CLOSED:
            return []
        settled: list[Action] = [DialectSettled(Dialect.TUTORIAL)] if self._tentative else []
        self._tentative = False
        self.state = SessionState.CLOSED
        try:
            self.framer.finish()
        except RemoteProtocolError:
            return [*settled, Leave("connection closed, incomplete last line dropped")]
        return [*settled, Leave("connection closed")]

    def nick_granted(self, nick: str) -> list[Action]:
        """The edge accepted the claimed nickname; the session becomes active."""
        if self.state is not SessionState.AWAIT_NICK or not self._claiming:
            raise LocalProtocolError(f"nick_granted in state {self.state.value} without a claim")
        self._claiming = False
        self.nick = nick
        self.state = SessionState.ACTIVE
        escaped = re.escape(nick)
        self._tutorial_prefix = re.compile(rf"(?:\[{STAMP_RE}\] )?{escaped}: ")
        if self.dialect is Dialect.TUTORIAL:
            self._tentative = True
            return self._drain()
        return [DialectSettled(Dialect.LINE), *self._drain()]

    def nick_refused(self, reason: str) -> list[Action]:
        """The edge refused the claimed nickname; `reason` states why ("Nickname 'bob' is taken").

        The session adds, once, what the client can do next: a line client may try another (up to
        `MAX_NICK_ATTEMPTS`), a tutorial client must reconnect.
        """
        if not self._claiming:
            raise LocalProtocolError(f"nick_refused in state {self.state.value} without a claim")
        self._claiming = False
        return [*self._refuse(reason, self.dialect or Dialect.LINE), *self._drain()]

    def renamed(self, nick: str) -> None:
        """The edge accepted a `/nick` change."""
        self.nick = nick
        self._tutorial_prefix = re.compile(rf"(?:\[{STAMP_RE}\] )?{re.escape(nick)}: ")

    # -- internals

    def _settle_by(self, data: bytes) -> list[Action]:
        """A bare-nick client's first bytes: a leading newline completes its nickname line (line dialect)."""
        self._tentative = False
        if data.startswith((b"\n", b"\r\n")):
            self.dialect = Dialect.LINE
            return [DialectSettled(Dialect.LINE), *self.receive(data)]
        actions = self._tutorial_chunk(data)  # may switch with `/dialect line` (older netlab join)
        return [DialectSettled(self.dialect or Dialect.TUTORIAL), *actions]

    def _close(self, reason: str) -> list[Action]:
        self.state = SessionState.CLOSED
        return [Close(reason)]

    def _refuse(self, problem: str, dialect: Dialect) -> list[Action]:
        """A refused nickname: `problem` and, once, the way on for this dialect."""
        if dialect is Dialect.TUTORIAL:  # a bare-chunk client cannot send a second nickname
            return self._close(f"{problem}; reconnect with another nickname")
        self.nick_attempts += 1
        if self.nick_attempts >= MAX_NICK_ATTEMPTS:
            return self._close(f"{problem}; too many attempts")
        return [Reply(f"{problem}; try another", MessageKind.ERROR)]

    def _line(self, line: str) -> list[Action]:
        if self.state is SessionState.AWAIT_NICK:
            return self._nick_candidate(line.strip(), Dialect.LINE)
        if line.strip().lower() == "/dialect line" and self.dialect is Dialect.TUTORIAL:
            self.dialect = Dialect.LINE
            return []
        if line.strip().lower() == "/dialect line":
            return []
        action = parse_command(line)
        return [action] if action is not None else []

    def _nick_candidate(self, nick: str, dialect: Dialect) -> list[Action]:
        problem = nick_problem(nick)
        if problem:
            return self._refuse(problem, dialect)
        self.dialect = dialect
        self._claiming = True
        return [ClaimNick(nick, dialect)]

    def _tutorial_chunk(self, data: bytes) -> list[Action]:
        actions: list[Action]
        switch = re.search(rb"(?:^|\n)/dialect line\r?\n", data)
        if switch:
            before, after = data[: switch.start()], data[switch.end() :]
            actions = self._tutorial_chunk(before) if before else []
            self.dialect = Dialect.LINE
            return [*actions, *self.receive(after)] if after and self.state is SessionState.ACTIVE else actions
        text = data.decode("utf-8", errors="replace")
        actions = []
        for piece in text.split("\n"):
            piece = piece.removesuffix("\r")
            for message in self._split_tutorial(piece):
                if len(message.encode("utf-8", errors="replace")) > self.framer.max_line:
                    return [*actions, *self._close(f"line too long (more than {self.framer.max_line} bytes)")]
                if self.nick and message == f"{self.nick}{LEAVE_SUFFIX}":
                    self.state = SessionState.CLOSED
                    return [*actions, Leave("left the chat")]
                action = parse_command(message)
                if action is not None:
                    actions.append(action)
                    if isinstance(action, Leave):
                        self.state = SessionState.CLOSED
                        return actions
        return actions

    def _split_tutorial(self, piece: str) -> list[str]:
        """Split a chunk at each ``[stamp] nick: `` / ``nick: `` prefix and drop the prefixes."""
        if self._tutorial_prefix is None:
            return [piece]
        starts = [m.span() for m in self._tutorial_prefix.finditer(piece)]
        if not starts:
            return [piece]
        messages = [piece[: starts[0][0]]] if starts[0][0] > 0 else []
        for index, (_, body_start) in enumerate(starts):
            end = starts[index + 1][0] if index + 1 < len(starts) else len(piece)
            messages.append(piece[body_start:end])
        return messages
