"""Per-frame TCP expert flags from tshark and from netlab, for the analysis conformance tests.

`tshark_verdicts(path)` asks tshark for every `tcp.analysis.*` field netlab computes;
`netlab_verdicts(path)` reads the same file with netlab's reader, splits it into connections with
the `Reassembler` (each segment goes to the stream its `Opened` event started) and runs one
`ConnectionAnalysis` per stream. Both give {frame: Verdict} for the frames with any flag.
Run as a script to print the differences for captures: `python tests/analysis_compare.py F...`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from netlab.capture.pcapfile import read_segments
from netlab.errors import PcapReadError
from netlab.packets import QUOTED, Endpoint, Segment
from netlab.stream.analysis import AnalysisFlag, ConnectionAnalysis, FrameAnalysis
from netlab.stream.events import Opened
from netlab.stream.reassembly import Reassembler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tshark_fields import tcp_columns  # noqa: E402

FLAG_FIELDS = tuple(flag.value for flag in AnalysisFlag)


@dataclass(frozen=True)
class Verdict:
    """The flags of one frame as tshark's fields show them (fast retransmissions also carry
    `retransmission`), with the duplicate-ACK number and frame."""

    fields: frozenset[str]
    dup_ack_count: int = 0
    dup_ack_of: int = 0


def tshark_verdicts(path: Path) -> dict[int, Verdict]:
    """tshark's `tcp.analysis.*` flags per frame (Wireshark's default TCP preferences), for the frames with any
    (one tshark run per capture, shared: `tshark_fields`)."""
    columns = tcp_columns(path)
    columns.check()
    verdicts: dict[int, Verdict] = {}
    for row in columns.rows:
        present = frozenset(name for name in FLAG_FIELDS if row[f"tcp.analysis.{name}"])
        if present:
            verdicts[int(row["frame.number"])] = Verdict(
                present,
                int(row["tcp.analysis.duplicate_ack_num"] or 0),
                int(row["tcp.analysis.duplicate_ack_frame"] or 0),
            )
    return verdicts


def verdict_of(analysis: FrameAnalysis) -> Verdict:
    fields = {flag.value for flag in analysis.flags}
    if analysis.is_retransmission:
        fields.add(AnalysisFlag.RETRANSMISSION.value)
    return Verdict(frozenset(fields), analysis.dup_ack_count, analysis.dup_ack_of or 0)


def analyse_segments(segments: Iterable[Segment]) -> dict[int, FrameAnalysis]:
    """Every segment's analysis, by frame, with connections split as the reassembler splits them."""
    reassembler = Reassembler()
    streams: dict[int, tuple[ConnectionAnalysis, Endpoint]] = {}
    current: dict[tuple[object, ...], int] = {}
    result: dict[int, FrameAnalysis] = {}
    for seg in segments:
        if seg.flags & QUOTED:  # a header quoted in an ICMP error: no analysis (Wireshark's neither)
            continue
        for event in reassembler.feed(seg):
            if isinstance(event, Opened):
                streams[event.stream] = (ConnectionAnalysis(), event.client)
                for a, b in ((event.client, event.server), (event.server, event.client)):
                    current[(a, b, *event.vlan)] = current[(a, b)] = event.stream
        stream = current.get((seg.src, seg.dst, *seg.vlan), current.get((seg.src, seg.dst)))
        if stream is None:
            continue
        analysis, client = streams[stream]
        result[seg.frame] = analysis.feed(seg.src == client, seg)
    return result


def netlab_verdicts(path: Path, window_scales: dict[int, int] | None = None) -> dict[int, Verdict]:
    """netlab's flags per frame, in tshark's terms (see `Verdict`).

    `window_scales` (frame -> shift of a SYN's window-scale option, -1 for none) replaces what
    the decoder read from those SYNs' options.
    """
    segments: list[Segment] = []
    try:
        segments.extend(read_segments(path))
    except PcapReadError:
        pass  # a truncated tail: compare what was readable (tshark stops there too)
    if window_scales:
        segments = [
            replace(seg, wscale=window_scales[seg.frame]) if seg.frame in window_scales else seg for seg in segments
        ]
    verdicts = {}
    for frame, analysis in analyse_segments(segments).items():
        verdict = verdict_of(analysis)
        if verdict.fields:
            verdicts[frame] = verdict
    return verdicts


def differences(
    ours: dict[int, Verdict], theirs: dict[int, Verdict]
) -> list[tuple[int, Verdict | None, Verdict | None]]:
    """The frames where the two disagree: (frame, netlab's, tshark's)."""
    return [
        (frame, ours.get(frame), theirs.get(frame))
        for frame in sorted(ours.keys() | theirs.keys())
        if ours.get(frame) != theirs.get(frame)
    ]


def main(paths: list[str]) -> None:
    for name in paths:
        path = Path(name)
        diff = differences(netlab_verdicts(path), tshark_verdicts(path))
        print(f"{path.name}: {len(diff)} differences")
        for frame, ours, theirs in diff[:40]:
            print(f"  frame {frame}: netlab {ours}  tshark {theirs}")


if __name__ == "__main__":
    main(sys.argv[1:])
