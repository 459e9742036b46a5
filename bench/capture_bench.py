"""Live capture under chat-like load: how many payload bytes each capturer recovers, same run.

Usage (root, Linux):  .venv/bin/python bench/capture_bench.py [--rates 1000,10000,50000,100000]
                      [--seconds 3] [--conns 4] [--peers netlab-tcpdump,netlab-afpacket,...]

For each rate R (messages per second *each way*), a server process and a client process exchange
60-byte chat lines over `--conns` loopback connections (TCP_NODELAY, one send() per message, paced
in 1 ms ticks) for `--seconds`. Each capturer runs alone against its own run of that traffic (two
cores are too few to run five capturers side by side fairly), is started before the traffic and
stopped with SIGINT 1.5 s after it (tcpdump's default buffer timeout is 1 s), and we count the payload bytes it
recovered per direction:

- ``netlab-<backend>``: `netlab follow --port P --backend B --format json` (the whole pipeline:
  capture, decode, reassembly, rendering), bytes summed from the JSON data events;
- ``scapy-sniff``: scapy's `sniff(filter=..., store=False, prn=...)` with its defaults;
- ``tcpdump``: `tcpdump -w FILE` with its defaults (the anchor), bytes counted from the file.

Duplicate copies (loopback shows each frame twice to some capturers) are counted once: bytes are
counted per (connection, direction, sequence number). The table shows recovered/sent per direction
and each capturer's ratio to tcpdump's.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MESSAGE_BYTES = 60
HERE = Path(__file__).resolve()
PYTHON = sys.executable
NETLAB = str(Path(PYTHON).with_name("netlab"))
READY_TIMEOUT_S = 30.0
SETTLE_S = 1.5  # after the traffic, before SIGINT: tcpdump's default 1 s buffer timeout must pass


# ----------------------------------------------------------------------------------- traffic roles


def message(side: str, index: int) -> bytes:
    """A 60-byte chat line (59 bytes of text and a newline)."""
    text = f"[12:00:00] {side}: message number {index:09d} ok".encode()
    return text.ljust(MESSAGE_BYTES - 1, b".") + b"\n"


def pump(conns: list[socket.socket], side: str, rate: int, seconds: float) -> dict[str, float]:
    """Send `rate` messages/s in total over `conns` for `seconds`, draining what arrives meanwhile."""
    for conn in conns:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.setblocking(False)
    sent = received = 0
    start = time.perf_counter()
    index = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(rate * elapsed) - index
        for _ in range(due):
            conn = conns[index % len(conns)]
            try:
                sent += conn.send(message(side, index))
            except BlockingIOError:
                break  # the peer is not reading fast enough; this message is skipped
            index += 1
        received += drain(conns)
        time.sleep(0.001)
    return {"sent": sent, "received": received, "messages": index, "elapsed": time.perf_counter() - start}


def drain(conns: list[socket.socket]) -> int:
    total = 0
    for conn in conns:
        while True:
            try:
                chunk = conn.recv(1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            total += len(chunk)
    return total


def finish(conns: list[socket.socket], result: dict[str, float]) -> None:
    """Half-close, read what is still in flight, close; print the counts as JSON."""
    for conn in conns:
        conn.setblocking(True)
        conn.settimeout(10)
        conn.shutdown(socket.SHUT_WR)
    for conn in conns:
        while chunk := conn.recv(1 << 16):
            result["received"] += len(chunk)
        conn.close()
    print(json.dumps(result), flush=True)


def role_server(port: int, conns: int, rate: int, seconds: float) -> None:
    listener = socket.create_server(("127.0.0.1", port))
    print("listening", flush=True)
    accepted = [listener.accept()[0] for _ in range(conns)]
    listener.close()
    finish(accepted, pump(accepted, "server", rate, seconds))


def role_client(port: int, conns: int, rate: int, seconds: float) -> None:
    opened = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(conns)]
    finish(opened, pump(opened, "client", rate, seconds))


def run_traffic(port: int, conns: int, rate: int, seconds: float) -> dict[str, int]:
    """Run both roles as separate processes; returns the bytes each direction carried."""
    common = [str(port), str(conns), str(rate), str(seconds)]
    server = subprocess.Popen([PYTHON, str(HERE), "--role", "server", *common], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    assert server.stdout.readline().strip() == "listening"
    client = subprocess.Popen([PYTHON, str(HERE), "--role", "client", *common], stdout=subprocess.PIPE, text=True)
    client_out, _ = client.communicate(timeout=seconds + 60)
    server_out, _ = server.communicate(timeout=60)
    c, s = json.loads(client_out), json.loads(server_out)
    return {"c2s": int(c["sent"]), "s2c": int(s["sent"]), "elapsed": float(c["elapsed"])}


# ------------------------------------------------------------------------------------------ peers


class Peer:
    """A capturer started before the traffic and stopped (SIGINT) after it."""

    name = "?"

    def start(self, port: int, workdir: Path) -> None:
        raise NotImplementedError

    def stop(self) -> dict[str, int]:
        raise NotImplementedError


def wait_for_line(proc: subprocess.Popen[bytes], marker: bytes) -> bytes:
    """Read the process's stderr until a line containing `marker` (the readiness signal)."""
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + READY_TIMEOUT_S
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    while time.monotonic() < deadline:
        if not selector.select(0.5):
            continue
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
        if marker in line:
            return seen
    proc.kill()  # never leave a capturer behind
    proc.wait()
    raise RuntimeError(f"capturer never got ready: {seen.decode(errors='replace')}")


