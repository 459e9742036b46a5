"""`netlab follow --read` per packet on other link layers than Ethernet, end to end.

    python bench/layers_follow_bench.py [--slice /tmp/netlab-bench/slice.pcap] [--repeat 5]

`layers_bench.py` times the decoder alone. This times what a user waits for: the same 100 000-packet
chat capture (follow_bench.py's slice, 1 000 connections, 1 % retransmitted, 1 % reordered), its
frames rewritten with a Linux cooked (SLL, SLL2), BSD loopback (NULL) or raw-IP header instead of
Ethernet, followed with `netlab follow --read FILE -f json` (to /dev/null). It prints the CPU time
per packet (start-up subtracted: `follow --read` of a 10-packet capture) and the ratio to Ethernet's:
the issue-14 target is at most 3x the Ethernet path per packet. Alternating runs, medians.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "chat_ipv4.pcap"
HEADERS = {  # link type, and the header that replaces Ethernet's for an IPv4 packet
    "sll": (113, struct.pack("!HHH8sH", 0, 1, 6, bytes(8), 0x0800)),
    "sll2": (276, struct.pack("!HHIHBB8s", 0x0800, 0, 1, 1, 0, 6, bytes(8))),
    "null": (0, struct.pack("<I", 2)),
    "raw": (101, b""),
}


def rewrite(source: Path, target: Path, linktype: int, header: bytes) -> None:
    """Copy the little-endian pcap `source` with each frame's Ethernet header replaced by `header`."""
    data = source.read_bytes()
    head = bytearray(data[:24])
    struct.pack_into("<I", head, 20, linktype)
    out = [bytes(head)]
    off = 24
    while off + 16 <= len(data):
        ts1, ts2, incl, orig = struct.unpack_from("<IIII", data, off)
        frame = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        new = header + frame[14:]
        out.append(struct.pack("<IIII", ts1, ts2, len(new), orig - 14 + len(header)) + new)
    target.write_bytes(b"".join(out))


def cpu_seconds(capture: Path) -> float:
    """User + system CPU time of one `netlab follow --read capture -f json` run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "netlab", "follow", "-r", str(capture), "-f", "json", "--no-summary"],
        stdout=subprocess.DEVNULL,
        check=True,
        cwd=REPO,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slice", type=Path, default=Path(tempfile.gettempdir()) / "netlab-bench" / "slice.pcap")
    ap.add_argument("--packets", type=int, default=100_000, help="packets in --slice")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if not args.slice.exists():
        print(f"{args.slice} is missing: run bench/follow_bench.py once (it makes it)", file=sys.stderr)
        return 1
    captures = {"ethernet": args.slice}
    for name, (linktype, header) in HEADERS.items():
        captures[name] = args.slice.with_name(f"slice-{name}.pcap")
        rewrite(args.slice, captures[name], linktype, header)
    times: dict[str, list[float]] = {name: [] for name in captures}
    startup: list[float] = []
    for _ in range(args.repeat):  # alternating, so the machine's load hits every layer alike
        startup.append(cpu_seconds(TINY))
        for name, path in captures.items():
            times[name].append(cpu_seconds(path))
    base = statistics.median(startup)
    per_packet = {name: (statistics.median(t) - base) / args.packets * 1e6 for name, t in times.items()}
    print(f"start-up {base:.3f} s CPU (subtracted); µs per packet, median of {args.repeat}:")
    for name, micros in per_packet.items():
        print(f"  {name:9} {micros:6.2f} µs  {micros / per_packet['ethernet']:.2f}x Ethernet")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
