"""The students' servers of tests/check_servers/ really have their bug, seen with plain sockets (no grader):
each probe shows the bug on the buggy server and not on a correct server of the same protocol, so that
test_check_servers.py's expectations test the grader, not the fixtures."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import psutil
import pytest
from test_check_servers import SERVERS, Process, free_port, listening, wait_until

pytestmark = pytest.mark.timeout(60)


class Peer:
    """One client socket with timeouts; `got` keeps everything received."""

    def __init__(self, port: int, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket()
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.got = b""
        self.eof = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until(self, marker: bytes, timeout: float = 2.0) -> bool:
        """Read until `marker` has arrived (True), the peer closed, or `timeout` passed."""
        deadline = time.monotonic() + timeout
        while marker not in self.got and not self.eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return False
            except ConnectionResetError:
                chunk = b""
            self.eof = not chunk
            self.got += chunk
        return marker in self.got

    def close_cleanly(self) -> None:
        """Read what has arrived, then close: with unread bytes the kernel would send RST instead of FIN."""
        self.read_until(b"\x00", timeout=0.3)  # a marker that never comes: just collect
        self.sock.close()

    def reset(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


class Chat:
    """A running server and the way its clients join: `nick` (the tutorial's NICK), `first-line` (the first
    line is the name), `raw` (no handshake). Joins wait for the server's log line, never for a fixed time."""

    def __init__(self, name: str, server: Process, port: int, kind: str) -> None:
        self.name, self.server, self.port, self.kind = name, server, port, kind
        self.peers: list[Peer] = []

    def joins(self) -> int:
        return self.server.stdout().count(" joined from ")

    def join(self, name: str) -> Peer:
        before = self.joins()
        peer = Peer(self.port)
        self.peers.append(peer)
        if self.kind == "nick":
            assert peer.read_until(b"NICK"), peer.got
            peer.send(name.encode())
        elif self.kind == "first-line":
            peer.send(name.encode() + b"\n")
        assert wait_until(lambda: self.joins() > before, 3), self.server.stdout()
        return peer

    def cpu(self, seconds: float) -> float:
        """Cores used by the server during the next `seconds`."""
        process = psutil.Process(self.server.proc.pid)
        start = process.cpu_times()
        time.sleep(seconds)  # measuring an interval, not waiting for an event
        end = process.cpu_times()
        return (end.user + end.system - start.user - start.system) / seconds

    def alive(self) -> bool:
        return self.server.proc.poll() is None


@contextmanager
def running(server: str, kind: str) -> Iterator[Chat]:
    port = free_port()
    process = Process([sys.executable, "-u", str(SERVERS / server), str(port)])
    chat = Chat(server, process, port, kind)
    try:
        assert wait_until(lambda: listening(port) or process.proc.poll() is not None, 10)
        assert listening(port), process.stdout() + process.stderr()
        yield chat
    finally:
        for peer in chat.peers:
            peer.close()
        process.stop(signal.SIGKILL)


# ------------------------------------------------------------------ probes: True when the bug shows


def split_line_broken(chat: Chat) -> bool:
    """A line in three segments while another client speaks: the receiver does not get it whole."""
    alice, bob, carol = chat.join("alice"), chat.join("bob"), chat.join("carol")
    alice.send(b"hel")
    bob.read_until(b"hel", timeout=0.5)  # a relay per recv() forwards it now; a framing server holds it
    carol.send(b"other line\n")
    bob.read_until(b"other line\n")
    for piece in (b"lo wor", b"ld\n"):
        time.sleep(0.05)  # separate segments: the point of the probe
        alice.send(piece)
    bob.read_until(b"other line\n")
    bob.read_until(b"ld\n")
    return not any(line.endswith(b"hello world") for line in bob.got.split(b"\n"))


def utf8_cut(chat: Chat) -> bool:
    """Characters cut across segments: the receiver sees U+FFFD or not the text (or the sender is dropped)."""
    alice, bob = chat.join("alice"), chat.join("bob")
    data = "привет 世界 👋\n".encode()
    for start in range(0, len(data), 3):
        alice.send(data[start : start + 3])
        time.sleep(0.02)  # separate segments
    bob.read_until(b"\n\n", timeout=1)
    text = bob.got.decode("utf-8", errors="replace")
    return "\ufffd" in text or "привет 世界 👋" not in text


def echoes(chat: Chat) -> bool:
    alice, bob = chat.join("alice"), chat.join("bob")
    alice.send(b"echo probe\n")
    assert bob.read_until(b"echo probe")
    return alice.read_until(b"echo probe", timeout=0.5)


