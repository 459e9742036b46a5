"""The report as Markdown (pure): `report.md` next to `report.html`."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from netlab.report.model import MAX_CONNECTIONS_DRAWN, MAX_DIALOGUE_BYTES, ConnectionView, Report
from netlab.report.tables import (
    CONVERSATION_DEFINITIONS,
    CONVERSATION_HEADERS,
    FLAG_DEFINITIONS,
    FLAG_HEADERS,
    STATS_DEFINITIONS,
    STATS_HEADERS,
    conversation_rows,
    flag_rows,
    socket_table,
    stats_rows,
    udp_counts,
)
from netlab.sockets.table import group_rows, render_text
from netlab.stream.dialogue import Turn
from netlab.stream.events import Direction, Gap


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def md_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table with escaped cells."""
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fence(text: str, info: str = "") -> str:
    """A fenced code block that cannot be closed early by backticks inside `text`."""
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{info}\n{text.rstrip(chr(10))}\n{ticks}"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(ts)) if ts else "unknown"


def render_markdown(report: Report) -> str:
    """The whole report as Markdown; the dialogue is included in full only via dialogue.txt."""
    run = report.run
    out = [f"# {run.title}", "", f"Started: {_when(run.started)}", ""]
    out += ["## What ran and how", ""]
    if run.settings:
        out += [md_table(("setting", "value"), run.settings), ""]
    if run.commands:
        out += ["To do the same by hand, in separate terminals:", ""]
        out += [fence("\n".join(f"# {c.purpose}\n{c.command}" for c in run.commands), "sh"), ""]
    if run.script:
        out += ["The conversation (save it and replay it with `netlab lab --script FILE`):", ""]
        out += [fence(run.script, "text"), ""]
    out += [f"- {note}" for note in run.notes]
    if run.notes:
        out.append("")
    if report.sockets is not None:
        out += ["## Sockets", ""]
        if report.sockets_note:
            out += [report.sockets_note, ""]
        if report.sockets:
            out += [fence(render_text(group_rows(report.sockets))), ""]
            headers, rows, _, _ = socket_table(report.sockets)
            out += [md_table(headers, rows), ""]
        else:
            out += ["(no sockets were found)", ""]
    out += ["## Statistics", ""]
    if report.capture is not None:
        cap = report.capture
        out += [
            f"Capture `{cap.path}`: {cap.frames} frames, {cap.tcp_segments} TCP segments, "
            f"{cap.connections} connections{udp_counts(cap)}.",
            "",
        ]
        out += [f"- {note}" for note in cap.notes]
        if cap.notes:
            out.append("")
    if report.connections:
        out += [md_table(STATS_HEADERS, stats_rows(report)), "", STATS_DEFINITIONS, ""]
    elif report.capture is None:
        out += ["(no capture was made; see the notes above)", ""]
    else:
        out += ["(no TCP connections in the capture)", ""]
    out += ["## Connections", ""]
    if report.drawn:
        out += [
            "In each dialogue, `→` marks a line the client sent to the server, `←` one the server sent to the client.",
            "",
        ]
    if report.graphs_note:
        out += [report.graphs_note, ""]
    for conn in report.drawn:
        out += [f"### {conn.title()}", ""]
        if conn.roles_note():
            out += [f"Roles: {conn.roles_note()}.", ""]
        if conn.story:
            out += [conn.story, ""]
        out += _analysis(conn)
        out += [fence(_dialogue_text(conn)), ""]
        if conn.events_left_out:
            out += [f"({conn.events_left_out} more events not shown; see dialogue.txt)", ""]
        out += _graphs(conn)
    if len(report.connections) > MAX_CONNECTIONS_DRAWN:
        out += [f"({len(report.connections) - MAX_CONNECTIONS_DRAWN} more connections are in the statistics only)", ""]
    out += _conversations(report)
    out += ["The HTML report (report.html) colours each direction and draws a ladder diagram per connection.", ""]
    return "\n".join(out)


def _conversations(report: Report) -> list[str]:
    """The UDP conversations section (nothing when the capture has none)."""
    if not report.conversations:
        return []
    out = ["## UDP conversations", "", md_table(CONVERSATION_HEADERS, conversation_rows(report)), ""]
    out += [CONVERSATION_DEFINITIONS, ""]
    for conv in report.drawn_conversations:
        out += [f"### {conv.title()}", "", fence(_dialogue_text(conv)), ""]
        if conv.events_left_out:
            out += [f"({conv.events_left_out} more events not shown; see dialogue.txt)", ""]
    if len(report.conversations) > MAX_CONNECTIONS_DRAWN:
        more = len(report.conversations) - MAX_CONNECTIONS_DRAWN
        out += [f"({more} more conversations are in the table only)", ""]
    return out


def _analysis(conn: ConnectionView) -> list[str]:
    """The connection's TCP analysis flag counts, as a table (or one line when nothing was flagged)."""
    rows = flag_rows(conn)
    if not rows:
        return ["TCP analysis: Wireshark would flag no frame of this connection.", ""]
    return [md_table(FLAG_HEADERS, rows), "", FLAG_DEFINITIONS, ""]


def _graphs(conn: ConnectionView) -> list[str]:
    """Links to the connection's graphs (SVG files beside report.md), shown inline where Markdown shows images."""
    out = [f"![{graph.title}]({graph.file})" for graph in conn.graphs]
    if conn.graphs:
        out.append("")
    return out


def _dialogue_text(conn: ConnectionView, max_bytes: int = MAX_DIALOGUE_BYTES) -> str:
    """The turns, each line marked `→` (client to server) or `←` (server to client)."""
    lines: list[str] = []
    shown = 0
    for item in conn.dialogue.items if conn.dialogue else ():
        if isinstance(item, Turn):
            shown += len(item.data)
            if shown > max_bytes:
                lines.append("[… the rest is in dialogue.txt]")
                break
            arrow = "→" if item.direction is Direction.C2S else "←"
            text = item.data.decode("utf-8", errors="replace")
            lines += [f"{arrow} {line}" for line in text.splitlines() or [""]]
        elif isinstance(item, Gap):
            lines.append(f"[{item.size} bytes missing in capture]")
    return "\n".join(lines) or "(no payload)"