class NetlabFollow(Peer):
    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.name = f"netlab-{backend}"

    def start(self, port: int, workdir: Path) -> None:
        self.port = port
        self.out_path = workdir / f"{self.name}.jsonl"
        self.out = open(self.out_path, "wb")
        command = [NETLAB, "follow", "--port", str(port), "--backend", self.backend, "--format", "json"]
        self.proc = subprocess.Popen(command, stdout=self.out, stderr=subprocess.PIPE)
        wait_for_line(self.proc, b"netlab follow: capturing")

    def stop(self) -> dict[str, int]:
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=300)
        self.out.close()
        counts = {"c2s": 0, "s2c": 0, "drops": 0}
        server = f"127.0.0.1:{self.port}"  # `tcp port P` also matches others' ephemeral ports on 127.x
        with open(self.out_path, "rb") as lines:
            for line in lines:
                event = json.loads(line)
                if "data" in event and server in (event["dst"], event["src"]):
                    key = "c2s" if event["dst"] == server else "s2c"
                    counts[key] += len(base64.b64decode(event["data"]))
        counts["drops"] = parse_drops(err)
        gaps = re.findall(r"(\d+) gap\(s\) \((\d+) bytes missing\)", err.decode(errors="replace"))
        counts["gaps"], counts["gap_bytes"] = (int(gaps[-1][0]), int(gaps[-1][1])) if gaps else (-1, -1)
        if self.proc.returncode != 0 or "Traceback" in err.decode(errors="replace"):
            print(f"# {self.name} exited {self.proc.returncode}: {err.decode(errors='replace')[-2000:]}", flush=True)
        self.summary = err.decode(errors="replace").strip().splitlines()[-2:]
        return counts


def parse_drops(stderr: bytes) -> int:
    """The last kernel-drop count a capturer printed (tcpdump's or netlab follow's summary)."""
    found = re.findall(r"(\d+) (?:packets )?dropped by (?:the )?kernel", stderr.decode(errors="replace"))
    return int(found[-1]) if found else 0


SNIFF_SCRIPT = """
import json, sys
from scapy.sendrecv import sniff
from scapy.layers.inet import IP, TCP
port = int(sys.argv[1])
seen = set()
counts = {"c2s": 0, "s2c": 0}
def count(packet):
    if TCP in packet and "127.0.0.1" in (packet[IP].src, packet[IP].dst):
        tcp = packet[TCP]
        if (tcp.dport, packet[IP].dst) != (port, "127.0.0.1") and (tcp.sport, packet[IP].src) != (port, "127.0.0.1"):
            return
        size = len(bytes(tcp.payload))
        key = (tcp.sport, tcp.dport, tcp.seq, size)
        if size and key not in seen:
            seen.add(key)
            counts["c2s" if tcp.dport == port else "s2c"] += size
sniff(iface="lo", filter=f"tcp port {port}", prn=count, store=False,
      started_callback=lambda: print("sniffing", file=sys.stderr, flush=True))
print(json.dumps(counts), flush=True)
"""


class ScapySniff(Peer):
    name = "scapy-sniff"

    def start(self, port: int, workdir: Path) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-c", SNIFF_SCRIPT, str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        wait_for_line(self.proc, b"sniffing")

    def stop(self) -> dict[str, int]:
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=300)
        return {**json.loads(out), "drops": 0}


