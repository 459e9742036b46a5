"""The one home of the chat server's shared state: connections, nicknames, outboxes, history.

Every field of every `Connection` that more than one thread touches is read and written
only while holding `ClientRegistry.lock` (one lock for everything: joins, leaves,
broadcasts and the flusher's bookkeeping). Sockets are *sent to* only by the flusher
thread and *received from* only by the connection's reader thread; the flusher alone
closes them, so a file descriptor is never reused under a thread still using it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from netlab.chat.protocol import Dialect


def format_address(address: tuple[str, int] | tuple[str, int, int, int] | None) -> str:
    """``ip:port``, or ``[ip]:port`` for IPv6 (empty for an unknown address)."""
    if not address:
        return ""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


VISITS_KEPT = 10_000  # the server's record of who connected keeps this many, newest last


@dataclass(frozen=True, slots=True)
class Visit:
    """One connection the server accepted, as its record keeps it (see `ClientRegistry.visits`).

    Attributes:
        remote, local: the client's and the server's end (``ip:port``), as `Connection` has them.
        accepted: when (epoch seconds).
        nicks: every nickname it had, first to last (empty: it never joined).
        online: whether it is a member now.
    """

    remote: str
    local: str
    accepted: float
    nicks: tuple[str, ...]
    online: bool


@dataclass(eq=False)
class Connection:
    """One accepted client socket and its bookkeeping (fields guarded by the registry lock)."""

    sock: socket.socket
    remote: str
    local: str
    accepted: float
    nick: str | None = None
    dialect: Dialect | None = None
    joined: float = 0.0
    outbox: bytearray = field(default_factory=bytearray)
    dirty: bool = False  # queued in the registry's dirty list for the flusher
    armed: bool = False  # waiting in epoll for POLLOUT
    closing: bool = False  # shut the socket down once the outbox is sent (or at close_deadline)
    close_deadline: float = 0.0
    shut: bool = False  # socket shut down (reader will wake up and finish)
    reader_done: bool = False  # the reader thread has finished with the socket
    closed: bool = False
    fd: int = -1
    last_send: float = 0.0  # monotonic time of the flusher's last send (tutorial separators)
    nicks: list[str] = field(default_factory=list)  # every nickname it had, for the server's record
    tentative: bool = False  # a bare-nick client that may still complete its nickname line (protocol.py)
    sendable: int = 0  # while tentative: outbox bytes that may go (the welcome); the rest is held
    unterminated: bool = False  # switched to lines with its last chunk unterminated: the next line ends it

    def __post_init__(self) -> None:
        self.fd = self.sock.fileno()


TUTORIAL_READ_GAP = 0.05  # a tutorial client has surely read a chunk sent this long ago


def _needs_separator(conn: Connection) -> bool:
    """Whether a bare chunk for a tutorial client may land in the same recv() as the previous one.

    Tutorial clients print each recv() result as one message, so consecutive chunks that may
    merge are separated by a newline; a chunk sent after a pause goes bare (one message per read).
    While the client's dialect is tentative every chunk after the welcome is separated (and held),
    so that a line client completing its nickname line reads a line-framed stream.
    """
    return conn.tentative or bool(conn.outbox) or time.monotonic() - conn.last_send < TUTORIAL_READ_GAP


def _line(conn: Connection, line: bytes) -> bytes:
    """`line` (with its newline) for a line client, ending first a bare chunk left unterminated by a switch."""
    if conn.unterminated:
        conn.unterminated = False
        return b"\n" + line
    return line


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """A snapshot of one joined client (for /who, the operator console and the status file)."""

    nick: str
    remote: str
    local: str
    joined: float
    queued_bytes: int
    dialect: str


class ClientRegistry:
    """Connections, nicknames, per-client outboxes and the message history, behind one lock.

    Thread-safe: every public method takes `lock`. Methods whose name ends in ``_locked``
    expect the caller to hold it.
    """

    def __init__(self, sendq_bytes: int, history: int) -> None:
        self.lock = threading.Lock()
        self.sendq_bytes = sendq_bytes
        self.connections: set[Connection] = set()
        self.members: dict[str, Connection] = {}  # casefolded nick -> connection
        self.dirty: list[Connection] = []
        self.closing: set[Connection] = set()  # connections marked closing and not yet closed
        self.history: deque[str] = deque(maxlen=max(history, 0))
        # every connection accepted, oldest first: (remote, local, accepted, its `nicks` list, shared)
        self.seen: deque[tuple[str, str, float, list[str]]] = deque(maxlen=VISITS_KEPT)
        self.changed = True  # membership changed since the last status publication
        self.queued_changed = False

    # -- membership

    def add(self, conn: Connection, limit: int) -> bool:
        """Register a fresh connection unless `limit` connections exist already."""
        with self.lock:
            self.seen.append((conn.remote, conn.local, conn.accepted, conn.nicks))  # refused or not
            if len(self.connections) >= limit:
                return False
            self.connections.add(conn)
            return True

    def claim(self, conn: Connection, nick: str, dialect: Dialect) -> bool:
        """Make `conn` a member called `nick`; False when the name is taken (case-insensitively)."""
        key = nick.casefold()
        with self.lock:
            if key in self.members or conn.closing:
                return False
            self.members[key] = conn
            conn.nick, conn.dialect, conn.joined = nick, dialect, time.time()
            conn.nicks.append(nick)
            self.changed = True
            return True

    def rename(self, conn: Connection, nick: str) -> str | None:
        """Rename a member; returns the old nick, or None when `nick` is taken by someone else."""
        key = nick.casefold()
        with self.lock:
            holder = self.members.get(key)
            if conn.nick is None or (holder is not None and holder is not conn):
                return None
            old = conn.nick
            del self.members[old.casefold()]
            self.members[key] = conn
            conn.nick = nick
            conn.nicks.append(nick)
            self.changed = True
            return old

    def leave_locked(self, conn: Connection) -> bool:
        """Remove `conn` from the members; True if it was one."""
        if conn.nick is not None and self.members.get(conn.nick.casefold()) is conn:
            del self.members[conn.nick.casefold()]
            self.changed = True
            return True
        return False

    def find(self, nick: str) -> Connection | None:
        """The member called `nick` (case-insensitively), if any."""
        with self.lock:
            return self.members.get(nick.casefold())

    def snapshot(self) -> list[ClientInfo]:
        """The joined clients, oldest first."""
        with self.lock:
            rows = [
                ClientInfo(
                    c.nick or "", c.remote, c.local, c.joined, len(c.outbox), c.dialect.value if c.dialect else ""
                )
                for c in self.members.values()
            ]
        return sorted(rows, key=lambda row: row.joined)

    def visits(self) -> list[Visit]:
        """Every connection accepted (the last `VISITS_KEPT`), oldest first, members or not, gone or not."""
        with self.lock:
            return [
                Visit(remote, local, accepted, tuple(nicks), self._holds_locked(nicks))
                for remote, local, accepted, nicks in self.seen
            ]

    def _holds_locked(self, nicks: list[str]) -> bool:
        """Whether the connection whose nickname list is `nicks` is a member now."""
        member = self.members.get(nicks[-1].casefold()) if nicks else None
        return member is not None and member.nicks is nicks

    def nicks(self) -> list[str]:
        """The members' nicknames."""
        with self.lock:
            return [c.nick for c in self.members.values() if c.nick]

    # -- queuing output

    def queue_locked(self, conn: Connection, text: str) -> bool:
        """Queue one line for `conn`; False when its outbox would exceed the SendQ limit."""
        if conn.closing and conn.shut:
            return True
        if conn.dialect is Dialect.TUTORIAL:
            payload = (b"\n" if _needs_separator(conn) else b"") + text.encode("utf-8")
        else:
            payload = _line(conn, text.encode("utf-8") + b"\n")
        return self._append_locked(conn, payload)

    def hold_locked(self, conn: Connection) -> None:
        """Send what is queued for `conn` now (its welcome), hold what comes later until `release_locked`."""
        conn.tentative = True
        conn.sendable = len(conn.outbox)

    def release_locked(self, conn: Connection) -> None:
        """`conn`'s dialect is settled: send what was held."""
        if not conn.tentative:
            return
        conn.tentative = False
        if conn.outbox and not conn.dirty and not conn.armed:
            conn.dirty = True
            self.dirty.append(conn)

    def switch_to_lines_locked(self, conn: Connection) -> None:
        """A client that got bare chunks reads lines from now on: end the last chunk with its newline,
        right after what is queued, or (nothing queued) in front of the next line, so that no server
        turn is only that newline (when no line follows before the connection closes, none is sent)."""
        conn.dialect = Dialect.LINE
        queued = len(conn.outbox) - (conn.sendable if conn.tentative else 0)  # the welcome may be sent, not yet removed
        if queued > 0:
            self._append_locked(conn, b"\n")
        else:
            conn.unterminated = True
        self.changed = True

    def queue_raw_locked(self, conn: Connection, payload: bytes) -> None:
        """Queue bytes as they are (the greeting)."""
        self._append_locked(conn, payload)

    def _append_locked(self, conn: Connection, payload: bytes) -> bool:
        if len(conn.outbox) + len(payload) > self.sendq_bytes:
            return False
        conn.outbox += payload
        self.queued_changed = True
        if not conn.dirty and not conn.armed:
            conn.dirty = True
            self.dirty.append(conn)
        return True

    def broadcast_locked(self, text: str, exclude: Connection | None) -> list[Connection]:
        """Queue `text` for every member but `exclude`; returns the members whose SendQ overflowed."""
        line = text.encode("utf-8") + b"\n"
        chunk = text.encode("utf-8")
        overflowed: list[Connection] = []
        limit = self.sendq_bytes
        dirty = self.dirty
        for conn in self.members.values():
            if conn is exclude:
                continue
            outbox = conn.outbox
            if conn.dialect is not Dialect.TUTORIAL:
                payload = _line(conn, line) if conn.unterminated else line
            else:
                payload = b"\n" + chunk if _needs_separator(conn) else chunk
            if len(outbox) + len(payload) > limit:
                overflowed.append(conn)
                continue
            outbox += payload
            if not conn.dirty and not conn.armed:
                conn.dirty = True
                dirty.append(conn)
        self.queued_changed = True
        return overflowed

    def mark_closing_locked(self, conn: Connection, final_line: str | None, deadline: float) -> None:
        """Send `final_line` (if any) after what is queued, then shut the socket down."""
        if conn.closing:
            return
        conn.tentative = False  # nothing is held from a closing connection
        if final_line is not None:
            payload = final_line.encode("utf-8") + (b"" if conn.dialect is Dialect.TUTORIAL else b"\n")
            if conn.dialect is Dialect.TUTORIAL and _needs_separator(conn):
                payload = b"\n" + payload
            conn.outbox += _line(conn, payload) if conn.dialect is not Dialect.TUTORIAL else payload
        # else a welcome left unterminated stays so: a lone newline would be an empty server turn
        conn.closing = True
        conn.close_deadline = deadline
        self.closing.add(conn)
        if not conn.dirty:
            conn.dirty = True
            self.dirty.append(conn)

    def take_dirty_locked(self) -> list[Connection]:
        """Hand the flusher the connections with fresh output."""
        work, self.dirty = self.dirty, []
        return work

    def queued_bytes(self) -> int:
        """Bytes waiting in all outboxes."""
        with self.lock:
            return sum(len(c.outbox) for c in self.connections)
