"""`netlab analyze --port P` live on loopback (real capture, root): capture until stopped, then analyse;
`--save-to` writes a capture whose `--read` analysis is the same."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.live

TIMEOUT = 30


def _echo_server(listener: socket.socket, stop: threading.Event) -> None:
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)


def test_live_analyze_then_read_the_saved_capture(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("capturing needs root")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()
    server = threading.Thread(target=_echo_server, args=(listener, stop))
    server.start()
    saved = tmp_path / "live.pcap"
    proc = subprocess.Popen(
        [sys.executable, "-m", "netlab", "analyze", "--port", str(port), "--save-to", str(saved), "-f", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + TIMEOUT
        line = proc.stderr.readline()
        while not line.startswith("netlab analyze: capturing"):
            assert proc.poll() is None and time.monotonic() < deadline, line
            line = proc.stderr.readline()
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
            for i in range(5):
                client.sendall(f"line {i}\n".encode())
                client.recv(100)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        stop.set()
        server.join(TIMEOUT)
        listener.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    summaries = [json.loads(line) for line in out.splitlines() if '"summary"' in line]
    assert len(summaries) == 1 and summaries[0]["conn_state"] == "SF"
    assert summaries[0]["bytes_c2s"] == sum(len(f"line {i}\n") for i in range(5))
    assert summaries[0]["rtt_samples"] > 0
    again = subprocess.run(
        [sys.executable, "-m", "netlab", "analyze", "--read", str(saved), "-f", "json", "--no-summary"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert again.returncode == 0 and again.stdout == out
