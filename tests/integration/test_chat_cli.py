"""`netlab serve` and `netlab join` as users run them: pipes, signals, exit codes, idle CPU."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_chat_support import LineClient, ServeProcess, running_server, wait_for
from typer.testing import CliRunner

from netlab.chat.server import ChatServer
from netlab.cli.app import app

pytestmark = pytest.mark.timeout(60)
ESCAPE = "\x1b"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChatServer]:
    with running_server(tmp_path) as chat:
        yield chat


def join_args(server: ChatServer, *extra: str) -> list[str]:
    return ["join", "--port", str(server.address[1]), *extra]


def test_pipe_mode_sends_lingers_and_exits_zero(server) -> None:
    watcher = LineClient(server.address, "watcher")
    env = {**os.environ, "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "netlab", "join", "--port", str(server.address[1]), "--nick", "bot", "--linger", "0.3"],
        input="hi\nbye\n",
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "Welcome to netlab chat, bot!" in result.stdout and ESCAPE not in result.stdout
    assert watcher.expect("bot: hi").endswith("bot: hi")
    assert watcher.expect("bot: bye").endswith("bot: bye")
    assert watcher.expect("bot left").endswith("bot left the chat")
    watcher.close()


def test_received_messages_go_to_stdout_one_per_line(server) -> None:
    talker = LineClient(server.address, "talker")
    talker.say("before you came")  # in the history
    result = CliRunner().invoke(
        app, join_args(server, "--nick", "reader", "--linger", "0.2", "--dialect", "netlab"), input=""
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith(
        "Welcome to netlab chat, reader! 2 online: reader, talker. Commands: /who /nick /me /msg /quit /help"
    )
    assert lines[1].endswith("talker: before you came")
    talker.close()


def test_exit_words_leave_before_the_rest_of_the_input(server) -> None:
    watcher = LineClient(server.address, "watcher")
    for word in ("/exit", "/quit", "выход"):
        result = CliRunner().invoke(
            app, join_args(server, "--nick", "leaver", "--dialect", "netlab"), input=f"first\n{word}\nnever sent\n"
        )
        assert result.exit_code == 0, result.output
        assert watcher.expect("leaver: first")
        assert watcher.expect("leaver left")
    assert not any("never sent" in line for line in watcher.lines_until_quiet(0.3))
    watcher.close()


def test_connection_refused_is_one_line_and_exit_69() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens here now
    result = CliRunner().invoke(app, ["join", "--port", str(port), "--nick", "x"], input="hi\n")
    assert result.exit_code == 69  # unreachable, as in the exit-status table (was 1)
    assert result.stdout == "" and result.stderr.strip().count("\n") == 0
    assert "connection refused" in result.stderr and "Traceback" not in result.stderr


def test_nick_taken_is_one_line_and_exit_1(server) -> None:
    holder = LineClient(server.address, "taken")
    for dialect in ("netlab", "auto"):
        result = CliRunner().invoke(app, join_args(server, "--nick", "TAKEN", "--dialect", dialect), input="hi\n")
        assert result.exit_code == 1, dialect
        assert result.stderr.startswith("netlab: Nickname 'TAKEN' is taken"), result.stderr
        assert result.stderr.count("\n") == 1
        said = [p for p in ("try another", "reconnect with another nickname", "too many") if p in result.stderr]
        assert len(said) == 1, result.stderr  # the way on is said once, and only one way
    holder.close()


def test_server_gone_mid_session_is_exit_1(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path)
    join = subprocess.Popen(
        [sys.executable, "-m", "netlab", "join", "--port", str(serve.address[1]), "--nick", "stay"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert join.stdout is not None and "Welcome" in join.stdout.readline()
        assert serve.stop() == 0
        out, err = join.communicate("are you there?\n", timeout=20)
    finally:
        if join.poll() is None:
            join.kill()
            join.wait()
    assert join.returncode == 1
    assert "Server is shutting down" in out
    assert err.startswith("netlab: the server closed the connection") and err.count("\n") == 1


def test_server_gone_while_lingering_is_exit_1_and_said() -> None:
    """The input ended, `join` lingers for late messages, and the server closes first: not a silent 0."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"Welcome to the chat\n")
            conn.recv(100)
            conn.sendall(b"bye now\n")
            time.sleep(0.3)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = str(listener.getsockname()[1])
    cmd = [sys.executable, "-m", "netlab", "join", "--port", port, "--nick", "x", "--dialect", "raw", "--linger", "5"]
    started = time.monotonic()
    done = subprocess.run(cmd, input="hello\n", capture_output=True, text=True, timeout=20)
    listener.close()
    assert time.monotonic() - started < 4  # it did not wait the whole linger
    assert done.returncode == 1, done.stderr
    assert "bye now" in done.stdout
    assert done.stderr.startswith("netlab: the server closed the connection while lingering")


