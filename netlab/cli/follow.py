"""`netlab follow`: Follow TCP Stream from a pcap/pcapng file (thin: parse, build, call, write)."""

from __future__ import annotations

import contextlib
import enum
import gc
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from netlab.cli.app import run_guarded
from netlab.cli.follow_live import LIVE_HELP, live_options, run_live
from netlab.render.base import format_names

FORMAT_NAMES = format_names()

if TYPE_CHECKING:
    from netlab.capture.model import Segment
    from netlab.stream.pipeline import FollowSummary


class DirectionChoice(enum.StrEnum):
    """--direction values."""

    both = "both"
    c2s = "c2s"
    s2c = "s2c"


class VlanChoice(enum.Enum):
    """--vlans values (see `netlab.stream.vlan_copies`)."""

    auto = "auto"
    merge = "merge"
    split = "split"


class ColorChoice(enum.StrEnum):
    """--color values."""

    auto = "auto"
    always = "always"
    never = "never"


def _formats_help() -> str:
    from netlab.render import format_info, format_names

    return "; ".join(f"{name}: {format_info(name).description}" for name in format_names())


def _command_help() -> str:
    from netlab.render import format_info, format_names

    formats = "\n\n".join(f"  {name}: {format_info(name).description}" for name in format_names())
    return (
        "Follow TCP streams, from a capture file (--read) or live: every stream's dialogue in order, "
        "numbered like Wireshark's tcp.stream, gaps shown where bytes are missing. The dialogue goes "
        "to stdout, a summary to stderr.\n\nFormats (--format):\n\n" + formats
    )


def _canonical_ip(text: str) -> str:
    """An address as the decoder writes it (inet_ntop), so `--host` matches however it is spelled."""
    import socket

    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_ntop(family, socket.inet_pton(family, text.strip("[]")))
        except OSError:
            continue
    raise typer.BadParameter(f"{text!r} is not an IPv4 or IPv6 address", param_hint="--host")


def _use_color(choice: ColorChoice, binary: bool) -> bool:
    if binary or choice is ColorChoice.never:
        return False
    if choice is ColorChoice.always:
        return True
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def summary_line(summary: FollowSummary) -> str:
    """The one-line stderr summary."""
    line = (
        f"netlab follow: {summary.shown} of {summary.streams} stream(s), {summary.packets} packets, "
        f"{summary.bytes_c2s} bytes client→server, {summary.bytes_s2c} bytes server→client, "
        f"{summary.retransmissions} retransmission(s), {summary.out_of_order} out-of-order, "
        f"{summary.gaps} gap(s) ({summary.gap_bytes} bytes missing)"
    )
    if summary.conflicts:
        line += f", {summary.conflicts} conflicting overlap(s)"
    if summary.not_captured_bytes:
        line += f", {summary.not_captured_bytes} bytes cut by the snap length"
    if summary.interrupted:
        line += " (interrupted)"
    return line


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """Let the garbage collector run rarely while a capture file is read, then restore it.

    The read loop allocates millions of tuples and events that die young and form no cycles; at the
    default threshold (700 allocations) the collector runs every few hundred packets and rescans the
    live read batch each time (about 5% of `follow --read`). What was alive before (modules, the CLI)
    is frozen out of the scans. Cycles are still collected (a connection and its flows refer to each
    other), in larger steps, so memory stays bounded by the open connections.
    """
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def run_follow(
    segments: Iterable[Segment],
    *,
    fmt: str,
    streams: list[int],
    ports: list[int],
    hosts: list[str],
    direction: DirectionChoice,
    color: ColorChoice,
    vlans: VlanChoice,
    summary: bool,
    batch: bool = False,
) -> None:
    """Build the pipeline for any segment source and write to stdout (summary to stderr).

    `follow` writes the output of each batch of segments in one piece: a read block of a file, or
    one segment of a live capture, which so shows every turn at once. `batch` (a capture file: one
    long loop) lets the garbage collector run less often meanwhile.
    """
    from netlab.render import RenderOptions, format_info, make_renderer
    from netlab.stream.events import Direction
    from netlab.stream.pipeline import StreamFilter, follow
    from netlab.stream.reassembly import Reassembler

    binary = fmt == "raw"
    options = RenderOptions(
        direction=None if direction is DirectionChoice.both else Direction(direction.value),
        color=_use_color(color, binary),
    )
    format_info(fmt)
    renderer = make_renderer(fmt, options)
    sink = sys.stdout.buffer if renderer.binary else sys.stdout
    write: Callable[[str | bytes], object] = sink.write  # type: ignore[assignment]
    selection = StreamFilter(frozenset(streams), frozenset(ports), frozenset(map(_canonical_ip, hosts)))
    try:
        with _few_collections() if batch else contextlib.nullcontext():
            result = follow(
                segments, renderer, write, selection=selection, reassembler=Reassembler(vlans=vlans.value)
            )
    finally:  # what was read is shown, even when the capture turns out to be damaged
        sys.stdout.flush()
    if summary:
        typer.echo(summary_line(result), err=True)
    if selection.streams and result.streams and not result.shown:
        typer.echo(
            f"netlab follow: no stream matched (the capture has streams 0..{result.streams - 1})", err=True
        )