def slow_consumer_stalls(chat: Chat) -> bool:
    """A client that never reads (small receive buffer): do the others still get 4 MB of chat in time?"""
    slow = Peer(chat.port, rcvbuf=4096)
    chat.peers.append(slow)
    before = chat.joins()
    assert slow.read_until(b"NICK")
    slow.send(b"slow")
    assert wait_until(lambda: chat.joins() > before, 3)
    alice, bob = chat.join("alice"), chat.join("bob")
    line = b"x" * 1000 + b"\n"
    count = 4000

    def read() -> None:
        """Collect until all lines are in, or nothing came for 1.5 s (a stall), or 10 s passed."""
        deadline = time.monotonic() + 10
        while bob.got.count(b"x\n") < count and not bob.eof and time.monotonic() < deadline:
            size = len(bob.got)
            bob.read_until(b"\x00", timeout=1.5)  # a marker that never comes: just collect
            if len(bob.got) == size:
                return

    reader = threading.Thread(target=read)
    reader.start()
    sender = threading.Thread(target=lambda: alice.send(line * count))
    sender.start()
    reader.join(15)
    stalled = bob.got.count(b"x\n") < count
    slow.reset()  # unblocks a server stuck on it, so that the sender thread ends
    sender.join(10)
    return stalled


def silent_client_blocks_joins(chat: Chat) -> bool:
    silent = Peer(chat.port)
    chat.peers.append(silent)
    newcomer = Peer(chat.port)
    chat.peers.append(newcomer)
    return not newcomer.read_until(b"NICK", timeout=1.5)


def dies_on_connect_close(chat: Chat) -> bool:
    chat.join("alice")
    for _ in range(3):
        socket.create_connection(("127.0.0.1", chat.port), timeout=5).close()
    return wait_until(lambda: not chat.alive(), 1.5)


def dies_on_reset(chat: Chat) -> bool:
    chat.join("alice")
    chat.join("carol").reset()
    return wait_until(lambda: not chat.alive(), 1.5)


def spins_after_clean_close(chat: Chat) -> bool:
    chat.join("alice")
    chat.join("carol").close_cleanly()
    return chat.cpu(1.0) > 0.1


def leave_mutes_the_next_speaker(chat: Chat) -> bool:
    """After a clean leave, a live client's two lines must reach the others and it must stay connected."""
    alice, bob = chat.join("alice"), chat.join("bob")
    chat.join("carol").close_cleanly()
    assert wait_until(lambda: "carol left" in chat.server.stdout(), 3), chat.server.stdout()
    alice.send(b"one\n")
    alice.send(b"two\n")
    bob.read_until(b"two\n", timeout=1)
    alice.read_until(b"two\n", timeout=0.3)  # nothing comes (no echo); notices a close
    return b"one\n" not in bob.got or b"two\n" not in bob.got or alice.eof


def cap_leaves_clients_hanging(chat: Chat) -> bool:
    peers = [Peer(chat.port) for _ in range(12)]
    chat.peers.extend(peers)
    return not all(peer.read_until(b"NICK", timeout=2) for peer in peers)


def restart_fails(chat: Chat) -> bool:
    """With a client connected: SIGINT ends it within 2 s, and a new start listens on the same port at once."""
    chat.join("alice")
    chat.server.proc.send_signal(signal.SIGINT)
    try:
        chat.server.proc.wait(2)
    except subprocess.TimeoutExpired:
        return True
    again = Process([sys.executable, "-u", str(SERVERS / chat.name), str(chat.port)])
    try:
        wait_until(lambda: listening(chat.port) or again.proc.poll() is not None, 5)
        return not listening(chat.port)
    finally:
        again.stop(signal.SIGKILL)


# ------------------------------------------------------------------ the table: (probe, buggy server, control)

