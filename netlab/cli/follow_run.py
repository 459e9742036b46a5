"""`netlab follow`'s run without typer: build the pipeline for a segment source, write, summarise.

Shared by the typer command (`netlab.cli.follow`, for live captures and files) and the start-up
fast path of `follow --read` (`netlab.cli.follow_fast`), so both write the same bytes.
"""

from __future__ import annotations

import contextlib
import enum
import gc
import os
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from netlab.cli.choices import ColorChoice
from netlab.errors import NoSuchStream

if TYPE_CHECKING:
    from pathlib import Path

    from netlab.capture.undecoded import FrameTally
    from netlab.cli.progress import ReadProgress
    from netlab.packets import Endpoint, Segment
    from netlab.stream.pipeline import FollowSummary, StreamFilter
    from netlab.stream.roles import RoleJudge


class DirectionChoice(enum.StrEnum):
    """--direction values."""

    both = "both"
    c2s = "c2s"
    s2c = "s2c"


class ProtoChoice(enum.StrEnum):
    """--proto values: TCP streams, UDP conversations, or both."""

    tcp = "tcp"
    udp = "udp"
    all = "all"

    @property
    def protocols(self) -> tuple[str, ...]:
        """The protocols followed: ("tcp",), ("udp",) or ("tcp", "udp")."""
        return ("tcp", "udp") if self is ProtoChoice.all else (self.value,)


class VlanChoice(enum.Enum):
    """--vlans values (see `netlab.stream.vlan_copies`)."""

    auto = "auto"
    merge = "merge"
    split = "split"


def canonical_ip(text: str) -> str:
    """An address as the decoder writes it (inet_ntop), so `--host` matches however it is spelled.

    Raises:
        ValueError: `text` is not an IPv4 or IPv6 address (the message says so).
    """
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_ntop(family, socket.inet_pton(family, text.strip("[]")))
        except OSError:
            continue
    raise ValueError(f"{text!r} is not an IPv4 or IPv6 address")


def use_color(choice: ColorChoice, binary: bool) -> bool:
    if binary or choice is ColorChoice.never:
        return False
    if choice is ColorChoice.always:
        return True
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def role_judge(ports: Iterable[int], *, capture_file: Path | None = None, live: bool = False) -> RoleJudge:
    """Who is the server, for connections without a captured handshake (`netlab.stream.roles`).

    Args:
        ports: the ports the user named (``--port``).
        capture_file: a file being read: its first connections are read ahead when needed.
        live: a live capture on this host: its listening sockets and ephemeral port range count.
    """
    from netlab.stream.roles import RoleHints, RoleJudge

    listening: frozenset[Endpoint] = frozenset()
    ephemeral = None
    if live:
        from netlab.sockets.listening import ephemeral_range, listening_endpoints

        listening, ephemeral = listening_endpoints(), ephemeral_range()
    lookahead = None
    if capture_file is not None:
        from netlab.capture.prescan import connection_ends

        path = capture_file

        def lookahead() -> Iterable[tuple[Endpoint, Endpoint, bool]]:
            return connection_ends(path)

    hints = RoleHints(ports=frozenset(ports), listening=listening, ephemeral=ephemeral)
    return RoleJudge(hints, lookahead)


def udp_summary_line(summary: FollowSummary) -> str:
    """The stderr summary of the UDP conversations (`FollowSummary.udp` of a run that followed UDP)."""
    t = summary.totals
    line = (
        f"netlab follow: {summary.shown} of {summary.streams} UDP conversation(s), {t.packets} datagrams, "
        f"{t.bytes_c2s} bytes client→server, {t.bytes_s2c} bytes server→client "
        "(datagrams are not sequenced: loss and reordering cannot be seen)"
    )
    if t.not_captured_bytes:
        line += f", {t.not_captured_bytes} bytes cut by the snap length"
    if summary.interrupted:
        line += " (interrupted)"
    return line


def summary_line(summary: FollowSummary) -> str:
    """The one-line stderr summary (retransmission, out-of-order and lost counts as tshark's analysis)."""
    t = summary.totals
    line = (
        f"netlab follow: {summary.shown} of {summary.connections} stream(s), {t.packets} packets, "
        f"{t.bytes_c2s} bytes client→server, {t.bytes_s2c} bytes server→client, "
        f"{t.retransmissions} retransmission(s)"
    )
    if t.fast_retransmissions or t.spurious_retransmissions:
        line += f" ({t.fast_retransmissions} fast, {t.spurious_retransmissions} spurious)"
    line += f", {t.out_of_order} out-of-order, {t.lost_segments} lost segment(s)"
    line += f", {t.gaps} gap(s) ({t.gap_bytes} bytes missing)"
    if t.conflicts:
        line += f", {t.conflicts} conflicting overlap(s)"
    if t.not_captured_bytes:
        line += f", {t.not_captured_bytes} bytes cut by the snap length"
    if summary.interrupted:
        line += " (interrupted)"
    for number, what in sorted(summary.unused.items()):
        line += f"\nnetlab follow: stream {number} (as Wireshark numbers it) is not a connection: {what}"
    return line


