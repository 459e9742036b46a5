"""The netlab chat server: a reader thread per client, one registry, one flusher.

Theory of operation
-------------------
* The *accept thread* accepts connections, registers them (or refuses them when the room is
  full), queues the ``NICK`` greeting and starts one *reader thread* per client.
* A reader thread is the only one that calls ``recv`` on its socket. It feeds the bytes to
  the client's pure `ChatSession` and carries out the actions: nickname claims and
  broadcasts go through the `ClientRegistry`, whose single lock guards all shared state.
  A broadcast never touches a socket: it appends the line to each recipient's bounded
  byte *outbox* (SendQ). A recipient whose outbox would overflow is cut off with a reason.
* The one *flusher thread* (`flusher.py`) is the only one that sends to or closes client sockets. It takes
  the connections with fresh output, and sends *everything* queued for each one in a single
  non-blocking ``send`` (coalescing, so under load a ``send`` carries many lines). What the
  kernel does not take stays in the outbox and the socket waits in epoll for POLLOUT. So no
  thread ever blocks on another client's socket, and nothing wakes a thread per message per
  recipient.
* Why the flusher sends, not the sender's thread: a variant in which a reader thread sent
  directly whenever no other thread was sending (one "flush token") answered sooner at low load
  but cut coalescing under load: bench/chat_load.py measured clearly more server CPU per
  delivery, against ngIRCd's, than with the flusher alone (figures in bench/README.md). The
  target is CPU per delivery, so the flusher alone sends.
* Shutdown (`stop`): stop accepting, queue a final line for every client, let the flusher
  send it and shut each socket down (which wakes its reader), join the readers, then the
  flusher. Every thread is joined; nothing is a daemon.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netlab import runtime
from netlab.chat.flusher import Flusher
from netlab.chat.limits import DIALECT_WINDOW_SECONDS, MAX_LINE_BYTES, QUIET_SECONDS
from netlab.chat.protocol import (
    GREETING,
    Act,
    Action,
    ChangeNick,
    ChatSession,
    ClaimNick,
    Close,
    DialectSettled,
    Leave,
    ListUsers,
    Reply,
    Say,
    SessionState,
    Whisper,
)
from netlab.chat.registry import ClientInfo, ClientRegistry, Connection, Visit, format_address
from netlab.chat.wire import (
    STAMP_FORMAT,
    MessageKind,
    neutralise,
    rename_text,
    render_action,
    render_chat,
    render_error,
    render_notice,
    render_private,
    shorten,
    welcome_text,
    who_text,
)
from netlab.errors import NetlabError, NoRights, RuntimeDirError, os_reason

log = logging.getLogger(__name__)

LINGER_SECONDS = 1.0  # how long a closing connection may take to drain / be read to EOF
RECV_BYTES = 65536


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Settings of a `ChatServer` (the CLI options of `netlab serve`)."""

    host: str = "127.0.0.1"
    port: int = 55555
    max_clients: int = 1000
    history: int = 20
    flood_rate: float = 5.0  # messages per second per client; 0 disables flood control
    flood_burst: int = 10
    idle_timeout: float = 0.0  # seconds without input before a client is dropped; 0 = never
    handshake_timeout: float = 30.0
    quiet_period: float = QUIET_SECONDS  # silence after a bare chunk that marks a tutorial-dialect nickname
    dialect_window: float = (
        DIALECT_WINDOW_SECONDS  # after a bare nickname's welcome: time for a line client to complete its line
    )
    sendq_bytes: int = 1 << 20
    max_line: int = MAX_LINE_BYTES
    backlog: int = 1024
    keepalive: bool = True
    publish_status: bool = True
    status_dir: Path | None = None
    log_bodies: bool = False


class ChatServerError(NetlabError):
    """The server could not start (address in use, bad host)."""


class ListenPermissionError(ChatServerError, NoRights):
    """The server may not listen on that port (below 1024 without root or CAP_NET_BIND_SERVICE)."""


def _stamp() -> str:
    return time.strftime(STAMP_FORMAT)


