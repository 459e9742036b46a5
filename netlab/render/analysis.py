"""`netlab analyze`'s output (pure): text (per connection: its story, then its flagged frames) or JSON Lines.

JSON Lines: one object per flagged frame, in frame order, with exactly the keys
``frame, stream, flags, ack_rtt, bytes_in_flight, dup_ack_of`` (Wireshark's `frame.number`,
`tcp.stream` and `tcp.analysis.*` names), then one ``{"event": "summary", "stream": S, ...}`` per
connection with every `ConnectionSummary` field (endpoints as "ip:port", `flag_counts` as an object,
`story` as one string).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from netlab.stream.conn_summary import ConnectionSummary
from netlab.stream.expert import FrameResult
from netlab.stream.expert_run import AnalysisResult

__all__ = ["ANALYSIS_FORMATS", "frame_object", "render_jsonl", "render_text", "summary_object"]

ANALYSIS_FORMATS = ("text", "json")


def frame_object(frame: FrameResult) -> dict[str, object]:
    """The JSON object of one flagged frame (the issue's schema, nothing more)."""
    return {
        "frame": frame.frame,
        "stream": frame.stream,
        "flags": list(frame.flags),
        "ack_rtt": frame.ack_rtt,
        "bytes_in_flight": frame.bytes_in_flight,
        "dup_ack_of": frame.dup_ack_of,
    }


def summary_object(summary: ConnectionSummary) -> dict[str, object]:
    """The JSON object of one connection's summary."""
    document: dict[str, object] = {"event": "summary"}
    for name in ConnectionSummary.__dataclass_fields__:
        value = getattr(summary, name)
        if name in ("client", "server"):
            value = str(value)
        elif name == "flag_counts":
            value = dict(value)
        elif name == "story":
            value = " ".join(value)
        document[name] = value
    document["retransmitted_bytes"] = summary.retransmitted_bytes
    return document


def render_jsonl(result: AnalysisResult) -> Iterator[str]:
    """The JSON Lines of `result`, one line (with its newline) at a time."""
    for frame in result.frames:
        if frame.flags:
            yield json.dumps(frame_object(frame), ensure_ascii=False) + "\n"
    for summary in result.summaries:
        yield json.dumps(summary_object(summary), ensure_ascii=False) + "\n"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.3f} ms"


def _table(frames: list[FrameResult], start: float) -> list[str]:
    header = ("frame", "time", "dir", "flags", "ack_rtt", "in flight", "dup of")
    rows = [
        (
            str(f.frame),
            f"{f.ts - start:.6f}",
            "C→S" if f.direction.value == "c2s" else "S→C",
            ", ".join(f.flags) + (f" #{f.dup_ack_num}" if f.dup_ack_num else ""),
            _seconds(f.ack_rtt),
            "-" if f.bytes_in_flight is None else str(f.bytes_in_flight),
            "-" if f.dup_ack_of is None else str(f.dup_ack_of),
        )
        for f in frames
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    right = {0, 1, 4, 5, 6}

    def line(cells: tuple[str, ...]) -> str:
        padded = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded).rstrip()

    return ["  " + line(header), *("  " + line(row) for row in rows)]


def render_text(result: AnalysisResult) -> Iterator[str]:
    """Per connection: a heading, its story, its figures, then its flagged frames (times from its start)."""
    flagged: dict[int, list[FrameResult]] = {}
    for frame in result.frames:
        if frame.flags:
            flagged.setdefault(frame.stream, []).append(frame)
    for summary in result.summaries:
        head = f"Stream {summary.stream}: {summary.client} → {summary.server}"
        lines = [f"{head}  [{summary.conn_state} {summary.history}]"]
        lines += [f"  {sentence}" for sentence in summary.story]
        lines.append(
            f"  RTT (ack_rtt, {summary.rtt_samples} samples): min {_seconds(summary.rtt_min)}, "
            f"median {_seconds(summary.rtt_median)}, max {_seconds(summary.rtt_max)}; "
            f"retransmitted {summary.retransmitted_bytes} bytes; throughput "
            f"{_rate(summary.throughput_c2s)} client→server, {_rate(summary.throughput_s2c)} server→client"
        )
        frames = flagged.get(summary.stream, [])
        if frames:
            lines += _table(frames, summary.first_ts)
        else:
            lines.append("  no frame flagged")
        yield "\n".join(lines) + "\n\n"


def _rate(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.3g} MB/s"
    if value >= 1e3:
        return f"{value / 1e3:.3g} kB/s"
    return f"{value:.3g} B/s"
