"""How far `netlab analyze` agrees with tshark, frame by frame, over a set of captures.

`agreement(paths)` runs tshark (`-T fields -e frame.number -e tcp.stream -e tcp.analysis.<flag>...`,
plus `ack_rtt`, `bytes_in_flight` and `duplicate_ack_frame`) and netlab's `analyze` on each file and
sums, per flag, the frames both flag (true positives), only netlab flags and only tshark flags;
`ack_rtt` and `bytes_in_flight` are compared on the frames where both give one. A frame counts
for a flag only when both put it in the same `tcp.stream`. `table(result)` prints the figures
(Markdown, as the README shows them). Run as a script: `python tests/expert_agreement.py F...`
(no argument: the conformance corpus and the lossy lab captures).
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conformance_kit import KIT  # noqa: E402
from tshark_fields import tcp_columns  # noqa: E402

from netlab.capture.pcapfile import read_segments  # noqa: E402
from netlab.stream.analysis import AnalysisFlag  # noqa: E402
from netlab.stream.expert import REUSED_PORTS, FrameResult  # noqa: E402
from netlab.stream.expert_run import analyze  # noqa: E402

FLAGS = (*(flag.value for flag in AnalysisFlag), REUSED_PORTS)
DATA = Path(__file__).resolve().parent / "data"
LOSSY = sorted(DATA.glob("*lossy*.pcap"))


def corpus() -> list[Path]:
    """The conformance captures (read where the kit is, never copied) and the lossy lab captures."""
    pcaps = KIT / "pcaps"
    shared = sorted(pcaps.glob("*.pcap*")) if pcaps.is_dir() else []
    return shared + LOSSY


@dataclass
class Agreement:
    """Counts summed over captures (mutable while it is being summed)."""

    true_pos: Counter[str] = field(default_factory=Counter)
    false_pos: Counter[str] = field(default_factory=Counter)
    false_neg: Counter[str] = field(default_factory=Counter)
    rtt_both: int = 0
    rtt_equal: int = 0
    bif_both: int = 0
    bif_equal: int = 0
    files: int = 0
    differences: list[tuple[str, int, str, str]] = field(default_factory=list)  # file, frame, what, detail

    def precision(self, flag: str) -> float:
        found = self.true_pos[flag] + self.false_pos[flag]
        return self.true_pos[flag] / found if found else 1.0

    def recall(self, flag: str) -> float:
        wanted = self.true_pos[flag] + self.false_neg[flag]
        return self.true_pos[flag] / wanted if wanted else 1.0


@dataclass(frozen=True)
class _Theirs:
    stream: int
    flags: frozenset[str]
    ack_rtt: float | None
    bytes_in_flight: int | None


def tshark_frames(path: Path) -> dict[int, _Theirs]:
    """tshark's stream, flags, ack_rtt and bytes in flight for every TCP frame of `path` (one tshark run per
    capture, shared: `tshark_fields`)."""
    frames = {}
    for row in tcp_columns(path).rows:
        if not row["tcp.stream"]:
            continue
        rtt, flight = row["tcp.analysis.ack_rtt"], row["tcp.analysis.bytes_in_flight"]
        frames[int(row["frame.number"])] = _Theirs(
            int(row["tcp.stream"]),
            frozenset(name for name in FLAGS if row[f"tcp.analysis.{name}"]),
            float(rtt) if rtt else None,
            int(flight) if flight else None,
        )
    return frames


def netlab_frames(path: Path) -> dict[int, FrameResult]:
    """netlab's result for every TCP frame of `path` (what was readable of a damaged file)."""
    result = analyze(read_segments(path), keep_frames=True, vlans="merge")
    return {frame.frame: frame for frame in result.frames}


def add_file(total: Agreement, path: Path) -> None:
    """Add one capture's comparison to `total`."""
    theirs = tshark_frames(path)
    ours = netlab_frames(path)
    total.files += 1
    for number in sorted(theirs.keys() | ours.keys()):
        mine, other = ours.get(number), theirs.get(number)
        same_stream = mine is not None and other is not None and mine.stream == other.stream
        my_flags = frozenset(mine.flags) if mine is not None else frozenset()
        their_flags = other.flags if other is not None else frozenset()
        for flag in FLAGS:
            if flag in my_flags and flag in their_flags and same_stream:
                total.true_pos[flag] += 1
            elif flag in my_flags and (flag not in their_flags or not same_stream):
                total.false_pos[flag] += 1
                total.differences.append((path.name, number, f"+{flag}", ""))
            elif flag in their_flags:
                total.false_neg[flag] += 1
                total.differences.append((path.name, number, f"-{flag}", ""))
        if mine is None or other is None:
            continue
        if mine.ack_rtt is not None and other.ack_rtt is not None:
            total.rtt_both += 1
            if abs(mine.ack_rtt - other.ack_rtt) <= 1e-6:
                total.rtt_equal += 1
            else:
                total.differences.append((path.name, number, "ack_rtt", f"{mine.ack_rtt} vs {other.ack_rtt}"))
        if mine.bytes_in_flight is not None and other.bytes_in_flight is not None:
            total.bif_both += 1
            if mine.bytes_in_flight == other.bytes_in_flight:
                total.bif_equal += 1
            else:
                detail = f"{mine.bytes_in_flight} vs {other.bytes_in_flight}"
                total.differences.append((path.name, number, "bytes_in_flight", detail))


def agreement(paths: list[Path]) -> Agreement:
    total = Agreement()
    for path in paths:
        add_file(total, path)
    return total


def table(total: Agreement) -> str:
    """The agreement as a Markdown table: per flag, frames, precision and recall; then the measurements."""
    lines = [
        f"Agreement with tshark over {total.files} captures (frames flagged by both / netlab only / tshark only):",
        "",
        "| flag | both | netlab only | tshark only | precision | recall |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for flag in FLAGS:
        tp, fp, fn = total.true_pos[flag], total.false_pos[flag], total.false_neg[flag]
        lines.append(f"| `{flag}` | {tp} | {fp} | {fn} | {total.precision(flag):.3f} | {total.recall(flag):.3f} |")
    rtt = total.rtt_equal / total.rtt_both if total.rtt_both else 1.0
    bif = total.bif_equal / total.bif_both if total.bif_both else 1.0
    lines += [
        "",
        f"`ack_rtt` equal to 1 µs on {total.rtt_equal} of {total.rtt_both} frames where both give one ({rtt:.2%}); "
        f"`bytes_in_flight` equal on {total.bif_equal} of {total.bif_both} ({bif:.2%}).",
    ]
    return "\n".join(lines)


def main(args: list[str]) -> None:
    paths = [Path(a) for a in args] or corpus()
    total = agreement(paths)
    print(table(total))
    for name, frame, what, detail in total.differences[:60]:
        print(f"  {name} frame {frame}: {what} {detail}")


if __name__ == "__main__":
    main(sys.argv[1:])
