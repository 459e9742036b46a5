"""A grading client (edge): one TCP connection that does the server's handshake, then records every byte.

A `Probe` connects, drives the same pure `ClientSession` as `netlab join` through the handshake (so the
dialect detector serves both), then a reader thread keeps every `recv` with its arrival time. What it
sends is recorded too, so a verdict can quote the bytes. Every probe belongs to a `Pool`, which closes
them all when a check ends or overruns its deadline: nothing waits without a timeout.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable

from netlab.chat.client_session import ChatClientError, ClientSession, Dialect, Event, Send, Settled
from netlab.check.model import Exchange
from netlab.check.verdicts import Chunk, Delivery, find_delivery

CONNECT_TIMEOUT = 2.0


class ProbeError(Exception):
    """A probe could not connect or finish its handshake (the message says which and why).

    `timed_out`: the server said nothing in time (left hanging), as opposed to refusing or closing.
    """

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class Pool:
    """The probes of one check; `close_all` ends every one of them (shutdown unblocks their threads)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.probes: list[Probe] = []
        self.lock = threading.Lock()
        self.cancelled = threading.Event()

    def add(self, probe: Probe) -> None:
        with self.lock:
            self.probes.append(probe)

    def close_all(self) -> None:
        """Close every probe (FIN), join their readers."""
        with self.lock:
            probes = list(self.probes)
        for probe in probes:
            probe.close()

    def evidence(self, only: list[Probe] | None = None) -> tuple[Exchange, ...]:
        """What the probes sent and received, as evidence."""
        items: list[Exchange] = []
        for probe in only if only is not None else self.probes:
            items += probe.exchanges()
        return tuple(items)