def register(app: typer.Typer) -> None:
    """Add the `follow` command to the app."""
    names = FORMAT_NAMES

    @app.command("follow", help=_command_help())
    def follow_command(
        read: Annotated[
            Path | None,
            typer.Option(
                "--read", "-r", help="pcap or pcapng file to read (gzip is fine); without it, capture live.",
                metavar="FILE",
            ),
        ] = None,
        stream: Annotated[
            list[int] | None,
            typer.Option(
                "--stream", "-s", help="Only this stream (Wireshark's tcp.stream number); repeatable.", min=0
            ),
        ] = None,
        fmt: Annotated[
            str,
            typer.Option(
                "--format", "-f", help=f"Output format, one of: {', '.join(FORMAT_NAMES)}.", metavar="FORMAT"
            ),
        ] = "text",
        port: Annotated[
            list[int] | None,
            typer.Option(
                "--port",
                "-p",
                help="Only streams with this port at either end; repeatable.",
                min=0,
                max=65535,
            ),
        ] = None,
        host: Annotated[
            list[str] | None,
            typer.Option("--host", help="Only streams with this IP address at either end; repeatable."),
        ] = None,
        direction: Annotated[
            DirectionChoice,
            typer.Option("--direction", "-d", help="Only client→server (c2s) or server→client (s2c) bytes."),
        ] = DirectionChoice.both,
        color: Annotated[
            ColorChoice,
            typer.Option(
                "--color", help="Color the text output (auto: only on a terminal, without NO_COLOR)."
            ),
        ] = ColorChoice.auto,
        vlans: Annotated[
            VlanChoice,
            typer.Option(
                "--vlans",
                help="One 4-tuple on several VLANs: auto merges copies of the same packets (as Wireshark)"
                " and keeps different connections apart; merge always merges; split never does.",
            ),
        ] = VlanChoice.auto,
        split_vlans: Annotated[
            bool, typer.Option("--split-vlans", hidden=True, help="Same as --vlans split.")
        ] = False,
        summary: Annotated[
            bool, typer.Option("--summary/--no-summary", help="Print the counts on stderr at the end.")
        ] = True,
        iface: Annotated[str | None, typer.Option("--iface", "-i", help=LIVE_HELP["iface"], rich_help_panel="Live capture")] = None,
        bpf_filter: Annotated[str | None, typer.Option("--filter", help=LIVE_HELP["filter"], rich_help_panel="Live capture")] = None,
        backend: Annotated[str | None, typer.Option("--backend", help=LIVE_HELP["backend"], rich_help_panel="Live capture")] = None,
        save: Annotated[bool, typer.Option("--save", help=LIVE_HELP["save"], rich_help_panel="Live capture")] = False,
        save_to: Annotated[Path | None, typer.Option("--save-to", help=LIVE_HELP["save_to"], metavar="FILE", rich_help_panel="Live capture")] = None,
        duration: Annotated[float | None, typer.Option("--duration", help=LIVE_HELP["duration"], min=0, metavar="SECONDS", rich_help_panel="Live capture")] = None,
        count: Annotated[int | None, typer.Option("--count", "-c", help=LIVE_HELP["count"], min=1, rich_help_panel="Live capture")] = None,
        until_idle: Annotated[float | None, typer.Option("--until-idle", help=LIVE_HELP["until_idle"], min=0, metavar="SECONDS", rich_help_panel="Live capture")] = None,
    ) -> None:
        """Follow TCP streams in a capture file."""
        if fmt not in names:
            raise typer.BadParameter(
                f"unknown format {fmt!r}; choose from {', '.join(names)}", param_hint="--format"
            )
        if direction is not DirectionChoice.both and fmt.startswith("tshark-"):
            raise typer.BadParameter(
                "the tshark formats always show both directions", param_hint="--direction"
            )

        live = live_options(
            read, port or [], host or [], iface, bpf_filter, backend, save, save_to, duration, count, until_idle
        )

        def body() -> None:
            from netlab.capture.pcapfile import read_segments

            nonlocal vlans
            if split_vlans:
                vlans = VlanChoice.split

            if live is not None:
                run_live(live, run_follow, fmt=fmt, streams=stream or [], ports=list(live.ports),
                         hosts=host or [], direction=direction, color=color, vlans=vlans,
                         summary=summary)
                return
            assert read is not None
            run_follow(
                read_segments(read),
                batch=True,
                fmt=fmt,
                streams=stream or [],
                ports=port or [],
                hosts=host or [],
                direction=direction,
                color=color,
                vlans=vlans,
                summary=summary,
            )

        run_guarded(body)

    follow_command.__doc__ = (
        "Follow TCP streams in a capture file, or live (without --read).\n\nFormats: " + _formats_help()
    )
