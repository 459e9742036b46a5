"""netlab serve's ChatServer on real loopback sockets: relaying, commands, rules, status, shutdown."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_chat_support import LineClient, open_fds, running_server, thread_count, wait_for

from netlab import runtime
from netlab.chat.server import ChatServer, ChatServerError

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChatServer]:
    with running_server(tmp_path, history=3) as chat:
        yield chat


@pytest.fixture
def clients() -> Iterator[list[LineClient]]:
    made: list[LineClient] = []
    yield made
    for client in made:
        client.close()


def join(server: ChatServer, clients: list[LineClient], nick: str) -> LineClient:
    client = LineClient(server.address, nick)
    clients.append(client)
    return client


STAMPED = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] ")


def test_message_reaches_everyone_else_once_with_sender_and_time_no_echo(server, clients) -> None:
    alice, bob, carol = (join(server, clients, n) for n in ("alice", "bob", "carol"))
    alice.expect("carol joined")
    bob.expect("carol joined")
    alice.say("hello all")
    for other in (bob, carol):
        line = other.expect("hello all")
        assert STAMPED.match(line) and line.endswith("alice: hello all")
        assert "hello all" not in "".join(other.lines_until_quiet(0.2))
    assert not any("hello all" in line for line in alice.lines_until_quiet(0.3))


def test_commands_who_me_msg_nick_unknown_quit(server, clients) -> None:
    alice, bob, carol = (join(server, clients, n) for n in ("alice", "bob", "carol"))
    alice.say("/who")
    assert alice.expect("Online").endswith("Online (3): alice, bob, carol")
    alice.say("/me waves")
    assert bob.expect("waves").endswith("* alice waves")
    alice.say("/msg Carol psst")
    assert carol.expect("psst").endswith("alice (private): psst")
    assert not any("psst" in line for line in bob.lines_until_quiet(0.3))
    alice.say("/msg nobody hi")
    assert "No such nickname: nobody" in alice.expect("!!!")
    alice.say("/frobnicate now")
    assert "Unknown command /frobnicate" in alice.expect("!!!")
    assert not any("frobnicate" in line for line in bob.lines_until_quiet(0.3))
    alice.say("/nick BOB")
    assert "taken" in alice.expect("!!!")
    alice.say("/nick alicia")
    assert bob.expect("known as").endswith("alice is now known as alicia")
    alice.say("/quit")
    assert bob.expect("left").endswith("alicia left the chat")
    alice.read_to_eof(2)  # EOF follows /quit


def test_nick_taken_case_insensitively_then_retry(server, clients) -> None:
    join(server, clients, "Dora")
    late = LineClient(server.address)
    clients.append(late)
    late.say("dora")
    assert "is taken; try another" in late.expect("!!!")
    late.say("")
    assert "empty" in late.expect("!!!")
    late.say("x" * 1000)
    assert "Nickname too long" in late.expect("!!!")
    late.say("\x1b]0;owned\x07evil")
    error = late.expect("!!!")
    assert "\x1b" not in error and "\x07" not in error
    late.say("dora2")
    assert "Welcome to netlab chat, dora2!" in late.expect("Welcome")


def test_10000_character_nick_is_a_line_too_long_and_closes(server, clients) -> None:
    bystander = join(server, clients, "bystander")
    late = LineClient(server.address)
    clients.append(late)
    late.say("x" * 10_000)
    tail = late.read_to_eof(3)
    assert b"!!! line too long" in tail
    bystander.say("/who")
    assert bystander.expect("Online").endswith("Online (1): bystander")


def test_newcomers_see_the_last_n_messages(server, clients) -> None:
    alice = join(server, clients, "alice")
    for i in range(5):
        alice.say(f"m{i}")
    wait_for(lambda: len(server.registry.history) == 3)
    bob = join(server, clients, "bob")
    seen = [line.rsplit(": ", 1)[-1] for line in bob.lines_until_quiet(0.3)]
    assert seen == ["m2", "m3", "m4"]


def test_room_full_is_refused_with_a_message_and_no_busy_loop(tmp_path: Path) -> None:
    with running_server(tmp_path, max_clients=2) as chat:
        a, b = LineClient(chat.address, "a1"), LineClient(chat.address, "b1")
        before = time.process_time()
        third = socket.create_connection(chat.address, timeout=5)
        data = third.recv(4096)
        assert b"Room full" in data
        assert third.recv(4096) == b""
        time.sleep(0.5)
        assert time.process_time() - before < 0.25
        for sock in (a, b):
            sock.close()
        third.close()


def test_flood_control_delays_but_loses_nothing(tmp_path: Path) -> None:
    with running_server(tmp_path, flood_rate=20, flood_burst=5) as chat:
        fast, reader = LineClient(chat.address, "fast"), LineClient(chat.address, "reader")
        fast.expect("reader joined")
        started = time.monotonic()
        fast.send("".join(f"n{i}\n" for i in range(25)))
        got = [reader.expect(f"fast: n{i}").rsplit(" ", 1)[-1] for i in range(25)]
        elapsed = time.monotonic() - started
        assert got == [f"n{i}" for i in range(25)]
        assert elapsed >= 0.8  # 20 beyond the burst of 5 at 20/s
        notices = [line for line in fast.lines_until_quiet(0.3) if "too fast" in line]
        assert len(notices) == 1
        fast.close()
        reader.close()


def test_idle_timeout_drops_silent_client(tmp_path: Path) -> None:
    with running_server(tmp_path, idle_timeout=0.5) as chat:
        sleepy = LineClient(chat.address, "sleepy")
        assert b"Idle for 0.5 s" in sleepy.read_to_eof(3)
        sleepy.close()


def test_status_file_follows_joins_nick_changes_and_leaves(server, clients) -> None:
    port = server.address[1]
    status_dir = server.config.status_dir

    def nicks() -> list[str]:
        status = runtime.read_status(port, status_dir) or {}
        return [c["nick"] for c in status.get("clients", [])]

    alice = join(server, clients, "alice")
    assert wait_for(lambda: nicks() == ["alice"], 2)
    status = runtime.read_status(port, status_dir)
    assert status is not None
    assert status["listen"] == f"127.0.0.1:{port}" and status["host"] == "127.0.0.1"
    row = status["clients"][0]
    assert row["remote"] == f"127.0.0.1:{alice.sock.getsockname()[1]}"
    assert row["local"] == f"127.0.0.1:{port}" and row["dialect"] == "line" and row["queued_bytes"] >= 0
    assert status["started"] <= row["joined"] <= status["updated"]
    bob = join(server, clients, "bob")
    assert wait_for(lambda: nicks() == ["alice", "bob"], 2)
    bob.say("/nick robert")
    assert wait_for(lambda: nicks() == ["alice", "robert"], 2)
    alice.say("/quit")
    assert wait_for(lambda: nicks() == ["robert"], 2)


def test_status_file_removed_on_stop(tmp_path: Path) -> None:
    chat = ChatServer(port=0, status_dir=tmp_path)
    port = chat.start()[1]
    assert runtime.status_path(port, tmp_path).exists()
    chat.stop()
    assert not runtime.status_path(port, tmp_path).exists()


def test_stop_tells_everyone_closes_and_joins_threads_quickly(tmp_path: Path) -> None:
    threads, fds = thread_count(), open_fds()
    chat = ChatServer(port=0, status_dir=tmp_path)
    chat.start()
    people = [LineClient(chat.address, f"p{i}") for i in range(20)]
    silent = socket.create_connection(chat.address, timeout=5)  # still in the handshake
    started = time.monotonic()
    chat.stop()
    assert time.monotonic() - started < 2.0
    for person in people:
        tail = person.read_to_eof(1.0)
        assert tail.rstrip(b"\n").endswith(b"*** Server is shutting down")
        person.close()
    silent.close()
    assert thread_count() == threads
    assert wait_for(lambda: open_fds() == fds, 2)


def test_immediate_restart_on_same_port(tmp_path: Path) -> None:
    first = ChatServer(port=0, status_dir=tmp_path)
    port = first.start()[1]
    client = LineClient(first.address, "x")
    first.stop()
    client.close()
    again = ChatServer(port=port, status_dir=tmp_path)
    try:
        assert again.start()[1] == port
        LineClient(again.address, "y").close()
    finally:
        again.stop()


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with running_server(tmp_path) as chat:
        other = ChatServer(port=chat.address[1], status_dir=tmp_path)
        with pytest.raises(ChatServerError, match="cannot listen on 127.0.0.1:.*in use") as raised:
            other.start()
    port = chat.address[1]
    assert str(raised.value) == (
        f"cannot listen on 127.0.0.1:{port}: Address already in use; is another server running? try --port"
    )


def test_port_in_use_on_ipv6_names_the_address_as_brackets_and_port(tmp_path: Path) -> None:
    try:
        holder = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback")
    with holder:
        port = holder.getsockname()[1]
        with pytest.raises(ChatServerError) as raised:
            ChatServer(host="::1", port=port, status_dir=tmp_path).start()
    assert str(raised.value).startswith(f"cannot listen on [::1]:{port}: Address already in use")
    assert "('::1'" not in str(raised.value)


def test_ipv6_loopback(tmp_path: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        probe = socket.create_server(("::1", 0), family=socket.AF_INET6)
        probe.close()
    except OSError:
        pytest.skip("::1 unavailable")
    with running_server(tmp_path, host="::1") as chat:
        a, b = LineClient(chat.address, "six"), LineClient(chat.address, "four")
        a.say("over v6")
        assert b.expect("over v6").endswith("six: over v6")
        status = runtime.read_status(chat.address[1], tmp_path)
        assert status and status["listen"] == f"[::1]:{chat.address[1]}"
        a.close()
        b.close()


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) not installed")
def test_listen_backlog_is_at_least_128(server) -> None:
    out = subprocess.run(
        ["ss", "-Hltn", f"sport = :{server.address[1]}"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    backlog = int(out.split()[2])  # State Recv-Q Send-Q: Send-Q is the backlog of a listening socket
    assert backlog >= 128


def test_operator_kick_and_say(server, clients) -> None:
    alice, bob = join(server, clients, "alice"), join(server, clients, "bob")
    alice.expect("bob joined")
    server.say("maintenance at noon")
    assert alice.expect("maintenance").endswith("server: maintenance at noon")
    assert server.kick("BOB", "spam")
    assert b"Kicked by the operator: spam" in bob.read_to_eof(2)
    assert alice.expect("kicked").endswith("bob was kicked (spam)")
    assert not server.kick("nobody")
    assert [row.nick for row in server.who()] == ["alice"]


def test_the_server_records_everyone_it_saw_with_every_nickname(server, clients) -> None:
    alice = join(server, clients, "alice")
    bob = join(server, clients, "bob")
    silent = socket.create_connection(server.address, timeout=5)  # connects, never joins
    bob.say("/nick robert")
    bob.expect("robert")
    alice.say("/quit")
    alice.read_to_eof(2)

    def visits() -> list[tuple[str, tuple[str, ...], bool]]:
        return [(v.remote, v.nicks, v.online) for v in server.visits()]

    expected = [
        (f"127.0.0.1:{alice.sock.getsockname()[1]}", ("alice",), False),
        (f"127.0.0.1:{bob.sock.getsockname()[1]}", ("bob", "robert"), True),
        (f"127.0.0.1:{silent.getsockname()[1]}", (), False),
    ]
    assert wait_for(lambda: visits() == expected, 2), visits()
    assert all(v.local == f"127.0.0.1:{server.address[1]}" for v in server.visits())
    silent.close()
