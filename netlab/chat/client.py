"""`ChatClient`: a chat participant without a terminal (used by `netlab join` and scripted lab users).

Example::

    with ChatClient.connect("127.0.0.1", 55555, "alice") as client:
        client.send("hello")
        message = client.receive(timeout=2.0)   # an Incoming, or None on timeout

This module is the socket edge of the pure `netlab.chat.client_session.ClientSession`, which
holds the dialects, their detection (``auto``), the nickname the server confirmed and what each
dialect sends to leave (docs/protocol.md, "netlab join --dialect").

Thread safety: one background reader thread (started by `connect`, joined by `close`) feeds the
session and queues what it delivers. `send` may be called from any thread; `receive` and
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

from netlab.chat.client_session import (
    AUTO_WAIT,
    REPLY_WAIT,
    STOP_WORDS,
    ChatClientError,
    ChatClosed,
    ClientSession,
    Deliver,
    Dialect,
    Event,
    NickRejected,
    Phase,
    Send,
    ServerUnreachable,
    Settled,
)
from netlab.chat.detect import Handshake
from netlab.chat.wire import Incoming

__all__ = [
    "AUTO_WAIT",
    "REPLY_WAIT",
    "STOP_WORDS",
    "ChatClient",
    "ChatClientError",
    "ChatClosed",
    "Dialect",
    "NickRejected",
    "ServerUnreachable",
]

log = logging.getLogger(__name__)

CLOSE_WAIT = 1.0  # seconds to wait for the server's EOF after ours, so the close is clean (no RST)


class ChatClient:
    """One connected chat participant. Build it with `ChatClient.connect`."""

    def __init__(
        self, sock: socket.socket, session: ClientSession, early: list[Incoming] | None = None, ended: bool = False
    ) -> None:
        self.sock = sock
        self.session = session
        self._queue: queue.Queue[Incoming | None] = queue.Queue()
        self._send_lock = threading.Lock()
        self._closed = threading.Event()
        self._eof = ended
        for message in early or []:
            self._queue.put(message)
        if ended:
            self._queue.put(None)
        self._reader = threading.Thread(target=self._read_loop, name=f"chat-client-{session.nick}")
        self._reader.start()

    @property
    def nick(self) -> str:
        """Our nickname as the server last confirmed it (it follows an accepted ``/nick``)."""
        return self.session.nick

    @property
    def dialect(self) -> Dialect:
        """The server's dialect: netlab, tutorial or raw (auto is resolved by `connect`)."""
        return self.session.dialect

    @property
    def welcome(self) -> Incoming | None:
        """A netlab server's welcome line."""
        return self.session.welcome

    @property
    def close_reason(self) -> str | None:
        """Why the server closed the connection, when it said so."""
        return self.session.close_reason

    # ------------------------------------------------------------------ connecting

    @classmethod
    def connect(
        cls, host: str, port: int, nick: str, dialect: Dialect | str = Dialect.NETLAB, timeout: float = 5.0
    ) -> ChatClient:
        """Connect, perform the handshake of `dialect` and return a ready client.

        Raises `ChatClientError` (unknown dialect, refused, unreachable, room full, no greeting),
        `NickRejected` (a netlab server refused the nickname).
        """
        session = ClientSession(nick, dialect, timeout=timeout)
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except ConnectionRefusedError:
            raise ServerUnreachable(
                f"cannot connect to {where}: connection refused (is `netlab serve` running?)"
            ) from None
        except TimeoutError:
            raise ServerUnreachable(f"cannot connect to {where}: timed out") from None
        except OSError as error:
            raise ServerUnreachable(f"cannot connect to {where}: {error.strerror or error}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            early, ended = _handshake(sock, session)
        except (ChatClientError, OSError) as error:
            sock.close()
            if isinstance(error, ChatClientError):
                raise
            raise ChatClientError(f"connection to {where} failed during the handshake: {error.strerror}") from None
        return cls(sock, session, early, ended)

    # ------------------------------------------------------------------ sending

    def send(self, text: str) -> None:
        """Send a message or a command (``/who``, ``/msg bob hi``...); each line of `text` is one message.

        Raises `ChatClosed` when the connection is gone.
        """
        with self._send_lock:
            for payload in self.session.say(text):
                try:
                    self.sock.sendall(payload.data)
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
            reason = self.close_reason
            raise ChatClosed(f"the server closed the connection{': ' + reason if reason else ''}")
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
        if self._eof:
            return
        self.sock.settimeout(None)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    self._queue_events(self.session.eof())
                    break
                self._queue_events(self.session.receive(data))
        except OSError as error:
            if not self._closed.is_set():
                self.session.close_reason = f"connection lost ({error.strerror or type(error).__name__})"
        finally:
            self._eof = True
            self._queue.put(None)

    def _queue_events(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Deliver):
                self._queue.put(event.message)

    # ------------------------------------------------------------------ closing

    def close(self, farewell: bool = True, reason: str = "") -> None:
        """Leave as the server's dialect expects (netlab: ``/quit``; tutorial and raw servers: closing),
        close our side, wait up to `CLOSE_WAIT` for the server's side, join the reader thread.

        `farewell=False` leaves by closing only (someone who already left, or a test of abrupt exits).
        """
        if self._closed.is_set():
            return
        with self._send_lock:
            stop = self.session.leave(reason) if farewell and not self._eof else []
            with contextlib.suppress(OSError):
                for payload in stop:
                    self.sock.sendall(payload.data)
        self._closed.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)  # our FIN: the server reads EOF and closes its side
        self._reader.join(CLOSE_WAIT)
        if self._reader.is_alive():  # a server that never closes (or never reads): stop waiting
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self._reader.join()
        self.sock.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _handshake(sock: socket.socket, session: ClientSession) -> tuple[list[Incoming], bool]:
    """Drive `session` until its dialect is settled; returns the messages delivered meanwhile and
    whether the server already closed the connection."""
    delivered: list[Incoming] = []
    settled = False

    def carry_out(events: list[Event]) -> None:
        nonlocal settled
        for event in events:
            if isinstance(event, Send):
                sock.sendall(event.data)
            elif isinstance(event, Deliver):
                delivered.append(event.message)
            elif isinstance(event, Settled):
                settled = True
                greeting = session.greeting
                if greeting is not None and greeting.handshake is Handshake.UNRECOGNISED:
                    log.warning("%s; relaying raw", greeting.describe())
                else:
                    log.info("%s", detection_text(session))

    carry_out(session.start())
    phase, deadline = None, 0.0
    while not settled:
        if session.phase is not phase:
            phase = session.phase
            deadline = time.monotonic() + (session.wait or 0.0)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            carry_out(session.timeout())
            continue
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            carry_out(session.timeout())
            continue
        if not data:
            carry_out(session.eof())
            return delivered, True
        carry_out(session.receive(data))
        if session.phase is Phase.GREETING:
            phase = None  # auto: the greeting ends when the server falls quiet, counted from its last bytes
    return delivered, False


def detection_text(session: ClientSession) -> str:
    """Which dialect the session settled on, and from which bytes (shown by `netlab join -v`)."""
    text = f"the server speaks the {session.dialect.value} dialect"
    if session.requested is not Dialect.AUTO:
        return f"{text} (as asked with --dialect)"
    greeting = session.greeting
    if greeting is None:
        return text
    how = greeting.describe()
    if session.dialect is Dialect.NETLAB:
        how += "; its answer to the bare nickname was a netlab welcome"
    return f"{text}: {how}"
