"""An SVG ladder (sequence) diagram of one TCP connection, drawn from its stream events (pure).

The diagram is built from the same event list as the transcript (the reassembler asked for
`Packet` events), so the two cannot disagree. Every arrow is one captured segment, at its
capture time and in capture order, labelled with its frame number (as Wireshark numbers frames)
and marked as Wireshark's Info column marks it: ``[SYN]``, ``[SYN, ACK]``, ``[ACK]``,
``[PSH, ACK] len=6``, and the TCP analysis flags (``[TCP Retransmission]``,
``[TCP Out-Of-Order]``, ``[TCP Dup ACK 7#1]``...). Only what the capture does not hold is dashed
and says "not captured": bytes missing before a segment (drawn just before it), a SYN missing
before its SYN-ACK, a handshake that happened before the capture started.
Client→server arrows are red and server→client blue, as in Wireshark; flagged segments are
orange. Everything taken from the capture is escaped. At most `max_rows` rows are drawn; the
diagram then says how many it left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

from netlab.packets import ACK, FIN, PSH, RST, SYN, URG
from netlab.stream.analysis import AnalysisFlag, FrameAnalysis
from netlab.stream.events import Closed, Direction, Event, Opened, Packet

C2S_COLOUR = "#c0392b"
S2C_COLOUR = "#1f4fbf"
FLAGGED_COLOUR = "#d35400"
MISSING_COLOUR = "#555555"
WIDTH = 640
LEFT_X = 150
RIGHT_X = 560
TOP = 58
ROW = 46
LABEL_Y = 12  # label baseline, from the row top
DETAIL_Y = 24  # detail (seq/ack, payload preview) baseline, from the row top: both read above the arrow
ARROW_Y = 29  # arrow start, from the row top
DROP = 12
PREVIEW_CHARS = 40
_FLAG_NAMES = ((SYN, "SYN"), (FIN, "FIN"), (RST, "RST"), (PSH, "PSH"), (ACK, "ACK"), (URG, "URG"))

# Wireshark's Info-column wording for each analysis flag, in the order it prints them.
ANALYSIS_LABELS: dict[AnalysisFlag, str] = {
    AnalysisFlag.SPURIOUS_RETRANSMISSION: "TCP Spurious Retransmission",
    AnalysisFlag.FAST_RETRANSMISSION: "TCP Fast Retransmission",
    AnalysisFlag.RETRANSMISSION: "TCP Retransmission",
    AnalysisFlag.OUT_OF_ORDER: "TCP Out-Of-Order",
    AnalysisFlag.LOST_SEGMENT: "TCP Previous segment not captured",
    AnalysisFlag.ACK_LOST_SEGMENT: "TCP ACKed unseen segment",
    AnalysisFlag.KEEP_ALIVE: "TCP Keep-Alive",
    AnalysisFlag.KEEP_ALIVE_ACK: "TCP Keep-Alive ACK",
    AnalysisFlag.ZERO_WINDOW: "TCP ZeroWindow",
    AnalysisFlag.ZERO_WINDOW_PROBE: "TCP ZeroWindowProbe",
    AnalysisFlag.ZERO_WINDOW_PROBE_ACK: "TCP ZeroWindowProbeAck",
    AnalysisFlag.WINDOW_FULL: "TCP Window Full",
    AnalysisFlag.WINDOW_UPDATE: "TCP Window Update",
}


@dataclass(frozen=True, slots=True)
class Row:
    """One arrow of the ladder: who sent what, when, and how to draw it.

    `kind` is "control" (SYN, FIN, RST), "data", "ack" (no payload), "flagged" (a segment
    Wireshark's analysis flags) or "missing" (not captured: dashed). `frames` are the frame
    numbers the arrow stands for (empty for what was not captured).
    """

    direction: Direction
    ts: float
    label: str
    kind: str
    detail: str = ""
    frames: tuple[int, ...] = ()


def tcp_flags_text(flags: int) -> str:
    """Wireshark's ``[SYN, ACK]`` form of the flag bits."""
    return "[" + ", ".join(name for bit, name in _FLAG_NAMES if flags & bit) + "]"


def analysis_text(analysis: FrameAnalysis) -> str:
    """Wireshark's Info-column marks for a frame's analysis flags (``[TCP Dup ACK 7#2]`` ...)."""
    marks = [f"[{text}]" for flag, text in ANALYSIS_LABELS.items() if flag in analysis.flags]
    if AnalysisFlag.DUPLICATE_ACK in analysis.flags:
        marks.append(f"[TCP Dup ACK {analysis.dup_ack_of}#{analysis.dup_ack_count}]")
    return " ".join(marks)


class _DirectionState:
    """What the ladder knows of one direction: where its next byte is expected (relative seq)."""

    __slots__ = ("expected", "syn_seen")

    def __init__(self) -> None:
        self.expected: int | None = None
        self.syn_seen = False


def ladder_rows(events: Iterable[Event]) -> list[Row]:
    """The rows of one stream's ladder: one per captured segment, in capture (frame) order.

    Before a segment that starts beyond the bytes its direction sent so far, a dashed row says
    how many bytes were not captured; before a SYN-ACK whose SYN is missing, a dashed SYN; at the
    top of a connection whose handshake is not in the capture, a dashed note.
    """
    packets = sorted((e for e in events if isinstance(e, Packet)), key=lambda p: p.frame)
    rows: list[Row] = []
    state = {Direction.C2S: _DirectionState(), Direction.S2C: _DirectionState()}
    if packets and not packets[0].flags & SYN:
        first = packets[0]
        rows.append(
            Row(
                first.direction,
                first.ts,
                "handshake not captured",
                "missing",
                "the capture started after the connection was set up",
            )
        )
    for packet in packets:
        mine = state[packet.direction]
        rows.extend(_missing_before(packet, mine, state[packet.direction.reverse]))
        rows.append(_packet_row(packet))
        end = packet.seq + packet.length + (1 if packet.flags & (SYN | FIN) else 0)
        mine.expected = end if mine.expected is None else max(mine.expected, end)
        mine.syn_seen = mine.syn_seen or bool(packet.flags & SYN)
    return rows


def _missing_before(packet: Packet, mine: _DirectionState, other: _DirectionState) -> list[Row]:
    """Dashed rows for what the capture lacks right before `packet`."""
    rows = []
    if packet.flags & SYN and packet.flags & ACK and not other.syn_seen:
        rows.append(
            Row(packet.direction.reverse, packet.ts, "[SYN] not captured", "missing", "the SYN this SYN-ACK answers")
        )
    if mine.expected is not None and packet.seq > mine.expected and not packet.flags & RST:
        hole = packet.seq - mine.expected
        rows.append(
            Row(
                packet.direction,
                packet.ts,
                f"{hole} bytes not captured",
                "missing",
                f"seq={mine.expected}..{packet.seq - 1}",
            )
        )
    return rows


def _packet_row(packet: Packet) -> Row:
    label = tcp_flags_text(packet.flags)
    if packet.length:
        label += f" len={packet.length}"
    marks = analysis_text(packet.analysis)
    if marks:
        label = f"{marks} {label}"
    if packet.analysis.flags - {AnalysisFlag.WINDOW_UPDATE}:
        kind = "flagged"
    elif packet.flags & (SYN | FIN | RST):
        kind = "control"
    else:
        kind = "data" if packet.length else "ack"
    detail = f"seq={packet.seq} ack={packet.ack}" if packet.flags & ACK else f"seq={packet.seq}"
    if packet.payload:
        detail += "  " + _preview(packet.payload.decode("utf-8", errors="replace"))
    return Row(packet.direction, packet.ts, label, kind, detail, (packet.frame,))


def _preview(text: str) -> str:
    """One line of at most `PREVIEW_CHARS`, with what XML may not carry shown as '.'."""
    flat = text.replace("\r", "").replace("\n", " ⏎ ").strip()
    flat = "".join("." if _unprintable(ch) else ch for ch in flat)
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def _unprintable(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code < 0xA0 or code in (0xFFFE, 0xFFFF)


def _colour(row: Row) -> str:
    if row.kind == "missing":
        return MISSING_COLOUR
    if row.kind == "flagged":
        return FLAGGED_COLOUR
    return C2S_COLOUR if row.direction is Direction.C2S else S2C_COLOUR


def render_ladder(
    events: Sequence[Event],
    *,
    client_label: str = "",
    server_label: str = "",
    max_rows: int = 200,
    title: str = "",
) -> str:
    """One stream's events as a self-contained `<svg>` element (a string).

    Args:
        events: the stream's events in order (usually `Opened` ... `Closed`).
        client_label, server_label: extra text under each endpoint (e.g. a nickname).
        max_rows: the most arrows drawn; the rest are counted in a note.
        title: an accessible title for the diagram.
    """
    opened = next((e for e in events if isinstance(e, Opened)), None)
    closed = next((e for e in events if isinstance(e, Closed)), None)
    rows = ladder_rows(events)
    drawn, left_out = rows[:max_rows], max(0, len(rows) - max_rows)
    t0 = opened.ts if opened else (rows[0].ts if rows else 0.0)
    footer = (1 if closed else 0) + (1 if left_out else 0)
    height = TOP + ROW * len(drawn) + 24 * footer + 26
    stream = opened.stream if opened else (closed.stream if closed else -1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ladder" data-stream="{stream}" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'font-family="ui-monospace, Menlo, Consolas, monospace" font-size="12">',
        f"<title>{escape(title or f'TCP stream {stream}')}</title>",
        *_headers(opened, client_label, server_label),
        f'<line x1="{LEFT_X}" y1="{TOP - 6}" x2="{LEFT_X}" y2="{height - 10}" stroke="#444" stroke-width="2"/>',
        f'<line x1="{RIGHT_X}" y1="{TOP - 6}" x2="{RIGHT_X}" y2="{height - 10}" stroke="#444" stroke-width="2"/>',
    ]
    for index, row in enumerate(drawn):
        parts.append(_arrow(row, TOP + ROW * index, t0))
    y = TOP + ROW * len(drawn) + 16
    if left_out:
        parts.append(
            f'<text class="ladder-note" x="{WIDTH // 2}" y="{y}" text-anchor="middle" fill="#555">'
            f"… {left_out} more rows not drawn (see the statistics)</text>"
        )
        y += 24
    if closed:
        parts.append(
            f'<text x="{WIDTH // 2}" y="{y}" text-anchor="middle" fill="#333">'
            f"closed: {escape(closed.reason.value)} after {closed.stats.duration:.3f} s</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _headers(opened: Opened | None, client_label: str, server_label: str) -> list[str]:
    guessed = f" (roles inferred: {opened.roles_reason.value})" if opened and opened.roles_guessed else ""
    ends = (
        (LEFT_X, "client" + guessed, str(opened.client) if opened else "", client_label, C2S_COLOUR),
        (RIGHT_X, "server", str(opened.server) if opened else "", server_label, S2C_COLOUR),
    )
    out = []
    for x, role, address, label, colour in ends:
        out.append(
            f'<text x="{x}" y="16" text-anchor="middle" font-weight="bold" fill="{colour}">{escape(role)}</text>'
        )
        out.append(f'<text x="{x}" y="31" text-anchor="middle">{escape(address)}</text>')
        if label:
            out.append(f'<text x="{x}" y="45" text-anchor="middle" fill="#555">{escape(label)}</text>')
    return out


def _arrow(row: Row, y: int, t0: float) -> str:
    c2s = row.direction is Direction.C2S
    x1, x2 = (LEFT_X, RIGHT_X) if c2s else (RIGHT_X, LEFT_X)
    colour = _colour(row)
    dash = ' stroke-dasharray="6 4"' if row.kind == "missing" else ""
    weight = {"control": "2", "data": "2", "flagged": "2", "ack": "1", "missing": "1.5"}[row.kind]
    mid = (x1 + x2) // 2
    where = ("frames " if len(row.frames) > 1 else "frame ") + ", ".join(map(str, row.frames))
    tooltip = f"{where}: " if row.frames else "not captured: "
    tooltip += row.label + (f" — {row.detail}" if row.detail else "")
    label = row.label
    if len(label) > 60:
        label = label[:59] + "…"
    number = ", ".join(f"#{frame}" for frame in row.frames) or "—"
    top = y + ARROW_Y
    detail = ""
    if row.detail:
        short = row.detail if len(row.detail) <= 64 else row.detail[:63] + "…"
        detail = (
            f'<text x="{mid}" y="{y + DETAIL_Y}" text-anchor="middle" fill="#666" font-size="10">{escape(short)}</text>'
        )
    return (
        f'<g class="row {row.kind} {row.direction.value}"><title>{escape(tooltip)}</title>'
        f'<text x="8" y="{y + LABEL_Y}" fill="#333" font-size="10">{escape(number)}</text>'
        f'<text x="8" y="{y + DETAIL_Y}" fill="#777" font-size="10">+{row.ts - t0:.3f}s</text>'
        f'<line x1="{x1}" y1="{top}" x2="{x2}" y2="{top + DROP}" stroke="{colour}" stroke-width="{weight}"{dash}/>'
        f'<polygon points="{_head(x1, top, x2, top + DROP)}" fill="{colour}"/>'
        f'<text x="{mid}" y="{y + LABEL_Y}" text-anchor="middle" fill="{colour}">{escape(label)}</text>{detail}</g>'
    )


def _head(x1: int, y1: int, x2: int, y2: int) -> str:
    """The three corners of an arrowhead at (x2, y2) pointing away from (x1, y1)."""
    dx, dy = x2 - x1, y2 - y1
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    bx, by = x2 - 10 * ux, y2 - 10 * uy
    return f"{x2},{y2} {bx - 4 * uy:.1f},{by + 4 * ux:.1f} {bx + 4 * uy:.1f},{by - 4 * ux:.1f}"
