"""What the TCP graphs cost `netlab report --read`: the same capture with --no-graphs, the default and --graphs.

Usage: .venv/bin/python bench/report_graphs_bench.py [--capture FILE ...] [--connections 200] [--repeat 3]
       [--baseline TREE]

Without --capture it times tests/data/lab_hosts4_lossy.pcap (the lossy lab: 3 connections) and a generated
chat-like capture of `--connections` short connections (cached under /tmp/netlab-bench). `--baseline TREE`
also times another checkout (e.g. one without graphs) on the same files. Prints, per capture and mode, the
median CPU time (user + sys) and wall time of the whole command, and the ratio to --no-graphs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from netlab.capture.writer import PcapWriter  # noqa: E402

CACHE = Path("/tmp/netlab-bench")


def many_connections(path: Path, connections: int, lines: int = 5) -> Path:
    """A capture of `connections` short chat connections, one after the other (handshake, lines, FINs)."""
    if path.exists():
        return path

    def frame(src: int, dst: int, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
        tcp = struct.pack("!HHIIBBHHH", src, dst, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, b"\x7f\0\0\1", b"\x7f\0\0\1")
        return b"\x00" * 12 + b"\x08\x00" + ip + tcp

    path.parent.mkdir(parents=True, exist_ok=True)
    t = 1000.0
    with PcapWriter(path, 1) as writer:
        for n in range(connections):
            c, s, cs, ss = 20000 + n, 55555, 100, 500
            frames = [(c, s, cs, 0, 0x02), (s, c, ss, cs + 1, 0x12), (c, s, cs + 1, ss + 1, 0x10)]
            cs, ss = cs + 1, ss + 1
            for i in range(lines):
                line = f"line {i} of connection {n}\n".encode()
                frames += [(c, s, cs, ss, 0x18, line), (s, c, ss, cs + len(line), 0x18, line)]
                cs, ss = cs + len(line), ss + len(line)
                frames.append((c, s, cs, ss, 0x10))
            frames += [(c, s, cs, ss, 0x11), (s, c, ss, cs + 1, 0x11), (c, s, cs + 1, ss + 1, 0x10)]
            for args in frames:
                t += 0.002
                writer.write(t, frame(*args))
    return path


def timed(tree: Path, capture: Path, mode: list[str]) -> tuple[float, float]:
    """CPU (user + sys) and wall seconds of one `netlab report` run from checkout `tree`."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "netlab", "report", "--read", str(capture), "--out", out, *mode]
        env = {**os.environ, "PYTHONPATH": str(tree)}
        before = os.times()
        start = before.elapsed
        # cwd=tree: `python -m` puts the working directory ahead of PYTHONPATH
        subprocess.run(command, env=env, cwd=tree, check=True, capture_output=True, timeout=600)
        after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return cpu, after.elapsed - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", type=Path, action="append", default=[])
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", type=Path)
    args = parser.parse_args()
    captures = [c.resolve() for c in args.capture] or [
        ROOT / "tests" / "data" / "lab_hosts4_lossy.pcap",
        many_connections(CACHE / f"report-{args.connections}-connections.pcap", args.connections),
    ]
    runs: list[tuple[str, Path, list[str]]] = [
        ("--no-graphs", ROOT, ["--no-graphs"]),
        ("default", ROOT, []),
        ("--graphs", ROOT, ["--graphs"]),
    ]
    if args.baseline:
        runs.insert(0, (f"baseline {args.baseline}", args.baseline, []))
    for capture in captures:
        print(f"{capture.name}:")
        results: dict[str, tuple[float, float]] = {}
        for name, tree, mode in runs:
            samples = [timed(tree, capture, mode) for _ in range(args.repeat)]
            results[name] = (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples))
        reference = results["--no-graphs"][0]
        for name, (cpu, wall) in results.items():
            print(f"  {name:<40} cpu {cpu:6.2f} s  wall {wall:6.2f} s  cpu ratio {cpu / reference:5.2f}")


if __name__ == "__main__":
    main()