@contextlib.contextmanager
def few_collections() -> Iterator[None]:
    """Let the garbage collector run rarely while a capture file is read, then restore it.

    The read loop allocates millions of tuples and events that die young and form no cycles; at the
    default threshold (700 allocations) the collector runs every few hundred packets and rescans the
    live read batch each time (bench/follow_bench.py). What was alive before (modules, the CLI)
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
    roles: RoleJudge | None = None,
    live: bool = False,
    tally: FrameTally | None = None,
    progress: ReadProgress | None = None,
    proto: ProtoChoice = ProtoChoice.tcp,
) -> None:
    """Build the pipeline for any segment source and write to stdout (summary to stderr).

    `roles` decides who is the server of a connection whose handshake was not captured (see
    `role_judge`). `hosts` must be addresses (`canonical_ip` raises ValueError otherwise: check them first).
    `proto` says what to follow: TCP streams, UDP conversations (the source must yield `Datagram`s
    too), or both, each protocol through its own renderer of the same format.

    `tally` (the source's `FrameTally`) adds the frames that gave no segment to the summary, by
    reason; a file cut short, kept there, is raised after the summary. `progress` is the read's
    progress line (told the stream count, removed before the summary).

    Raises:
        PcapReadError: the capture file was cut short or damaged (`tally.damage`), after
            everything before it was written and summarised.
        NoSuchStream: after everything else was written, when the selection names streams the
            capture lacks (`missing_streams`).

    `follow` writes the output of each batch of segments in one piece: a read block of a file, or
    one segment of a live capture, which so shows every turn at once. `batch` (a capture file: one
    long loop) lets the garbage collector run less often meanwhile.
    """
    from netlab.render import RenderOptions, format_info, make_renderer
    from netlab.stream.conversations import ConversationTracker
    from netlab.stream.events import Direction
    from netlab.stream.pipeline import StreamFilter, follow
    from netlab.stream.reassembly import Reassembler

    binary = fmt == "raw"
    options = RenderOptions(
        direction=None if direction is DirectionChoice.both else Direction(direction.value),
        color=use_color(color, binary),
    )
    format_info(fmt)
    renderer = make_renderer(fmt, options)
    sink = sys.stdout.buffer if renderer.binary else sys.stdout
    write: Callable[[str | bytes], object] = sink.write  # type: ignore[assignment]
    selection = StreamFilter(frozenset(streams), frozenset(ports), frozenset(map(canonical_ip, hosts)))
    tcp, udp = proto is not ProtoChoice.udp, proto is not ProtoChoice.tcp
    udp_renderer = None
    if tcp and udp:  # each protocol numbers its streams from 0: one renderer each (or the page's second part)
        companion = getattr(renderer, "companion", None)
        udp_renderer = companion() if companion is not None else make_renderer(fmt, options)
    reassembler = Reassembler(vlans=vlans.value, roles=roles, packets=getattr(renderer, "wants_packets", False))
    if progress is not None:
        progress.streams = lambda: reassembler.streams
    try:
        with few_collections() if batch else contextlib.nullcontext():
            result = follow(
                segments,
                renderer,
                write,
                selection=selection,
                reassembler=reassembler,
                conversations=ConversationTracker(vlans=vlans.value) if udp else None,
                udp_renderer=udp_renderer,
                tcp=tcp,
            )
    finally:  # what was read is shown, even when the capture turns out to be damaged
        if progress is not None:
            progress.close()
        sys.stdout.flush()
    if summary:
        if tcp:
            _say(summary_line(result))
        if result.udp is not None:
            _say(udp_summary_line(result.udp))
        for line in tally.lines() if tally is not None else ():
            _say(f"netlab follow: {line}")
    if tally is not None and tally.damage is not None:
        raise tally.damage
    missing = missing_streams(selection, result, matches=not live, proto=proto)
    if missing:
        raise NoSuchStream(missing)


def _stream_range(count: int, what: str = "TCP stream") -> str:
    if count == 0:
        return f"the capture has no {what}"
    one, many = ("stream", "streams") if what == "TCP stream" else (what, what + "s")
    return f"the capture has {one} 0" if count == 1 else f"the capture has {many} 0–{count - 1}"


def missing_streams(
    selection: StreamFilter, result: FollowSummary, *, matches: bool = True, proto: ProtoChoice = ProtoChoice.tcp
) -> str:
    """What the selection asked for that the capture lacks, in one line ('' when nothing is missing).

    A `--stream N` beyond the capture's streams is missing even when other streams were shown; with
    `matches`, a selection no stream matched is missing too (not for a live capture, whose `--port` and
    `--host` are its capture filter: a quiet port is no data problem). With `proto` udp or all, the UDP
    conversations count too (`--stream N` is missing when neither protocol has an N).
    """
    parts = [(result, "TCP stream")] if proto is not ProtoChoice.udp else []
    if proto is not ProtoChoice.tcp and result.udp is not None:
        parts.append((result.udp, "UDP conversation"))
    ranges = "; ".join(_stream_range(part.streams, what) for part, what in parts)
    count = max((part.streams for part, _ in parts), default=0)
    unused = result.unused if proto is ProtoChoice.tcp else {}  # (with UDP, N may be a conversation)
    absent = sorted(n for n in selection.streams if n >= count or n in unused)
    if absent:
        explained = [f"stream {n} is not a connection ({unused[n]})" for n in absent if n in unused]
        if explained:
            return "; ".join(explained)
        return f"no stream {', '.join(map(str, absent))}; {ranges}"
    if any(part.shown for part, _ in parts) or selection.everything or not matches:
        return ""
    asked = [f"--stream {n}" for n in sorted(selection.streams)]
    asked += [f"--port {p}" for p in sorted(selection.ports)] + [f"--host {h}" for h in sorted(selection.hosts)]
    return f"no stream matches {' '.join(asked)}; {ranges}"


def _say(line: str) -> None:
    """One line on stderr, flushed (what the typer command wrote with `echo(line, err=True)`)."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
