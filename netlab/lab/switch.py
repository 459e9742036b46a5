"""A userspace Ethernet switch for the namespaced lab: forwards, impairs, and captures.

Theory of operation: one thread owns one AF_PACKET socket per switch port (opened inside the
switch namespace) and an `ImpairedWire`. For each frame a port receives it learns the source
MAC, picks the output ports (the learned port, or every other port when the destination is
unknown or a broadcast), and pushes the frame onto the wire. Whenever frames fall due the
thread writes each one, once, to the capture (the capture point: after the delay/reorder queue,
before the lossy wire) and sends it out of its ports unless it was dropped. The thread waits in
`select` with a timeout no later than the next due frame, and a self-pipe wakes it for `stop()`.
"""

from __future__ import annotations

import logging
import os
import random
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence

from netlab.lab.impair import ImpairedWire, Impairment, Release, WireStats
from netlab.lab.netns import inside

log = logging.getLogger(__name__)

_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4
_ETHERTYPE_IPV4 = 0x0800
_BROADCAST_BIT = 0x01

FrameSink = Callable[[float, bytes], None]


class Switch:
    """Forwards frames between `ports` (interfaces in `netns`), impairing IPv4 frames.

    `capture(ts, frame)` is called from the switch thread for every frame released, in release
    order. `start()` returns once every port socket is open; `stop()` flushes the frames still
    in flight, stops and joins the thread, and closes the sockets.
    """

    def __init__(
        self,
        netns: str,
        ports: Sequence[str],
        impairment: Impairment,
        *,
        seed: int | None = None,
        capture: FrameSink | None = None,
    ) -> None:
        self.netns = netns
        self.port_names = tuple(ports)
        self.wire = ImpairedWire(impairment, random.Random(seed))
        self._capture = capture
        self._socks: list[socket.socket] = []
        self._macs: dict[bytes, int] = {}
        self._stop = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None

    @property
    def stats(self) -> WireStats:
        """What the wire did so far (read after `stop()` for final figures)."""
        return self.wire.stats

    def start(self) -> None:
        """Open one socket per port in the switch namespace and start forwarding."""
        with inside(self.netns):
            for name in self.port_names:
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
                sock.bind((name, 0))
                sock.setblocking(False)
                self._socks.append(sock)
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name=f"switch-{self.netns}")
        self._thread.start()

    def stop(self) -> None:
        """Stop forwarding (frames still in flight are captured and sent first); idempotent."""
        if self._thread is not None:
            self._stop.set()
            os.write(self._wake_w, b"x")
            self._thread.join()
            self._thread = None
        for sock in self._socks:
            sock.close()
        self._socks.clear()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def _run(self) -> None:
        fds = {sock.fileno(): index for index, sock in enumerate(self._socks)}
        while not self._stop.is_set():
            due = self.wire.next_due()
            timeout = None if due is None else max(0.0, due - time.monotonic())
            ready, _, _ = select.select([self._wake_r, *fds], [], [], timeout)
            for fd in ready:
                if fd in fds:
                    self._receive(fds[fd])
            self._release(self.wire.pop_due(time.monotonic()))
        self._release(self.wire.drain())

    def _receive(self, index: int) -> None:
        sock = self._socks[index]
        while True:
            try:
                frame, address = sock.recvfrom(65536)
            except BlockingIOError:
                return
            if address[2] == _PACKET_OUTGOING or len(frame) < 14:
                continue
            self._macs[frame[6:12]] = index
            self.wire.push(frame, self._route(frame, index), time.monotonic(), impaired=_is_ipv4(frame))

    def _route(self, frame: bytes, in_port: int) -> tuple[int, ...]:
        dst = frame[0:6]
        out = self._macs.get(dst)
        if dst[0] & _BROADCAST_BIT or out is None:
            return tuple(i for i in range(len(self._socks)) if i != in_port)
        return () if out == in_port else (out,)

    def _release(self, releases: list[Release]) -> None:
        for release in releases:
            if self._capture is not None:
                self._capture(time.time(), release.frame)
            if release.dropped:
                continue
            for port in release.ports:
                try:
                    self._socks[port].send(release.frame)
                except OSError as error:
                    log.debug("port %s: frame not sent: %s", self.port_names[port], error)


def _is_ipv4(frame: bytes) -> bool:
    return int.from_bytes(frame[12:14], "big") == _ETHERTYPE_IPV4
