"""The `tcpdump` capture backend: `tcpdump -U -w -` piped into a streaming pcap reader.

tcpdump captures through libpcap's memory-mapped TPACKET_V3 ring (sized with `-B`) in its own
process, so a burst that Python cannot decode at once waits in the ring and the pipe instead of
being dropped. It prints "listening on ..." on stderr once the filter is attached (our `started`
signal), answers SIGUSR1 with its counters (polled once a second for kernel drops), and flushes and
exits on SIGINT (our `stop`).
"""

from __future__ import annotations

import fcntl
import io
import logging
import re
import select
import shutil
import signal
import struct
import subprocess
import threading
import time
from collections.abc import Iterator

from netlab.capture.sources import CapturedFrame, LiveCapture
from netlab.errors import CaptureError, CapturePermissionError, FilterUnavailable
from netlab.invocation import no_permission_hint

log = logging.getLogger(__name__)

RING_KIB = 65_536
PIPE_BYTES = 1 << 20
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
QUIET_S = 0.1
STOP_GRACE_S = 1.0
_F_SETPIPE_SZ = 1031
_DROPS = re.compile(rb"(\d+) packets? dropped by kernel")
_HEADER = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
_MAGIC_USEC, _MAGIC_NSEC = 0xA1B2C3D4, 0xA1B23C4D


class TcpdumpCapture(LiveCapture):
    """Capture through a tcpdump child process. Not thread-safe except `stop`."""

    backend = "tcpdump"

    def __init__(self, iface: str, linktype: int, expression: str, snaplen: int, *, inbound_only: bool) -> None:
        super().__init__(iface, linktype, snaplen)
        binary = shutil.which("tcpdump")
        if binary is None:
            raise FilterUnavailable("tcpdump is not installed (apt-get install tcpdump, or use --backend afpacket)")
        command = [
            binary,
            "-i",
            iface,
            "-n",
            "-U",
            "-w",
            "-",
            "-s",
            str(snaplen),
            "--immediate-mode",
            "-B",
            str(RING_KIB),
        ]
        if inbound_only:
            command += ["-Q", "in"]  # loopback shows each frame twice; keep the arriving copy
        if expression:
            command.append(expression)
        log.debug("starting %s", " ".join(command))
        self._drops = 0
        self._last_output = time.monotonic()
        self._stopper: threading.Thread | None = None
        self._stderr_lines: list[bytes] = []
        self._proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self._proc.stdout is not None
        try:
            fcntl.fcntl(self._proc.stdout.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            log.debug("could not enlarge the pipe from tcpdump")
        self._stderr_reader = threading.Thread(target=self._read_stderr, name="tcpdump-stderr")
        self._stderr_reader.start()
        self._ticker = threading.Thread(target=self._poll_counters, name="tcpdump-counters")
        if not self._wait_started():
            self.close()
            raise self._start_error()
        self._ticker.start()

    # -- helper process -------------------------------------------------------------------------

    def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr_lines.append(line.rstrip())
            if b"listening on" in line:
                self.started.set()
            elif match := _DROPS.search(line):
                self._drops = int(match.group(1))

    def _wait_started(self) -> bool:
        waited = 0.0
        while not self.started.wait(0.05):
            waited += 0.05
            if self._proc.poll() is not None or waited >= START_TIMEOUT_S:
                self._stderr_reader.join(1.0)
                return self.started.is_set()
        return True

    def _start_error(self) -> CaptureError:
        text = b" ".join(self._stderr_lines).decode(errors="replace")
        if "permission" in text.lower() or "not permitted" in text:
            return CapturePermissionError(
                f"no permission to capture on {self.iface} (needs CAP_NET_RAW): {no_permission_hint()}"
            )
        if "syntax error" in text or "can't parse filter" in text:
            return FilterUnavailable(f"bad capture filter: {text.removeprefix('tcpdump: ')}")
        return CaptureError(f"tcpdump could not capture on {self.iface}: {text.removeprefix('tcpdump: ')}")

    def _poll_counters(self) -> None:
        while not self._stopping.wait(1.0):
            if self._proc.poll() is not None:
                return
            self._proc.send_signal(signal.SIGUSR1)

    def kernel_drops(self) -> int:
        return self._drops

    def stop(self) -> None:
        """Ask tcpdump to flush and exit; iteration ends at the end of its output. Thread-safe.

        tcpdump leaves its loop on SIGINT without reading what is still in its ring, so the signal
        is sent only once its output has been quiet for QUIET_S (at most STOP_GRACE_S after this).
        """
        if self.stopping:
            return
        super().stop()
        self._stopper = threading.Thread(target=self._interrupt_when_quiet, name="tcpdump-stop")
        self._stopper.start()

    def _interrupt_when_quiet(self) -> None:
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and time.monotonic() - self._last_output < QUIET_S:
            time.sleep(QUIET_S / 4)
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)

    # -- the pcap stream --------------------------------------------------------------------------

    def __iter__(self) -> Iterator[CapturedFrame]:
        assert self._proc.stdout is not None
        stream = self._proc.stdout
        assert isinstance(stream, io.BufferedReader)
        buffer = bytearray()
        offset = 0
        units = 1_000_000
        header_seen = False
        unpack_record = _RECORD.unpack_from
        while True:
            if self.on_idle is not None and not select.select([stream], [], [], 0)[0]:
                self.on_idle()
            chunk = stream.read1(PIPE_BYTES)
            self._last_output = time.monotonic()
            if not chunk:
                break
            del buffer[:offset]
            buffer += chunk
            offset = 0
            if not header_seen:
                if len(buffer) < _HEADER.size:
                    continue
                units = self._check_header(buffer)
                header_seen, offset = True, _HEADER.size
            end = len(buffer)
            while offset + 16 <= end:
                sec, frac, kept, orig = unpack_record(buffer, offset)
                if offset + 16 + kept > end:
                    break
                start = offset + 16
                offset = start + kept
                self._count(kept, orig)
                yield CapturedFrame(sec + frac / units, bytes(buffer[start:offset]), orig)
        self._proc.wait()

    def _check_header(self, buffer: bytearray) -> int:
        magic, _, _, _, _, snaplen, linktype = _HEADER.unpack_from(buffer)
        if magic not in (_MAGIC_USEC, _MAGIC_NSEC):
            raise CaptureError(f"tcpdump wrote something that is not a pcap stream (magic {magic:#x})")
        self.linktype, self.snaplen = linktype, snaplen
        return 1_000_000 if magic == _MAGIC_USEC else 1_000_000_000

    def close(self) -> None:
        """Stop tcpdump (SIGINT, then SIGKILL after 5 s) and join the helper threads. Idempotent."""
        self.stop()
        try:
            self._proc.wait(0.5)
        except subprocess.TimeoutExpired:
            # Nobody reads the pipe any more: closing it unblocks a tcpdump stuck writing.
            if self._proc.stdout is not None:
                self._proc.stdout.close()
        try:
            self._proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("tcpdump did not exit after SIGINT; killing it")
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._stderr_reader.join()
        if self._ticker.is_alive():
            self._ticker.join()
        if self._stopper is not None:
            self._stopper.join()
        if self._proc.stderr is not None:
            self._proc.stderr.close()
