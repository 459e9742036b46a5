"""A live follow run: capture, user-space filter, `--save`, decode, and the ways it ends.

`LiveFollow` owns one `LiveCapture` (see `sources`), an optional `PcapWriter` and a watchdog
thread that ends the run on `--duration` / `--until-idle` and reports kernel drops as they happen
(a warning on stderr; the reassembler shows the lost bytes as gaps where they were). `segments()`
yields decoded TCP segments for `netlab.stream.pipeline.follow`. Frame numbers count the frames
written to the `--save` file, so `follow --read` of that file gives the identical transcript.

    run = LiveFollow(LiveOptions(ports=(55555,)))
    run.start()                      # raises CapturePermissionError etc.
    for segment in run.segments():   # until run.stop(), --duration, --count or --until-idle
        ...
    report = run.close()             # LiveReport: frames, kernel drops, truncated, saved path
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from netlab.capture.bpf import DEFAULT_SNAPLEN
from netlab.capture.decode import decode, decode_all
from netlab.capture.ipfrag import Defragmenter
from netlab.capture.sources import LiveCapture, choose_interface, default_backend, open_live, resolve
from netlab.capture.undecoded import FrameTally
from netlab.capture.writer import PcapWriter
from netlab.errors import CaptureError
from netlab.packets import Datagram, Segment

log = logging.getLogger(__name__)

WATCHDOG_INTERVAL_S = 0.1
DROP_CHECK_INTERVAL_S = 0.5


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """What to capture and when to stop (all optional; see `netlab follow --help`)."""

    ports: tuple[int, ...] = ()
    hosts: tuple[str, ...] = ()
    iface: str | None = None
    raw_filter: str | None = None
    backend: str | None = None
    snaplen: int = DEFAULT_SNAPLEN
    save: Path | None = None
    duration: float | None = None
    count: int | None = None
    until_idle: float | None = None
    protocols: tuple[str, ...] = ("tcp",)  # "tcp", "udp" or both: what `segments()` yields


@dataclass(frozen=True, slots=True)
class LiveReport:
    """How a live run went: the capture's counters and where it was saved."""

    iface: str
    backend: str
    frames: int
    kernel_drops: int
    truncated: int
    saved: Path | None = None
    saved_frames: int = 0
    stopped_by: str = "stop"
    unread: int = 0


@dataclass(slots=True)
class _Progress:
    frames: int = 0
    last_frame: float = field(default_factory=time.monotonic)
    stopped_by: str = "stop"


