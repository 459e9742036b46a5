"""The live half of `netlab follow` (no --read): capture, follow, stop cleanly on Ctrl-C or SIGTERM.

Thin edge: builds a `netlab.capture.live.LiveFollow`, announces on stderr when the capture is
ready (other processes wait for the line starting "netlab follow: capturing"), hands its segments
to the same pipeline as `--read`, and prints the capture's counters after the follow summary.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

from netlab.cli.fastparse import Option
from netlab.errors import FilterUnavailable

if TYPE_CHECKING:
    from netlab.capture.live import LiveFollow, LiveOptions

READY_PREFIX = "netlab follow: capturing"
DEFAULT_PORT = 55555  # `netlab serve`'s default
BACKEND_NAMES = ("afpacket", "tcpdump", "scapy")  # netlab.capture.sources.BACKENDS, without importing it

PANEL = "Live capture"
# The follow command's live-capture options (declared once; `netlab.cli.follow` builds typer's from them).
LIVE_OPTIONS: dict[str, Option] = {
    "iface": Option(
        ("--iface", "-i"),
        panel=PANEL,
        help="Interface to capture on (default: loopback when the server is local, else the interface that "
        "routes to --host).",
    ),
    "bpf_filter": Option(
        ("--filter",),
        panel=PANEL,
        help="Extra capture filter (tcpdump syntax), and-ed with --port/--host; compiled by libpcap into the kernel.",
    ),
    "backend": Option(
        ("--backend",),
        panel=PANEL,
        help="How to capture: afpacket (the default, chosen by bench/capture_bench.py: an AF_PACKET socket "
        "with the filter in the kernel and up to 512 MiB of buffer; lost nothing at every burst rate "
        "measured, see the README), tcpdump (tcpdump -U -w - piped in; its immediate mode drops "
        "packets from ~50 000 messages/s at snap length 262144), scapy (scapy's L2ListenSocket, "
        "raw reads).",
    ),
    "save": Option(
        ("--save",),
        bool,
        panel=PANEL,
        help="Also write the captured packets to captures/follow-<time>.pcap (opens in Wireshark; "
        "--read of it gives the same transcript).",
    ),
    "save_to": Option(("--save-to",), Path, metavar="FILE", panel=PANEL, help="Like --save, into FILE."),
    "duration": Option(("--duration",), float, low=0, metavar="SECONDS", panel=PANEL, help="Stop after SECONDS."),
    "count": Option(("--count", "-c"), int, low=1, panel=PANEL, help="Stop after N packets."),
    "until_idle": Option(
        ("--until-idle",),
        float,
        low=0,
        metavar="SECONDS",
        panel=PANEL,
        help="Stop once no packet has arrived for SECONDS.",
    ),
}


def live_options(
    read: Path | None,
    ports: Sequence[int],
    hosts: Sequence[str],
    iface: str | None,
    raw_filter: str | None,
    backend: str | None,
    save: bool,
    save_to: Path | None,
    duration: float | None,
    count: int | None,
    until_idle: float | None,
) -> LiveOptions | None:
    """The live capture's options, or None with --read. Raises typer.BadParameter for misuse."""
    live_only = {
        "--iface": iface,
        "--filter": raw_filter,
        "--backend": backend,
        "--save": save or None,
        "--save-to": save_to,
        "--duration": duration,
        "--count": count,
        "--until-idle": until_idle,
    }
    if read is not None:
        given = [name for name, value in live_only.items() if value is not None]
        if given:
            raise typer.BadParameter(
                f"{', '.join(given)} only apply to live capture (without --read)", param_hint="--read"
            )
        return None
    if save and save_to is not None:
        raise typer.BadParameter(
            f"--save writes to captures/follow-<time>.pcap and --save-to to {save_to}: give one of them",
            param_hint="--save",
        )
    if backend is not None and backend not in BACKEND_NAMES:
        raise typer.BadParameter(
            f"unknown backend {backend!r}; choose from {', '.join(BACKEND_NAMES)}", param_hint="--backend"
        )
    from netlab.capture import bpf
    from netlab.capture.live import LiveOptions
    from netlab.capture.writer import default_save_path

    if raw_filter and bpf.libpcap_available():
        try:
            bpf.compile_filter(raw_filter, bpf.LINKTYPE_ETHERNET)
        except FilterUnavailable as error:
            raise typer.BadParameter(str(error), param_hint="--filter") from None

    return LiveOptions(
        ports=tuple(ports) or (() if raw_filter else (DEFAULT_PORT,)),
        hosts=tuple(hosts),
        iface=iface,
        raw_filter=raw_filter,
        backend=backend,
        save=save_to or (default_save_path() if save else None),
        duration=duration,
        count=count,
        until_idle=until_idle,
    )


class _StopOnSignal:
    """SIGINT/SIGTERM: the first one stops the capture cleanly, a second one interrupts at once."""

    def __init__(self, run: LiveFollow) -> None:
        self.run = run
        self.signals = 0
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _StopOnSignal:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signals += 1
        if self.signals > 1:
            raise KeyboardInterrupt
        self.run.stop(signal.Signals(signum).name)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def run_live(
    options: LiveOptions, follow_segments: Callable[..., object], *, command: str = "follow", **follow_kwargs: Any
) -> None:
    """Capture per `options` and follow what arrives; `follow_segments(segments, **follow_kwargs)`
    is the same pipeline `--read` uses (`netlab analyze` passes its own, and `command="analyze"` for
    the ready line). Returns normally on Ctrl-C/SIGTERM/--duration/--count/--until-idle.

    Raises:
        CapturePermissionError, FilterUnavailable, CaptureError: the capture cannot start.
    """
    from netlab.capture.live import LiveFollow, report_line

    run = LiveFollow(options, on_idle=sys.stdout.flush)
    if follow_kwargs.get("hosts"):
        follow_kwargs["hosts"] = sorted(run.addresses)  # streams are selected by address, not by name
    run.start()
    try:
        with _StopOnSignal(run):  # before the ready line: a signal right after it must stop cleanly
            typer.echo(f"netlab {command}: {run.describe()}", err=True)
            follow_segments(run.segments(), **follow_kwargs)
    finally:
        report = run.close()
    if follow_kwargs.get("summary", True):
        typer.echo(report_line(report), err=True)
        for line in run.tally.lines():
            typer.echo(f"netlab follow: {line}", err=True)