def _set_recv_timeout(sock: socket.socket, seconds: float | None) -> None:
    """SO_RCVTIMEO on a blocking socket: recv raises BlockingIOError after `seconds` (None = forever)."""
    seconds = 0.0 if seconds is None else max(seconds, 0.001)
    whole = int(seconds)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", whole, int((seconds - whole) * 1e6)))


class _TokenBucket:
    """Per-client flood control: `rate` messages a second with bursts of `burst` (reader thread only)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.warned = False

    def delay(self) -> float:
        """Seconds to wait before the next message may go (0 when it may go now); consumes a token."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class ChatServer:
    """A threaded chat server; see the module docstring for how the threads cooperate.

    `start()` binds, listens and returns the bound address (port 0 picks a free port);
    `stop()` shuts everything down and joins every thread. `who`, `kick` and `say` are
    the operator's verbs and are thread-safe.
    """

    def __init__(
        self,
        host: str | ServerConfig | None = None,
        port: int | None = None,
        config: ServerConfig | None = None,
        **overrides: Any,
    ) -> None:
        """`ChatServer("127.0.0.1", 0)`, `ChatServer(ServerConfig(...))`, or any config field as a keyword."""
        if isinstance(host, ServerConfig):
            config, host = host, None
        base = config or ServerConfig()
        if host is not None:
            overrides["host"] = host
        if port is not None:
            overrides["port"] = port
        if overrides:
            base = dataclasses.replace(base, **overrides)
        self.config = base
        self.registry = ClientRegistry(base.sendq_bytes, base.history)
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._readers: set[threading.Thread] = set()
        self._readers_lock = threading.Lock()
        self._flusher = Flusher(self.registry, self._stopping, self._publish_status if base.publish_status else None)
        self._started = 0.0
        self._status_refused = False  # the runtime directory is not ours alone: never write there
        self._status_lock = threading.Lock()  # start() and the flusher both publish
        self.address: tuple[str, int] = ("", 0)
        self._stop_message = "Server is shutting down"

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> tuple[str, int]:
        """Bind and listen, start the accept and flusher threads; returns (host, port) once listening."""
        cfg = self.config
        family = socket.AF_INET6 if ":" in cfg.host else socket.AF_INET
        try:
            self._listener = socket.create_server(
                (cfg.host, cfg.port), family=family, backlog=cfg.backlog, reuse_port=False
            )
        except socket.gaierror as error:
            raise ChatServerError(f"cannot listen on {cfg.host!r}: {error.strerror}") from None
        except PermissionError:
            where = format_address((cfg.host, cfg.port))
            raise ListenPermissionError(
                f"cannot listen on {where}: permission denied (ports below 1024 need root); use a port above 1023"
            ) from None
        except OSError as error:
            where = format_address((cfg.host, cfg.port))
            hint = "; is another server running? try --port" if error.errno == errno.EADDRINUSE else ""
            raise ChatServerError(f"cannot listen on {where}: {os_reason(error)}{hint}") from None
        bound = self._listener.getsockname()
        self.address = (bound[0], bound[1])
        self._started = time.time()
        self._accept_thread = threading.Thread(target=self._accept_loop, name="chat-accept")
        self._flusher.start()
        self._accept_thread.start()
        self._publish_status()
        log.info("listening on %s", format_address(self.address))
        return self.address

    def stop(self, message: str = "Server is shutting down") -> None:
        """Stop accepting, send every client `message`, close all sockets, join all threads."""
        if self._stopping.is_set():
            return
        self._stop_message = message
        self._stopping.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        if self._accept_thread is not None:
            self._accept_thread.join()
        deadline = time.monotonic() + LINGER_SECONDS * 0.8
        with self.registry.lock:
            for conn in list(self.registry.connections):
                self.registry.mark_closing_locked(conn, render_notice(_stamp(), message), deadline)
                conn.close_deadline = min(conn.close_deadline, deadline)
        self._flusher.wake()
        with self._readers_lock:
            readers = list(self._readers)
        for thread in readers:
            thread.join(timeout=max(0.0, deadline + LINGER_SECONDS - time.monotonic()))
        self._force_shutdown_stragglers()
        for thread in readers:
            thread.join()
        self._flusher.join()
        self._flusher.close()
        if self.config.publish_status and not self._status_refused:
            runtime.remove_status(self.address[1], self.config.status_dir)
        log.info("stopped")

    def _force_shutdown_stragglers(self) -> None:
        with self.registry.lock:
            stragglers = [c for c in self.registry.connections if not c.reader_done]
        for conn in stragglers:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)

    @property
    def stopping(self) -> bool:
        """True once `stop` has begun."""
        return self._stopping.is_set()

    # ------------------------------------------------------------------ operator verbs

    def who(self) -> list[ClientInfo]:
        """The joined clients, oldest first."""
        return self.registry.snapshot()

    def visits(self) -> list[Visit]:
        """The server's record: every connection it accepted, oldest first, with every nickname it had."""
        return self.registry.visits()

    @property
    def listener_inode(self) -> int | None:
        """The listening socket's inode (as `ss -e` and /proc/PID/fd show it), None when not listening."""
        listener = self._listener
        if listener is None or listener.fileno() < 0:
            return None
        return os.fstat(listener.fileno()).st_ino

    def kick(self, nick: str, reason: str = "") -> bool:
        """Disconnect `nick` with a reason; False when nobody has that nickname."""
        with self.registry.lock:
            conn = self.registry.members.get(nick.casefold())
            if conn is None:
                return False
            why = f"Kicked by the operator{': ' + neutralise(reason) if reason else ''}"
            self._drop_member_locked(
                conn, why, f"{conn.nick} was kicked{' (' + neutralise(reason) + ')' if reason else ''}"
            )
        self._flusher.wake()
        log.warning("kicked %s%s", nick, f" ({reason})" if reason else "")
        return True

    def say(self, text: str) -> None:
        """Broadcast `text` from the operator (as the reserved nickname ``server``)."""
        line = render_chat(_stamp(), "server", neutralise(text))
        with self.registry.lock:
            overflowed = self.registry.broadcast_locked(line, None)
            self.registry.history.append(line)
            self._cut_overflowed_locked(overflowed)
        self._flusher.wake()

    # ------------------------------------------------------------------ accept thread

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, remote = self._listener.accept()
            except OSError as error:
                if self._stopping.is_set():
                    return
                log.warning("accept failed: %s", error.strerror)
                self._stopping.wait(0.05)  # EMFILE and friends: back off instead of spinning
                continue
            try:
                self._admit(sock, remote)
            except OSError as error:  # the peer is already gone (RST before we looked at it)
                log.debug("dropped %s during accept: %s", format_address(remote), error.strerror)
                sock.close()

    def _admit(self, sock: socket.socket, remote: Any) -> None:
        sock.setblocking(True)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.config.keepalive:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for option, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 6)):
                if hasattr(socket, option):
                    sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
        conn = Connection(sock, format_address(remote), format_address(sock.getsockname()), time.time())
        if not self.registry.add(conn, self.config.max_clients):
            log.warning("room full: refused %s", conn.remote)
            line = render_error(_stamp(), f"Room full ({self.config.max_clients} clients); try again later")
            with contextlib.suppress(OSError):
                sock.send(line.encode() + b"\n", socket.MSG_DONTWAIT)
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            return
        with self.registry.lock:
            self.registry.queue_raw_locked(conn, GREETING)
        self._flusher.wake()
        thread = threading.Thread(target=self._reader, args=(conn,), name=f"chat-reader-{conn.remote}")
        with self._readers_lock:
            self._readers.add(thread)
        try:
            thread.start()
        except RuntimeError as error:  # out of threads: refuse this one, keep serving the others
            log.error("cannot start a thread for %s: %s", conn.remote, error)
            with self._readers_lock:
                self._readers.discard(thread)
            with self.registry.lock:
                conn.reader_done = True
                self.registry.mark_closing_locked(
                    conn, render_error(_stamp(), "Server busy; try again later"), time.monotonic()
                )
            self._flusher.wake()

    # ------------------------------------------------------------------ reader threads

    def _reader(self, conn: Connection) -> None:
        session = ChatSession(self.config.max_line)
        reason = "connection closed"
        try:
            reason = self._converse(conn, session)
        except (ConnectionResetError, BrokenPipeError, TimeoutError) as error:
            reason = f"connection lost ({error.strerror or type(error).__name__})"
        except OSError as error:
            reason = f"connection error ({error.strerror})"
            if not self._stopping.is_set():
                log.warning("%s: %s", conn.remote, reason)
        finally:
            self._finish_reader(conn, reason)

    def _converse(self, conn: Connection, session: ChatSession) -> str:
        """Read and act until the client leaves or must be closed; returns the leave reason."""
        cfg = self.config
        handshake_deadline = time.monotonic() + cfg.handshake_timeout
        bucket = _TokenBucket(cfg.flood_rate, cfg.flood_burst)
        current_timeout: float | None = -1.0
        window_end: float | None = None
        while not self._stopping.is_set() and not conn.closing:
            if session.state is SessionState.AWAIT_NICK:
                remaining = handshake_deadline - time.monotonic()
                timeout: float | None = remaining
                if session.framer.pending:
                    timeout = min(remaining, cfg.quiet_period)
            elif session.tentative:
                window_end = window_end or time.monotonic() + cfg.dialect_window
                timeout = window_end - time.monotonic()
            else:
                timeout = cfg.idle_timeout or None
            if timeout != current_timeout:
                _set_recv_timeout(conn.sock, timeout)
                current_timeout = timeout
            try:
                data = conn.sock.recv(RECV_BYTES)
            except BlockingIOError:
                actions, verdict = self._on_silence(session, handshake_deadline)
                if verdict:
                    return self._close_with(conn, verdict)
            else:
                if not data:
                    actions = session.eof()
                else:
                    actions = session.receive(data)
            if session.dialect is not conn.dialect and conn.nick is not None:
                self._switch_dialect(conn, session)
            outcome = self._perform(conn, session, actions, bucket)
            if outcome is not None:
                return outcome
        return "server shutting down" if self._stopping.is_set() else "disconnected"

    def _switch_dialect(self, conn: Connection, session: ChatSession) -> None:
        """A bare-nick client turned out to speak lines (it completed its nickname line, or an older
        netlab join sent `/dialect line`): end the last bare chunk with its newline."""
        with self.registry.lock:
            self.registry.switch_to_lines_locked(conn)
        self._flusher.wake()

    def _on_silence(self, session: ChatSession, handshake_deadline: float) -> tuple[list[Action], str]:
        if session.tentative:
            return session.quiet(), ""
        if session.state is SessionState.AWAIT_NICK:
            if time.monotonic() >= handshake_deadline:
                return [], f"Timed out waiting for a nickname ({self.config.handshake_timeout:g} s)"
            return session.quiet(), ""
        return [], f"Idle for {self.config.idle_timeout:g} s; disconnected"

    def _close_with(self, conn: Connection, reason: str) -> str:
        with self.registry.lock:
            notice = f"{conn.nick} left the chat ({reason})" if conn.nick else None
            self._drop_member_locked(conn, reason, notice)
        self._flusher.wake()
        log.info("%s (%s): closing: %s", conn.nick or "-", conn.remote, reason)
        self._drain_until_eof(conn)
        return reason

    def _drain_until_eof(self, conn: Connection) -> None:
        """Lingering close: read and discard for a moment so our last line is not destroyed by a RST."""
        deadline = time.monotonic() + LINGER_SECONDS
        _set_recv_timeout(conn.sock, 0.1)
        while time.monotonic() < deadline and not self._stopping.is_set():
            try:
                if not conn.sock.recv(RECV_BYTES):
                    return
            except BlockingIOError:
                continue
            except OSError:
                return

    def _perform(
        self, conn: Connection, session: ChatSession, actions: list[Action], bucket: _TokenBucket
    ) -> str | None:
        """Carry out a session's actions; returns a leave reason when the reader should stop."""
        pending = list(actions)
        while pending:
            if conn.closing:  # kicked or cut meanwhile (e.g. while flood control held us): relay nothing more
                return "disconnected"
            action = pending.pop(0)
            if isinstance(action, ClaimNick):
                pending[:0] = self._claim(conn, session, action)
            elif isinstance(action, Reply):
                self._reply(conn, action.text, action.kind)
            elif isinstance(action, Say | Act | Whisper):
                self._throttle(conn, bucket)
                if conn.closing or self._stopping.is_set():
                    return "disconnected"
                self._relay(conn, action)
            elif isinstance(action, ListUsers):
                names = sorted(self.registry.nicks(), key=str.casefold)
                self._reply(conn, who_text(names), MessageKind.NOTICE)
            elif isinstance(action, ChangeNick):
                self._rename(conn, session, action.nick)
            elif isinstance(action, DialectSettled):
                self._settled(conn, action)
            elif isinstance(action, Leave):
                return action.reason
            elif isinstance(action, Close):
                return self._close_with(conn, action.reason)
        return None

    def _claim(self, conn: Connection, session: ChatSession, action: ClaimNick) -> list[Action]:
        if not self.registry.claim(conn, action.nick, action.dialect):
            return session.nick_refused(f"Nickname {action.nick!r} is taken")
        follow_up = session.nick_granted(action.nick)
        stamp = _stamp()
        with self.registry.lock:
            others = [c.nick for c in self.registry.members.values() if c.nick]
            self.registry.queue_locked(conn, render_notice(stamp, welcome_text(action.nick, others)))
            # A bare-nick client may be a line client completing its nickname line: until its dialect
            # settles (at most dialect_window), what follows the welcome is held, each chunk with its own
            # separator, so either dialect reads it right.
            if session.tentative:
                self.registry.hold_locked(conn)
            for line in self.registry.history:
                self.registry.queue_locked(conn, line)
            overflowed = self.registry.broadcast_locked(render_notice(stamp, f"{action.nick} joined the chat"), conn)
            self._cut_overflowed_locked(overflowed)
        self._flusher.wake()
        return follow_up

    def _settled(self, conn: Connection, action: DialectSettled) -> None:
        """The client's dialect is final: log the join once, with the name `/who` and the status file show."""
        with self.registry.lock:
            self.registry.release_locked(conn)
        self._flusher.wake()
        log.info("%s joined from %s (%s dialect)", conn.nick, conn.remote, action.dialect.value)

    def _reply(self, conn: Connection, text: str, kind: MessageKind) -> None:
        render = render_error if kind is MessageKind.ERROR else render_notice
        with self.registry.lock:
            self.registry.queue_locked(conn, render(_stamp(), text))
        self._flusher.wake()

    def _throttle(self, conn: Connection, bucket: _TokenBucket) -> None:
        delay = bucket.delay()
        if delay <= 0:
            return
        if not bucket.warned:
            bucket.warned = True
            self._reply(
                conn,
                f"You are sending too fast (limit {self.config.flood_rate:g} messages/s); "
                "your messages are delayed, not lost",
                MessageKind.NOTICE,
            )
            log.info("flood control engaged for %s", conn.nick)
        self._stopping.wait(delay)

    def _relay(self, conn: Connection, action: Say | Act | Whisper) -> None:
        stamp, nick = _stamp(), conn.nick or "?"
        if isinstance(action, Whisper):
            target = self.registry.find(action.target)
            if target is None:
                self._reply(conn, f"No such nickname: {shorten(neutralise(action.target), 30)}", MessageKind.ERROR)
                return
            with self.registry.lock:
                if not self.registry.queue_locked(target, render_private(stamp, nick, action.text)):
                    self._cut_overflowed_locked([target])
            self._flusher.wake()
            return
        line = (
            render_chat(stamp, nick, action.text)
            if isinstance(action, Say)
            else render_action(stamp, nick, action.text)
        )
        if self.config.log_bodies:
            log.info("%s", line)
        with self.registry.lock:
            overflowed = self.registry.broadcast_locked(line, conn)
            self.registry.history.append(line)
            self._cut_overflowed_locked(overflowed)
        self._flusher.wake()

    def _rename(self, conn: Connection, session: ChatSession, nick: str) -> None:
        old = self.registry.rename(conn, nick)
        if old is None:
            self._reply(conn, f"Nickname {nick!r} is taken", MessageKind.ERROR)
            return
        session.renamed(nick)
        with self.registry.lock:
            overflowed = self.registry.broadcast_locked(render_notice(_stamp(), rename_text(old, nick)), None)
            self._cut_overflowed_locked(overflowed)
        self._flusher.wake()
        log.info("%s is now known as %s", old, nick)

    def _cut_overflowed_locked(self, victims: list[Connection]) -> None:
        for victim in victims:
            queued = len(victim.outbox)
            log.warning("%s (%s): SendQ exceeded (%d bytes queued), disconnecting", victim.nick, victim.remote, queued)
            self._drop_member_locked(
                victim,
                f"Disconnected: SendQ exceeded ({queued} bytes queued; you stopped reading)",
                f"{victim.nick} was disconnected (SendQ exceeded)",
                deadline=time.monotonic(),
            )

    def _drop_member_locked(
        self, conn: Connection, why: str | None, notice: str | None, deadline: float | None = None
    ) -> None:
        """Remove `conn` from the room, tell it `why`, tell the others `notice`, then close it."""
        was_member = self.registry.leave_locked(conn)
        if deadline is None:
            deadline = time.monotonic() + LINGER_SECONDS
        self.registry.mark_closing_locked(conn, render_error(_stamp(), why) if why else None, deadline)
        if was_member and notice:
            overflowed = self.registry.broadcast_locked(render_notice(_stamp(), notice), conn)
            self._cut_overflowed_locked(overflowed)

    def _finish_reader(self, conn: Connection, reason: str) -> None:
        with self.registry.lock:
            was_member = self.registry.leave_locked(conn)
            if was_member and not self._stopping.is_set():
                text = f"{conn.nick} left the chat" + ("" if reason in ("quit", "left the chat") else f" ({reason})")
                overflowed = self.registry.broadcast_locked(render_notice(_stamp(), text), conn)
                self._cut_overflowed_locked(overflowed)
            conn.reader_done = True
            if not conn.closing:  # during stop(), a reader may get here before stop() marks it
                farewell = render_notice(_stamp(), self._stop_message) if self._stopping.is_set() else None
                self.registry.mark_closing_locked(conn, farewell, time.monotonic() + LINGER_SECONDS)
            elif not conn.dirty:
                conn.dirty = True
                self.registry.dirty.append(conn)
        self._flusher.wake()
        if was_member:
            log.info("%s left (%s)", conn.nick, reason)
        with self._readers_lock:
            self._readers.discard(threading.current_thread())

    # ------------------------------------------------------------------ status file

    def status(self) -> dict[str, Any]:
        """The registry as published in the status file (docs/protocol.md, "Status file")."""
        clients = [
            {
                "nick": row.nick,
                "remote": row.remote,
                "local": row.local,
                "joined": row.joined,
                "queued_bytes": row.queued_bytes,
                "dialect": row.dialect,
            }
            for row in self.registry.snapshot()
        ]
        host, port = self.address
        return {
            "pid": os.getpid(),
            "host": host,
            "port": port,
            "started": self._started,
            "updated": time.time(),
            "listen": format_address(self.address),
            "clients": clients,
        }

    def _publish_status(self) -> None:
        with self._status_lock:
            if not self.config.publish_status or self._stopping.is_set() or self._status_refused:
                return
            with self.registry.lock:
                self.registry.changed = False
                self.registry.queued_changed = False
            try:
                runtime.write_status(self.address[1], self.status(), self.config.status_dir)
            except RuntimeDirError as error:
                self._status_refused = True  # said once; runs on without a status file
                log.warning(
                    "not publishing a status file (`netlab sockets` shows no nicknames): %s; remove it, or set "
                    "NETLAB_RUNTIME_DIR to a directory of your own",
                    error,
                )
            except OSError as error:
                log.warning("cannot write the status file: %s", error.strerror)
