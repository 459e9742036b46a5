"""Benchmark the TCP analyser (`netlab.stream.analysis`): microseconds per segment on a big capture.

    python bench/analysis_bench.py [--packets 1000000] [--connections 1000] [--repeat 3]

Uses follow_bench's chat-like capture (generated once under /tmp/netlab-bench; ~1% reordered,
~1% retransmitted segments). In one process, best of `--repeat`: reading and decoding the file
alone (the baseline), then the same plus one `ConnectionAnalysis` per connection fed every
segment, once through `feed(forward, Segment)` and once through `observe(...)` with the fields
(what a reader's fast path that holds no `Segment` would call). The analyser's cost is the
difference to the baseline, per segment. Because a shared machine makes that difference noisy,
the analyser is also timed alone on the segments held in memory. Both are shown against the
per-packet cost of `netlab follow --read` measured in the same run; the flags are counted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from follow_bench import generate  # noqa: E402

from netlab.capture.pcapfile import read_segments  # noqa: E402
from netlab.packets import Segment  # noqa: E402
from netlab.stream.analysis import ConnectionAnalysis, FrameAnalysis  # noqa: E402


def read_only(path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    n = 0
    for batch in read_segments(path, verify=False).field_batches():
        n += len(batch)
    return n, time.perf_counter() - start


def _connection(
    conns: dict[object, tuple[ConnectionAnalysis, bool]], src: object, dst: object
) -> tuple[ConnectionAnalysis, bool]:
    entry = conns.get((src, dst))
    if entry is None:
        analysis = ConnectionAnalysis()
        conns[(src, dst)] = entry = (analysis, True)
        conns[(dst, src)] = (analysis, False)
    return entry


def with_feed(path: Path, counts: Counter[str]) -> tuple[int, float]:
    start = time.perf_counter()
    conns: dict[object, tuple[ConnectionAnalysis, bool]] = {}
    n = 0
    flagged: list[FrameAnalysis] = []
    for batch in read_segments(path, verify=False).field_batches():
        for fields in batch:
            analysis, forward = conns.get((fields[2], fields[3])) or _connection(conns, fields[2], fields[3])
            verdict = analysis.feed(forward, Segment(*fields))
            if verdict.flags:
                flagged.append(verdict)
        n += len(batch)
    elapsed = time.perf_counter() - start
    counts.update(flag.value for verdict in flagged for flag in verdict.flags)
    return n, elapsed


def with_observe(path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    conns: dict[object, tuple[ConnectionAnalysis, bool]] = {}
    n = 0
    for batch in read_segments(path, verify=False).field_batches():
        for frame, ts, src, dst, seq, ack, flags, window, _data, length, _ok, _vlan in batch:
            analysis, forward = conns.get((src, dst)) or _connection(conns, src, dst)
            analysis.observe(forward, frame, ts, seq, ack, flags, window, length)
        n += len(batch)
    return n, time.perf_counter() - start


def in_memory(path: Path, repeat: int) -> tuple[int, float, float, float]:
    """The analyser alone: the segments held in memory, timed without any reading (best of `repeat`).

    Returns the segment count and the best times of: the loop with only the connection lookup,
    the loop calling `observe`, and the loop building a `Segment` and calling `feed`.
    """
    rows = [fields for batch in read_segments(path, verify=False).field_batches() for fields in batch]
    empty = obs = fed = float("inf")
    for _ in range(repeat):
        conns: dict[object, tuple[ConnectionAnalysis, bool]] = {}
        start = time.perf_counter()
        for _frame, _ts, src, dst, _seq, _ack, _flags, _window, _data, _length, _ok, _vlan in rows:
            analysis, forward = conns.get((src, dst)) or _connection(conns, src, dst)
        empty = min(empty, time.perf_counter() - start)
        conns = {}
        start = time.perf_counter()
        for frame, ts, src, dst, seq, ack, flags, window, _data, length, _ok, _vlan in rows:
            analysis, forward = conns.get((src, dst)) or _connection(conns, src, dst)
            analysis.observe(forward, frame, ts, seq, ack, flags, window, length)
        obs = min(obs, time.perf_counter() - start)
        conns = {}
        start = time.perf_counter()
        for fields in rows:
            analysis, forward = conns.get((fields[2], fields[3])) or _connection(conns, fields[2], fields[3])
            analysis.feed(forward, Segment(*fields))
        fed = min(fed, time.perf_counter() - start)
    return len(rows), empty, obs, fed


def follow_time(path: Path) -> float:
    cmd = [sys.executable, "-m", "netlab", "follow", "--format", "json", "--no-summary", "--read", str(path)]
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "netlab-bench"))
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"chat-{args.packets}-{args.connections}.pcap"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        generate(path, args.packets, args.connections)
    counts: Counter[str] = Counter()
    base = fed = observed = float("inf")
    n = 0
    for i in range(args.repeat):  # interleaved, best of each: the machine may be shared
        base = min(base, read_only(path)[1])
        n, elapsed = with_feed(path, counts if i == 0 else Counter())
        fed = min(fed, elapsed)
        observed = min(observed, with_observe(path)[1])
    follow = follow_time(path)
    rows, empty, obs, whole = in_memory(path, args.repeat)
    us = 1e6 / n
    print(f"capture: {n:,} segments, {args.connections} connections")
    print(f"  read + decode only:        {base:6.2f} s  {base * us:5.2f} us/segment")
    print(f"  + analysis via feed():     {fed:6.2f} s  +{(fed - base) * us:5.2f} us/segment")
    print(f"  + analysis via observe():  {observed:6.2f} s  +{(observed - base) * us:5.2f} us/segment")
    print(f"  in memory, lookup only:    {empty:6.2f} s  {empty * 1e6 / rows:5.2f} us/segment")
    print(f"  in memory, observe():      {obs:6.2f} s  +{(obs - empty) * 1e6 / rows:5.2f} us/segment")
    print(f"  in memory, Segment+feed(): {whole:6.2f} s  +{(whole - empty) * 1e6 / rows:5.2f} us/segment")
    print(f"  netlab follow --read:      {follow:6.2f} s  {follow * us:5.2f} us/packet")
    print(f"  analysis (observe, in memory) adds {100 * (obs - empty) / follow:.0f}% to follow's time")
    print("  flags: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
