"""Bad input: each case has a clear outcome, other clients are unaffected, the server stays up, memory is bounded."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_chat_support import (
    LineClient,
    ServeProcess,
    open_fds,
    running_server,
    thread_count,
    wait_for,
)

from netlab.chat.server import ChatServer

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def room(tmp_path: Path) -> Iterator[tuple[ChatServer, LineClient, LineClient]]:
    with running_server(tmp_path, handshake_timeout=0.6) as chat:
        alice, bob = LineClient(chat.address, "alice"), LineClient(chat.address, "bob")
        alice.expect("bob joined")
        try:
            yield chat, alice, bob
        finally:
            alice.close()
            bob.close()


def still_chatting(alice: LineClient, bob: LineClient, tag: str) -> None:
    """The room works: bob hears alice promptly."""
    alice.say(f"still here {tag}")
    assert bob.expect(f"still here {tag}", timeout=2).endswith(f"{alice.nick}: still here {tag}")


def test_invalid_utf8_is_replaced(room) -> None:
    _, alice, bob = room
    alice.send(b"bad \xff\xc3 bytes\n")
    assert bob.expect("bytes").endswith("alice: bad \ufffd\ufffd bytes")
    still_chatting(alice, bob, "utf8")


def test_multibyte_character_split_across_reads(room) -> None:
    _, alice, bob = room
    word = "привет".encode()
    alice.send(word[:1])
    time.sleep(0.05)
    alice.send(word[1:5])
    time.sleep(0.05)
    alice.send(word[5:] + b"\n")
    assert bob.expect("alice:").endswith("alice: привет")


def test_nul_bytes_neither_split_nor_truncate(room) -> None:
    _, alice, bob = room
    alice.send(b"a\x00b\x00c\n")
    assert bob.expect("alice:").endswith("alice: a^@b^@c")
    still_chatting(alice, bob, "nul")


def test_ansi_osc_escapes_and_bare_cr_are_neutralised(room) -> None:
    _, alice, bob = room
    alice.send(b"x\x1b[2J\x1b]0;pwned\x07y\rz\x9b\n")
    line = bob.expect("alice:")
    assert line.endswith("alice: x^[[2J^[]0;pwned^Gy^Mz\ufffd")
    assert "\x1b" not in line and "\r" not in line and "\x07" not in line
    alice.send("c1 \u009b1m\n".encode())
    assert bob.expect("c1").endswith("c1 <U+009B>1m")


def test_silent_connection_times_out_without_blocking_anyone(room) -> None:
    chat, alice, bob = room
    silent = socket.create_connection(chat.address, timeout=5)
    still_chatting(alice, bob, "during handshake")
    silent.settimeout(3)
    data = b""
    while chunk := silent.recv(4096):
        data += chunk
    assert data.startswith(b"NICK") and b"Timed out waiting for a nickname" in data
    silent.close()


def test_connect_and_close_at_once_like_nc_z(room) -> None:
    chat, alice, bob = room
    threads = thread_count()
    for _ in range(30):
        socket.create_connection(chat.address, timeout=5).close()
    still_chatting(alice, bob, "after nc -z")
    assert wait_for(lambda: thread_count() == threads, 3)


def test_abrupt_reset_is_a_leave(room) -> None:
    chat, alice, bob = room
    carol = LineClient(chat.address, "carol")
    bob.expect("carol joined")
    carol.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    carol.sock.close()  # RST
    assert "carol left the chat" in bob.expect("carol left")
    still_chatting(alice, bob, "after rst")


def test_client_that_stops_reading_is_cut_and_nobody_else_waits(tmp_path: Path) -> None:
    with running_server(tmp_path, sendq_bytes=512 * 1024) as chat:
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.settimeout(5)
        stuck.connect(chat.address)
        assert stuck.recv(4) == b"NICK"
        stuck.sendall(b"stuck\n")
        sender, reader = LineClient(chat.address, "sender"), LineClient(chat.address, "reader")
        sender.expect("reader joined")
        chunks: list[bytes] = []
        newlines = [0]

        def read_all() -> None:
            reader.sock.settimeout(10)
            while newlines[0] < 6000:
                chunk = reader.sock.recv(1 << 20)
                if not chunk:
                    return
                chunks.append(chunk)
                newlines[0] += chunk.count(b"] sender: ")

        collector = threading.Thread(target=read_all)
        collector.start()
        payload = "z" * 1000
        started = time.monotonic()
        for batch in range(60):  # ~6 MB in all (the kernel alone buffers a few MB for the stuck client)
            sender.send("".join(f"{batch * 100 + i} {payload}\n" for i in range(100)))
            # keep the (same-process, GIL-sharing) reader at most two batches (~200 KiB) behind, well
            # under the 512 KiB SendQ, so only the stuck client lags
            assert wait_for(lambda b=batch: newlines[0] >= (b - 1) * 100, 10, interval=0.001)
        send_time = time.monotonic() - started
        collector.join(15)
        lines = b"".join(chunks).decode().splitlines()
        numbers = [line.split("sender: ", 1)[1].split(" ")[0] for line in lines if "sender: " in line]
        assert numbers == [str(i) for i in range(6000)]
        assert send_time < 10
        assert wait_for(lambda: "stuck" not in [row.nick for row in chat.who()], 2)
        notices = sender.lines_until_quiet(0.3)
        assert any("stuck was disconnected (SendQ exceeded)" in line for line in notices)
        assert chat.registry.queued_bytes() < 512 * 1024 * 3
        sender.close()
        reader.close()
        stuck.close()


def test_burst_of_1000_connects_returns_threads_and_fds_to_baseline(tmp_path: Path) -> None:
    with running_server(tmp_path, max_clients=512) as chat:
        keeper = LineClient(chat.address, "keeper")
        listener = LineClient(chat.address, "listener")
        keeper.expect("listener joined")
        threads, fds = thread_count(), open_fds()
        errors: list[BaseException] = []

        def churn(count: int) -> None:
            try:
                for n in range(count):
                    sock = socket.create_connection(chat.address, timeout=5)
                    if n % 2:
                        sock.recv(4)
                    sock.close()
            except OSError as error:
                errors.append(error)

        workers = [threading.Thread(target=churn, args=(125,)) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert not errors
        still_chatting(keeper, listener, "after the burst")
        assert wait_for(lambda: thread_count() == threads and open_fds() == fds, 10), (thread_count(), open_fds())
        keeper.close()
        listener.close()


@pytest.mark.slow
def test_ten_megabyte_line_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path, "--flood-rate", "0")
    try:
        alice, bob = LineClient(serve.address, "alice"), LineClient(serve.address, "bob")
        alice.expect("bob joined")
        base = serve.rss()
        hog = LineClient(serve.address, "hog")
        blob = b"A" * (10 * 1024 * 1024)
        outcome: list[str] = []

        def blast() -> None:
            try:
                hog.send(blob)
                outcome.append("sent")
            except OSError as error:
                outcome.append(type(error).__name__)

        blaster = threading.Thread(target=blast)
        blaster.start()
        tail = hog.read_to_eof(10)
        blaster.join(15)
        assert b"!!! line too long" in tail
        assert "hog left the chat (line too long" in bob.expect("hog left")
        still_chatting(alice, bob, "after 10 MB")
        assert serve.rss() - base < 8 * 1024 * 1024
        for client in (alice, bob, hog):
            client.close()
    finally:
        assert serve.stop() == 0
