"""Helpers shared by the chat integration tests (no tests here)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from netlab.chat.server import ChatServer

TIMEOUT = 5.0


class LineClient:
    """A minimal line-dialect participant on a real socket (like nc), with timeouts everywhere."""

    def __init__(self, address: tuple[str, int], nick: str | None = None) -> None:
        self.sock = socket.create_connection(address, timeout=TIMEOUT)
        self.buffer = b""
        self.nick = nick
        greeting = self.sock.recv(4)
        assert greeting == b"NICK", greeting
        self.welcome = ""
        if nick is not None:
            self.sock.sendall(nick.encode() + b"\n")
            self.welcome = self.expect("Welcome")

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def say(self, text: str) -> None:
        self.send(text + "\n")

    def line(self, timeout: float = TIMEOUT) -> str:
        """The next line (raises TimeoutError or EOFError)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no line within {timeout} s; have {self.buffer[:200]!r}")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"EOF; have {self.buffer[:200]!r}")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode("utf-8", errors="replace")

    def expect(self, fragment: str, timeout: float = TIMEOUT) -> str:
        """Skip lines until one contains `fragment`; return it."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.line(max(0.01, deadline - time.monotonic()))
            if fragment in line:
                return line

    def lines_until_quiet(self, quiet: float = 0.3) -> list[str]:
        out = []
        while True:
            try:
                out.append(self.line(quiet))
            except TimeoutError:
                return out

    def read_to_eof(self, timeout: float = TIMEOUT) -> bytes:
        deadline = time.monotonic() + timeout
        data = self.buffer
        self.buffer = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no EOF within {timeout} s")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return data
            if not chunk:
                return data
            data += chunk

    def close(self) -> None:
        self.sock.close()


@contextmanager
def running_server(tmp_path: Path, **options: Any) -> Iterator[ChatServer]:
    """A ChatServer on 127.0.0.1:0, always stopped afterwards."""
    options.setdefault("status_dir", tmp_path)
    options.setdefault("flood_rate", 0)
    server = ChatServer(port=0, **options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def thread_count() -> int:
    return threading.active_count()


def wait_for(predicate: Any, timeout: float = TIMEOUT, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class ServeProcess:
    """`python -m netlab serve --port 0` in a subprocess, its address read from stderr."""

    def __init__(self, tmp_path: Path, *args: str, global_args: tuple[str, ...] = ()) -> None:
        import subprocess
        import sys

        env = {**os.environ, "NETLAB_RUNTIME_DIR": str(tmp_path)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "netlab", *global_args, "serve", "--port", "0", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.stderr: list[str] = []
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            if "listening on" in line:
                host, _, port = line.split("listening on ", 1)[1].split(" ")[0].rpartition(":")
                self.address = (host.strip("[]"), int(port))
                break
        else:
            raise RuntimeError("server did not start: " + "".join(self.stderr))
        self._drain = threading.Thread(target=self._drain_stderr)
        self._drain.start()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def cpu_seconds(self) -> float:
        import psutil

        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def rss(self) -> int:
        import psutil

        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def stop(self, sig: int | None = None) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(sig or signal.SIGTERM)
        try:
            code = self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._drain.join(5)
        return code


class RelayServer:
    """The skeleton of a students' relay server, written the classic way: an accept thread, one thread
    per client (`_serve`, which subclasses write), a lock around the client list, and a broadcast that
    calls `sendall` on every other client from the sender's thread. `close` stops and joins everything."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        self.lock = threading.Lock()
        self.clients: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept)
        self.acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(sock,))
            self.threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        raise NotImplementedError

    def _broadcast(self, data: bytes, sender: socket.socket | None) -> None:
        with self.lock:
            targets = [c for c in self.clients if c is not sender]
        for target in targets:
            try:
                target.sendall(data)
            except OSError:
                pass

    def _leave(self, sock: socket.socket) -> None:
        with self.lock:
            if sock in self.clients:
                self.clients.remove(sock)
        sock.close()

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.acceptor.join()
        with self.lock:
            for client in self.clients:
                client.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join(5)
