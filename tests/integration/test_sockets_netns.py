"""`--netns NAME` and `--pid` of a process in another network namespace (Linux, root)."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or shutil.which("ip") is None, reason="needs Linux and iproute2"
    ),
]

PORT = 55555  # free inside a namespace of our own, whatever runs outside

INSIDE = r"""
import os, socket, sys, time
from pathlib import Path
from netlab.runtime import write_status
listener = socket.create_server(("127.0.0.1", 55555))
held, clients = [], []
for nick in ("ann", "ben"):
    held.append(socket.create_connection(("127.0.0.1", 55555), timeout=10))
    conn, peer = listener.accept()
    held.append(conn)
    clients.append({"nick": nick, "remote": "%s:%d" % peer, "local": "127.0.0.1:55555", "joined": time.time()})
write_status(55555, {"pid": os.getpid(), "host": "127.0.0.1", "port": 55555, "listen": "127.0.0.1:55555",
                     "clients": clients}, Path(sys.argv[1]))
print("ready", flush=True)
sys.stdin.read()
"""


@dataclass
class Namespaced:
    name: str
    pid: int
    runtime_dir: Path


@pytest.fixture
def namespaced(tmp_path: Path) -> Iterator[Namespaced]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace")
    name = f"netlab-sockets-{os.getpid()}"
    created = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, timeout=30)
    if created.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {created.stderr.strip()}")
    proc: subprocess.Popen[str] | None = None
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=30)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-c", INSIDE, str(tmp_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready and proc.stdout.readline().strip() == "ready"
        yield Namespaced(name, proc.pid, tmp_path)
    finally:
        if proc is not None:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)


def _run(where: Namespaced, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NETLAB_RUNTIME_DIR": str(where.runtime_dir)}
    command = [sys.executable, "-m", "netlab", "sockets", *args, "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    return result


def _rows(where: Namespaced, *args: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(_run(where, *args).stdout)["rows"]
    return rows


def test_netns_option_sees_the_sockets_inside_with_their_pids(namespaced: Namespaced) -> None:
    rows = _rows(namespaced, "--netns", namespaced.name, "--port", str(PORT))
    assert len(rows) == 5
    assert sorted(str(row["nickname"]) for row in rows[1:]) == ["ann", "ann", "ben", "ben"]
    assert {row["pid"] for row in rows} == {namespaced.pid}  # `ip netns exec` execs python in place
    assert [row["role"] for row in rows].count("listener") == 1
    assert sorted(str(row["role"]) for row in rows[1:]) == ["client", "client", "server", "server"]


def test_pid_in_another_namespace_is_looked_up_there(namespaced: Namespaced) -> None:
    rows = _rows(namespaced, "--pid", str(namespaced.pid))
    assert len(rows) == 5 and {row["pid"] for row in rows} == {namespaced.pid}


def test_a_server_in_another_namespace_is_pointed_at_not_misapplied(namespaced: Namespaced) -> None:
    result = _run(namespaced, "--port", str(PORT))
    document = json.loads(result.stdout)
    assert namespaced.pid not in {row["pid"] for row in document["rows"]}
    assert {row["nickname"] for row in document["rows"]} <= {None}  # its registry names its own sockets only
    assert f"--netns /proc/{namespaced.pid}/ns/net" in result.stderr
    rows = _rows(namespaced, "--netns", f"/proc/{namespaced.pid}/ns/net", "--port", str(PORT))
    assert len(rows) == 5 and {row["pid"] for row in rows} == {namespaced.pid}


def test_proc_fallback_reads_the_namespace_through_a_process_inside(namespaced: Namespaced) -> None:
    rows = _rows(namespaced, "--netns", namespaced.name, "--port", str(PORT), "--backend", "proc")
    assert len(rows) == 5 and {row["pid"] for row in rows} == {namespaced.pid}