def test_unknown_dialect_is_a_usage_error(server) -> None:
    """A bad --dialect is a usage error (exit 2) like every other bad option value, listing the choices."""
    result = CliRunner().invoke(app, join_args(server, "--dialect", "irc"), input="")
    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.replace("│", " ").split())
    assert "'irc' is not one of 'auto', 'netlab', 'tutorial', 'raw'" in said
    assert result.stdout == ""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_server_within_2s_telling_clients(tmp_path: Path, sig: int) -> None:
    serve = ServeProcess(tmp_path)
    people = [LineClient(serve.address, f"p{i}") for i in range(10)]
    started = time.monotonic()
    serve.proc.send_signal(sig)
    tails = [person.read_to_eof(1.5) for person in people]
    assert serve.proc.wait(3) == 0
    assert time.monotonic() - started < 2.0
    for tail in tails:
        assert tail.rstrip(b"\n").endswith(b"*** Server is shutting down")
    assert not (tmp_path / f"serve-{serve.address[1]}.json").exists()
    for person in people:
        person.close()
    serve.stop()


def test_serve_reports_a_port_in_use_in_one_line(server) -> None:
    result = CliRunner().invoke(app, ["serve", "--port", str(server.address[1])])
    assert result.exit_code == 1
    assert "cannot listen on 127.0.0.1:" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count(f"127.0.0.1:{server.address[1]}") == 1, result.stderr  # said once, as host:port
    assert "('127.0.0.1'" not in result.stderr and "(while attempting" not in result.stderr


def test_serve_help_explains_options() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--max-clients", "--history", "--flood-rate", "--idle-timeout", "--sendq"):
        assert option in result.stdout


@pytest.mark.slow
def test_idle_cpu_is_under_one_percent_with_0_and_50_clients(tmp_path: Path) -> None:
    from netlab import runtime

    serve = ServeProcess(tmp_path)
    try:
        time.sleep(0.5)  # let start-up settle
        before = serve.cpu_seconds()
        time.sleep(3.0)
        assert serve.cpu_seconds() - before < 0.03  # 1 % of 3 s (CPU times tick in 10 ms)
        idle = [LineClient(serve.address, f"idle{i}") for i in range(50)]
        assert wait_for(lambda: len((runtime.read_status(serve.address[1], tmp_path) or {}).get("clients", [])) == 50)
        time.sleep(1.0)  # the joins' status publication and notices are done
        before = serve.cpu_seconds()
        time.sleep(3.0)
        assert serve.cpu_seconds() - before < 0.03
        for client in idle:
            client.close()
    finally:
        assert serve.stop() == 0