class Probe:
    """One grading client, owned by a `Pool`: `connect`, `handshake`, then `send` bytes and read `chunks`."""

    def __init__(
        self, pool: Pool, host: str, port: int, nick: str, dialect: Dialect, waits: tuple[float, float] | None = None
    ) -> None:
        """`waits`: auto's (greeting, reply) waits, shorter once the server's kind is known."""
        self.pool = pool
        self.host, self.port, self.nick = host, port, nick
        self.session = ClientSession(nick, dialect, timeout=CONNECT_TIMEOUT)
        if waits is not None:
            self.session.greeting_wait, self.session.reply_wait = waits
        self.sock: socket.socket | None = None
        self.chunks: list[Chunk] = []
        self.sent: list[tuple[float, bytes]] = []
        self.local_port = 0
        self.eof_at: float | None = None
        self.reset = False
        self.handshake_seconds: float | None = None
        self.handshake_chunks = 0  # chunks received during the handshake (greeting, welcome): not relayed lines
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        pool.add(self)

    # ------------------------------------------------------------------ opening

    def connect(self, *, rcvbuf: int | None = None, timeout: float = CONNECT_TIMEOUT) -> None:
        """Open the TCP connection (with a small receive buffer set before connecting, if asked).

        Raises:
            ProbeError: refused, timed out, unreachable.
        """
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(timeout)
        try:
            sock.connect((self.host, self.port))
        except OSError as error:
            sock.close()
            raise ProbeError(
                f"cannot connect: {error.strerror or type(error).__name__}", timed_out=isinstance(error, TimeoutError)
            ) from None
        self.sock = sock
        self.local_port = sock.getsockname()[1]

    def handshake(self, timeout: float = CONNECT_TIMEOUT, *, read: bool = True) -> None:
        """Do the server's handshake (as `netlab join` does), recording what arrives; then start reading.

        Raises:
            ProbeError: no handshake within `timeout`, the server closed, refused the nickname.
        """
        assert self.sock is not None
        start = self.pool.clock()
        end = time.monotonic() + timeout
        settled = False

        def carry_out(events: list[Event]) -> None:
            nonlocal settled
            for event in events:
                if isinstance(event, Send):
                    self._send_raw(event.data)
                elif isinstance(event, Settled):
                    settled = True

        try:
            carry_out(self.session.start())
            phase, deadline = None, 0.0
            while not settled:
                if self.session.phase is not phase:
                    phase = self.session.phase
                    deadline = time.monotonic() + (self.session.wait or 0.0)
                now = time.monotonic()
                if now >= end:
                    raise ProbeError(f"no handshake within {timeout:g} s", timed_out=True)
                if deadline - now <= 0:
                    carry_out(self.session.timeout())
                    continue
                self.sock.settimeout(min(deadline, end) - now)
                try:
                    data = self.sock.recv(65536)
                except TimeoutError:
                    if time.monotonic() >= deadline:
                        carry_out(self.session.timeout())
                    continue
                if not data:
                    self.eof_at = self.pool.clock()
                    carry_out(self.session.eof())
                    if not settled:
                        raise ProbeError("the server closed the connection during the handshake")
                    break
                self.chunks.append(Chunk(self.pool.clock(), data))
                carry_out(self.session.receive(data))
                if self.session.phase.value == "greeting":
                    phase = None  # the greeting ends when the server falls quiet after its last bytes
        except ChatClientError as error:
            raise ProbeError(str(error)) from None
        except OSError as error:
            raise ProbeError(f"connection lost during the handshake ({error.strerror or error})") from None
        if self.session.dialect is not Dialect.NETLAB and not self.session.terminator:
            self.session.terminator = b"\n"  # grading sends lines: each message ends in a newline
        self.handshake_seconds = self.pool.clock() - start
        self.handshake_chunks = len(self.chunks)
        if read:
            self.start_reading()

    def start_reading(self) -> None:
        """Start the reader thread (a slow consumer skips this and never reads)."""
        if self._reader is None and self.eof_at is None:
            self._reader = threading.Thread(target=self._read, name=f"check-probe-{self.nick}", daemon=False)
            self._reader.start()

    def _read(self) -> None:
        assert self.sock is not None
        self.sock.settimeout(None)
        try:
            while data := self.sock.recv(262144):
                with self._lock:
                    self.chunks.append(Chunk(self.pool.clock(), data))
        except ConnectionResetError:
            self.reset = True
        except OSError:
            pass
        self.eof_at = self.pool.clock()

    # ------------------------------------------------------------------ talking

    def line(self, text: str) -> bytes:
        """The bytes that say `text` (one message): a netlab line, else the bare text and a newline.

        Tutorial clients put "nick: " in front of their messages themselves; the grader does not, since
        many servers add their own prefix and no check needs the name in the text.
        """
        if self.session.dialect is Dialect.NETLAB:
            return b"".join(send.data for send in self.session.say(text))
        return text.encode("utf-8") + b"\n"

    def _send_raw(self, data: bytes) -> None:
        assert self.sock is not None
        self.sock.sendall(data)
        self.sent.append((self.pool.clock(), data))

    def send(self, data: bytes, timeout: float = 5.0) -> float:
        """Send `data` (all of it); returns the seconds `sendall` took. Raises `OSError` if the server is gone."""
        assert self.sock is not None
        start = time.monotonic()
        self.sock.settimeout(timeout)
        self._send_raw(data)
        return time.monotonic() - start

    def send_pieces(self, data: bytes, cuts: list[int], pause: float) -> None:
        """Send `data` cut at `cuts` (byte offsets), one segment each (TCP_NODELAY), `pause` s apart."""
        points = sorted({0, len(data), *[c for c in cuts if 0 < c < len(data)]})
        for index, (a, b) in enumerate(zip(points, points[1:], strict=False)):
            if index:
                time.sleep(pause)
            self.send(data[a:b])

    # ------------------------------------------------------------------ reading

    def received(self) -> list[Chunk]:
        """What arrived so far (a copy)."""
        with self._lock:
            return list(self.chunks)

    def received_bytes(self, since: float = 0.0) -> bytes:
        """Every byte received (after `since` on the run's clock)."""
        return b"".join(c.data for c in self.received() if c.at >= since)

    def delivery(self, payload: str, tag: str) -> Delivery:
        """How the tagged line arrived here."""
        return find_delivery(self.received()[self.handshake_chunks :], payload, tag)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Poll `predicate` until it holds or `timeout` passes (or the check is cancelled)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self.pool.cancelled.is_set():
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()

    @property
    def closed(self) -> bool:
        """The server closed (or reset) this connection."""
        return self.eof_at is not None

    def label(self) -> str:
        """ "ann (port 40312)"."""
        return f"{self.nick} (port {self.local_port})"

    def exchanges(self) -> list[Exchange]:
        """What this probe sent and received, for the evidence."""
        items = []
        sent = b"".join(data for _, data in self.sent)
        if sent:
            items.append(Exchange(self.label(), "sent", sent, self.local_port))
        received = self.received_bytes()
        if received:
            items.append(Exchange(self.label(), "received", received, self.local_port))
        return items

    # ------------------------------------------------------------------ closing

    def abort(self) -> None:
        """Close with a reset (RST): SO_LINGER on with a zero timeout (the reader is woken first)."""
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RD)
            self._join()
            with contextlib.suppress(OSError):
                self.sock.close()
        self._join()

    def finish(self, wait: float = 1.0) -> None:
        """Leave cleanly: our FIN first, then up to `wait` s for the server's, then close."""
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)
            self.wait_for(lambda: self.closed, wait)
        self.close()

    def close(self) -> None:
        """Close normally (FIN), end the reader."""
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                self.sock.close()
        self._join()

    def _join(self) -> None:
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(5)
