"""A streaming pcap writer for `netlab follow --save`: classic pcap, microsecond time stamps.

Frames are appended as they are captured and the file is flushed at least once a second, so a
capture that is still running opens in Wireshark/tshark and a killed one loses at most the last
second. Classic pcap (not pcapng) because every tool reads it, `--read` included.
"""

from __future__ import annotations

import logging
import struct
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from netlab.capture.bpf import DEFAULT_SNAPLEN
from netlab.errors import CaptureError, os_reason

PCAP_MAGIC_USEC = 0xA1B2C3D4
FLUSH_INTERVAL_S = 1.0
_HEADER = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
log = logging.getLogger(__name__)


def default_save_path(directory: Path = Path("captures"), now: datetime | None = None) -> Path:
    """`captures/follow-YYYYmmdd-HHMMSS.pcap` (local time) for `--save` without a path."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return directory / f"follow-{stamp}.pcap"


def split_timestamp(ts: float) -> tuple[int, int]:
    """Seconds and microseconds of a time stamp, rounded to the microsecond (no 1 000 000 carry)."""
    seconds = int(ts)
    micros = round((ts - seconds) * 1_000_000)
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    return seconds, micros


class PcapWriter:
    """Append frames to a pcap file. Not thread-safe: one writer per capture loop.

    Args:
        target: a path (created with its parent directories, replaced if it exists) or a binary stream.
        linktype: the pcap link type of every frame (1 Ethernet, 101 raw IP, ...).
        snaplen: written into the header; frames longer than this are still written whole.

    Raises:
        CaptureError: the file cannot be created (one line naming the path).
    """

    def __init__(self, target: Path | str | BinaryIO, linktype: int, snaplen: int = DEFAULT_SNAPLEN) -> None:
        self.path: Path | None = None
        if isinstance(target, (str, Path)):
            self.path = Path(target)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._stream: BinaryIO = open(self.path, "wb")
            except OSError as error:
                raise CaptureError(f"cannot write the capture to {self.path}: {os_reason(error)}") from None
            self._owned = True
        else:
            self._stream, self._owned = target, False
        self.frames = 0
        self._last_flush = time.monotonic()
        try:
            self._stream.write(_HEADER.pack(PCAP_MAGIC_USEC, 2, 4, 0, 0, snaplen, linktype))
            self._stream.flush()
        except OSError as error:
            raise self._failed(error) from None

    def _failed(self, error: OSError) -> CaptureError:
        """The one-line error for a failed write (a full disk, an I/O error), naming the file."""
        where = self.path if self.path is not None else getattr(self._stream, "name", "the capture stream")
        if self._owned:
            try:
                self._stream.close()  # flushes again, fails again, but the file is closed
            except OSError as again:
                log.debug("closing %s after a write error: %s", where, os_reason(again))
        return CaptureError(f"cannot write the capture to {where}: {os_reason(error)}")

    def write(self, ts: float, data: bytes, orig_len: int | None = None) -> None:
        """Append one frame captured at `ts` (seconds); `orig_len` defaults to `len(data)`.

        Raises:
            CaptureError: the file cannot be written (one line naming it); the writer is closed.
        """
        seconds, micros = split_timestamp(ts)
        try:
            self._stream.write(_RECORD.pack(seconds, micros, len(data), len(data) if orig_len is None else orig_len))
            self._stream.write(data)
        except OSError as error:
            raise self._failed(error) from None
        self.frames += 1
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        """Push buffered frames to the file (raises `CaptureError` as `write` does)."""
        try:
            self._stream.flush()
        except OSError as error:
            raise self._failed(error) from None
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Flush, and close the file if this writer opened it. Idempotent.

        Raises:
            CaptureError: the last frames cannot be written (one line naming the file).
        """
        if self._stream.closed:
            return
        self.flush()
        if self._owned:
            try:
                self._stream.close()
            except OSError as error:
                raise self._failed(error) from None

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
