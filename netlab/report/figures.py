"""A report's TCP graphs: drawn with matplotlib and written beside report.md (the edge).

Each connection drawn in the report gets its time-sequence, throughput and window graphs (and its
RTT graph when it has RTT samples), from the segments `netlab.report.build.collect` kept for it:
one SVG file per graph beside report.md (``stream-N-seq.svg``...), which report.md links to, and
the same SVG inlined in report.html. Drawing costs time (a tenth of a second or so per graph), so
whether connections get graphs is a choice (`GraphPolicy`): by default, only when the report has
few connections (a student's lab), where they cost about a second.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from netlab.errors import LabError
from netlab.report.model import AUTO_GRAPHED_CONNECTIONS, ConnectionView, Graph, GraphPolicy, Report

log = logging.getLogger(__name__)

#: The graphs a report draws per connection, in order (``rtt`` only with RTT samples).
REPORT_GRAPHS = ("seq", "throughput", "window", "rtt")


def add_graphs(report: Report, directory: Path, policy: GraphPolicy = GraphPolicy.AUTO) -> Report:
    """Draw the graphs of the report's drawn connections into `directory`; the report with them attached.

    Raises:
        LabError: a graph file could not be written.
    """
    if policy is GraphPolicy.NONE or not report.drawn:
        note = "Graphs were not drawn (`--no-graphs`)." if report.drawn else ""
        return replace(report, graphs_note=note)
    if policy is GraphPolicy.AUTO and len(report.connections) > AUTO_GRAPHED_CONNECTIONS:
        note = (
            f"Graphs are drawn by default only for captures of at most {AUTO_GRAPHED_CONNECTIONS} connections, "
            f"to keep the report quick; `netlab report --graphs` draws them for the {len(report.drawn)} "
            "connections this report shows."
        )
        return replace(report, graphs_note=note)
    connections = list(report.connections)
    for index, conn in enumerate(report.drawn[: policy.connections]):
        connections[index] = replace(conn, graphs=_draw_connection(conn, directory))
    return replace(report, connections=tuple(connections))


def _draw_connection(conn: ConnectionView, directory: Path) -> tuple[Graph, ...]:
    """The connection's graphs, each written to its SVG file."""
    from netlab.graphs.draw import inline_svg, render
    from netlab.graphs.series import graph_data

    if not conn.segments:
        return ()
    graphs = []
    for kind in REPORT_GRAPHS:
        data = graph_data(kind, conn.segments, conn.rtt_samples, title=_title(kind, conn))
        if data.empty:
            continue
        content = render(data, "svg")
        name = f"stream-{conn.stream}-{kind}.svg"
        path = directory / name
        try:
            path.write_bytes(content)
        except OSError as error:
            raise LabError(f"cannot write {path}: {error.strerror}") from None
        graphs.append(
            Graph(kind, data.title, inline_svg(content, f"graph graph-{kind}", f"s{conn.stream}-{kind}-"), name)
        )
    log.debug("stream %d: %d graphs drawn", conn.stream, len(graphs))
    return tuple(graphs)


_NAMES = {
    "seq": "Time-sequence graph (tcptrace)",
    "throughput": "Throughput",
    "window": "Window and bytes in flight",
    "rtt": "Round-trip time",
}


def _title(kind: str, conn: ConnectionView) -> str:
    return f"{_NAMES[kind]}, stream {conn.stream}"