Probe = Callable[[Chat], bool]
TABLE: list[tuple[Probe, str, str, str]] = [
    (split_line_broken, "bug_relay_per_recv.py", "ok_nick.py", "nick"),
    (split_line_broken, "bug_per_chunk_prefix.py", "ok_first_line_name.py", "first-line"),
    (utf8_cut, "bug_decode_per_chunk.py", "ok_nick.py", "nick"),
    (utf8_cut, "bug_ascii_only.py", "ok_nick.py", "nick"),
    (slow_consumer_stalls, "bug_global_lock_send.py", "ok_nick.py", "nick"),
    (slow_consumer_stalls, "bug_blocking_send.py", "ok_nick.py", "nick"),
    (echoes, "bug_sender_echo.py", "ok_nick.py", "nick"),
    (silent_client_blocks_joins, "bug_handshake_in_accept.py", "ok_nick.py", "nick"),
    (dies_on_connect_close, "bug_dies_on_connect_close.py", "ok_nick.py", "nick"),
    (dies_on_reset, "bug_dies_on_reset.py", "ok_raw.py", "raw"),
    (spins_after_clean_close, "bug_busy_empty_recv.py", "ok_nick.py", "nick"),
    (leave_mutes_the_next_speaker, "bug_list_mutated.py", "ok_nick.py", "nick"),
    (leave_mutes_the_next_speaker, "bug_dead_socket.py", "ok_nick.py", "nick"),
    (cap_leaves_clients_hanging, "bug_cap_busywait.py", "ok_nick.py", "nick"),
    (cap_leaves_clients_hanging, "bug_cap_hangs.py", "ok_nick.py", "nick"),
    (restart_fails, "bug_restart_no_reuseaddr.py", "ok_nick.py", "nick"),
    (restart_fails, "bug_restart_nondaemon.py", "ok_nick.py", "nick"),
]
CASES = [pytest.param(probe, server, kind, True, id=f"{server}-{probe.__name__}") for probe, server, _, kind in TABLE]
CONTROLS = sorted({(probe.__name__, control, kind): probe for probe, _, control, kind in TABLE}.items())
CASES += [
    pytest.param(probe, control, kind, False, id=f"{control}-{name}") for (name, control, kind), probe in CONTROLS
]


# A probe mostly waits (for a line that must or must not come, a process that must or must not end), so the
# probes run four at a time, each with its own server; the two that measure run alone: slow_consumer_stalls
# (megabytes of chat, a stall of 1.5 s) and spins_after_clean_close (the server's CPU use).
ALONE = {"slow_consumer_stalls", "spins_after_clean_close"}
Shown = tuple[bool, str]  # what the probe found, and the server's output to explain it


def _probe(probe: Probe, server: str, kind: str) -> Shown:
    with running(server, kind) as chat:
        found = probe(chat)
        return found, f"{server}\nstdout: {chat.server.stdout()[-1500:]}\n{chat.server.stderr()[-1500:]}"


@pytest.fixture(scope="module")
def probed(request: pytest.FixtureRequest) -> dict[tuple[str, str], Shown | BaseException]:
    """The shared probes' findings (or what they raised), keyed by (probe, server); only the selected tests'."""
    jobs = {}
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "probe" in params and "server" in params and params["probe"].__name__ not in ALONE:
            jobs[(params["probe"].__name__, params["server"])] = (params["probe"], params["server"], params["kind"])

    def run(job: tuple[Probe, str, str]) -> Shown | BaseException:
        try:
            return _probe(*job)
        except (AssertionError, OSError) as error:  # raised again in its own test
            return error

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(jobs, pool.map(run, jobs.values()), strict=True))


@pytest.mark.parametrize(("probe", "server", "kind", "buggy"), CASES)
def test_the_server_has_its_bug_and_the_correct_one_not(
    probe: Probe, server: str, kind: str, buggy: bool, request: pytest.FixtureRequest
) -> None:
    if probe.__name__ in ALONE:
        found, output = _probe(probe, server, kind)
    else:
        outcome = request.getfixturevalue("probed")[(probe.__name__, server)]
        if isinstance(outcome, BaseException):
            raise outcome
        found, output = outcome
    assert found is buggy, output


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_every_server_but_the_non_daemon_one_stops_on_the_signal(sig: signal.Signals) -> None:
    """All servers at once (each with a client connected): each exits within 2 s, except the non-daemon one."""
    names = sorted(path.name for path in SERVERS.glob("*.py") if path.name != "bug_wrong_port.py")
    ports = [free_port() for _ in names]
    processes = [
        Process([sys.executable, "-u", str(SERVERS / name), str(port)]) for name, port in zip(names, ports, strict=True)
    ]
    peers: list[Peer] = []
    try:
        assert wait_until(lambda: all(listening(port) for port in ports), 20), [p.stderr() for p in processes]
        peers = [Peer(port) for port in ports]
        for process in processes:
            process.proc.send_signal(sig)
        wait_until(lambda: all(process.proc.poll() is not None for process in processes), 2)
        running = {name for name, process in zip(names, processes, strict=True) if process.proc.poll() is None}
    finally:
        for peer in peers:
            peer.close()
        for process in processes:
            process.stop(signal.SIGKILL)
    assert running == {"bug_restart_nondaemon.py"}
