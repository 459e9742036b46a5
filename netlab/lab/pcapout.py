"""A minimal classic-pcap writer for the frames the lab switch forwards (Ethernet link type)."""

from __future__ import annotations

import struct
import threading
from pathlib import Path
from typing import BinaryIO

_MAGIC_USEC = 0xA1B2C3D4
_LINKTYPE_ETHERNET = 1


class PcapOut:
    """Appends Ethernet frames to a pcap file; `write` is thread-safe, `close` is idempotent."""

    def __init__(self, path: Path, snaplen: int = 262144) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.frames = 0
        self._lock = threading.Lock()
        self._file: BinaryIO | None = path.open("wb")
        self._file.write(struct.pack("<IHHiIII", _MAGIC_USEC, 2, 4, 0, 0, snaplen, _LINKTYPE_ETHERNET))

    def write(self, ts: float, frame: bytes) -> None:
        """Record one frame captured at `ts` (seconds since the epoch)."""
        sec = int(ts)
        usec = min(999_999, int(round((ts - sec) * 1_000_000)))
        with self._lock:
            if self._file is None:
                return
            self._file.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
            self.frames += 1

    def close(self) -> None:
        """Flush and close the file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
