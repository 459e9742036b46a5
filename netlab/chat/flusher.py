"""The chat server's flusher: the one thread that sends to and closes client sockets.

Reader threads queue lines in the registry's per-client outboxes and call `wake`. The
flusher takes every connection with fresh output and sends everything queued for it in a
single non-blocking ``send`` (so under load one ``send`` carries many lines). What the
kernel does not take stays queued and the socket waits in epoll for POLLOUT; no thread ever
blocks on a client's socket. Connections marked closing are shut down once their outbox is
sent (or at their deadline) and closed once their reader thread has finished, always here,
so a file descriptor is never reused under a thread still using it. The flusher also
publishes the status file (via the `publish` callback) when the registry says so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable

from netlab.chat.registry import ClientRegistry, Connection

log = logging.getLogger("netlab.chat.server")

STATUS_MIN_INTERVAL = 0.05  # membership changes are published within this delay
STATUS_QUEUE_INTERVAL = 1.0  # queued-byte changes at most once a second


class Flusher:
    """Owns the flusher thread, its epoll set and its wake-up pipe (`start` / `join` / `close`)."""

    def __init__(self, registry: ClientRegistry, stopping: threading.Event, publish: Callable[[], None] | None) -> None:
        self.registry = registry
        self.stopping = stopping
        self.publish = publish
        self._epoll = select.epoll()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._epoll.register(self._wake_r, select.EPOLLIN)
        self._wake_pending = False  # guarded by registry.lock
        self._by_fd: dict[int, Connection] = {}  # flusher thread only
        self._thread = threading.Thread(target=self._loop, name="chat-flusher")

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def join(self) -> None:
        """Wait for the thread; it ends once the server is stopping and every connection is closed."""
        self.wake()
        if self._thread.is_alive():
            self._thread.join()

    def close(self) -> None:
        """Release the epoll set and the pipe (after `join`)."""
        self._epoll.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def wake(self) -> None:
        """Make sure the flusher looks at the dirty list soon (one pipe write per wake-up). Thread-safe."""
        with self.registry.lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    # ------------------------------------------------------------------ the thread

    def _loop(self) -> None:
        last_status = 0.0
        while True:
            try:
                events = self._epoll.poll(self._timeout())
            except InterruptedError:
                continue
            ready = self._ready(events)
            with self.registry.lock:
                self._wake_pending = False
                work = self.registry.take_dirty_locked()
                for conn in ready:
                    conn.armed = False
                    if not conn.dirty:
                        conn.dirty = True
                        work.append(conn)
            for conn in work:
                self._flush_one(conn)
            self._check_deadlines()
            last_status = self._maybe_publish(last_status)
            if self.stopping.is_set() and self._all_closed():
                return

    def _ready(self, events: list[tuple[int, int]]) -> list[Connection]:
        ready: list[Connection] = []
        for fd, _mask in events:
            if fd == self._wake_r:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 4096)
                continue
            conn = self._by_fd.get(fd)
            if conn is not None:
                ready.append(conn)
        return ready

    def _timeout(self) -> float:
        with self.registry.lock:
            closing = bool(self.registry.closing)
            changed, queued = self.registry.changed, self.registry.queued_changed
        publishing = self.publish is not None
        if closing or self.stopping.is_set() or (changed and publishing):
            return STATUS_MIN_INTERVAL
        return STATUS_QUEUE_INTERVAL if queued and publishing else -1

    def _all_closed(self) -> bool:
        with self.registry.lock:
            return not self.registry.connections

    def _flush_one(self, conn: Connection) -> None:
        with self.registry.lock:
            conn.dirty = False
            if conn.closed or conn.armed:
                return
            data = bytes(conn.outbox[: conn.sendable] if conn.tentative else conn.outbox)
        sent = 0
        if data and not conn.shut:
            try:
                sent = conn.sock.send(data, socket.MSG_DONTWAIT)
                conn.last_send = time.monotonic()
            except BlockingIOError:
                sent = 0
            except OSError as error:  # reset or broken pipe: the reader will see it and finish
                log.debug("%s: send failed: %s", conn.remote, error.strerror)
                sent = -1
        with self.registry.lock:
            if sent < 0:
                conn.outbox.clear()
                self.registry.mark_closing_locked(conn, None, 0.0)
            elif sent:
                del conn.outbox[:sent]
                conn.sendable = max(0, conn.sendable - sent)
            if conn.outbox and not conn.shut:
                if sent < len(data):
                    self._arm_locked(conn)
                elif not conn.dirty and not conn.tentative:  # a tentative client's rest is held (registry.hold_locked)
                    conn.dirty = True
                    self.registry.dirty.append(conn)
                return
            shut_now = conn.closing and not conn.shut
            close_now = conn.reader_done
        if shut_now:
            self._shut(conn)
        if close_now:
            self._close(conn)

    def _arm_locked(self, conn: Connection) -> None:
        if conn.fd not in self._by_fd:
            self._by_fd[conn.fd] = conn
            self._epoll.register(conn.fd, select.EPOLLOUT | select.EPOLLONESHOT)
        else:
            self._epoll.modify(conn.fd, select.EPOLLOUT | select.EPOLLONESHOT)
        conn.armed = True

    def _shut(self, conn: Connection) -> None:
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)
        with self.registry.lock:
            conn.shut = True

    def _close(self, conn: Connection) -> None:
        with self.registry.lock:
            if conn.closed:
                return
            conn.closed = True
            self.registry.connections.discard(conn)
            self.registry.closing.discard(conn)
            self.registry.changed = True
        if self._by_fd.pop(conn.fd, None) is not None:
            with contextlib.suppress(OSError):
                self._epoll.unregister(conn.fd)
        conn.sock.close()

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        with self.registry.lock:
            late = [
                c
                for c in self.registry.closing
                if c.closing and not c.closed and c.close_deadline <= now and (not c.shut or c.reader_done)
            ]
        for conn in late:
            if not conn.shut:
                self._shut(conn)
            if conn.reader_done:
                self._close(conn)

    def _maybe_publish(self, last: float) -> float:
        if self.publish is None:
            return last
        now = time.monotonic()
        with self.registry.lock:
            changed, queued = self.registry.changed, self.registry.queued_changed
        if (changed and now - last >= STATUS_MIN_INTERVAL) or (queued and now - last >= STATUS_QUEUE_INTERVAL):
            self.publish()
            return now
        return last
