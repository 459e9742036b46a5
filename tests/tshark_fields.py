"""tshark's per-frame TCP analysis fields, one run per capture shared by the tests that compare them (not a
test module): `analysis_compare.tshark_verdicts` and `expert_agreement.tshark_frames` read the same columns of
the same files, so each capture is dissected once per test session (keyed by path, size and modification time,
so a rewritten file is run again)."""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path

from netlab.stream.analysis import AnalysisFlag
from netlab.stream.expert import REUSED_PORTS

FLAGS = (*(flag.value for flag in AnalysisFlag), REUSED_PORTS)
FIELDS = (
    "frame.number",
    "tcp.stream",
    "tcp.analysis.ack_rtt",
    "tcp.analysis.bytes_in_flight",
    "tcp.analysis.duplicate_ack_num",
    "tcp.analysis.duplicate_ack_frame",
    *(f"tcp.analysis.{name}" for name in FLAGS),
)


@dataclass(frozen=True)
class Columns:
    """tshark's exit status and, for every TCP frame, its `FIELDS` (first occurrence; "" when absent)."""

    returncode: int
    rows: tuple[dict[str, str], ...]
    command: tuple[str, ...]
    stderr: str

    def check(self) -> None:
        """Raise as `subprocess.run(check=True)` would when tshark failed."""
        if self.returncode:
            raise subprocess.CalledProcessError(self.returncode, list(self.command), stderr=self.stderr)


def tcp_columns(path: Path) -> Columns:
    """`tshark -Y tcp -T fields -E occurrence=f -e FIELD...` on `path`, parsed."""
    stat = path.stat()
    return _run(path.resolve(), stat.st_size, stat.st_mtime_ns)


@functools.cache
def _run(path: Path, _size: int, _mtime_ns: int) -> Columns:
    command = ["tshark", "-n", "-r", str(path), "-Y", "tcp", "-T", "fields", "-E", "occurrence=f"]
    for name in FIELDS:
        command += ["-e", name]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    rows = []
    for line in done.stdout.splitlines():
        values = line.split("\t")
        if len(values) == len(FIELDS):
            rows.append(dict(zip(FIELDS, values, strict=True)))
    return Columns(done.returncode, tuple(rows), tuple(command), done.stderr)
