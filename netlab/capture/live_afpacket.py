"""The `afpacket` capture backend: an AF_PACKET socket with the filter in the kernel.

Theory of operation. The socket is opened with protocol 0 (it receives nothing), the filter is
attached, the buffer is set up, and only then is the socket bound to the interface, so no frame
slips past the filter. Frames are read one by one with `recvmsg` (kernel time stamps in the
ancillary data) from a socket buffer of up to 512 MiB (SO_RCVBUFFORCE): the kernel only fills it
while Python lags behind, so a burst waits there instead of being dropped. Drops are read from
PACKET_STATISTICS.

`ring=True` reads a memory-mapped TPACKET_V3 ring instead (no system call per frame). With the
whole follow pipeline behind it, it saved no CPU per frame (decoding and reassembly dominate), and
because the kernel hands over a block at the latest `RING_RETIRE_MS` after its first frame,
`RING_BLOCKS` blocks buffer well under a second when the reader falls behind: under
bench/capture_bench.py's traffic it dropped frames where `recvmsg` dropped none (bench/README.md).
So the default is `recvmsg`; the ring stays for readers that keep up (writing frames straight to a
pcap, say).
"""

from __future__ import annotations

import logging
import mmap
import select
import socket
import struct
import time
from collections.abc import Iterator

from netlab.capture import bpf
from netlab.capture.sources import (
    DEFAULT_RCVBUF,
    DRAIN_LIMIT_S,
    ETH_P_ALL,
    LINKTYPE_ETHERNET,
    PACKET_STATISTICS,
    POLL_INTERVAL_S,
    SO_RCVBUFFORCE,
    SO_TIMESTAMPNS,
    SOL_PACKET,
    CapturedFrame,
    LiveCapture,
    capture_open_error,
    is_loopback,
    linktype_of,
)

log = logging.getLogger(__name__)

PACKET_RX_RING = 5
PACKET_VERSION = 10
TPACKET_V3 = 2
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
RING_BLOCK_SIZE = 1 << 20  # must hold the largest frame: snap length 262 144 + headers
RING_BLOCKS = 64
RING_FRAME_SIZE = 1 << 11
RING_RETIRE_MS = 10
_BLOCK = struct.Struct("=III")  # block_status, num_pkts, offset_to_first_pkt (at offset 8)
_FRAME = struct.Struct("=IIIIIIH")  # next_offset, sec, nsec, snaplen, len, status, mac


