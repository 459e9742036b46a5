"""Benchmark `netlab sockets` against ss, netstat and psutil on a busy machine (Linux, root for pids).

Setup: a noise process holding 5 000 loopback connections (10 001 sockets) on one port, the real
`ChatServer` in its own process, and 50 `ChatClient`s in another, all on 127.0.0.1. Then, for the
chat's port P, each tool runs REPEAT times (interleaved) and the median wall time is printed:

- netlab (library): `netlab.sockets.snapshot.snapshot(P)` in this process;
- netlab (CLI): the whole `netlab sockets --port P --json` process, interpreter start included;
- ss: `ss -tanp '( sport = :P or dport = :P )'`;
- netstat: `netstat -tanp | grep :P`;
- psutil: `psutil.net_connections('tcp')` filtered by port, in this process;
- and, for honesty, `python -c pass` (the interpreter's start, paid by any CLI run) and
  `python -c 'import netlab.cli.app'` (what every typer command pays before its work; `netlab sockets`
  skips it when the entry point's fast path takes its arguments).

Before timing, netlab's rows are checked to be ss's rows (local, remote, state, pids).
Usage: .venv/bin/python bench/sockets_bench.py [--noise 5000] [--clients 50] [--repeat 15]
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

NOISE = r"""
import resource, socket, sys
count = int(sys.argv[1])
listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
port = listener.getsockname()[1]
held = []
for _ in range(count):
    held.append(socket.create_connection(("127.0.0.1", port)))
    held.append(listener.accept()[0])
print(port, flush=True)
sys.stdin.read()
"""

SERVER = r"""
import sys
from pathlib import Path
from netlab.chat.server import ChatServer, ServerConfig
server = ChatServer(ServerConfig(port=0, status_dir=Path(sys.argv[1])))
print(server.start()[1], flush=True)
try:
    sys.stdin.read()
finally:
    server.stop()
"""

CLIENTS = r"""
import sys
from netlab.chat.client import ChatClient
port, count = int(sys.argv[1]), int(sys.argv[2])
clients = [ChatClient.connect("127.0.0.1", port, f"user{i}") for i in range(count)]
print("ready", flush=True)
sys.stdin.read()
for client in clients:
    client.close()
"""


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def first_line(proc: subprocess.Popen[str], timeout: float = 120) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise SystemExit("a helper process did not start in time")
    return proc.stdout.readline().strip()


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < wanted:
        raise SystemExit(f"need {wanted} open files; the hard limit is {hard}")


def run_quiet(command: list[str] | str, **options: object) -> None:
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, **options)  # type: ignore[call-overload]


def ss_rows(port: int) -> set[tuple[str, str, str, frozenset[int]]]:
    out = subprocess.run(
        ["ss", "-tanpH", f"( sport = :{port} or dport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = set()
    for line in out.splitlines():
        state, _rq, _sq, local, remote, *users = line.split()
        rows.add((local, remote, state, frozenset(int(p) for p in re.findall(r"pid=(\d+)", " ".join(users)))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=int, default=5000, help="background connections on another port")
    parser.add_argument("--clients", type=int, default=50, help="chat clients")
    parser.add_argument("--repeat", type=int, default=15, help="runs per tool (median reported)")
    options = parser.parse_args()
    if not sys.platform.startswith("linux") or shutil.which("ss") is None:
        raise SystemExit("this benchmark needs Linux with ss (iproute2) and netstat (net-tools)")
    raise_fd_limit(2 * options.noise + 2 * options.clients + 512)

    from netlab.sockets.snapshot import snapshot
    from netlab.sockets.table import format_endpoint

    runtime_dir = Path(tempfile.mkdtemp(prefix="netlab-sockets-bench-"))
    procs: list[subprocess.Popen[str]] = []
    try:
        procs.append(spawn(NOISE, str(options.noise)))
        noise_port = int(first_line(procs[-1]))
        procs.append(spawn(SERVER, str(runtime_dir)))
        port = int(first_line(procs[-1]))
        procs.append(spawn(CLIENTS, str(port), str(options.clients)))
        if first_line(procs[-1]) != "ready":
            raise SystemExit("the chat clients did not connect")
        time.sleep(0.5)  # let the server publish its registry
        env_cli = {"NETLAB_RUNTIME_DIR": str(runtime_dir), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
        netlab_cli = [sys.executable, "-m", "netlab", "sockets", "--port", str(port), "--json"]

        taken = snapshot(port, status_dir=runtime_dir)
        ours = {
            (format_endpoint(r.local), format_endpoint(r.remote), r.state.ss_name, frozenset(r.pids))
            for r in taken.rows
        }
        theirs = ss_rows(port)
        cli = json.loads(subprocess.run(netlab_cli, capture_output=True, text=True, env=env_cli, check=True).stdout)
        cli_rows = {(r["local"], r["remote"], r["state"], frozenset(r["pids"])) for r in cli["rows"]}
        nicknamed = sum(1 for r in cli["rows"] if r["nickname"])
        same = ours == theirs == cli_rows
        print(
            f"setup: {options.noise} noise connections on port {noise_port} ({2 * options.noise + 1} sockets), "
            f"real ChatServer on port {port} with {options.clients} ChatClients; "
            f"{len(theirs)} rows on the chat port; netlab rows == ss rows: {same}; rows with a nickname: {nicknamed}"
        )
        if not same:
            print(f"  only netlab: {sorted(ours - theirs)[:5]}\n  only ss: {sorted(theirs - ours)[:5]}")

        import psutil

        def psutil_call() -> None:
            [
                c
                for c in psutil.net_connections("tcp")
                if port in (c.laddr[1] if c.laddr else 0, c.raddr[1] if c.raddr else 0)
            ]

        from netlab.sockets import diag

        tools: dict[str, Callable[[], None]] = {
            "netlab library  snapshot(P)": lambda: snapshot(port, status_dir=runtime_dir),
            "  of which the sock_diag query alone": lambda: diag.query(port),
            "netlab CLI      netlab sockets --port P --json": lambda: run_quiet(netlab_cli, env=env_cli),
            "ss              ss -tanp 'sport = :P or dport = :P'": lambda: run_quiet(
                ["ss", "-tanp", f"( sport = :{port} or dport = :{port} )"]
            ),
            "netstat         netstat -tanp | grep :P": lambda: run_quiet(f"netstat -tanp | grep :{port}", shell=True),
            "psutil          net_connections('tcp') by port": psutil_call,
            "python -c pass  (interpreter start)": lambda: run_quiet([sys.executable, "-c", "pass"]),
            "python -c 'import netlab.cli.app'  (typer app)": lambda: run_quiet(
                [sys.executable, "-c", "import netlab.cli.app"]
            ),
        }
        samples: dict[str, list[float]] = {name: [] for name in tools}
        for _ in range(options.repeat):  # interleaved, so drift hits every tool alike
            for name, call in tools.items():
                start = time.perf_counter()
                call()
                samples[name].append(time.perf_counter() - start)
        medians = {name: statistics.median(values) for name, values in samples.items()}
        ss_time = medians["ss              ss -tanp 'sport = :P or dport = :P'"]
        print(f"median of {options.repeat} runs; ratio = time / time of ss -tanp (lower is better)")
        for name, value in medians.items():
            print(f"  {name:<56} {value * 1000:8.1f} ms   x{value / ss_time:5.2f}")
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(runtime_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
