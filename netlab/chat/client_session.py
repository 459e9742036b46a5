"""A chat participant's side of the protocol as a pure state machine (sans-IO, the twin of `ChatSession`).

The edge (`netlab.chat.client.ChatClient`) connects, calls `start`, then feeds what it reads
(`receive`), says when the wait of the current phase ran out (`timeout`; how long to wait is
`wait`) or when the server closed (`eof`), and carries out the events it gets back: `Send` these
bytes, `Deliver` this message, `Settled` (the handshake is done and the dialect is known). What a
user types goes through `say` and `leave`, which return the bytes the server's dialect expects.
The session never touches sockets, threads or clocks.

Dialects (docs/protocol.md, "netlab join --dialect"):

* ``netlab``: answer the bare ``NICK`` greeting with ``nick\\n``, wait for the welcome line (or an
  ``!!!`` error: the nickname is refused), then send and read ``\\n``-terminated lines; leave with
  ``/quit``.
* ``tutorial`` (the classic students' server): answer ``NICK`` with the bare nickname, send bare
  chunks ``nick: text``, read chunks; leave by closing the connection (such servers drop a client
  when it closes; they know no command).
* ``raw`` (a relay with no handshake): send and read bare chunks; leave by closing.
* ``auto``: the server's first bytes, once it falls quiet for `GREETING_QUIET` seconds (or nothing
  within `AUTO_WAIT`), are classified by the detector `netlab.chat.detect.classify_greeting`:

  - a bare token (``NICK``, ``NAME``, ...) is answered with the bare nickname, which netlab and
    tutorial servers both accept (a netlab server takes a bare nickname after a short quiet period).
    A netlab welcome in the reply means netlab: the session then sends the ``\\n`` it left out,
    which completes its nickname line, and the netlab server switches to lines (it ends its welcome
    line with the next thing it sends). Any other reply, or none, means tutorial, whose messages
    ``nick: text`` then end in ``\\n`` (students' tutorial servers relay chunks or frame lines; the
    newline suits both; ``--dialect tutorial`` sends the classic client's bare chunks);
  - a token followed by a newline is answered with ``nick\\n`` (tutorial, messages end in ``\\n``);
  - a prompt for a name ("Enter your name:") is answered with ``nick\\n``: raw, lines end in ``\\n``;
  - no greeting, or a banner that asks nothing: raw, introduced by ``nick\\n`` as a first line (a
    server that silently takes the first line as the name needs it; a relay shows it as a line);
  - JSON, binary frames or ``#command`` orders: raw without a word from us (`greeting` says what it was).

  So nothing goes on the wire beyond the detected handshake: ``nick\\n`` for netlab (in two
  segments), ``nick`` for tutorial, ``nick\\n`` for a prompt or a silent server.

The nickname follows the server: a netlab server's ``*** old is now known as new`` about our
nickname (it is sent to the renamed client too) makes `nick` the new one; a refused change leaves
it. Other dialects have no confirmed renames (any relayed text could imitate one).

Not thread-safe as a whole: one thread (the edge's reader) feeds it. `say` and `leave` (which the
edge calls under its send lock, from any thread) and `nick` only read attributes that the reader
replaces atomically; `leave` sets `left`, which only `say` and `leave` read.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from netlab.chat.detect import Greeting, Handshake, classify_greeting, final_greeting
from netlab.chat.dialects import DIALECT_HELP as DIALECT_HELP
from netlab.chat.dialects import Dialect as Dialect
from netlab.chat.protocol import GREETING, LineFramer, decode_line
from netlab.chat.wire import (
    QUIT_COMMAND,
    WELCOME_RE,
    WELCOME_TAIL,
    Incoming,
    MessageKind,
    parse_rename,
    parse_server_line,
)
from netlab.errors import NetlabError, RemoteProtocolError, Unreachable

AUTO_WAIT = 1.0  # seconds to wait for a greeting before assuming a raw relay server
GREETING_QUIET = 0.25  # auto: seconds of silence after the server's first bytes that end its greeting
REPLY_WAIT = 2.0  # seconds to wait for the server's answer to our bare nickname (auto)
CLIENT_MAX_LINE = 1 << 20  # a client reads what a server sends; only absurd lines are cut
STOP_WORDS = frozenset({"/exit", "/quit", "exit", "выход"})


class ChatClientError(NetlabError):
    """Connecting to or talking with a chat server failed (one line for the user)."""


class ServerUnreachable(ChatClientError, Unreachable):
    """The server could not be reached: connection refused, timed out, no route."""


class NickRejected(ChatClientError):
    """The server refused our nickname (taken, reserved, malformed)."""


class ChatClosed(ChatClientError):
    """The connection is closed and no message is left to receive."""


class Phase(enum.Enum):
    """Where the client is: waiting for the greeting, for the answer to its nickname, chatting, done."""

    GREETING = "greeting"
    REPLY = "reply"  # auto: bare nickname sent; the reply tells netlab from tutorial
    WELCOME = "welcome"  # netlab: nickname line sent (or completed); waiting for the welcome line
    ACTIVE = "active"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Send:
    """Send these bytes to the server."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Deliver:
    """A message for the user."""

    message: Incoming