class AfPacketCapture(LiveCapture):
    """Capture with an AF_PACKET socket; see the module docstring. Not thread-safe except `stop`."""

    backend = "afpacket"

    def __init__(
        self, iface: str, program: bpf.BpfProgram, *, ring: bool = False, rcvbuf: int = DEFAULT_RCVBUF
    ) -> None:
        super().__init__(iface, linktype_of(iface), bpf.snaplen_of(program))
        self._drops = 0
        self._ring: mmap.mmap | None = None
        kind = socket.SOCK_RAW if self.linktype == LINKTYPE_ETHERNET else socket.SOCK_DGRAM
        try:
            # Protocol 0 receives nothing until bind(): the filter is in place before the first frame.
            self._sock = socket.socket(socket.AF_PACKET, kind, 0)
        except OSError as error:
            raise capture_open_error(error, iface) from None
        try:
            if is_loopback(iface):
                program = bpf.drop_outgoing(program)
            bpf.attach(self._sock, program)
            if not (ring and self._setup_ring()):
                self._setup_buffer(rcvbuf)
            self._sock.bind((iface if iface != "any" else "", ETH_P_ALL))
        except OSError as error:
            self.close()
            raise capture_open_error(error, iface) from None
        self._sock.setblocking(False)
        self.started.set()

    @property
    def mode(self) -> str:
        """'ring' (TPACKET_V3) or 'recv' (one system call per frame)."""
        return "ring" if self._ring is not None else "recv"

    def _setup_ring(self) -> bool:
        frames = RING_BLOCK_SIZE // RING_FRAME_SIZE * RING_BLOCKS
        request = struct.pack("7I", RING_BLOCK_SIZE, RING_BLOCKS, RING_FRAME_SIZE, frames, RING_RETIRE_MS, 0, 0)
        try:
            self._sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            self._sock.setsockopt(SOL_PACKET, PACKET_RX_RING, request)
            self._ring = mmap.mmap(
                self._sock.fileno(),
                RING_BLOCK_SIZE * RING_BLOCKS,
                mmap.MAP_SHARED,
                mmap.PROT_READ | mmap.PROT_WRITE,
            )
        except OSError as error:
            log.info("no TPACKET_V3 ring on %s (%s); reading frame by frame", self.iface, error.strerror or error)
            return False
        return True

    def _setup_buffer(self, rcvbuf: int) -> None:
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
        except PermissionError:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)

    def kernel_drops(self) -> int:
        if self._sock.fileno() >= 0:
            # The kernel resets its counters on every read, so they are accumulated here.
            raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
            self._drops += struct.unpack("II", raw)[1]
        return self._drops

    def __iter__(self) -> Iterator[CapturedFrame]:
        return self._ring_frames() if self._ring is not None else self._recv_frames()

    def _ring_frames(self) -> Iterator[CapturedFrame]:
        ring = self._ring
        assert ring is not None
        poller = select.poll()
        poller.register(self._sock, select.POLLIN)
        block_header, frame_header = _BLOCK.unpack_from, _FRAME.unpack_from
        block = 0
        settle = give_up = 0.0  # set once stop() was seen
        while True:
            if not settle and self.stopping:
                # the block being filled is handed over within RING_RETIRE_MS: wait for it, then end
                settle = time.monotonic() + 3 * RING_RETIRE_MS / 1000
                give_up = time.monotonic() + DRAIN_LIMIT_S
            base = block * RING_BLOCK_SIZE
            status, count, offset = block_header(ring, base + 8)
            if not status & TP_STATUS_USER:
                if settle and time.monotonic() >= settle:
                    return
                if self.on_idle is not None:
                    self.on_idle()
                poller.poll(RING_RETIRE_MS if settle else POLL_INTERVAL_S * 1000)
                continue
            if settle and time.monotonic() >= give_up:
                self._unread += count  # traffic keeps coming faster than we read: stop anyway
                struct.pack_into("=I", ring, base + 8, TP_STATUS_KERNEL)
                block = (block + 1) % RING_BLOCKS
                continue
            position = base + offset
            for _ in range(count):
                step, sec, nsec, kept, size, _, mac = frame_header(ring, position)
                start = position + mac
                # Microseconds, computed as pcap readers do, so `--save` then `--read` agrees exactly.
                ts = sec + (nsec // 1000) / 1_000_000
                if ts > self.stopped_at:
                    return  # everything captured before stop() has been read
                self._count(kept, size)
                yield CapturedFrame(ts, ring[start : start + kept], size)
                position += step
            struct.pack_into("=I", ring, base + 8, TP_STATUS_KERNEL)
            block = (block + 1) % RING_BLOCKS

    def _recv_frames(self) -> Iterator[CapturedFrame]:
        buffer = bytearray(self.snaplen + 1)
        view = memoryview(buffer)
        ancillary = socket.CMSG_SPACE(16)
        recvmsg_into = self._sock.recvmsg_into
        unpack_ts = struct.Struct("qq").unpack_from

        def read_one() -> CapturedFrame:
            size, cmsgs, _, _ = recvmsg_into([view], ancillary, socket.MSG_TRUNC)
            kept = min(size, len(buffer))
            ts = 0.0
            for _, _, payload in cmsgs:
                sec, nsec = unpack_ts(payload)
                ts = sec + (nsec // 1000) / 1_000_000  # microseconds, as in the ring reader
            self._count(kept, size)
            return CapturedFrame(ts, bytes(view[:kept]), size)

        return self._drain(self._sock, read_one)

    def close(self) -> None:
        if self._sock.fileno() >= 0:
            self.kernel_drops()
            if self._ring is not None:
                self._ring.close()
            self._sock.close()
