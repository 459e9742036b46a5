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

import pytest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or shutil.which("ip") is None, reason="needs Linux and iproute2"
    ),
]

PORT = 55555  # free inside a namespace of our own, whatever runs outside

INSIDE = r"""
import socket, sys
listener = socket.create_server(("127.0.0.1", 55555))
held = []
for _ in range(2):
    held.append(socket.create_connection(("127.0.0.1", 55555), timeout=10))
    held.append(listener.accept()[0])
print("ready", flush=True)
sys.stdin.read()
"""


@dataclass
class Namespaced:
    name: str
    pid: int


@pytest.fixture
def namespaced() -> Iterator[Namespaced]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace")
    name = f"netlab-sockets-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    proc: subprocess.Popen[str] | None = None
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=30)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-c", INSIDE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready and proc.stdout.readline().strip() == "ready"
        yield Namespaced(name, proc.pid)
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


def _rows(*args: str) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "netlab", "sockets", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, object]] = json.loads(result.stdout)["rows"]
    return rows


def test_netns_option_sees_the_sockets_inside_with_their_pids(namespaced: Namespaced) -> None:
    rows = _rows("--netns", namespaced.name, "--port", str(PORT))
    assert len(rows) == 5
    assert {row["pid"] for row in rows} == {namespaced.pid}  # `ip netns exec` execs python in place
    assert [row["role"] for row in rows].count("listener") == 1
    assert sorted(str(row["role"]) for row in rows[1:]) == ["client", "client", "server", "server"]


def test_pid_in_another_namespace_is_looked_up_there(namespaced: Namespaced) -> None:
    rows = _rows("--pid", str(namespaced.pid))
    assert len(rows) == 5 and {row["pid"] for row in rows} == {namespaced.pid}
    here = _rows("--port", str(PORT))
    assert namespaced.pid not in {row["pid"] for row in here}


def test_proc_fallback_reads_the_namespace_through_a_process_inside(namespaced: Namespaced) -> None:
    rows = _rows("--netns", namespaced.name, "--port", str(PORT), "--backend", "proc")
    assert len(rows) == 5 and {row["pid"] for row in rows} == {namespaced.pid}
