"""Benchmark `netlab analyze --read` against `netlab follow --read` and `tshark -q -z expert` on one capture.

    python bench/analyze_bench.py [--packets 1000000] [--connections 1000] [--repeat 3] [--no-tshark]

Uses follow_bench.py's chat-like capture (generated once, cached under /tmp/netlab-bench): N
connections open at once, 1 % retransmitted and 1 % reordered segments. The machine may be shared,
so `follow` and `analyze` run alternately `--repeat` times and the medians count: wall time, CPU time
(user + system) and peak RSS from /usr/bin/time. tshark's expert info (`-q -z expert`, which runs the
same TCP analysis) reads the same file once. Prints analyze/follow (target: at most 2x, RSS under
300 MB) and analyze/tshark. Figures: bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from follow_bench import generate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("NETLAB_BENCH_DIR", "/tmp/netlab-bench"))


def run(argv: list[str]) -> tuple[float, float, float]:
    """One run under /usr/bin/time: (wall s, CPU s, peak RSS MB); output to /dev/null."""
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%e %U %S %M", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if result.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed (exit {result.returncode}): {result.stderr.strip()[-300:]}")
    wall, user, system, rss = result.stderr.strip().splitlines()[-1].split()
    return float(wall), float(user) + float(system), int(rss) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="alternating runs of follow and analyze (median counts)")
    ap.add_argument("--no-tshark", action="store_true", help="skip tshark -z expert")
    args = ap.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"chat-{args.packets}-{args.connections}.pcap"
    if not path.exists():
        print(f"generating {path} ...")
        generate(path, args.packets, args.connections)
    python = sys.executable
    commands = {
        "follow": [python, "-m", "netlab", "follow", "--read", str(path), "--format", "json"],
        "analyze": [python, "-m", "netlab", "analyze", "--read", str(path), "--format", "json"],
    }
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, argv in commands.items():
            runs[name].append(run(argv))
    print(f"{path.name} ({args.packets:,} packets), medians of {args.repeat} alternating runs:")
    medians = {}
    for name, rows in runs.items():
        wall, cpu, rss = (statistics.median(column) for column in zip(*rows, strict=True))
        medians[name] = (wall, cpu, rss)
        print(f"  netlab {name:<10} wall {wall:7.2f} s  CPU {cpu:7.2f} s  peak RSS {rss:7.1f} MB   runs: {rows}")
    (fw, fc, _), (aw, ac, arss) = medians["follow"], medians["analyze"]
    print(f"  analyze / follow: wall {aw / fw:.2f}x, CPU {ac / fc:.2f}x (target <= 2x); analyze RSS {arss:.0f} MB")
    if args.no_tshark:
        return 0
    if shutil.which("tshark") is None:
        print("  tshark: not installed, skipped")
        return 0
    tw, tc, trss = run(["tshark", "-n", "-q", "-z", "expert", "-r", str(path)])
    print(f"  tshark -q -z expert wall {tw:7.2f} s  CPU {tc:7.2f} s  peak RSS {trss:7.1f} MB")
    print(f"  analyze / tshark -z expert: wall {aw / tw:.2f}x, CPU {ac / tc:.2f}x, RSS {arss / trss:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