@dataclass(frozen=True, slots=True)
class Settled:
    """The handshake is over: the server speaks `dialect`; `welcome` is a netlab server's welcome line."""

    dialect: Dialect
    welcome: Incoming | None = None


@dataclass(frozen=True, slots=True)
class Renamed:
    """The server confirmed our change of nickname."""

    old: str
    new: str


Event = Send | Deliver | Settled | Renamed


def stop_reason(line: str) -> str | None:
    """None when `line` is not a stop word; else the reason to leave with ("" for none).

    Stop words: ``/exit``, ``/quit`` (both with an optional reason), ``exit`` and ``выход``,
    in any case, surrounded by any spaces.
    """
    text = line.strip()
    if text.casefold() in STOP_WORDS:
        return ""
    command, _, rest = text.partition(" ")
    if command.casefold() in ("/exit", "/quit") and rest.strip():
        return rest.strip()
    return None


def prompt_text(nick: str) -> str:
    """The interactive prompt: the server-confirmed nickname."""
    return f"{nick}> "


class ClientSession:
    """The protocol state of one `netlab join` connection (see the module docstring).

    `dialect` is the requested one until `Settled`, then the detected one (never AUTO).
    """

    def __init__(
        self,
        nick: str,
        dialect: Dialect | str = Dialect.NETLAB,
        timeout: float = 5.0,
        greeting_wait: float = AUTO_WAIT,
        reply_wait: float = REPLY_WAIT,
    ) -> None:
        """Raises `ChatClientError` for an unknown dialect name."""
        try:
            self.requested = Dialect(dialect)
        except ValueError:
            names = ", ".join(item.value for item in Dialect)
            raise ChatClientError(f"unknown dialect {dialect!r}; choose one of {names}") from None
        self.nick = nick
        self.dialect = self.requested
        self.phase = Phase.GREETING
        self.welcome: Incoming | None = None
        self.close_reason: str | None = None
        self.handshake_timeout = timeout
        self.greeting_wait = greeting_wait
        self.reply_wait = reply_wait
        self.left = False  # `leave` was called: nothing more is said
        #: auto: what the detector made of the server's first bytes (None: not detected, or not auto)
        self.greeting: Greeting | None = None
        #: what ends each message we send: nothing (bare chunks) or a newline (line-minded servers)
        self.terminator = b""
        self._buffer = bytearray()
        self._framer = LineFramer(max_line=CLIENT_MAX_LINE)

    # ------------------------------------------------------------------ events from the edge

    def start(self) -> list[Event]:
        """The connection is open. A raw relay needs no handshake."""
        if self.requested is Dialect.RAW:
            return self._settle(Dialect.RAW)
        return []

    @property
    def wait(self) -> float | None:
        """Seconds to wait for data in this phase before calling `timeout` (None: as long as it takes)."""
        if self.phase is Phase.GREETING:
            if self.requested is Dialect.AUTO:
                return GREETING_QUIET if self._buffer else self.greeting_wait
            return self.handshake_timeout
        if self.phase is Phase.REPLY:
            return self.reply_wait
        if self.phase is Phase.WELCOME:
            return self.handshake_timeout
        return None

    def receive(self, data: bytes) -> list[Event]:
        """Bytes from the server. Raises `ChatClientError`/`NickRejected` when the handshake fails."""
        if not data:
            return self.eof()
        if self.phase is Phase.GREETING:
            self._buffer += data
            if self.requested is Dialect.AUTO:
                greeting = classify_greeting(bytes(self._buffer), quiet=False)
                return [] if greeting is None else self._detected(greeting)
            if len(self._buffer) < len(GREETING) and GREETING.startswith(bytes(self._buffer)):
                return []  # the greeting may still be on its way
            return self._greeted()
        if self.phase is Phase.REPLY:
            self._buffer += data
            return self._replied() if _answered(bytes(self._buffer)) else []
        if self.phase is Phase.WELCOME:
            return self._welcome_lines(self._feed(data))
        if self.phase is Phase.ACTIVE:
            return self._absorb(data)
        return []

    def timeout(self) -> list[Event]:
        """The wait of the current phase ran out. Raises `ChatClientError` when that ends the handshake."""
        if self.phase is Phase.GREETING:
            if self.requested is Dialect.AUTO:
                return self._detected(final_greeting(bytes(self._buffer)))
            if self._buffer:
                return self._greeted()
            raise ChatClientError(
                f"the server did not greet with NICK within {self.handshake_timeout:g} s; try --dialect raw"
            )
        if self.phase is Phase.REPLY:
            return self._replied()
        if self.phase is Phase.WELCOME:
            raise ChatClientError("no welcome from the server; is it a netlab server? try --dialect auto")
        return []

    def eof(self) -> list[Event]:
        """The server closed the connection. Raises `ChatClientError` when that ends the handshake."""
        events: list[Event] = []
        if self.phase is Phase.GREETING:
            if not self._buffer:
                raise ChatClientError("the server closed the connection without a word")
            if self.requested is Dialect.AUTO:
                events = self._detected(final_greeting(bytes(self._buffer)))
            else:
                events = self._greeted()
        elif self.phase is Phase.REPLY:
            events = self._replied()
        elif self.phase is Phase.WELCOME:
            rest = self._framer.take_rest()
            events = self._welcome_lines([decode_line(rest)] if rest else [])
            if self.phase is Phase.WELCOME:
                raise ChatClientError("the server closed the connection during the handshake")
        if self.phase is Phase.ACTIVE:
            rest = self._framer.take_rest()
            if rest:
                events += self._deliver(decode_line(rest))
        self.phase = Phase.CLOSED
        return events

    # ------------------------------------------------------------------ what the user types

    def say(self, text: str) -> list[Send]:
        """The bytes for `text` (each of its lines one message) in the settled dialect."""
        lines = [line for line in text.replace("\r", "").split("\n") if line]
        if not lines or self.phase is not Phase.ACTIVE or self.left:
            return []
        if self.dialect is Dialect.NETLAB:
            return [Send(b"".join(line.encode("utf-8") + b"\n" for line in lines))]
        if self.dialect is Dialect.TUTORIAL:
            return [Send(f"{self.nick}: {line}".encode() + self.terminator) for line in lines]
        return [Send(line.encode("utf-8") + self.terminator) for line in lines]

    def leave(self, reason: str = "") -> list[Send]:
        """What to send before closing: netlab's ``/quit [reason]``; nothing for tutorial and raw servers,
        which drop a client when its connection closes."""
        if self.left or self.phase is not Phase.ACTIVE:
            return []
        self.left = True
        if self.dialect is Dialect.NETLAB:
            return [Send(f"{QUIT_COMMAND} {reason}".rstrip().encode("utf-8") + b"\n")]
        return []

    # ------------------------------------------------------------------ the handshake

    def _detected(self, greeting: Greeting) -> list[Event]:
        """auto: act on what the detector made of the server's first bytes."""
        self.greeting = greeting
        data = bytes(self._buffer)
        self._buffer.clear()
        kind = greeting.handshake
        if kind is Handshake.ERROR:
            raise ChatClientError(greeting.token)
        if kind is Handshake.TOKEN and not greeting.newline:
            self.phase = Phase.REPLY  # netlab or tutorial: the reply to the bare nickname tells
            return [Send(greeting.answer(self.nick))]
        if kind is Handshake.UNRECOGNISED:
            return [*self._settle(Dialect.RAW), *self._absorb(data)]
        self.terminator = b"\n"
        banner = data.decode("utf-8", errors="replace").rstrip()
        if kind is not Handshake.NONE:
            banner = banner[: banner.rfind(greeting.token)] if greeting.token in banner else ""
        dialect = Dialect.TUTORIAL if kind is Handshake.TOKEN else Dialect.RAW
        return [Send(greeting.answer(self.nick)), *self._settle(dialect), *self._absorb(banner.encode())]

    def _greeted(self) -> list[Event]:
        data = bytes(self._buffer)
        self._buffer.clear()
        if not data.startswith(GREETING):
            _raise_server_error(data, ChatClientError)
            if self.requested is Dialect.AUTO:
                return [*self._settle(Dialect.RAW), *self._absorb(data)]
            raise ChatClientError(f"the server did not greet with NICK (got {data[:40]!r}); try --dialect raw")
        rest = data[len(GREETING) :]
        name = self.nick.encode("utf-8")
        if self.requested is Dialect.NETLAB:
            self.phase = Phase.WELCOME
            return [Send(name + b"\n"), *self._welcome_lines(self._feed(rest))]
        if self.requested is Dialect.TUTORIAL:
            return [Send(name), *self._settle(Dialect.TUTORIAL), *self._absorb(rest)]
        self.phase = Phase.REPLY
        self._buffer += rest
        return [Send(name), *(self._replied() if _answered(rest) else [])]

    def _replied(self) -> list[Event]:
        """auto: the answer to our bare nickname tells a netlab server from a tutorial one."""
        data = bytes(self._buffer)
        self._buffer.clear()
        if WELCOME_RE.match(data.decode("utf-8", errors="replace")):
            # The newline we left out completes our nickname line, and the netlab server switches to
            # lines: it ends its welcome line with the next thing it sends (docs/protocol.md).
            head, newline, rest = data.partition(b"\n")
            self.welcome = parse_server_line(decode_line(head))
            return [Send(b"\n"), *self._settle(Dialect.NETLAB, self.welcome), *self._absorb(newline + rest)]
        _raise_server_error(data, NickRejected)
        # Students' tutorial servers relay chunks, or frame lines (then a message waits for its newline):
        # "nick: text\n" suits both, so detected tutorial servers get newline-terminated messages.
        self.terminator = b"\n"
        return [*self._settle(Dialect.TUTORIAL), *self._absorb(data)]

    def _welcome_lines(self, lines: list[str]) -> list[Event]:
        events: list[Event] = []
        for index, line in enumerate(lines):
            message = parse_server_line(line)
            if message.kind is MessageKind.ERROR:
                raise NickRejected(message.text)
            if WELCOME_RE.match(line):
                self.welcome = message
                events += self._settle(Dialect.NETLAB, message)
                for later in lines[index + 1 :]:
                    events += self._deliver(later)
                return events
            events += self._deliver(line)
        return events

    def _settle(self, dialect: Dialect, welcome: Incoming | None = None) -> list[Event]:
        self.dialect = dialect
        self.phase = Phase.ACTIVE
        return [Settled(dialect, welcome)]

    # ------------------------------------------------------------------ chatting

    def _feed(self, data: bytes) -> list[str]:
        try:
            return self._framer.feed(data)
        except RemoteProtocolError:
            self._framer = LineFramer(max_line=CLIENT_MAX_LINE)
            return []

    def _absorb(self, data: bytes) -> list[Event]:
        if self.dialect is Dialect.NETLAB:
            return [event for line in self._feed(data) for event in self._deliver(line)]
        events: list[Event] = []
        for piece in data.decode("utf-8", errors="replace").split("\n"):  # a chunk: one or more messages
            piece = piece.removesuffix("\r")
            if piece.strip():
                events += self._deliver(piece)
        return events

    def _deliver(self, line: str) -> list[Event]:
        if not line:
            return []
        message = parse_server_line(line)
        events: list[Event] = [Deliver(message)]
        if message.kind is MessageKind.ERROR and message.text.startswith("Disconnected"):
            self.close_reason = message.text
        elif message.kind is MessageKind.NOTICE and message.text.startswith("Server is shutting down"):
            self.close_reason = message.text
        elif message.kind is MessageKind.NOTICE and self.dialect is Dialect.NETLAB:
            renamed = parse_rename(message.text)
            if renamed is not None and renamed[0] == self.nick:
                self.nick = renamed[1]
                events.append(Renamed(*renamed))
        return events


def _answered(data: bytes) -> bool:
    """Whether a reply to a bare nickname looks complete (a whole netlab welcome, an error, a tutorial join)."""
    text = data.decode("utf-8", errors="replace")
    if WELCOME_RE.match(text):
        return "\n" in text or text.endswith(WELCOME_TAIL)
    return "!!!" in text or "joined" in text or "Connected" in text


def _raise_server_error(data: bytes, kind: type[ChatClientError]) -> None:
    """Raise the error a netlab server sent (room full, nickname refused), if `data` holds one."""
    for line in data.decode("utf-8", errors="replace").splitlines():
        message = parse_server_line(line)
        if message.kind is MessageKind.ERROR:
            raise kind(message.text)
