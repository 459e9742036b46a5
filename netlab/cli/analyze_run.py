"""`netlab analyze`: its options (declared once), and its run for any segment source (thin edge).

`OPTIONS` are the options for a capture file; the typer command (`netlab.cli.analyze`) adds the
live-capture ones of `follow` (`netlab.cli.follow_live.LIVE_OPTIONS`), and the console entry point's
fast path reads `OPTIONS` with `netlab.cli.fastparse` when `--read` is given. `run_analyze` analyses
the segments (`netlab.stream.expert_run.analyze`), writes text or JSON Lines to stdout and one
summary line to stderr, and returns the `AnalysisResult` (for callers that draw from it).
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netlab.cli.fastparse import Declined, Option
from netlab.cli.fastparse import parse as parse_options
from netlab.cli.follow_run import VlanChoice, canonical_ip, few_collections, missing_streams, role_judge
from netlab.errors import NoSuchStream

if TYPE_CHECKING:
    from netlab.packets import Segment
    from netlab.stream.expert_run import AnalysisResult, PacketSink
    from netlab.stream.roles import RoleJudge


class AnalyzeFormat(enum.StrEnum):
    """--format values of `netlab analyze`."""

    text = "text"
    json = "json"


class GraphKind(enum.StrEnum):
    """--graph values of `netlab analyze` (`netlab.graphs.series.GRAPH_KINDS`)."""

    seq = "seq"
    rtt = "rtt"
    throughput = "throughput"
    window = "window"


GRAPH_USAGE = "--graph needs --read FILE, one --stream N and --out FILE.svg (or .png)"


OPTIONS: dict[str, Option] = {
    "read": Option(
        ("--read", "-r"),
        Path,
        metavar="FILE",
        help="pcap or pcapng file to read (gzip is fine); without it, capture live.",
    ),
    "stream": Option(
        ("--stream", "-s"),
        int,
        many=True,
        low=0,
        help="Only this stream (Wireshark's tcp.stream number); repeatable.",
    ),
    "port": Option(
        ("--port", "-p"),
        int,
        many=True,
        low=0,
        high=65535,
        help="Only streams with this port at either end; repeatable.",
    ),
    "host": Option(("--host",), many=True, help="Only streams with this IP address at either end; repeatable."),
    "fmt": Option(
        ("--format", "-f"),
        AnalyzeFormat,
        default="text",
        help="text: per connection its story, then its flagged frames; json: JSON Lines, one object per "
        "flagged frame, then one summary per connection.",
    ),
    "vlans": Option(
        ("--vlans",),
        VlanChoice,
        default="merge",
        help="One 4-tuple on several VLANs: merge (the default here: one stream, as Wireshark's tcp.stream), "
        "auto (follow's default: copies merged, different connections apart) or split.",
    ),
    "graph": Option(
        ("--graph",),
        GraphKind,
        help="Also draw one graph of the --stream: seq (time-sequence, tcptrace style), rtt (ack_rtt samples), "
        "throughput, or window (receive window and bytes in flight); needs --out.",
    ),
    "out": Option(
        ("--out", "-o"),
        Path,
        metavar="FILE",
        help="Where --graph draws: FILE.svg or FILE.png.",
    ),
    "summary": Option(
        ("--summary",),
        bool,
        off=("--no-summary",),
        default=True,
        help="Print one line of totals on stderr at the end.",
    ),
}


def parse(args: list[str]) -> dict[str, Any]:
    """The options of `netlab analyze --read FILE ...` for the fast path.

    Raises:
        Declined: no --read, or anything the typer command should see.
    """
    values = parse_options(args, OPTIONS)
    if not values["read"]:
        raise Declined("no --read: a live capture")
    if graph_misuse(values):
        raise Declined(GRAPH_USAGE)
    for text in values["host"] or []:
        try:
            canonical_ip(text)
        except ValueError as error:
            raise Declined(str(error)) from None
    return values


def run_analyze(
    segments: Iterable[Segment],
    *,
    fmt: str,
    streams: list[int],
    ports: list[int],
    hosts: list[str],
    vlans: VlanChoice,
    summary: bool,
    roles: RoleJudge | None = None,
    live: bool = False,
    keep_frames: bool = False,
    packets: PacketSink | None = None,
) -> AnalysisResult:
    """Analyse `segments`, write the result to stdout (text or JSON Lines) and a line of totals to stderr
    (`packets`: as `netlab.stream.expert_run.analyze`'s).

    Raises:
        NoSuchStream: after the output, when the selection names streams the capture lacks.
        NetlabError: after the output, the error that cut the source short (a damaged file).
    """
    from netlab.render.analysis import render_jsonl, render_text
    from netlab.stream.expert_run import analyze
    from netlab.stream.pipeline import FollowSummary, StreamFilter

    selection = StreamFilter(frozenset(streams), frozenset(ports), frozenset(map(canonical_ip, hosts)))
    with few_collections():
        result = analyze(
            segments, selection=selection, keep_frames=keep_frames, vlans=vlans.value, roles=roles, packets=packets
        )
    render = render_jsonl if fmt == AnalyzeFormat.json else render_text
    write = sys.stdout.write
    for part in render(result):
        write(part)
    sys.stdout.flush()
    if summary:
        sys.stderr.write(summary_line(result) + "\n")
        sys.stderr.flush()
    if result.failure is not None:
        raise result.failure
    seen = FollowSummary(result.streams, len(result.summaries), unused=result.unused)
    missing = missing_streams(selection, seen, matches=not live)
    if missing:
        raise NoSuchStream(missing)
    return result


def summary_line(result: AnalysisResult) -> str:
    """The stderr line: streams analysed, flagged frames, retransmissions and losses."""
    flagged = sum(1 for frame in result.frames if frame.flags)
    retransmissions = sum(s.count("retransmission") for s in result.summaries)
    lost = sum(s.count("lost_segment") for s in result.summaries)
    line = (
        f"netlab analyze: {len(result.summaries)} of {result.connections} stream(s), {flagged} flagged frame(s), "
        f"{retransmissions} retransmission(s), {lost} lost segment(s)"
    )
    line += " (interrupted)" if result.interrupted else ""
    for number, what in sorted(result.unused.items()):
        line += f"\nnetlab analyze: stream {number} (as Wireshark numbers it) is not a connection: {what}"
    return line


def graph_misuse(options: dict[str, Any]) -> bool:
    """True when --graph or --out is given without the rest it needs (`GRAPH_USAGE`)."""
    if not options["graph"] and not options["out"]:
        return False
    return not (options["graph"] and options["out"] and options["read"] and len(options["stream"] or []) == 1)


def analyze_file(path: Path, options: dict[str, Any], *, keep_frames: bool = False) -> AnalysisResult:
    """`netlab analyze --read FILE` with the parsed `options` (both the fast path and typer's);
    with --graph, also draws that graph of the one --stream into --out, from the segments the
    same pass numbered (so the graph is of the stream the analysis names)."""
    from netlab.capture.pcapfile import read_segments

    ports = options["port"] or []
    graph = options["graph"]
    keeper = None
    if graph:
        from netlab.graphs.streams import SegmentKeeper

        keeper = SegmentKeeper(frozenset(options["stream"]).__contains__)
    result = run_analyze(
        read_segments(path),
        roles=role_judge(ports, capture_file=path),
        ports=ports,
        keep_frames=keep_frames or bool(graph),
        packets=keeper,
        **analysis_options(options),
    )
    if keeper is not None:
        stream = options["stream"][0]
        draw_graph(GraphKind(graph), stream, keeper.segments.get(stream, []), Path(options["out"]), result)
    return result


def draw_graph(kind: GraphKind, stream: int, segments: list[Segment], out: Path, result: AnalysisResult) -> None:
    """Draw graph `kind` of `stream` (its captured `segments`) into `out`, with the analysis' RTT
    samples and bytes in flight (`result`, analysed with every frame kept)."""
    from netlab.graphs import draw

    frames = [frame for frame in result.frames if frame.stream == stream]
    rtts = [(frame.ts, frame.ack_rtt) for frame in frames if frame.ack_rtt is not None]
    in_flight = {frame.frame: frame.bytes_in_flight for frame in frames if frame.bytes_in_flight is not None}
    draw.write_graph(str(kind), segments, rtts, out, in_flight=in_flight)
    sys.stderr.write(f"netlab analyze: {kind} graph of stream {stream} written to {out}\n")


def analysis_options(options: dict[str, Any]) -> dict[str, Any]:
    """`run_analyze`'s keyword arguments (except the source's) for the parsed options."""
    return {
        "fmt": str(AnalyzeFormat(options["fmt"])),
        "streams": options["stream"] or [],
        "hosts": options["host"] or [],
        "vlans": VlanChoice(options["vlans"]),
        "summary": options["summary"],
    }


def run_fast(args: list[str]) -> bool:
    """Run `netlab analyze ARGS` without typer when the fast parser takes them (False: declined)."""
    from netlab.cli.exits import exit_status_for
    from netlab.errors import NetlabError

    try:
        options = parse(args)
    except Declined:
        return False
    try:
        analyze_file(Path(options["read"]), options)
    except NetlabError as error:
        sys.stderr.write(f"netlab: {error}\n")
        sys.stderr.flush()
        sys.exit(int(exit_status_for(error)))
    return True
