"""Benchmarks for `netlab lab` / `netlab report` (Linux, root), with ratios against named peers.

1. The lab's userspace switch against the kernel's Linux bridge, both joining two network
   namespaces: bulk TCP throughput (MB/s) and request/response round-trip time (median µs).
2. `netlab report --read` against `tshark -q -z follow,tcp,ascii,N` for every stream (one tshark
   run) and against `netlab follow --read` (text), on a chat capture made by `netlab lab`.
3. The wall time of a default `netlab lab` run (no peer: it is what a student waits for).

Run: `sudo .venv/bin/python bench/lab_bench.py` (prints a table; takes about a minute).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from netlab.lab.impair import Impairment
from netlab.lab.netns import Namespaces, Topology, inside
from netlab.lab.switch import Switch

NETLAB = [sys.executable, "-m", "netlab"]


def _bulk(topo: Topology, megabytes: int) -> float:
    """Send `megabytes` MB from h2 to h1 over TCP; returns MB/s."""
    with inside(topo.hosts[0].netns):
        server = socket.create_server((topo.hosts[0].ip, 0))
    port = server.getsockname()[1]
    received = 0

    def sink() -> None:
        nonlocal received
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(1 << 20):
                received += len(chunk)

    thread = threading.Thread(target=sink)
    thread.start()
    block = b"x" * (1 << 16)
    with inside(topo.hosts[1].netns):
        client = socket.create_connection((topo.hosts[0].ip, port), timeout=60)
    start = time.perf_counter()
    with client:
        for _ in range(megabytes * 16):
            client.sendall(block)
        client.shutdown(socket.SHUT_WR)
        thread.join()
    elapsed = time.perf_counter() - start
    server.close()
    assert received == megabytes << 20
    return megabytes / elapsed


def _rtt(topo: Topology, rounds: int) -> float:
    """Median request/response time (µs) of 64-byte messages from h2 to an echo server on h1."""
    with inside(topo.hosts[0].netns):
        server = socket.create_server((topo.hosts[0].ip, 0))
    port = server.getsockname()[1]

    def echo() -> None:
        conn, _ = server.accept()
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while chunk := conn.recv(64):
                conn.sendall(chunk)

    thread = threading.Thread(target=echo)
    thread.start()
    with inside(topo.hosts[1].netns):
        client = socket.create_connection((topo.hosts[0].ip, port), timeout=30)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples = []
    with client:
        for _ in range(rounds):
            start = time.perf_counter()
            client.sendall(b"p" * 64)
            got = 0
            while got < 64:
                got += len(client.recv(64 - got))
            samples.append(time.perf_counter() - start)
        client.shutdown(socket.SHUT_WR)
        thread.join()
    server.close()
    return statistics.median(samples) * 1e6


def _with_switch(megabytes: int, rounds: int) -> tuple[float, float]:
    topo = Topology.plan(2)
    with Namespaces(topo):
        switch = Switch(topo.switch_netns, [h.port_ifname for h in topo.hosts], Impairment())
        switch.start()
        try:
            return _bulk(topo, megabytes), _rtt(topo, rounds)
        finally:
            switch.stop()


def _with_bridge(megabytes: int, rounds: int) -> tuple[float, float]:
    topo = Topology.plan(2)
    with Namespaces(topo):
        sw = topo.switch_netns
        subprocess.run(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"], check=True)
        for host in topo.hosts:
            subprocess.run(["ip", "-n", sw, "link", "set", host.port_ifname, "master", "br0"], check=True)
        subprocess.run(["ip", "-n", sw, "link", "set", "br0", "up"], check=True)
        return _bulk(topo, megabytes), _rtt(topo, rounds)


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _report_bench(workdir: Path, clients: int, messages: int) -> dict[str, float | int]:
    name = "bench"
    lab_start = time.perf_counter()
    subprocess.run(
        [
            *NETLAB,
            "lab",
            "--clients",
            str(clients),
            "--messages",
            str(messages),
            "--name",
            name,
            "--captures",
            str(workdir),
            "--reports",
            str(workdir),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    lab_seconds = time.perf_counter() - lab_start
    pcap = workdir / f"{name}.pcap"
    frames = int(
        subprocess.run(["capinfos", "-Mc", str(pcap)], capture_output=True, text=True, check=False)
        .stdout.split(":")[-1]
        .strip()
        or 0
    )
    follow_args = [arg for n in range(clients) for arg in ("-z", f"follow,tcp,ascii,{n}")]
    return {
        "lab_seconds": lab_seconds,
        "frames": frames,
        # --no-graphs: this compares reading and reassembling with tshark's; report_graphs_bench.py times the graphs
        "report": min(
            _timed([*NETLAB, "report", "--read", str(pcap), "--out", str(workdir / "r"), "--no-graphs"])
            for _ in range(3)
        ),
        "follow": min(_timed([*NETLAB, "follow", "--read", str(pcap)]) for _ in range(3)),
        "tshark": min(_timed(["tshark", "-r", str(pcap), "-q", *follow_args]) for _ in range(3)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=64, help="bulk transfer size (default 64)")
    parser.add_argument("--rounds", type=int, default=2000, help="request/response rounds (default 2000)")
    parser.add_argument("--clients", type=int, default=10, help="lab participants for the report bench")
    parser.add_argument("--messages", type=int, default=100, help="lines per participant for the report bench")
    args = parser.parse_args()

    sw_bulk, sw_rtt = _with_switch(args.megabytes, args.rounds)
    br_bulk, br_rtt = _with_bridge(args.megabytes, args.rounds)
    print(f"{'two namespaces':<34}{'netlab switch':>15}{'Linux bridge':>15}{'ratio':>9}")
    print(f"{'bulk TCP, MB/s':<34}{sw_bulk:>15.1f}{br_bulk:>15.1f}{sw_bulk / br_bulk:>8.3f}x")
    print(f"{'request/response RTT, median µs':<34}{sw_rtt:>15.0f}{br_rtt:>15.0f}{sw_rtt / br_rtt:>8.2f}x")
    with tempfile.TemporaryDirectory() as tmp:
        r = _report_bench(Path(tmp), args.clients, args.messages)
    print()
    print(
        f"chat capture from `netlab lab --clients {args.clients} --messages {args.messages}`: {r['frames']} frames; "
        f"the lab run took {r['lab_seconds']:.2f} s"
    )
    print(f"{'tool (best of 3, wall time)':<44}{'seconds':>9}{'vs tshark':>11}")
    for label, key in (
        ("netlab report --read (md + html + txt)", "report"),
        ("netlab follow --read (text)", "follow"),
        (f"tshark -q -z follow,tcp,ascii,N x{args.clients}", "tshark"),
    ):
        print(f"{label:<44}{r[key]:>9.2f}{r[key] / r['tshark']:>10.2f}x")


if __name__ == "__main__":
    main()
