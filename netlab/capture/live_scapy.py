"""The `scapy` capture backend: scapy's `L2ListenSocket`, read raw (`recv_raw`), never dissected.

scapy would compile its filter with a 65 535-byte snap length, which cuts loopback's 65 550-byte
frames short, so the socket is opened without a filter and netlab's own program (snap length
262 144, loopback's outgoing copy dropped) is attached to it. Frames that slipped in between
scapy's `bind` and the attach are removed again by `follow`'s user-space filter.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

from netlab.capture import bpf
from netlab.capture.sources import (
    DEFAULT_RCVBUF,
    PACKET_STATISTICS,
    SO_RCVBUFFORCE,
    SOL_PACKET,
    CapturedFrame,
    LiveCapture,
    capture_open_error,
    is_loopback,
    linktype_of,
)
from netlab.capture.writer import split_timestamp


class ScapyCapture(LiveCapture):
    """Capture with scapy's Linux listening socket. Not thread-safe except `stop`."""

    backend = "scapy"

    def __init__(self, iface: str, program: bpf.BpfProgram, rcvbuf: int = DEFAULT_RCVBUF) -> None:
        super().__init__(iface, linktype_of(iface), bpf.snaplen_of(program))
        self._drops = 0
        logging.getLogger("scapy.runtime").setLevel(logging.ERROR)  # "Unable to guess type" on lo
        from scapy.arch.linux import L2ListenSocket

        try:
            self._sock: Any = L2ListenSocket(iface=iface, nofilter=1)
        except OSError as error:
            raise capture_open_error(error, iface) from None
        if is_loopback(iface):
            program = bpf.drop_outgoing(program)
        bpf.attach(self._sock.ins, program)
        try:
            self._sock.ins.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
        except PermissionError:
            self._sock.ins.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._sock.ins.setblocking(False)
        self.started.set()

    def kernel_drops(self) -> int:
        # scapy exposes no drop counter; PACKET_STATISTICS is read (and accumulated) as afpacket does.
        if not self._sock.closed:
            raw = self._sock.ins.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
            self._drops += int.from_bytes(raw[4:8], "little")
        return self._drops

    def __iter__(self) -> Iterator[CapturedFrame]:
        def read_one() -> CapturedFrame | None:
            _, data, ts = self._sock.recv_raw(self.snaplen)
            if data is None:
                return None
            # Microseconds, as pcap keeps them, so `--save` then `--read` gives identical time stamps.
            seconds, micros = split_timestamp(float(ts or 0.0))
            self._count(len(data), len(data))
            return CapturedFrame(seconds + micros / 1_000_000, data, len(data))

        return self._drain(self._sock.ins, read_one)

    def close(self) -> None:
        if not self._sock.closed:
            self.kernel_drops()
            self._sock.close()