class Tcpdump(Peer):
    name = "tcpdump"

    def __init__(self, buffer_kib: int | None = None) -> None:
        self.buffer = ["-B", str(buffer_kib)] if buffer_kib else []

    def start(self, port: int, workdir: Path) -> None:
        self.port = port
        self.path = workdir / "tcpdump.pcap"
        tcpdump = shutil.which("tcpdump") or "tcpdump"
        self.proc = subprocess.Popen(
            [tcpdump, "-i", "lo", "-n", "-s", "262144", *self.buffer, "-w", str(self.path), f"tcp port {port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_for_line(self.proc, b"listening on")

    def stop(self) -> dict[str, int]:
        from netlab.capture.pcapfile import read_segments
        from netlab.packets import Endpoint

        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=60)
        seen: set[tuple[object, ...]] = set()
        counts = {"c2s": 0, "s2c": 0, "drops": parse_drops(err)}
        server = Endpoint("127.0.0.1", self.port)  # `tcp port P` also matches others' ephemeral ports
        for segment in read_segments(self.path, verify=False):
            if server not in (segment.src, segment.dst):
                continue
            key = (segment.src, segment.dst, segment.seq, len(segment.payload))
            if segment.payload and key not in seen:
                seen.add(key)
                counts["c2s" if segment.dst == server else "s2c"] += len(segment.payload)
        return counts


def make_peer(name: str) -> Peer:
    if name.startswith("netlab-"):
        return NetlabFollow(name.removeprefix("netlab-"))
    return {"scapy-sniff": ScapySniff, "tcpdump": Tcpdump}[name]()


# ------------------------------------------------------------------------------------------- main


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(peer: Peer, rate: int, seconds: float, conns: int, workdir: Path) -> dict[str, float]:
    port = free_port()
    peer.start(port, workdir)
    try:
        sent = run_traffic(port, conns, rate, seconds)
        time.sleep(SETTLE_S)
    finally:
        got = peer.stop()
    return {
        "rate": rate,
        "achieved": (sent["c2s"] / MESSAGE_BYTES) / sent["elapsed"],
        "sent_c2s": sent["c2s"],
        "sent_s2c": sent["s2c"],
        "got_c2s": got["c2s"],
        "got_s2c": got["s2c"],
        "drops": got.get("drops", 0),
    }


def fanout(clients: int, backends: list[str], workdir: Path) -> None:
    """bench/chat_load.py's workload (5 senders, N clients, the real server) under `netlab follow`."""
    sys.path.insert(0, str(HERE.parent))
    import chat_load as load

    load.raise_fd_limit(2 * clients + 200)
    print(f"\n# fan-out: netlab serve with {clients} clients (bench/chat_load.py's workload), followed live")
    for backend in backends:
        server = load.NetlabServer()
        server.start(clients)
        peer, anchor = NetlabFollow(backend), Tcpdump(buffer_kib=262_144)
        anchor.start(server.port, workdir)
        peer.start(server.port, workdir)
        try:
            deliveries = 120_000
            messages = max(20, deliveries // (load.SENDERS * (clients - 1)))
            run = load.LoadRun(server, load.NetlabProtocol(), clients, messages, 40, 16, False)
            try:
                run.connect_all()
                result = run.measure()
            finally:
                run.close()
                server.stop()
            time.sleep(SETTLE_S)
        finally:
            got, want = peer.stop(), anchor.stop()
        print(
            f"{peer.name:<16} {result.deliveries:>8} deliveries at {result.rate:>8,.0f}/s: followed "
            f"c2s {percent(got['c2s'], want['c2s'])} s2c {percent(got['s2c'], want['s2c'])} of the bytes "
            f"tcpdump -B 256MiB saw at the same time ({want['c2s'] + want['s2c']} bytes, {want['drops']} drops); "
            f"{got['gaps']} gap(s), {got['drops']} kernel drops",
            flush=True,
        )


def percent(got: float, sent: float) -> str:
    return f"{100.0 * got / sent:6.2f}%" if sent else "   n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="1000,10000,50000,100000", help="messages/s each way")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--conns", type=int, default=4)
    parser.add_argument("--peers", default="tcpdump,netlab-tcpdump,netlab-afpacket,netlab-scapy,scapy-sniff")
    parser.add_argument("--json", action="store_true", help="also print every row as JSON")
    parser.add_argument("--fanout", type=int, default=200, help="clients in the chat fan-out run (0: skip)")
    parser.add_argument("--role", choices=["server", "client"], help=argparse.SUPPRESS)
    parser.add_argument("role_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        port, conns, rate, seconds = args.role_args
        runner = role_server if args.role == "server" else role_client
        runner(int(port), int(conns), int(rate), float(seconds))
        return
    if os.geteuid() != 0:
        sys.exit("capture_bench.py needs root (live capture)")
    rates = [int(rate) for rate in args.rates.split(",")]
    peers = args.peers.split(",")
    print(
        f"# {args.seconds:g} s per run, {args.conns} connections, {MESSAGE_BYTES}-byte messages each way, "
        f"{os.cpu_count()} CPUs; recovered payload / sent payload per direction"
    )
    print(f"{'rate/s':>8} {'achieved':>9} {'capturer':<16} {'c2s':>8} {'s2c':>8} {'drops':>7} {'vs tcpdump':>10}")
    with tempfile.TemporaryDirectory(prefix="capture-bench-") as tmp:
        for rate in rates:
            anchor: float | None = None
            for name in peers:
                peer = make_peer(name)
                row = measure(peer, rate, args.seconds, args.conns, Path(tmp))
                share = (row["got_c2s"] + row["got_s2c"]) / max(1, row["sent_c2s"] + row["sent_s2c"])
                anchor = share if name == "tcpdump" else anchor
                ratio = f"{share / anchor:9.3f}x" if anchor else "       n/a"
                print(
                    f"{rate:>8} {row['achieved']:>9.0f} {name:<16} {percent(row['got_c2s'], row['sent_c2s'])} "
                    f"{percent(row['got_s2c'], row['sent_s2c'])} {int(row['drops']):>7} {ratio}",
                    flush=True,
                )
                if args.json:
                    print(json.dumps({"peer": name, **row}), flush=True)
                if share < 1.0 and isinstance(peer, NetlabFollow):
                    print("#   " + "\n#   ".join(peer.summary), flush=True)
        if args.fanout:
            fanout(args.fanout, [p.removeprefix("netlab-") for p in peers if p.startswith("netlab-")], Path(tmp))


if __name__ == "__main__":
    main()
