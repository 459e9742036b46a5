"""`ChatClient`: a chat participant without a terminal (used by `netlab join` and scripted lab users).

Example::

    with ChatClient.connect("127.0.0.1", 55555, "alice") as client:
        client.send("hello")
        message = client.receive(timeout=2.0)   # an Incoming, or None on timeout

Dialects (see docs/protocol.md): ``netlab`` (alias ``line``: newline-framed lines),
``tutorial`` (the classic students' server: bare chunks, ``"nick: text"``), ``raw`` (a relay
server with no handshake) and ``auto``, which watches the server: no greeting within
`AUTO_WAIT` seconds means raw; a bare ``NICK`` is answered with the bare nickname, and a
netlab welcome line in the reply means netlab (the client then switches the server to line
framing with ``/dialect line``), anything else means tutorial.

Thread safety: one background reader thread (started by `connect`, joined by `close`)
parses incoming data into a queue. `send` may be called from any thread; `receive` and
iteration from any one thread at a time.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from collections.abc import Iterator
from types import TracebackType

from netlab.chat.protocol import (
    GREETING,
    WELCOME_RE,
    Incoming,
    LineFramer,
    MessageKind,
    parse_server_line,
)
from netlab.errors import NetlabError, RemoteProtocolError, Unreachable

log = logging.getLogger(__name__)

AUTO_WAIT = 1.0  # seconds to wait for a greeting before assuming a raw relay server
REPLY_WAIT = 2.0  # seconds to wait for the server's answer to our nickname
DIALECTS = ("auto", "netlab", "line", "tutorial", "raw")
EXIT_WORDS = frozenset({"/exit", "/quit", "выход"})


class ChatClientError(NetlabError):
    """Connecting to or talking with a chat server failed (one line for the user)."""


class ServerUnreachable(ChatClientError, Unreachable):
    """The server could not be reached: connection refused, timed out, no route."""


class NickRejected(ChatClientError):
    """The server refused our nickname (taken, reserved, malformed)."""


class ChatClosed(ChatClientError):
    """The connection is closed and no message is left to receive."""


class ChatClient:
    """One connected chat participant. Build it with `ChatClient.connect`."""

    def __init__(self, sock: socket.socket, nick: str, dialect: str, early: bytes = b"") -> None:
        self.sock = sock
        self.nick = nick
        self.dialect = dialect  # resolved: "netlab", "tutorial" or "raw"
        self.welcome: Incoming | None = None
        self.close_reason: str | None = None
        self._queue: queue.Queue[Incoming | None] = queue.Queue()
        self._send_lock = threading.Lock()
        self._closed = threading.Event()
        self._eof = False
        self._framer = LineFramer(max_line=1 << 20)
        if early:
            self._absorb(early)
        self._reader = threading.Thread(target=self._read_loop, name=f"chat-client-{nick}")
        self._reader.start()

    # ------------------------------------------------------------------ connecting

    @classmethod
    def connect(cls, host: str, port: int, nick: str, dialect: str = "netlab",
                timeout: float = 5.0) -> ChatClient:
        """Connect, perform the handshake of `dialect` and return a ready client.

        Raises `ChatClientError` (refused, unreachable, room full, no greeting),
        `NickRejected` (netlab server refused the nickname).
        """
        if dialect not in DIALECTS:
            raise ChatClientError(f"unknown dialect {dialect!r}; choose one of {', '.join(DIALECTS)}")
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except ConnectionRefusedError:
            raise ServerUnreachable(f"cannot connect to {where}: connection refused (is `netlab serve` running?)") from None
        except TimeoutError:
            raise ServerUnreachable(f"cannot connect to {where}: timed out") from None
        except OSError as error:
            raise ServerUnreachable(f"cannot connect to {where}: {error.strerror or error}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            return cls._handshake(sock, nick, "netlab" if dialect == "line" else dialect, timeout)
        except (ChatClientError, OSError) as error:
            sock.close()
            if isinstance(error, ChatClientError):
                raise
            raise ChatClientError(f"connection to {where} failed during the handshake: {error.strerror}") from None

    @classmethod
    def _handshake(cls, sock: socket.socket, nick: str, dialect: str, timeout: float) -> ChatClient:
        if dialect == "raw":
            return cls(sock, nick, "raw")
        first = _read_for(sock, AUTO_WAIT if dialect == "auto" else timeout, until=lambda b: len(b) >= 4)
        if dialect == "auto" and not first:
            return cls(sock, nick, "raw")
        if not first.startswith(GREETING):
            _raise_server_error(first)
            if dialect == "auto":
                return cls(sock, nick, "raw", early=first)
            raise ChatClientError(f"the server did not greet with NICK (got {first[:40]!r}); try --dialect raw")
        rest = first[len(GREETING):]
        if dialect == "netlab":
            sock.sendall(nick.encode("utf-8") + b"\n")
            return cls._await_welcome(sock, nick, rest, timeout)
        sock.sendall(nick.encode("utf-8"))
        if dialect == "tutorial":
            return cls(sock, nick, "tutorial", early=rest)
        reply = rest + _read_for(sock, REPLY_WAIT, until=_answered)
        text = reply.decode("utf-8", errors="replace")
        if WELCOME_RE.match(text):
            sock.sendall(b"/dialect line\n")
            welcome, _, later = reply.partition(b"\n")
            client = cls(sock, nick, "netlab")
            client.welcome = parse_server_line(welcome.decode("utf-8", errors="replace"))
            client._absorb_chunk(later)
            return client
        _raise_server_error(reply, nick_error=True)
        return cls(sock, nick, "tutorial", early=reply)

    @classmethod
    def _await_welcome(cls, sock: socket.socket, nick: str, buffered: bytes, timeout: float) -> ChatClient:
        framer = LineFramer(max_line=1 << 20)
        deadline = time.monotonic() + timeout
        lines = framer.feed(buffered)
        while True:
            for index, line in enumerate(lines):
                message = parse_server_line(line)
                if message.kind is MessageKind.ERROR:
                    raise NickRejected(message.text)
                if WELCOME_RE.match(line):
                    client = cls(sock, nick, "netlab")
                    client.welcome = message
                    rest = "".join(f"{later}\n" for later in lines[index + 1:]).encode("utf-8")
                    client._absorb(rest + framer.take_rest())
                    return client
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChatClientError("no welcome from the server; is it a netlab server? try --dialect auto")
            chunk = _read_for(sock, remaining, until=lambda b: b"\n" in b)
            if not chunk:
                raise ChatClientError("the server closed the connection during the handshake")
            lines = framer.feed(chunk)

    # ------------------------------------------------------------------ sending

    def send(self, text: str) -> None:
        """Send a message or a command (``/who``, ``/msg bob hi``...); each line of `text` is one message.

        Raises `ChatClosed` when the connection is gone.
        """
        lines = [line for line in text.replace("\r", "").split("\n") if line]
        if self.dialect == "tutorial":
            payloads = [f"{self.nick}: {line}".encode() for line in lines]
        elif self.dialect == "raw":
            payloads = [line.encode() for line in lines]
        else:
            payloads = [b"".join(line.encode() + b"\n" for line in lines)] if lines else []
        with self._send_lock:
            for payload in payloads:
                try:
                    self.sock.sendall(payload)
                except OSError as error:
                    raise ChatClosed(f"cannot send: the server closed the connection ({error.strerror})") from None

    # ------------------------------------------------------------------ receiving

    def receive(self, timeout: float | None = None) -> Incoming | None:
        """The next incoming message, or None after `timeout` seconds.

        Raises `ChatClosed` once the connection has ended and every message was received.
        """
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is None:
            self._queue.put(None)  # keep the end marker for later calls
            raise ChatClosed(f"the server closed the connection{': ' + self.close_reason if self.close_reason else ''}")
        return item

    def __iter__(self) -> Iterator[Incoming]:
        """Incoming messages until the connection ends."""
        while True:
            try:
                message = self.receive()
            except ChatClosed:
                return
            if message is not None:
                yield message

    @property
    def closed(self) -> bool:
        """True once the server closed the connection (or `close` was called)."""
        return self._eof or self._closed.is_set()

    def _read_loop(self) -> None:
        self.sock.settimeout(None)
        try:
            while not self._closed.is_set():
                data = self.sock.recv(65536)
                if not data:
                    break
                self._absorb(data)
        except OSError as error:
            if not self._closed.is_set():
                self.close_reason = f"connection lost ({error.strerror or type(error).__name__})"
        finally:
            rest = self._framer.take_rest()
            if rest:
                self._deliver(rest.decode("utf-8", errors="replace"))
            self._eof = True
            self._queue.put(None)

    def _absorb(self, data: bytes) -> None:
        if self.dialect == "netlab":
            try:
                lines = self._framer.feed(data)
            except RemoteProtocolError:
                self._framer = LineFramer(max_line=1 << 20)
                lines = []
            for line in lines:
                self._deliver(line)
        else:
            self._absorb_chunk(data)

    def _absorb_chunk(self, data: bytes) -> None:
        """Bare-chunk dialects: a chunk is one or more messages separated by newlines."""
        for piece in data.decode("utf-8", errors="replace").split("\n"):
            piece = piece.removesuffix("\r")
            if piece.strip():
                self._deliver(piece)

    def _deliver(self, line: str) -> None:
        if not line:
            return
        message = parse_server_line(line)
        if message.kind is MessageKind.ERROR and message.text.startswith("Disconnected"):
            self.close_reason = message.text
        elif message.kind is MessageKind.NOTICE and message.text.startswith("Server is shutting down"):
            self.close_reason = message.text
        self._queue.put(message)

    # ------------------------------------------------------------------ closing

    def close(self, farewell: bool = True) -> None:
        """Leave (``/quit``, or the tutorial's farewell line), close the socket, join the reader thread."""
        if self._closed.is_set():
            return
        if farewell and not self._eof:
            with contextlib.suppress(OSError), self._send_lock:
                if self.dialect == "netlab":
                    self.sock.sendall(b"/quit\n")
                elif self.dialect == "tutorial":
                    self.sock.sendall(f"{self.nick} has left the chat.".encode())
        self._closed.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self._reader.join()
        self.sock.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def _read_for(sock: socket.socket, seconds: float, until: object) -> bytes:
    """Read what arrives within `seconds`, returning early once `until(data)` is true."""
    deadline = time.monotonic() + seconds
    data = b""
    check = until if callable(until) else (lambda _b: False)
    while not check(data):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            if data:
                break
            raise ChatClientError("the server closed the connection without a word")
        data += chunk
    return data


def _answered(data: bytes) -> bool:
    """Whether a reply to a bare nickname looks complete (netlab welcome, error, or a tutorial join)."""
    text = data.decode("utf-8", errors="replace")
    return bool(WELCOME_RE.match(text)) or "!!!" in text or "joined" in text or "Connected" in text


def _raise_server_error(data: bytes, nick_error: bool = False) -> None:
    """Raise the error a netlab server sent (room full, nickname refused), if `data` is one."""
    for line in data.decode("utf-8", errors="replace").splitlines():
        message = parse_server_line(line)
        if message.kind is MessageKind.ERROR:
            raise (NickRejected if nick_error else ChatClientError)(message.text)
