"""Benchmark `netlab follow --read` against tcpflow, tshark and scapy on a synthetic capture.

    python bench/follow_bench.py [--packets 1000000] [--connections 1000] [--slice 100000]

Generates (once, cached under /tmp) a chat-like capture: N connections open at the same time,
each a handshake, short messages both ways with ACKs, ~1% of segments swapped (reordering),
~1% retransmitted, and a FIN close. Then times, in one run, with wall time, packets/s and peak
RSS (from /usr/bin/time): netlab following all streams (JSON to /dev/null) on the whole capture
and on its first half (memory must stay flat), tcpflow -r on the whole capture, and on a slice
(the slow peers): tshark following every stream, and scapy rdpcap + sessions(). Ratios compare
packets/s where the sizes differ. Missing peers are skipped, and the output says so. The machine
may be shared: netlab and tcpflow run `--repeat` times and the best time counts. Figures and what
the ratios compare: bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
ETH = bytes.fromhex("020000000002020000000001") + b"\x08\x00"


def _checksum(data: bytes) -> int:
    if len(data) & 1:
        data += b"\0"
    s = int.from_bytes(data, "big") % 0xFFFF
    return 0xFFFF - s if s else 0xFFFF


def _frame(src: tuple[bytes, int], dst: tuple[bytes, int], seq: int, ack: int, flags: int, payload: bytes) -> bytes:
    tcp = (
        struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0)
        + payload
    )
    pseudo = src[0] + dst[0] + struct.pack("!HH", 6, len(tcp))
    cks = _checksum(pseudo + tcp)
    tcp = tcp[:16] + struct.pack("!H", cks) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src[0], dst[0])
    return ETH + ip + tcp


def _connection(i: int, packets: int, rng: random.Random) -> list[bytes]:
    """One chat-like connection of about `packets` frames."""
    client = (bytes([10, 1, i // 250, i % 250 + 1]), 40000 + i % 20000)
    server = (bytes([10, 0, 0, 1]), 55555)
    cseq, sseq = rng.getrandbits(32), rng.getrandbits(32)
    out = [
        _frame(client, server, cseq, 0, 0x02, b""),
        _frame(server, client, sseq, cseq + 1, 0x12, b""),
        _frame(client, server, cseq + 1, sseq + 1, 0x10, b""),
    ]
    cseq += 1
    sseq += 1
    n = 0
    while len(out) < packets - 4:
        n += 1
        msg = f"<user{i}> message {n} {'x' * rng.randrange(0, 60)}\n".encode()
        a, b = (client, server) if n % 2 else (server, client)
        aseq, bseq = (cseq, sseq) if n % 2 else (sseq, cseq)
        data = _frame(a, b, aseq, bseq, 0x18, msg)
        out.append(data)
        if rng.random() < 0.01:
            out.append(data)  # retransmission
        if rng.random() < 0.01 and len(out) > 4:
            out[-1], out[-2] = out[-2], out[-1]  # reordering
        out.append(_frame(b, a, bseq, aseq + len(msg), 0x10, b""))
        if n % 2:
            cseq += len(msg)
        else:
            sseq += len(msg)
    out += [
        _frame(client, server, cseq, sseq, 0x11, b""),
        _frame(server, client, sseq, cseq + 1, 0x11, b""),
        _frame(client, server, cseq + 1, sseq + 1, 0x10, b""),
    ]
    return out


def generate(path: Path, packets: int, connections: int) -> int:
    """Write the capture, connections interleaved round-robin; returns the packet count."""
    rng = random.Random(1)
    per = packets // connections
    flows = [_connection(i, per, rng) for i in range(connections)]
    count = 0
    ts = 1_700_000_000.0
    with path.open("wb") as f:
        f.write(PCAP_HEADER)
        index = 0
        while any(index < len(flow) for flow in flows):
            for flow in flows:
                if index < len(flow):
                    frame = flow[index]
                    ts += 0.0001
                    sec = int(ts)
                    f.write(struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(frame), len(frame)) + frame)
                    count += 1
            index += 1
    return count


def head(src: Path, dst: Path, packets: int) -> None:
    """Copy the first `packets` records of a pcap."""
    with src.open("rb") as f, dst.open("wb") as out:
        out.write(f.read(24))
        for _ in range(packets):
            header = f.read(16)
            if len(header) < 16:
                break
            length = struct.unpack("<IIII", header)[2]
            out.write(header + f.read(length))


REPEAT = 1


def measure(name: str, argv: list[str], packets: int, repeat: int | None = None) -> dict[str, float] | None:
    """Run a command under /usr/bin/time (best of `repeat` runs); wall seconds, packets/s, peak RSS in MB."""
    wall, rss = float("inf"), 0.0
    for _ in range(repeat or REPEAT):
        start = time.perf_counter()
        result = subprocess.run(
            ["/usr/bin/time", "-f", "%M", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            print(f"  {name}: failed (exit {result.returncode}): {result.stderr.strip().splitlines()[-1:]}")
            return None
        wall = min(wall, elapsed)
        rss = max(rss, int(result.stderr.strip().splitlines()[-1]) / 1024)
    row = {"wall": wall, "pps": packets / wall, "rss": rss, "packets": packets}
    print(f"  {name:<44} {wall:8.2f} s {row['pps']:>11,.0f} pkt/s {rss:8.1f} MB  ({packets:,} packets)")
    return row


def cpu_seconds(argv: list[str], root: Path) -> float:
    """User + system CPU seconds of one run of the netlab in checkout `root` (less sensitive than wall time to a busy
    machine). It runs in `root`: `python -m` puts the working directory first on the path, before PYTHONPATH."""
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%U %S", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd=root,
    )
    user, system = result.stderr.strip().splitlines()[-1].split()
    return float(user) + float(system)


def compare_baseline(tree: Path, argv: list[str]) -> None:
    """Time this checkout and `tree` on the same capture, alternating, and print both and their ratio."""
    here = Path(__file__).resolve().parent.parent
    runs: dict[str, list[float]] = {"this checkout": [], f"baseline {tree}": []}
    for _ in range(max(REPEAT, 3)):
        for times, root in zip(runs.values(), (here, tree), strict=True):
            times.append(cpu_seconds(argv, root))
    for name, times in runs.items():
        print(f"  {name:<44} CPU {sorted(times)[len(times) // 2]:6.2f} s (median of {len(times)}: {times})")
    mine, base = (sorted(t)[len(t) // 2] for t in runs.values())
    print(f"  this checkout / baseline, CPU time: {mine / base:.3f}x (target for a restructuring: <= 1.10x)")


SCAPY_SESSIONS = "from scapy.utils import rdpcap; import sys; print(len(rdpcap(sys.argv[1]).sessions()))"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--slice", type=int, default=100_000, help="packets for the slow peers (tshark, scapy)")
    ap.add_argument("--scapy-slice", type=int, default=20_000)
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "netlab-bench"))
    ap.add_argument("--repeat", type=int, default=3, help="runs of netlab and tcpflow; the best time counts")
    ap.add_argument(
        "--baseline",
        metavar="TREE",
        help="another netlab checkout (e.g. `git worktree add /tmp/before REV`): timed in the same run, "
        "alternating with this one, and compared",
    )
    args = ap.parse_args()
    global REPEAT
    REPEAT = args.repeat
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    full = work / f"chat-{args.packets}-{args.connections}.pcap"
    if not full.exists():
        print(f"generating {full} ...", flush=True)
        generate(full, args.packets, args.connections)
    half, sliced, tiny = work / "half.pcap", work / "slice.pcap", work / "scapy-slice.pcap"
    head(full, half, args.packets // 2)
    head(full, sliced, args.slice)
    head(full, tiny, args.scapy_slice)
    netlab = [sys.executable, "-m", "netlab", "follow", "--format", "json", "--no-summary", "--read"]
    print(f"capture: {args.packets:,} packets, {args.connections} connections ({full.stat().st_size / 1e6:.0f} MB)")
    rows: dict[str, dict[str, float] | None] = {}
    rows["netlab"] = measure("netlab follow --read (all streams, json)", [*netlab, str(full)], args.packets)
    rows["netlab-half"] = measure("netlab follow --read, first half", [*netlab, str(half)], args.packets // 2)
    if args.baseline:
        compare_baseline(Path(args.baseline).resolve(), [*netlab, str(full.resolve())])
    if shutil.which("tcpflow"):
        with tempfile.TemporaryDirectory() as out:
            rows["tcpflow"] = measure(
                "tcpflow -r (all streams, files)", ["tcpflow", "-r", str(full), "-o", out], args.packets
            )
    else:
        print("  tcpflow: not installed (apt-get install tcpflow), skipped")
    if shutil.which("tshark"):
        zs: list[str] = []
        for n in range(min(args.connections, 1000)):
            zs += ["-z", f"follow,tcp,raw,{n}"]
        rows["tshark"] = measure(
            "tshark -z follow (all streams), slice", ["tshark", "-q", "-r", str(sliced), *zs], args.slice, 1
        )
    else:
        print("  tshark: not installed, skipped")
    try:
        import scapy  # noqa: F401

        rows["scapy"] = measure(
            "scapy rdpcap + sessions(), slice",
            [sys.executable, "-c", SCAPY_SESSIONS, str(tiny)],
            args.scapy_slice,
            1,
        )
    except ImportError:
        print("  scapy: not installed, skipped")
    me = rows.get("netlab")
    if me:
        print("ratios (netlab vs peer; time for the whole capture, packets/s for slices):")
        for peer in ("tcpflow", "tshark", "scapy"):
            row = rows.get(peer)
            if not row:
                continue
            if row["packets"] == me["packets"]:
                print(f"  netlab time / {peer} time: {me['wall'] / row['wall']:.2f}x (target for tcpflow: <= 2x)")
            else:
                print(f"  netlab is {me['pps'] / row['pps']:.1f}x {peer}'s packets/s")
        half_row = rows.get("netlab-half")
        if half_row:
            print(
                f"  peak RSS: {me['rss']:.0f} MB for the whole capture, {half_row['rss']:.0f} MB for half "
                "(target < 200 MB, flat)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
