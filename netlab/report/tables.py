"""The report's tables as header + rows of text, shared by the Markdown and HTML writers (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from netlab.render.ladder import ANALYSIS_LABELS
from netlab.report.model import CaptureSummary, ConnectionView, Report
from netlab.sockets.model import SocketRow
from netlab.sockets.table import COLUMNS, NUMERIC, group_rows, row_cells
from netlab.stream.analysis import AnalysisFlag
from netlab.stream.events import StreamStats

STATS_HEADERS = (
    "stream",
    "client",
    "packets c→s",
    "packets s→c",
    "bytes c→s",
    "bytes s→c",
    "retransmissions",
    "out-of-order",
    "lost segments",
    "gaps (bytes)",
    "duration (s)",
)
STATS_DEFINITIONS = (
    "Retransmissions, out-of-order and lost segments are counted frame by frame as Wireshark's TCP analysis "
    "flags them, so `tshark -Y tcp.analysis.retransmission` (which includes fast and spurious "
    "retransmissions), `tcp.analysis.out_of_order` and `tcp.analysis.lost_segment` list the same frames. "
    "Gaps are netlab's own count: holes in the transcript, shown there as [N bytes missing in capture file]."
)
STATS_NUMERIC = frozenset(STATS_HEADERS[2:])
#: The most connections listed one by one in the statistics table.
MAX_STATS_ROWS = 500


def stats_cells(label: str, who: str, stats: StreamStats) -> tuple[str, ...]:
    """One statistics row."""
    gaps = f"{stats.gaps} ({stats.gap_bytes})" if stats.gaps else "0"
    return (
        label,
        who,
        str(stats.packets_c2s),
        str(stats.packets_s2c),
        str(stats.bytes_c2s),
        str(stats.bytes_s2c),
        str(stats.retransmissions),
        str(stats.out_of_order),
        str(stats.lost_segments),
        gaps,
        f"{max(0.0, stats.duration):.3f}",
    )


def connection_who(conn: ConnectionView) -> str:
    """The client column: nickname and address, or the address alone."""
    client = str(conn.client) if conn.client else "?"
    return f"{conn.client_label} ({client})" if conn.client_label else client


def stats_rows(report: Report) -> list[tuple[str, ...]]:
    """A row per connection (at most `MAX_STATS_ROWS`, then one row counting the rest), then the total."""
    shown = report.connections[:MAX_STATS_ROWS]
    rows = [stats_cells(str(c.stream), connection_who(c), c.stats) for c in shown]
    if len(report.connections) > len(shown):
        more = len(report.connections) - len(shown)
        rows.append(("…", f"{more} more connections (in the total)", *[""] * (len(STATS_HEADERS) - 2)))
    if len(report.connections) != 1:
        rows.append(stats_cells("total", f"{len(report.connections)} connections", report.totals))
    return rows


CONVERSATION_HEADERS = (
    "udp stream",
    "client",
    "datagrams c→s",
    "datagrams s→c",
    "bytes c→s",
    "bytes s→c",
    "duration (s)",
)
CONVERSATION_NUMERIC = frozenset(CONVERSATION_HEADERS[2:])
CONVERSATION_DEFINITIONS = (
    "UDP conversations are numbered as Wireshark's `udp.stream` (Follow UDP Stream): one per address/port pair, "
    "the client is the end that sent the first datagram, each datagram is one turn. Datagrams are not sequenced: "
    "loss, retransmission and reordering cannot be seen, so none is counted."
)


def udp_counts(capture: CaptureSummary) -> str:
    """ ", N UDP datagrams in M conversations" for the capture line ('' without UDP)."""
    if not capture.udp_datagrams:
        return ""
    return f", {capture.udp_datagrams} UDP datagrams in {capture.conversations} conversations"


def conversation_rows(report: Report) -> list[tuple[str, ...]]:
    """A row per UDP conversation (at most `MAX_STATS_ROWS`, then one row counting the rest), then the total."""
    convs = report.conversations
    rows = [_conversation_cells(str(c.stream), connection_who(c), c.stats) for c in convs[:MAX_STATS_ROWS]]
    if len(convs) > MAX_STATS_ROWS:
        more = len(convs) - MAX_STATS_ROWS
        rows.append(("…", f"{more} more conversations (in the total)", *[""] * (len(CONVERSATION_HEADERS) - 2)))
    if len(convs) != 1:
        total = sum((c.stats for c in convs), StreamStats())
        rows.append(_conversation_cells("total", f"{len(convs)} conversations", total))
    return rows


def _conversation_cells(label: str, who: str, stats: StreamStats) -> tuple[str, ...]:
    return (
        label,
        who,
        str(stats.packets_c2s),
        str(stats.packets_s2c),
        str(stats.bytes_c2s),
        str(stats.bytes_s2c),
        f"{max(0.0, stats.duration):.3f}",
    )


def socket_table(rows: Sequence[SocketRow]) -> tuple[tuple[str, ...], list[tuple[str, ...]], list[int], frozenset[str]]:
    """Headers, rows (listeners first, then both ends of each connection), group start indexes, numeric columns."""
    cells: list[tuple[str, ...]] = []
    starts: list[int] = []
    for group in group_rows(rows):
        starts.append(len(cells))
        cells.extend(row_cells(row) for row in group.rows)
    return COLUMNS, cells, starts, NUMERIC


FLAG_HEADERS = ("flag", "Wireshark's Info column", "frames")
FLAG_DEFINITIONS = (
    "Frames flagged by TCP analysis with Wireshark's definitions: `tshark -Y tcp.analysis.<flag>` lists the "
    "same frames of this stream (`tcp.analysis.retransmission` includes fast and spurious retransmissions)."
)


def flag_rows(conn: ConnectionView) -> list[tuple[str, str, str]]:
    """One row per TCP analysis flag the connection's frames carry: field name, Info-column mark, count."""
    return [(f"tcp.analysis.{flag.value}", _info_mark(flag), str(count)) for flag, count in conn.flag_counts]


def _info_mark(flag: AnalysisFlag) -> str:
    """How Wireshark's Info column marks a frame with `flag` (``[TCP Dup ACK N#k]`` for duplicate ACKs)."""
    if flag is AnalysisFlag.DUPLICATE_ACK:
        return "[TCP Dup ACK N#k]"
    label = ANALYSIS_LABELS.get(flag)
    return f"[{label}]" if label else ""
