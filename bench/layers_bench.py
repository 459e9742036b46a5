"""Benchmark the decoder per link layer: µs per packet, and the ratio to Ethernet's.

    python bench/layers_bench.py [--rounds 2000] [--repeat 5]

Decodes the frames of every `tests/data/chat_*` capture (the same little chat over each link
layer netlab follows) with `decode_fields`, as `follow --read` does for each frame of a pcapng
or of a non-Ethernet pcap, `--rounds` times over. Captures are timed in turn, `--repeat` times
round-robin (so that the load of other jobs falls on all of them alike), and the median counts.
Two ratios: to the Ethernet path (chat_ipv4: the one-unpack shortcut for Ethernet/IPv4/TCP,
what every layer is held to at most 3x of), and to raw IP (chat_raw: the layer functions with no
link-layer header at all, so what a link layer itself adds). Figures: bench/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from netlab.capture.decode import LINKTYPE_NAMES, decode_fields  # noqa: E402
from netlab.capture.pcapfile import read_packets  # noqa: E402

DATA = ROOT / "tests" / "data"
BASELINE = "chat_ipv4.pcap"
RAW_IP = "chat_raw.pcap"


def _time(records: list[tuple[int, float, bytes, int]], rounds: int) -> float:
    """Seconds per packet to decode `records`, `rounds` times over."""
    start = time.perf_counter()
    for _ in range(rounds):
        for number, (linktype, ts, frame, orig_len) in enumerate(records, 1):
            decode_fields(linktype, frame, number, ts, True, orig_len, None)
    return (time.perf_counter() - start) / (rounds * len(records))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    captures = {p.name: list(read_packets(p)) for p in sorted(DATA.glob("chat_*.pcap*"))}
    times: dict[str, list[float]] = {name: [] for name in captures}
    for _ in range(args.repeat):
        for name, records in captures.items():
            times[name].append(_time(records, args.rounds))
    base, raw = statistics.median(times[BASELINE]), statistics.median(times[RAW_IP])
    print(f"{'capture':<26} {'link type':<40} {'µs/packet':>9} {'x Ethernet':>10} {'x raw IP':>8}")
    for name, records in captures.items():
        median = statistics.median(times[name])
        linktypes = sorted({lt for lt, _, _, _ in records})
        label = " + ".join(f"{lt} {LINKTYPE_NAMES.get(lt, '?')}" for lt in linktypes)
        print(f"{name:<26} {label[:40]:<40} {median * 1e6:>9.2f} {median / base:>10.2f} {median / raw:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