class LiveFollow:
    """One live capture run. `stop()` is thread- and signal-safe; everything else is for one thread."""

    def __init__(self, options: LiveOptions, on_idle: Callable[[], object] | None = None) -> None:
        self.options = options
        self.on_idle = on_idle
        if options.iface:
            self.iface, self.iface_reason = options.iface, "chosen with --iface"
        else:
            self.iface, self.iface_reason = choose_interface(options.hosts[0] if options.hosts else None)
        self._addresses = {address for host in options.hosts for address in resolve(host)}
        self.capture: LiveCapture | None = None
        self.writer: PcapWriter | None = None
        self._progress = _Progress()
        #: The frames that gave no TCP segment, by reason (the capture filter lets few through).
        self.tally = FrameTally()
        self._done = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="follow-watchdog")

    @property
    def addresses(self) -> set[str]:
        """The IP addresses `--host` names resolved to (text form, as in `Endpoint.ip`)."""
        return set(self._addresses)

    def start(self) -> LiveCapture:
        """Open the capture (and the `--save` file); returns once frames will be captured.

        Raises:
            CapturePermissionError, FilterUnavailable, CaptureError: see `sources.open_live`.
        """
        o = self.options
        self.capture = open_live(
            self.iface,
            ports=o.ports,
            hosts=o.hosts,
            raw_filter=o.raw_filter,
            snaplen=o.snaplen,
            backend=o.backend or default_backend(),
            protocols=o.protocols,
        )
        if not self.capture.started.wait(30):
            self.capture.close()
            raise CaptureError(f"the capture on {self.iface} did not start within 30 s")
        self.capture.on_idle = self.on_idle
        if o.save is not None:
            try:
                self.writer = PcapWriter(o.save, self.capture.linktype, o.snaplen)
            except CaptureError:
                self.capture.close()
                raise
        self._progress.last_frame = time.monotonic()
        self._watchdog.start()
        return self.capture

    def describe(self) -> str:
        """The readiness line for stderr: where, how, and how to stop."""
        assert self.capture is not None
        o = self.options
        parts = [" or ".join(f"port {port}" for port in o.ports), " or ".join(f"host {host}" for host in o.hosts)]
        if o.raw_filter:
            parts.append(f"filter '{o.raw_filter}'")
        what = " and ".join(part for part in parts if part) or "all TCP"
        saving = f"; saving to {self.writer.path}" if self.writer is not None else ""
        return (
            f"capturing {what} on {self.iface} ({self.iface_reason}) with the {self.capture.backend} backend, "
            f"snap length {self.capture.snaplen}{saving}; Ctrl-C to stop"
        )

    def stop(self, reason: str = "stop") -> None:
        """End the run: the capture drains what the kernel holds, then `segments()` ends."""
        if self.capture is not None and not self.capture.stopping:
            self._progress.stopped_by = reason
            self.capture.stop()

    def segments(self) -> Iterator[Segment | Datagram]:
        """Decoded TCP segments (and, when asked for, UDP datagrams) of the captured frames, in
        capture order, until the run ends."""
        capture = self.capture
        assert capture is not None, "start() first"
        ports, hosts = set(self.options.ports), self._addresses
        writer, linktype, limit = self.writer, capture.linktype, self.options.count
        tcp, udp = "tcp" in self.options.protocols, "udp" in self.options.protocols
        progress = self._progress
        number = 0
        defrag = Defragmenter()
        undecoded = self.tally.undecoded
        for frame in capture:
            found: list[Segment | Datagram]
            taken = defrag.taken
            if udp:
                found = decode_all(
                    linktype,
                    frame.data,
                    number + 1,
                    frame.ts,
                    orig_len=frame.orig_len,
                    defrag=defrag,
                    undecoded=undecoded,
                )
                if not tcp:
                    found = [item for item in found if type(item) is Datagram]
            else:
                segment = decode(
                    linktype,
                    frame.data,
                    number + 1,
                    frame.ts,
                    orig_len=frame.orig_len,
                    defrag=defrag,
                    undecoded=undecoded,
                )
                found = [] if segment is None else [segment]
            found = [item for item in found if _matches(item, ports, hosts)]
            if not found and defrag.taken == taken:
                continue  # slipped past the kernel filter (no libpcap, or before it was attached)
            # (an IP fragment held for a datagram still incomplete is numbered and saved like the frame
            # that completes it, so that `--read` of the saved file reassembles the same datagram)
            number += 1
            progress.frames = number
            progress.last_frame = time.monotonic()
            if writer is not None:
                writer.write(frame.ts, frame.data, frame.orig_len)
            yield from found
            if limit is not None and number >= limit:
                self.stop("count")
                return

    def _watch(self) -> None:
        o, progress = self.options, self._progress
        started = time.monotonic()
        next_drop_check = started + DROP_CHECK_INTERVAL_S
        seen_drops = 0
        while not self._done.wait(WATCHDOG_INTERVAL_S):
            now = time.monotonic()
            if o.duration is not None and now - started >= o.duration:
                self.stop("duration")
            if o.until_idle is not None and now - progress.last_frame >= o.until_idle:
                self.stop("idle")
            if now >= next_drop_check and self.capture is not None:
                next_drop_check = now + DROP_CHECK_INTERVAL_S
                drops = self.capture.kernel_drops()
                if drops > seen_drops:
                    log.warning(
                        "the kernel dropped %d packet(s) (%d so far) around %s; the transcript "
                        "shows the lost bytes as gaps",
                        drops - seen_drops,
                        drops,
                        time.strftime("%H:%M:%S"),
                    )
                    seen_drops = drops

    def close(self) -> LiveReport:
        """Stop the watchdog, close the capture and the save file; returns the run's counters."""
        self._done.set()
        if self._watchdog.is_alive():
            self._watchdog.join()
        assert self.capture is not None
        self.capture.close()
        stats = self.capture.stats()
        saved_frames = 0
        if self.writer is not None:
            self.writer.close()
            saved_frames = self.writer.frames
        return LiveReport(
            iface=self.iface,
            backend=self.capture.backend,
            frames=stats.frames,
            kernel_drops=stats.kernel_drops,
            truncated=stats.truncated,
            saved=self.writer.path if self.writer else None,
            saved_frames=saved_frames,
            stopped_by=self._progress.stopped_by,
            unread=stats.unread,
        )


def _matches(segment: Segment | Datagram, ports: set[int], hosts: set[str]) -> bool:
    if ports and segment.src.port not in ports and segment.dst.port not in ports:
        return False
    return not hosts or segment.src.ip in hosts or segment.dst.ip in hosts


def report_line(report: LiveReport) -> str:
    """The capture part of the stderr summary (kernel drops and truncation are never silent)."""
    line = (
        f"netlab follow: captured {report.frames} frame(s) on {report.iface} ({report.backend}), "
        f"{report.kernel_drops} dropped by the kernel, {report.truncated} truncated by the snap length"
    )
    if report.unread:
        line += f", {report.unread} left unread when stopped (traffic kept coming faster than it was read)"
    if report.saved is not None:
        line += f"; saved {report.saved_frames} frame(s) to {report.saved}"
    return line
