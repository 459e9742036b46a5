"""Per-packet decode cost of each link layer and encapsulation, relative to Ethernet.

    python bench/layers_bench.py [--data tests/data] [--repeat 5] [--min-time 0.2]

For every capture in the data folder (the test suite's captures: one per link layer and
encapsulation netlab decodes), times `netlab.capture.decode.decode_fields` on its frames in
capture order (a fresh `Defragmenter` per pass, so fragments are reassembled as in a real read)
and prints µs per packet and two ratios: to `chat_ipv4.pcap` through the fast path (Ethernet, IPv4,
TCP: what a common capture costs), and to the same frames through the layer functions
(`decode_layers`: the Ethernet path every other layer takes too, so the second ratio is what the
layers themselves add). The issue-14 target: no layer more than 3× the Ethernet path per packet.

Each capture is labelled with the layers its frames pass through, found by wrapping the decoder's
layer functions (every function in one of its dispatch tables) for one untimed pass, e.g.
"Linux cooked capture v2 › IPv4 › TCP". The best of `--repeat` timings counts (the machine may be
shared); read the ratios, not the times. Figures: bench/README.md.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from netlab.capture import decode as decoder  # noqa: E402
from netlab.capture import ieee80211, ip_layers, link_layers, transport, tunnels  # noqa: E402
from netlab.capture.ipfrag import Defragmenter  # noqa: E402
from netlab.capture.pcapfile import read_packets  # noqa: E402

BASE = "chat_ipv4.pcap"
LIMIT = 3.0

_NAMES = {
    "_ethernet": "Ethernet",
    "_null": "BSD loopback",
    "_linux_sll": "Linux cooked",
    "_linux_sll2": "Linux cooked v2",
    "_ip_by_version": "raw IP",
    "_ipv4": "IPv4",
    "_ipv6": "IPv6",
    "_vlan": "802.1Q",
    "_tcp": "TCP",
    "_udp": "UDP",
}

Record = tuple[int, bytes, float, int]

LAYER_MODULES = (decoder, link_layers, ieee80211, ip_layers, tunnels, transport)
"""The decoder's modules: where a layer function calls another by name (the wrapping patches each)."""


def _layer_functions() -> dict[str, Callable[..., Any]]:
    """Every function in one of the decoder's dispatch tables (int-keyed dicts of functions), by name."""
    found: dict[str, Callable[..., Any]] = {}
    for value in list(vars(decoder).values()):
        if isinstance(value, dict) and value and all(isinstance(k, int) for k in value):
            for layer in value.values():
                if callable(layer) and hasattr(layer, "__name__"):
                    found[layer.__name__] = layer
    return found


def layer_paths(records: list[Record]) -> collections.Counter[str]:
    """How many frames pass through each chain of layers (one untimed pass with wrapped layers)."""
    functions = _layer_functions()
    seen: list[str] = []
    saved_globals = [(m, name, getattr(m, name)) for m in LAYER_MODULES for name in functions if hasattr(m, name)]
    saved_tables: list[tuple[dict[int, Any], int, Any]] = []

    def wrap(name: str, layer: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(*args: Any) -> Any:
            seen.append(_NAMES.get(name, name.strip("_").replace("_", " ")))
            return layer(*args)

        return recorded

    wrapped = {name: wrap(name, layer) for name, layer in functions.items()}
    for value in list(vars(decoder).values()):
        if isinstance(value, dict) and value and all(isinstance(k, int) for k in value):
            for key, layer in list(value.items()):
                if callable(layer) and getattr(layer, "__name__", None) in wrapped:
                    saved_tables.append((value, key, layer))
                    value[key] = wrapped[layer.__name__]
    for module, name, _ in saved_globals:
        setattr(module, name, wrapped[name])
    paths: collections.Counter[str] = collections.Counter()
    try:
        defrag = Defragmenter()
        for number, (linktype, frame, ts, orig_len) in enumerate(records, 1):
            seen.clear()
            fields = decoder.decode_fields(linktype, frame, number, ts, True, orig_len, defrag)
            chain = " › ".join(dict.fromkeys(seen)) or "Ethernet › IPv4 › TCP (fast path)"
            paths[chain if fields is not None or not seen else chain + " (no segment)"] += 1
    finally:
        for table, key, layer in saved_tables:
            table[key] = layer
        for module, name, layer in saved_globals:
            setattr(module, name, layer)
    return paths


def per_packet_us(
    records: list[Record], repeat: int, min_time: float, decode_fields: Callable[..., Any] | None = None
) -> float:
    """The best time per packet, in µs, of `decode_fields` (or the function given) over the frames in order."""
    decode_fields = decode_fields or decoder.decode_fields
    best = float("inf")
    loops = 1
    while True:  # enough passes for `min_time` seconds
        start = time.perf_counter()
        for _ in range(loops):
            defrag = Defragmenter()
            for number, (linktype, frame, ts, orig_len) in enumerate(records, 1):
                decode_fields(linktype, frame, number, ts, True, orig_len, defrag)
        if time.perf_counter() - start >= min_time:
            break
        loops *= 2
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(loops):
            defrag = Defragmenter()
            for number, (linktype, frame, ts, orig_len) in enumerate(records, 1):
                decode_fields(linktype, frame, number, ts, True, orig_len, defrag)
        best = min(best, time.perf_counter() - start)
    return best / loops / len(records) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "tests" / "data")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per timing (passes are doubled up to it)")
    args = parser.parse_args()
    captures = sorted(p for p in args.data.iterdir() if p.name.endswith((".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz")))
    rows = []
    for path in captures:
        records = [(lt, frame, ts, orig) for lt, ts, frame, orig in read_packets(path)]
        if records:
            paths = layer_paths(records)
            rows.append((path.name, per_packet_us(records, args.repeat, args.min_time), paths))
    base = next((us for name, us, _ in rows if name == BASE), None)
    if base is None:
        print(f"no {BASE} in {args.data}: no Ethernet base to compare with", file=sys.stderr)
        return 1
    ethernet = [(lt, frame, ts, orig) for lt, ts, frame, orig in read_packets(args.data / BASE)]
    layered = per_packet_us(ethernet, args.repeat, args.min_time, decoder.decode_layers)
    print(f"decode_fields per packet, best of {args.repeat}; limit {LIMIT}× the Ethernet path")
    print(f"  ÷fast: ratio to {BASE} through the fast path ({base:.2f} µs/packet)")
    print(f"  ÷layers: ratio to {BASE} through the layer functions ({layered:.2f} µs/packet)\n")
    print(f"{'capture':<30} {'µs/packet':>9} {'÷fast':>6} {'÷layers':>7}  layers (frames)")
    worst = 0.0
    for name, us, paths in rows:
        worst = max(worst, us / layered)
        chains = "; ".join(f"{chain} ({count})" for chain, count in paths.most_common(3))
        flag = "  OVER" if us / layered > LIMIT else ""
        print(f"{name:<30} {us:>9.2f} {us / base:>5.2f}× {us / layered:>6.2f}×  {chains}{flag}")
    print(f"\nworst ratio to the Ethernet layer path: {worst:.2f}× (limit {LIMIT}×)")
    return 0 if worst <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
