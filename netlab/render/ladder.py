"""An SVG ladder (sequence) diagram of one TCP connection, drawn from its stream events (pure).

The diagram is built from the same event list as the transcript, so the two cannot disagree:
SYN / SYN-ACK / FIN / RST from `Control`, one arrow per *turn* (consecutive `Data` of one
direction, with its size), a dashed arrow per `Gap`, and a marker per retransmission or
out-of-order `Notice`. Client→server arrows are red and server→client blue, as in Wireshark.
Everything taken from the capture is escaped. At most `max_rows` rows are drawn; the diagram
then says how many events it left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

from netlab.stream.events import (
    Closed,
    Control,
    ControlKind,
    Data,
    Direction,
    Event,
    Gap,
    Notice,
    NoticeKind,
    Opened,
)

C2S_COLOUR = "#c0392b"
S2C_COLOUR = "#1f4fbf"
NOTICE_COLOUR = {NoticeKind.RETRANSMISSION: "#d35400", NoticeKind.OUT_OF_ORDER: "#8e44ad"}
OTHER_NOTICE_COLOUR = "#7f8c8d"
GAP_COLOUR = "#555555"
WIDTH = 640
LEFT_X = 150
RIGHT_X = 560
TOP = 58
ROW = 36
LABEL_Y = 11  # label baseline, from the row top
ARROW_Y = 15  # arrow start, from the row top
DROP = 16
PREVIEW_CHARS = 60


@dataclass(frozen=True, slots=True)
class Row:
    """One arrow of the ladder: who sent what, when, and how to draw it."""

    direction: Direction
    ts: float
    label: str
    kind: str  # "control", "data", "gap", "retransmission", "out-of-order", "notice", "inferred"
    detail: str = ""
    frame: int = 0


def ladder_rows(events: Iterable[Event]) -> list[Row]:
    """The rows of one stream's ladder, in event order.

    Consecutive `Data` of one direction form one turn, split at gaps and control packets exactly
    as `netlab.stream.dialogue` splits turns, so each turn arrow carries the size of a transcript
    turn; notices that arrive during a turn are drawn right after it. The handshake's final ACK
    carries no event of its own; it is drawn (dashed, "inferred") before the client's first
    packet after the SYN-ACK.
    """
    rows: list[Row] = []
    turn: list[Data] = []
    notices: list[Row] = []
    saw_syn_ack = handshake_done = False

    def end_turn() -> None:
        if turn:
            size = sum(len(d.data) for d in turn)
            text = b"".join(d.data for d in turn).decode("utf-8", errors="replace")
            rows.append(
                Row(turn[0].direction, turn[0].ts, f"{size} B", "data", _preview(text), turn[0].frame)
            )
            turn.clear()
        rows.extend(notices)
        notices.clear()

    def infer_ack(event: Data | Control) -> None:
        nonlocal handshake_done
        if saw_syn_ack and not handshake_done and event.direction is Direction.C2S:
            rows.append(Row(Direction.C2S, event.ts, "ACK", "inferred", "handshake completed"))
            handshake_done = True

    for event in events:
        if isinstance(event, Notice):
            if turn:
                notices.append(_notice_row(event))
            else:
                rows.append(_notice_row(event))
            continue
        if isinstance(event, Data):
            if turn and turn[-1].direction is not event.direction:
                end_turn()
            if not turn:
                infer_ack(event)
            turn.append(event)
            continue
        end_turn()
        if isinstance(event, Control):
            infer_ack(event)
            saw_syn_ack = saw_syn_ack or event.kind is ControlKind.SYN_ACK
            rows.append(_control_row(event))
        elif isinstance(event, Gap):
            rows.append(
                Row(
                    event.direction,
                    event.ts,
                    f"[{event.size} bytes missing]",
                    "gap",
                    event.reason.value,
                    event.frame,
                )
            )
    end_turn()
    return rows


def _control_row(event: Control) -> Row:
    label = {
        ControlKind.SYN: "SYN",
        ControlKind.SYN_ACK: "SYN-ACK",
        ControlKind.FIN: "FIN",
        ControlKind.RST: "RST",
    }
    detail = f"seq={event.seq}" + (f" ack={event.ack}" if event.kind is not ControlKind.SYN else "")
    return Row(event.direction, event.ts, label[event.kind], "control", detail, event.frame)


def _notice_row(event: Notice) -> Row:
    if event.kind is NoticeKind.RETRANSMISSION:
        return Row(
            event.direction, event.ts, f"retransmission {event.size} B", "retransmission", "", event.frame
        )
    if event.kind is NoticeKind.OUT_OF_ORDER:
        return Row(event.direction, event.ts, f"out-of-order {event.size} B", "out-of-order", "", event.frame)
    return Row(event.direction, event.ts, f"{event.kind.value} {event.size} B", "notice", "", event.frame)


def _preview(text: str) -> str:
    """One line of at most `PREVIEW_CHARS`, with what XML may not carry shown as '.'."""
    flat = text.replace("\r", "").replace("\n", " ⏎ ").strip()
    flat = "".join("." if _unprintable(ch) else ch for ch in flat)
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def _unprintable(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code < 0xA0 or code in (0xFFFE, 0xFFFF)


def _colour(row: Row) -> str:
    if row.kind == "gap":
        return GAP_COLOUR
    if row.kind in ("retransmission", "out-of-order", "notice"):
        kind = NoticeKind.RETRANSMISSION if row.kind == "retransmission" else NoticeKind.OUT_OF_ORDER
        return NOTICE_COLOUR[kind] if row.kind != "notice" else OTHER_NOTICE_COLOUR
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
            f"… {left_out} more events not drawn (see the statistics)</text>"
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
    dashed = row.kind in ("gap", "retransmission", "out-of-order", "notice", "inferred")
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    weight = "2" if row.kind in ("control", "data") else "1.5"
    mid = (x1 + x2) // 2
    tooltip = f"frame {row.frame}: " if row.frame else ""
    tooltip += row.label + (f" — {row.detail}" if row.detail else "")
    label = row.label if row.kind != "data" or not row.detail else f"{row.label}  {row.detail}"
    if len(label) > 52:
        label = label[:51] + "…"
    top = y + ARROW_Y
    return (
        f'<g class="row {row.kind} {row.direction.value}"><title>{escape(tooltip)}</title>'
        f'<text x="8" y="{top + 12}" fill="#777" font-size="10">+{row.ts - t0:.3f}s</text>'
        f'<line x1="{x1}" y1="{top}" x2="{x2}" y2="{top + DROP}" stroke="{colour}" stroke-width="{weight}"{dash}/>'
        f'<polygon points="{_head(x1, top, x2, top + DROP)}" fill="{colour}"/>'
        f'<text x="{mid}" y="{y + LABEL_Y}" text-anchor="middle" fill="{colour}">{escape(label)}</text></g>'
    )


def _head(x1: int, y1: int, x2: int, y2: int) -> str:
    """The three corners of an arrowhead at (x2, y2) pointing away from (x1, y1)."""
    dx, dy = x2 - x1, y2 - y1
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    bx, by = x2 - 10 * ux, y2 - 10 * uy
    return f"{x2},{y2} {bx - 4 * uy:.1f},{by + 4 * ux:.1f} {bx + 4 * uy:.1f},{by - 4 * ux:.1f}"