class Pty:
    """A child process on a pseudo-terminal (stdin, stdout and stderr), read without blocking."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        import pty

        self.master, slave = pty.openpty()
        full_env = {**os.environ, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", **(env or {})}
        self.proc = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, start_new_session=True, env=full_env
        )
        os.close(slave)
        self.output = b""

    def read_until(self, needle: bytes, timeout: float = 10) -> bytes:
        import select

        deadline = time.monotonic() + timeout
        while needle not in self.output:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{needle!r} not seen; got {self.output[-500:]!r}")
            ready, _, _ = select.select([self.master], [], [], min(remaining, 0.1))
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
        return self.output

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> int:
        try:
            return self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.master)


def test_terminal_mode_prints_incoming_above_the_prompt_coloured_and_escaped(server) -> None:
    other = LineClient(server.address, "other")
    term = Pty([sys.executable, "-m", "netlab", "join", "--port", str(server.address[1]), "--nick", "tty"])
    try:
        term.read_until(b"tty>")
        other.expect("tty joined")
        term.type("hello from a terminal\r")
        assert other.expect("hello from a terminal").endswith("tty: hello from a terminal")
        other.say("hi \x1b[2J there")
        out = term.read_until(b"there")
        assert b"\x1b[0;31;1mother\x1b[0m: hi ^[[2J there" in out  # nick coloured, escape shown, not obeyed
        assert b"\x1b[2J" not in out
        term.type("выход\r")
        assert other.expect("tty left").endswith("tty left the chat")
    finally:
        code = term.close()
        other.close()
    assert code == 0


def test_operator_console_on_a_terminal(tmp_path: Path) -> None:
    term = Pty([sys.executable, "-m", "netlab", "serve", "--port", "0"], env={"NETLAB_RUNTIME_DIR": str(tmp_path)})
    try:
        out = term.read_until(b"operator console")
        port = int(out.split(b"listening on 127.0.0.1:")[1].split()[0])
        alice, bob = LineClient(("127.0.0.1", port), "alice"), LineClient(("127.0.0.1", port), "bob")
        term.type("/who\n")
        listing = term.read_until(b"2 online")
        term.read_until(b"bob ")
        assert b"alice" in listing
        term.type("/say hello from the console\n")
        assert alice.expect("hello from the console").endswith("server: hello from the console")
        term.type("/kick bob flooding\n")
        assert b"Kicked by the operator: flooding" in bob.read_to_eof(3)
        term.read_until(b"kicked bob")
        term.type("/reboot\n")
        term.read_until(b"Unknown command")
        term.type("/shutdown\n")
        assert b"Server is shutting down" in alice.read_to_eof(3)
        alice.close()
        bob.close()
    finally:
        code = term.close()
    assert code == 0


@pytest.mark.parametrize("verbose", [False, True])
def test_serve_logs_joins_on_stderr_and_bodies_only_with_v(tmp_path: Path, verbose: bool) -> None:
    serve = ServeProcess(tmp_path, global_args=("-v",) if verbose else ())
    alice, bob = LineClient(serve.address, "alice"), LineClient(serve.address, "bob")
    alice.say("secret body")
    bob.expect("secret body")
    alice.close()
    bob.expect("alice left")
    bob.close()
    assert serve.stop() == 0
    log = "".join(serve.stderr)
    assert "alice joined from 127.0.0.1:" in log and "alice left" in log
    assert ("secret body" in log) is verbose
    assert serve.proc.stdout is not None and serve.proc.stdout.read() == ""


def test_join_and_serve_do_not_import_scapy() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from netlab.cli.app import app\n"
        "CliRunner().invoke(app, ['join', '--port', '9', '--nick', 'x'], input='')\n"
        "CliRunner().invoke(app, ['serve', '--help'])\n"
        "import netlab.chat.server, netlab.chat.client, netlab.chat.ui_line, netlab.chat.ui_prompt\n"
        "assert not any(m.startswith('scapy') for m in sys.modules), 'scapy imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_join_piped_into_head_stays_quiet(tmp_path: Path) -> None:
    with running_server(tmp_path) as chat:
        talker = LineClient(chat.address, "talker")
        talker.say("before")
        pipeline = subprocess.Popen(
            f"{sys.executable} -m netlab join --port {chat.address[1]} --nick reader --linger 1.5 --dialect netlab"
            " | head -n 1",
            shell=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        talker.expect("reader joined")
        time.sleep(0.3)  # head has printed the welcome and exited
        for i in range(50):
            talker.say(f"after {i}")
        out, err = pipeline.communicate(timeout=30)
        talker.close()
    assert out.count("\n") == 1 and "Welcome" in out
    assert "Traceback" not in err and "Error" not in err, err


def test_room_full_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with running_server(tmp_path, max_clients=1) as chat:
        holder = LineClient(chat.address, "holder")
        for dialect in ("auto", "netlab"):
            result = CliRunner().invoke(app, join_args(chat, "--nick", "late", "--dialect", dialect), input="hi\n")
            assert result.exit_code == 1
            # (the in-process server logs to the same stderr; the client's own message is the last line)
            assert result.stderr.splitlines()[-1].startswith("netlab: Room full (1 clients)"), result.stderr
        holder.close()
