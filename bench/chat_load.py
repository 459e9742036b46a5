"""Chat load benchmark: netlab serve against ngIRCd, same workload, same run.

One process drives N clients over loopback (epoll, non-blocking sockets). Five of them send
self-checking messages ("B <sender> <seq> <send-ns> <padding> <crc32>") to the room; every
client checks every delivery: lost (a gap in a sender's sequence, or never arrived),
duplicated (a sequence number seen again), garbled (bad checksum or unparsable), latency
(receive time minus send time, same clock). Each sender keeps at most `--window` messages in
flight (not yet delivered to everyone), so the load is as high as the server sustains
without unbounded queues. Server CPU per delivery is the server process's user+system CPU
time during the measured phase divided by good deliveries.

Runs: N = 50, 200, 1000 for both servers, then a slow-consumer run (one client never reads:
the server must cut it and nobody else may lose anything or wait). Prints one table and the
netlab/ngIRCd ratios. Usage: ``.venv/bin/python bench/chat_load.py [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import psutil

SENDERS = 5
MARK = b"B "


# ---------------------------------------------------------------------------------- servers


class ServerProcess:
    """A chat server subprocess with a known pid and port."""

    name = ""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.tmp = Path(tempfile.mkdtemp(prefix="chat-bench-"))

    def cpu(self) -> float:
        assert self.proc is not None
        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("server did not start listening")


class NetlabServer(ServerProcess):
    name = "netlab"

    def start(self, max_clients: int) -> None:
        self.port = free_port()
        env = {**os.environ, "NETLAB_RUNTIME_DIR": str(self.tmp)}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "netlab",
                "-q",
                "serve",
                "--port",
                str(self.port),
                "--flood-rate",
                "0",
                "--history",
                "0",
                "--max-clients",
                str(max_clients + 10),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        wait_listening(self.port, self.proc)
        # the probe connection above is still in the handshake on the server: let it go
        time.sleep(0.1)


class NgircdServer(ServerProcess):
    name = "ngIRCd"
    binary = "/usr/sbin/ngircd"

    def start(self, max_clients: int) -> None:
        self.port = free_port()
        conf = self.tmp / "ngircd.conf"
        conf.write_text(
            "[Global]\n Name = bench.netlab.local\n Info = netlab chat bench\n AdminInfo1 = bench\n"
            " AdminInfo2 = bench\n AdminEMail = bench@localhost\n Listen = 127.0.0.1\n"
            f" Ports = {self.port}\n MotdPhrase = bench\n PidFile = {self.tmp}/ngircd.pid\n"
            "[Limits]\n MaxConnections = 0\n MaxConnectionsIP = 0\n MaxJoins = 0\n MaxNickLength = 30\n"
            " MaxPenaltyTime = 0\n PingTimeout = 600\n PongTimeout = 600\n"
            "[Options]\n DNS = no\n Ident = no\n PAM = no\n",
            encoding="utf-8",
        )
        self.proc = subprocess.Popen(
            [self.binary, "-n", "-f", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_listening(self.port, self.proc)


# ---------------------------------------------------------------------------------- clients


@dataclass(eq=False)
class Client:
    index: int
    sock: socket.socket
    nick: str
    inbox: bytes = b""
    outbox: bytearray = field(default_factory=bytearray)
    ready: bool = False
    stuck: bool = False
    writing: bool = False
    seen: bool = False  # the server has sent this client something


class Protocol:
    """How a bench client speaks to one kind of server."""

    def hello(self, nick: str) -> bytes:
        raise NotImplementedError

    def on_line(self, client: Client, line: bytes) -> bytes:
        """Handshake step: returns bytes to send (and sets client.ready)."""
        raise NotImplementedError

    def message(self, text: bytes) -> bytes:
        raise NotImplementedError


class NetlabProtocol(Protocol):
    def hello(self, nick: str) -> bytes:
        return b""  # answer the NICK greeting (a bare chunk, no newline) in on_greeting

    def on_greeting(self, client: Client) -> bytes:
        if client.inbox.startswith(b"NICK"):
            client.inbox = client.inbox[4:]
            return client.nick.encode() + b"\n"
        return b""

    def on_line(self, client: Client, line: bytes) -> bytes:
        if b"*** Welcome to netlab chat" in line:
            client.ready = True
        return b""

    def message(self, text: bytes) -> bytes:
        return text + b"\n"


class IrcProtocol(Protocol):
    def hello(self, nick: str) -> bytes:
        return f"NICK {nick}\r\nUSER {nick} 0 * :bench\r\n".encode()

    def on_line(self, client: Client, line: bytes) -> bytes:
        if line.startswith(b"PING"):
            return b"PONG" + line[4:] + b"\r\n"
        parts = line.split(b" ", 2)
        if len(parts) > 1 and parts[1] == b"001":
            return b"JOIN #bench\r\n"
        if len(parts) > 1 and parts[1] == b"366":
            client.ready = True
        return b""

    def message(self, text: bytes) -> bytes:
        return b"PRIVMSG #bench :" + text + b"\r\n"


# ---------------------------------------------------------------------------------- the run


@dataclass
class Result:
    server: str
    clients: int
    deliveries: int = 0
    seconds: float = 0.0
    latencies_ns: list[int] = field(default_factory=list)
    lost: int = 0
    garbled: int = 0
    duplicated: int = 0
    cpu_seconds: float = 0.0
    stuck_cut: bool | None = None
    note: str = ""
    setup_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds / self.deliveries * 1e6 if self.deliveries else float("nan")

    def pct(self, q: float) -> float:
        if not self.latencies_ns:
            return float("nan")
        ordered = sorted(self.latencies_ns)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


class LoadRun:
    """Drive `n` clients against one server and check every delivery."""

    def __init__(
        self, server: ServerProcess, protocol: Protocol, n: int, messages: int, pad: int, window: int, stuck: bool
    ) -> None:
        self.server, self.protocol, self.n = server, protocol, n
        self.messages, self.pad, self.window, self.with_stuck = messages, pad, window, stuck
        self.selector = selectors.EpollSelector()
        self.clients: list[Client] = []
        self.result = Result(server.name, n)
        # per sender: next seq to send, in-flight remaining-receiver counts
        self.sent = [0] * SENDERS
        self.remaining: list[dict[int, int]] = [{} for _ in range(SENDERS)]
        self.expected: list[list[int]] = []
        self.measuring = False
        self.last_progress = 0.0

    # -- setup

    def connect_all(self) -> None:
        for index in range(self.n):
            # a distinct 127/8 source address per client: ngIRCd throttles repeated connects from one IP
            source = (f"127.0.{1 + index // 250}.{1 + index % 250}", 0)
            sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10, source_address=source)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.with_stuck and index == self.n - 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            client = Client(index, sock, f"c{index}")
            self.clients.append(client)
            self.selector.register(sock, selectors.EVENT_READ, client)
            self.write(client, self.protocol.hello(client.nick))
            if index % 10 == 9:
                self.await_first_bytes(self.clients[-10:])
        deadline = time.monotonic() + 60
        while not all(c.ready for c in self.clients):
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {sum(c.ready for c in self.clients)}/{self.n} clients joined")
            self.pump(0.05)
        quiet_until = time.monotonic() + 0.5
        while time.monotonic() < quiet_until:  # drain the join notices
            if self.pump(0.1):
                quiet_until = time.monotonic() + 0.5
        if self.with_stuck:
            stuck = self.clients[-1]
            stuck.stuck = True
            self.selector.unregister(stuck.sock)
        self.expected = [[0] * SENDERS for _ in range(self.n)]

    def await_first_bytes(self, batch: list[Client]) -> None:
        """Wait until the server has answered each client of `batch` (so it has accepted them).

        ngIRCd listens with a backlog of 10 and accepts about once a second, so a burst of
        connects would wait for SYN retransmits; connecting in accepted batches of 10 avoids it.
        """
        deadline = time.monotonic() + 10
        while not all(c.seen for c in batch) and time.monotonic() < deadline:
            self.pump(0.01)

    def write(self, client: Client, data: bytes) -> None:
        if not data:
            return
        if client.outbox:
            client.outbox += data
            return
        try:
            sent = client.sock.send(data)
        except BlockingIOError:
            sent = 0
        if sent < len(data):
            client.outbox += data[sent:]
            if not client.writing:
                client.writing = True
                self.selector.modify(client.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)

    def pump(self, timeout: float) -> int:
        """One round of the event loop; returns bytes read."""
        total = 0
        for key, mask in self.selector.select(timeout):
            client: Client = key.data
            if mask & selectors.EVENT_WRITE and client.outbox:
                try:
                    sent = client.sock.send(client.outbox)
                    del client.outbox[:sent]
                except BlockingIOError:
                    pass
                if not client.outbox:
                    client.writing = False
                    self.selector.modify(client.sock, selectors.EVENT_READ, client)
            if mask & selectors.EVENT_READ:
                total += self.read(client)
        return total

    def read(self, client: Client) -> int:
        try:
            data = client.sock.recv(1 << 18)
        except BlockingIOError:
            return 0
        except ConnectionResetError:
            data = b""
        if not data:
            self.selector.unregister(client.sock)
            self.result.note += f" c{client.index} disconnected;"
            return 0
        now = time.perf_counter_ns()
        client.seen = True
        buffer = client.inbox + data if client.inbox else data
        if not client.ready and isinstance(self.protocol, NetlabProtocol):
            client.inbox = buffer
            self.write(client, self.protocol.on_greeting(client))
            buffer, client.inbox = client.inbox, b""
        lines = buffer.split(b"\n")
        client.inbox = lines.pop()
        for line in lines:
            at = line.find(MARK)
            if at >= 0 and self.measuring:
                self.check(client, line[at:].rstrip(b"\r"), now)
            elif not client.ready or line.startswith(b"PING"):
                self.write(client, self.protocol.on_line(client, line.rstrip(b"\r")))
        return len(data)

    # -- messages

    def payload(self, sender: int, seq: int) -> bytes:
        body = b"B %d %d %d %s" % (sender, seq, time.perf_counter_ns(), b"x" * self.pad)
        return body + b" %08x" % zlib.crc32(body)

    def check(self, client: Client, text: bytes, now: int) -> None:
        result = self.result
        try:
            body, crc = text[:-9], int(text[-8:], 16)
            if zlib.crc32(body) != crc or text[-9:-8] != b" ":
                raise ValueError
            _, s, q, t, _pad = body.split(b" ", 4)
            sender, seq, sent_ns = int(s), int(q), int(t)
        except ValueError:
            result.garbled += 1
            return
        expected = self.expected[client.index]
        if seq < expected[sender]:
            result.duplicated += 1
            return
        if seq > expected[sender]:
            result.lost += seq - expected[sender]
        expected[sender] = seq + 1
        result.deliveries += 1
        result.latencies_ns.append(now - sent_ns)
        pending = self.remaining[sender]
        left = pending.get(seq)
        if left is not None:
            if left <= 1:
                del pending[seq]
            else:
                pending[seq] = left - 1
        self.last_progress = time.monotonic()

    def send_more(self) -> None:
        receivers = self.n - 1 - (1 if self.with_stuck else 0)
        for sender in range(SENDERS):
            pending = self.remaining[sender]
            while self.sent[sender] < self.messages and len(pending) < self.window:
                seq = self.sent[sender]
                pending[seq] = receivers
                self.write(self.clients[sender], self.protocol.message(self.payload(sender, seq)))
                self.sent[sender] += 1

    def measure(self) -> Result:
        result = self.result
        cpu0, start = self.server.cpu(), time.perf_counter()
        self.measuring = True
        self.last_progress = time.monotonic()
        while True:
            self.send_more()
            self.pump(0.05)
            done = all(s == self.messages for s in self.sent) and not any(self.remaining)
            if done or time.monotonic() - self.last_progress > 5.0:
                break
        result.seconds = time.perf_counter() - start
        result.cpu_seconds = self.server.cpu() - cpu0
        for index, expected in enumerate(self.expected):
            if index == self.n - 1 and self.with_stuck:
                continue
            for sender, got in enumerate(expected):
                if sender != index:
                    result.lost += self.sent[sender] - got
        if self.with_stuck:
            result.stuck_cut = self.stuck_was_cut()
        return result

    def stuck_was_cut(self) -> bool:
        """Whether the server has dropped the client that never read (its socket gone from the server)."""
        assert self.server.proc is not None
        local = self.clients[-1].sock.getsockname()
        deadline = time.monotonic() + 3.0
        while True:
            held = [
                c
                for c in psutil.Process(self.server.proc.pid).net_connections(kind="tcp")
                if c.raddr and (c.raddr.ip, c.raddr.port) == tuple(local[:2])
            ]
            if not held or time.monotonic() > deadline:
                return not held
            time.sleep(0.1)

    def close(self) -> None:
        for client in self.clients:
            with contextlib.suppress(OSError):
                client.sock.close()
        self.selector.close()


def run_one(
    server_cls: type[ServerProcess], n: int, deliveries: int, window: int, pad: int, stuck: bool = False
) -> Result:
    server = server_cls()
    protocol: Protocol = NetlabProtocol() if server_cls is NetlabServer else IrcProtocol()
    server.start(n)
    receivers = n - 1 - (1 if stuck else 0)
    messages = max(20, deliveries // (SENDERS * receivers))
    run = LoadRun(server, protocol, n, messages, pad, window, stuck)
    try:
        began = time.perf_counter()
        run.connect_all()
        setup = time.perf_counter() - began
        result = run.measure()
        result.setup_seconds = setup
        return result
    finally:
        run.close()
        server.stop()


# ---------------------------------------------------------------------------------- report


def row(result: Result) -> str:
    cut = "" if result.stuck_cut is None else ("  slow client cut" if result.stuck_cut else "  slow client NOT cut")
    return (
        f"{result.server:<7} N={result.clients:<5} {result.deliveries:>8} deliveries  {result.rate:>9,.0f}/s  "
        f"p50 {result.pct(0.5):6.1f} ms  p99 {result.pct(0.99):6.1f} ms  lost {result.lost}  "
        f"garbled {result.garbled}  dup {result.duplicated}  CPU {result.cpu_us:5.2f} µs/delivery{cut}"
        f"  (setup {result.setup_seconds:.1f} s, run {result.seconds:.1f} s)"
        f"{'  [' + result.note.strip() + ']' if result.note else ''}"
    )


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 50 and 200 only, fewer deliveries")
    parser.add_argument("--deliveries", type=int, default=250_000, help="target deliveries per run")
    parser.add_argument("--window", type=int, default=16, help="messages in flight per sender")
    parser.add_argument("--pad", type=int, default=40, help="padding bytes per message")
    parser.add_argument("--sizes", default="50,200,1000", help="client counts")
    args = parser.parse_args()
    sizes = [50, 200] if args.quick else [int(x) for x in args.sizes.split(",")]
    deliveries = 60_000 if args.quick else args.deliveries
    raise_fd_limit(2 * max(sizes) + 200)
    have_ngircd = Path(NgircdServer.binary).exists()
    if not have_ngircd:
        print("ngIRCd not found (apt-get install ngircd): netlab only, no ratios", file=sys.stderr)
    print(
        f"# chat load: {SENDERS} senders, window {args.window}, ~{deliveries} deliveries per run, "
        f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}"
    )
    results: dict[tuple[str, int, bool], Result] = {}
    for n in sizes:
        for cls in (NetlabServer, NgircdServer) if have_ngircd else (NetlabServer,):
            result = run_one(cls, n, deliveries, args.window, args.pad)
            results[(cls.name, n, False)] = result
            print(row(result), flush=True)
    slow_n, slow_pad = 20, 400  # few receivers, big messages: several MB reach the stuck client
    slow_deliveries = 250_000
    for cls in (NetlabServer, NgircdServer) if have_ngircd else (NetlabServer,):
        result = run_one(cls, slow_n, slow_deliveries, args.window, slow_pad, stuck=True)
        results[(cls.name, slow_n, True)] = result
        print("slow consumer: " + row(result), flush=True)
    if have_ngircd:
        print("\n# netlab / ngIRCd (same run)")
        for n in sizes:
            mine, peer = results[("netlab", n, False)], results[("ngIRCd", n, False)]
            print(
                f"N={n:<5} deliveries/s x{mine.rate / peer.rate:5.2f}   CPU/delivery x{mine.cpu_us / peer.cpu_us:5.2f}"
                f"   p99 x{mine.pct(0.99) / peer.pct(0.99):5.2f}"
            )
    netlab = [results[("netlab", n, False)] for n in sizes]
    slow = results[("netlab", slow_n, True)]
    checks = {
        "zero lost/garbled/duplicated at every N": all(r.lost == r.garbled == r.duplicated == 0 for r in netlab),
        f"{max(sizes)} clients served": netlab[-1].deliveries > 0 and "disconnected" not in netlab[-1].note,
        "slow consumer cut, others lose nothing, p99 < 100 ms": bool(slow.stuck_cut)
        and slow.lost == 0
        and slow.pct(0.99) < 100,
        f"deliveries/s at N={max(sizes)} >= at N={min(sizes)}": netlab[-1].rate >= netlab[0].rate,
    }
    if have_ngircd and 200 in sizes:
        checks["CPU/delivery <= 2x ngIRCd at N=200"] = (
            results[("netlab", 200, False)].cpu_us <= 2 * results[("ngIRCd", 200, False)].cpu_us
        )
    print("\n# targets")
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
