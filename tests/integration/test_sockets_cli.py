"""`netlab sockets` against real sockets held by separate processes, checked against `ss` and `netstat`.

A server process accepts K named clients from a clients process, floods one client that never
reads ("stuck"), and publishes its registry with `netlab.runtime.write_status`; a third process
holds unrelated noise connections on another port.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import pty
import pwd
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from netlab.sockets import diag, procfs
from netlab.sockets.model import SocketRow, TcpState
from netlab.sockets.snapshot import snapshot

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("ss") is None, reason="needs Linux and ss"
)

NICKS = ("alice", "bob", "carol", "stuck")

SERVER = r"""
import os, socket, sys, time
from pathlib import Path
from netlab.runtime import write_status
directory, count = Path(sys.argv[1]), int(sys.argv[2])
listener = socket.create_server(("127.0.0.1", 0))
port = listener.getsockname()[1]
print(port, flush=True)
clients, conns = [], []
listener.settimeout(20)
for _ in range(count):
    conn, _addr = listener.accept()
    conn.settimeout(20)
    line = b""
    while not line.endswith(b"\n"):
        chunk = conn.recv(1)
        if not chunk:
            raise SystemExit("client left before naming itself")
        line += chunk
    nick = line.decode().strip()
    conns.append((nick, conn))
    clients.append({"nick": nick, "remote": "%s:%d" % conn.getpeername(), "local": "%s:%d" % conn.getsockname(),
                    "joined": time.time(), "queued_bytes": 0, "dialect": "netlab"})
for nick, conn in conns:
    if nick == "stuck":
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)  # fixed buffers settle at once
        conn.setblocking(False)
        try:
            while True:
                conn.send(b"x" * 65536)
        except BlockingIOError:
            pass
now = time.time()
write_status(port, {"pid": os.getpid(), "host": "127.0.0.1", "port": port, "started": now, "updated": now,
                    "listen": "127.0.0.1:%d" % port, "clients": clients}, directory)
print("ready", flush=True)
sys.stdin.read()
"""

CLIENTS = r"""
import socket, sys
port, nicks = int(sys.argv[1]), sys.argv[2:]
held = []
for nick in nicks:
    conn = socket.socket()
    if nick == "stuck":  # never reads; a fixed receive buffer (no autotuning) makes its queue settle
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    conn.settimeout(20)
    conn.connect(("127.0.0.1", port))
    conn.sendall(nick.encode() + b"\n")
    held.append(conn)
print("ready", flush=True)
sys.stdin.read()
"""

NOISE = r"""
import socket, sys
count = int(sys.argv[1])
listener = socket.create_server(("127.0.0.1", 0), backlog=count)
port = listener.getsockname()[1]
held = []
for _ in range(count):
    held.append(socket.create_connection(("127.0.0.1", port), timeout=20))
    held.append(listener.accept()[0])
print(port, flush=True)
sys.stdin.read()
"""


def _spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _read_line(proc: subprocess.Popen[str], timeout: float = 20.0) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "helper process did not answer in time"
    line = proc.stdout.readline().strip()
    assert line, f"helper process ended (exit {proc.poll()})"
    return line


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


@dataclass
class Chat:
    port: int
    server_pid: int
    clients_pid: int
    noise_port: int
    runtime_dir: Path


@pytest.fixture(scope="module")
def chat() -> Iterator[Chat]:
    """A published server with named clients (one stuck) and 200 noise connections on another port."""
    runtime_dir = Path(tempfile.mkdtemp(prefix="netlab-sockets-test-"))
    runtime_dir.chmod(0o755)  # readable by the unprivileged test run
    procs: list[subprocess.Popen[str]] = []
    try:
        noise = _spawn(NOISE, "200")
        procs.append(noise)
        noise_port = int(_read_line(noise))
        server = _spawn(SERVER, str(runtime_dir), str(len(NICKS)))
        procs.append(server)
        port = int(_read_line(server))
        clients = _spawn(CLIENTS, str(port), *NICKS)
        procs.append(clients)
        assert _read_line(clients) == "ready"
        assert _read_line(server) == "ready"
        yield Chat(port, server.pid, clients.pid, noise_port, runtime_dir)
    finally:
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(runtime_dir, ignore_errors=True)


def _env(chat: Chat) -> dict[str, str]:
    return {**os.environ, "NETLAB_RUNTIME_DIR": str(chat.runtime_dir), "NO_COLOR": "1", "COLUMNS": "160"}


def _netlab(chat: Chat, *args: str, user: str | None = None, fresh: bool = False) -> subprocess.CompletedProcess[str]:
    """Run `netlab sockets ARGS`: in-process through typer's CliRunner, or as a new process when `fresh`
    (or as `user`, privileges dropped with setpriv)."""
    if user is None and not fresh:
        from typer.testing import CliRunner

        from netlab.cli.app import app

        logger = logging.getLogger("netlab")
        saved = (logger.handlers[:], logger.level, logger.propagate)
        try:
            result = CliRunner().invoke(app, ["sockets", *args], env=_env(chat))
        finally:  # the app points the netlab logger at the runner's stderr, closed after the run
            logger.handlers[:], logger.level, logger.propagate = saved
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # a crash, not an exit status
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)
    command = [sys.executable, "-m", "netlab", "sockets", *args]
    if user is not None:
        account = pwd.getpwnam(user)
        command = [
            "setpriv",
            f"--reuid={account.pw_uid}",
            f"--regid={account.pw_gid}",
            "--clear-groups",
            *command,
        ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=_env(chat), cwd="/")


Key = tuple[str, str, str, frozenset[int]]
SS_LINE = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s*(.*)$")


def _ss(port: int) -> dict[tuple[str, str], tuple[str, int, int, frozenset[int]]]:
    """`ss -tanp` filtered to `port`: (local, remote) -> (state, recv-q, send-q, pids)."""
    out = subprocess.run(
        ["ss", "-tanpH", f"( sport = :{port} or dport = :{port} )"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    rows: dict[tuple[str, str], tuple[str, int, int, frozenset[int]]] = {}
    for line in out.splitlines():
        match = SS_LINE.match(line.strip())
        assert match, line
        state, recv_q, send_q, local, remote, users = match.groups()
        pids = frozenset(int(pid) for pid in re.findall(r"pid=(\d+)", users))
        rows[(local, remote)] = (state, int(recv_q), int(send_q), pids)
    return rows


def _stable_ss(port: int) -> dict[tuple[str, str], tuple[str, int, int, frozenset[int]]]:
    """ss output once two reads in a row agree (the flood into the stuck client has settled)."""
    previous = _ss(port)
    for _ in range(100):
        time.sleep(0.05)
        current = _ss(port)
        if current == previous:
            return current
        previous = current
    raise AssertionError("socket queues never settled")


def _json_rows(stdout: str) -> dict[tuple[str, str], dict[str, object]]:
    document = json.loads(stdout)
    assert document["schema_version"] == 1
    return {(row["local"], row["remote"]): row for row in document["rows"]}


def test_json_rows_equal_ss_rows_with_nicknames_and_queues(chat: Chat) -> None:
    for _attempt in range(5):  # ss before and after must agree, so netlab saw the same moment
        expected = _stable_ss(chat.port)
        result = _netlab(chat, "--port", str(chat.port), "--json", fresh=True)
        if _ss(chat.port) == expected:
            break
    else:
        raise AssertionError("sockets kept changing around the netlab run")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    rows = _json_rows(result.stdout)

    ours = {(key, row["state"], frozenset(row["pids"])) for key, row in rows.items()}
    theirs = {(key, state, pids) for key, (state, _r, _s, pids) in expected.items()}
    assert ours == theirs
    assert len(rows) == 1 + 2 * len(NICKS)  # listener + both ends of each client; no noise
    for key, row in rows.items():
        assert (row["recv_q"], row["send_q"]) == expected[key][1:3], key

    by_role: dict[str, list[dict[str, object]]] = {}
    for row in rows.values():
        by_role.setdefault(str(row["role"]), []).append(row)
    assert [row["pid"] for row in by_role["listener"]] == [chat.server_pid]
    assert sorted(str(row["nickname"]) for row in by_role["server"]) == sorted(NICKS)
    assert sorted(str(row["nickname"]) for row in by_role["client"]) == sorted(NICKS)
    assert {row["pid"] for row in by_role["server"]} == {chat.server_pid}
    assert {row["pid"] for row in by_role["client"]} == {chat.clients_pid}
    for row in by_role["client"]:  # the nickname sits on the right connection: ends mirror each other
        peer = rows[(str(row["remote"]), str(row["local"]))]
        assert peer["nickname"] == row["nickname"] and peer["role"] == "server"

    stuck_client = next(row for row in by_role["client"] if row["nickname"] == "stuck")
    stuck_server = next(row for row in by_role["server"] if row["nickname"] == "stuck")
    assert isinstance(stuck_client["recv_q"], int) and stuck_client["recv_q"] > 0
    assert isinstance(stuck_server["send_q"], int) and stuck_server["send_q"] > 0


def test_json_groups_listener_first_then_both_ends_of_each_client(chat: Chat) -> None:
    result = _netlab(chat, "--port", str(chat.port), "--json")
    document = json.loads(result.stdout)
    kinds = [(row["group"], row["group_kind"], row["role"], row["nickname"]) for row in document["rows"]]
    assert kinds[0][1:3] == ("listener", "listener")
    groups: dict[int, list[tuple[str, str]]] = {}
    for group, _kind, role, nick in kinds[1:]:
        groups.setdefault(group, []).append((role, nick))
    assert sorted(groups.values()) == sorted([[("server", nick), ("client", nick)] for nick in NICKS])


def test_kernel_port_filter_keeps_exactly_the_sockets_on_the_port(chat: Chat) -> None:
    def key(row: SocketRow) -> tuple[object, ...]:
        return (row.local, row.remote, row.state, row.inode)

    def compare(port: int) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        filtered = sorted(map(key, diag.query(port)), key=repr)
        everything = diag.query(None)
        return filtered, sorted((key(r) for r in everything if port in (r.local.port, r.remote.port)), key=repr)

    for port in (chat.port, chat.noise_port):
        # A dump of every socket is not atomic: it resumes by position in the kernel's hash chains, so
        # sockets that other jobs open and close meanwhile can make it skip one. Retry on a mismatch.
        for _attempt in range(5):
            filtered, expected = compare(port)
            if filtered == expected:
                break
        assert filtered == expected
    # the noise listener and its 200 connections; a TIME-WAIT left by an earlier test whose server had this
    # (ephemeral) port number is on the port too, and is no part of the count
    live = [row for row in diag.query(chat.noise_port) if row.state is not TcpState.TIME_WAIT]
    assert len(live) == 1 + 2 * 200


def test_attribution_reads_the_named_processes_first_and_stops_when_all_are_found(chat: Chat) -> None:
    rows = diag.query(chat.port)
    wanted = [row.inode for row in rows if row.inode]
    found = procfs.attribute(wanted, first=[chat.server_pid, chat.clients_pid])
    assert found.scanned == 2  # nothing else was read
    assert set(found.owners) == set(wanted)
    assert {pid for owners in found.owners.values() for pid in owners} == {chat.server_pid, chat.clients_pid}
    blind = procfs.attribute(wanted)  # no hint: ordered by fd-table size, still complete
    assert blind.owners == found.owners


@pytest.mark.parametrize("stat_counts_fds", [True, False])
def test_candidates_put_the_process_hoarding_sockets_last_on_any_kernel(
    chat: Chat, stat_counts_fds: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stat() of /proc/PID/fd counts fds on Linux 6.2+; older kernels say 0 and FDSize stands in."""
    if stat_counts_fds and not procfs._stat_counts_fds():
        pytest.skip("this kernel does not count fds in stat() of /proc/PID/fd")
    monkeypatch.setattr(procfs, "_stat_counts_fds", lambda: stat_counts_fds)
    noise_pid = next(row.pid for row in snapshot(chat.noise_port).rows if row.state.ss_name == "LISTEN")
    order = procfs.candidates(exclude=set(), prefer_uids=set())
    assert chat.clients_pid in order and noise_pid in order
    assert order.index(chat.clients_pid) < order.index(noise_pid)  # 4 sockets before 401
    rows = diag.query(chat.port)
    found = procfs.attribute([row.inode for row in rows if row.inode])
    assert {pid for owners in found.owners.values() for pid in owners} == {chat.server_pid, chat.clients_pid}


def test_library_snapshot_matches_ss(chat: Chat) -> None:
    expected = _stable_ss(chat.port)
    taken = snapshot(chat.port, status_dir=chat.runtime_dir)
    from netlab.sockets.table import format_endpoint

    ours = {
        (format_endpoint(r.local), format_endpoint(r.remote)): (
            r.state.ss_name,
            r.recv_q,
            r.send_q,
            frozenset(r.pids),
        )
        for r in taken.rows
    }
    assert ours == expected
    assert taken.backend == "sock_diag"


@pytest.mark.parametrize("backend", ["proc", "psutil"])
def test_fallback_backends_see_the_same_sockets(chat: Chat, backend: str) -> None:
    expected = _stable_ss(chat.port)
    result = _netlab(chat, "--port", str(chat.port), "--json", "--backend", backend)
    assert result.returncode == 0, result.stderr
    rows = _json_rows(result.stdout)
    assert {(k, r["state"], frozenset(r["pids"])) for k, r in rows.items()} == {
        (k, v[0], v[3]) for k, v in expected.items()
    }
    assert {r["nickname"] for r in rows.values() if r["role"] == "client"} == set(NICKS)


@functools.cache
def _nobody_can_run_netlab() -> bool:
    account = pwd.getpwnam("nobody")
    probe = subprocess.run(
        ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups"]
        + [sys.executable, "-c", "import netlab.cli.app"],
        capture_output=True,
        timeout=60,
        cwd="/",
    )
    return probe.returncode == 0


def _require_unprivileged_run() -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop privileges")
    if not _nobody_can_run_netlab():
        pytest.skip("user nobody cannot read this checkout or its venv (e.g. under /root)")


def test_unprivileged_run_shows_rows_hides_pids_and_says_why(chat: Chat) -> None:
    _require_unprivileged_run()
    expected = _stable_ss(chat.port)
    result = _netlab(chat, "--port", str(chat.port), "--json", user="nobody")
    assert result.returncode == 0, result.stderr
    rows = _json_rows(result.stdout)
    assert set(rows) == set(expected)
    assert all(row["pid"] is None and row["process"] is None for row in rows.values())
    assert {r["nickname"] for r in rows.values() if r["role"] == "client"} == set(NICKS)
    notes = result.stderr.strip().splitlines()
    assert len(notes) == 1 and "hidden" in notes[0] and "sudo" in notes[0], result.stderr
    text = _netlab(chat, "--port", str(chat.port), user="nobody")
    assert text.returncode == 0 and "\x1b" not in text.stdout
    assert all(line.split()[-2:] == ["-", "-"] for line in text.stdout.splitlines()[1:] if line)


def test_text_output_in_a_pipe_is_plain_and_grouped(chat: Chat) -> None:
    result = _netlab(chat, "--port", str(chat.port))
    assert result.returncode == 0 and result.stderr == ""
    assert "\x1b" not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "ROLE",
        "NICK",
        "PROTO",
        "LOCAL",
        "REMOTE",
        "STATE",
        "RECV-Q",
        "SEND-Q",
        "PID",
        "PROCESS",
    ]
    assert lines[1].startswith("listener")
    blocks = [block.splitlines() for block in "\n".join(lines[2:]).strip().split("\n\n")]
    assert len(blocks) == len(NICKS)
    for block in blocks:
        assert [line.split()[0] for line in block] == ["server", "client"]
        assert block[0].split()[1] == block[1].split()[1]  # same nickname on both ends


def test_netstat_format_matches_real_netstat_lines(chat: Chat) -> None:
    if shutil.which("netstat") is None:
        pytest.skip("netstat is not installed")
    result = _netlab(chat, "--port", str(chat.port), "--format", "netstat")
    assert result.returncode == 0, result.stderr
    netstat = subprocess.run(["netstat", "-tanp"], capture_output=True, text=True, timeout=30).stdout.splitlines()
    assert result.stdout.splitlines()[:2] == netstat[:2]

    def columns(line: str) -> list[str]:
        return line.split()[:6]  # program names differ (netstat: argv[0]; we: comm)

    theirs = sorted(columns(line) for line in netstat[2:] if f":{chat.port} " in line)
    ours = sorted(columns(line) for line in result.stdout.splitlines()[2:])
    assert ours == theirs


def test_pid_option_selects_a_process_and_its_sockets_only(chat: Chat) -> None:
    result = _netlab(chat, "--pid", str(chat.clients_pid), "--json")
    assert result.returncode == 0, result.stderr
    rows = list(json.loads(result.stdout)["rows"])
    assert len(rows) == len(NICKS)
    assert {row["pid"] for row in rows} == {chat.clients_pid}
    assert {row["nickname"] for row in rows} == set(NICKS)


def test_state_and_listening_filters(chat: Chat) -> None:
    listening = json.loads(_netlab(chat, "-p", str(chat.port), "--listening", "--json").stdout)["rows"]
    assert [(row["role"], row["state"]) for row in listening] == [("listener", "LISTEN")]
    established = json.loads(_netlab(chat, "-p", str(chat.port), "--state", "established", "--json").stdout)["rows"]
    assert len(established) == 2 * len(NICKS) and {row["state"] for row in established} == {"ESTAB"}


def test_status_file_whose_pid_was_reused_by_another_process_is_ignored(chat: Chat, tmp_path: Path) -> None:
    from netlab.runtime import read_status, write_status

    status = read_status(chat.port, chat.runtime_dir)
    assert status is not None
    status["pid"] = chat.clients_pid  # alive, but not the process listening on the port
    write_status(chat.port, {k: v for k, v in status.items() if k != "schema_version"}, tmp_path)
    taken = snapshot(chat.port, status_dir=tmp_path)
    assert taken.servers == ()
    assert {row.nickname for row in taken.rows} == {None}
    assert snapshot(chat.port, status_dir=chat.runtime_dir).servers != ()


def test_status_file_of_a_dead_server_is_ignored(chat: Chat, tmp_path: Path) -> None:
    from netlab.runtime import read_status, write_status

    status = read_status(chat.port, chat.runtime_dir)
    assert status is not None
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    status["pid"] = int(dead.stdout)
    write_status(chat.port, {k: v for k, v in status.items() if k != "schema_version"}, tmp_path)
    taken = snapshot(chat.port, status_dir=tmp_path)
    assert taken.servers == ()
    assert {row.nickname for row in taken.rows} == {None}


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--state", "bogus"], 2, "unknown state"),
        (["--all", "--port", "80"], 2, "--all"),
        (["--netns", "no-such-netns-here"], 1, "no network namespace"),
        (["--pid", "999999999"], 1, "no process with pid"),
        (["1.0"], 2, "--watch"),
    ],
)
def test_user_mistakes_give_one_line_and_no_traceback(chat: Chat, args: list[str], code: int, needle: str) -> None:
    result = _netlab(chat, *args)
    assert result.returncode == code, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_no_sockets_is_said_on_stderr(chat: Chat) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    result = _netlab(chat, "--port", str(free))
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].startswith("ROLE") and len(result.stdout.splitlines()) == 1
    assert "no TCP sockets on port" in result.stderr


def test_time_wait_rows_with_no_listener_say_that_no_server_is_listening(chat: Chat) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        accepted, _ = server.accept()
        accepted.close()  # the server's end closes first: its port is left in TIME-WAIT
        assert client.recv(1) == b""
        client.close()
    said = f"netlab: no server is listening on port {port}: "
    for fresh in (False, True):  # the typer command, and the entry point's fast path
        for extra in ((), ("--json",)):
            result = _netlab(chat, "--port", str(port), *extra, fresh=fresh)
            assert result.returncode == 0
            assert "TIME" in result.stdout
            (line,) = [line for line in result.stderr.splitlines() if "listening" in line]
            assert line.startswith(said) and "TIME-WAIT)" in line, line


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A listening socket of our own on a free port, closed after the test."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(10)
        yield server


def test_watch_refreshes_in_a_terminal_marks_a_new_socket_and_exits_cleanly_on_ctrl_c(
    listener: socket.socket, tmp_path: Path
) -> None:
    port = listener.getsockname()[1]
    master, slave = pty.openpty()
    env = {**os.environ, "NETLAB_RUNTIME_DIR": str(tmp_path), "TERM": "xterm-256color", "COLUMNS": "160"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "netlab", "sockets", "--port", str(port), "--watch", "0.2"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    screen = b""
    newcomer: socket.socket | None = None
    try:

        def read_until(pattern: bytes, timeout: float = 20.0) -> None:
            nonlocal screen
            deadline = time.monotonic() + timeout
            while pattern not in screen:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no {pattern!r} in {screen[-2000:]!r}"
                ready, _, _ = select.select([master], [], [], remaining)
                if ready:
                    screen += os.read(master, 65536)

        read_until(b"refresh 1 ")
        newcomer = socket.create_connection(("127.0.0.1", port), timeout=10)
        local = f"127.0.0.1:{newcomer.getsockname()[1]}"
        read_until(b"refresh 3 ")
        after_connect = screen[screen.index(b"refresh 2 ") :]
        assert local.encode() in after_connect
        line = next(line for line in after_connect.split(b"\n") if local.encode() in line)
        assert b"+" in line.split(local.encode())[0]  # marked new
        assert b"\x1b[" in screen  # colour in a terminal
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        while True:  # drain what is left
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        assert b"Traceback" not in screen
    finally:
        if newcomer is not None:
            newcomer.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        os.close(master)


def test_psutil_backend_falls_back_to_per_process_reads_when_the_global_call_is_denied(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psutil

    def denied(kind: str = "inet") -> list[object]:
        raise psutil.AccessDenied(pid=None, name=None, msg="as on macOS without root")

    monkeypatch.setattr(psutil, "net_connections", denied)  # the platform refusal; the fallback is real
    taken = snapshot(chat.port, status_dir=chat.runtime_dir, backend="psutil")
    assert taken.backend == "psutil"
    pids = {row.pid for row in taken.rows}
    assert pids == {chat.server_pid, chat.clients_pid}
    assert len(taken.rows) == 1 + 2 * len(NICKS)
    assert {row.nickname for row in taken.rows if row.nickname} == set(NICKS)
    assert all(row.recv_q is None and row.send_q is None for row in taken.rows)


def test_ipv6_sockets_print_like_ss(tmp_path: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no ::1 on this machine")
    with server:
        server.settimeout(10)
        port = server.getsockname()[1]
        with socket.create_connection(("::1", port), timeout=10) as client, server.accept()[0] as accepted:
            assert accepted
            expected = _stable_ss(port)
            env = {**os.environ, "NETLAB_RUNTIME_DIR": str(tmp_path)}
            result = subprocess.run(
                [sys.executable, "-m", "netlab", "sockets", "--port", str(port), "--json"],
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
            )
            assert result.returncode == 0, result.stderr
            rows = _json_rows(result.stdout)
            assert {
                k: (r["state"], r["recv_q"], r["send_q"], frozenset(r["pids"])) for k, r in rows.items()
            } == expected
            assert f"[::1]:{client.getsockname()[1]}" in {key[0] for key in rows}
            assert {row["proto"] for row in rows.values()} == {"tcp6"}
            assert {row["role"] for row in rows.values()} == {"listener", "server", "client"}


def test_root_finds_the_registry_in_the_port_owners_runtime_dir(tmp_path: Path) -> None:
    """`sudo netlab sockets` on a server a student started: the registry is in the student's own
    runtime directory (their default one; here under a TMPDIR of the test's own)."""
    _require_unprivileged_run()
    account = pwd.getpwnam("nobody")
    shared_tmp = Path(tempfile.mkdtemp(prefix="netlab-tmp-"))
    shared_tmp.chmod(0o1777)
    drop = ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups"]
    students = shared_tmp / f"netlab-{account.pw_uid}"
    server = subprocess.Popen(
        [*drop, sys.executable, "-c", SERVER, str(students), "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd="/",
    )
    clients: subprocess.Popen[str] | None = None
    try:
        port = int(_read_line(server))
        clients = _spawn(CLIENTS, str(port), "alice")
        assert _read_line(clients) == "ready" and _read_line(server) == "ready"
        assert students.stat().st_uid == account.pw_uid and students.stat().st_mode & 0o777 == 0o700
        env = {k: v for k, v in os.environ.items() if k not in ("NETLAB_RUNTIME_DIR", "XDG_RUNTIME_DIR")}
        result = subprocess.run(
            [sys.executable, "-m", "netlab", "sockets", "--port", str(port), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**env, "TMPDIR": str(shared_tmp)},
        )
        assert result.returncode == 0, result.stderr
        rows = _json_rows(result.stdout).values()
        assert {row["nickname"] for row in rows if row["role"] == "client"} == {"alice"}
    finally:
        if clients is not None:
            _stop(clients)
        _stop(server)
        shutil.rmtree(shared_tmp, ignore_errors=True)


def test_color_is_forced_or_refused_on_request(chat: Chat) -> None:
    forced = _netlab(chat, "--port", str(chat.port), "--color", "always")
    assert forced.returncode == 0 and "\x1b[" in forced.stdout and "alice" in forced.stdout
    plain = _netlab(chat, "--port", str(chat.port), "--color", "never")
    assert plain.returncode == 0 and "\x1b" not in plain.stdout


def test_watch_in_a_pipe_prints_one_json_document_per_refresh(listener: socket.socket, tmp_path: Path) -> None:
    port = listener.getsockname()[1]
    env = {**os.environ, "NETLAB_RUNTIME_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "netlab", "sockets", "--port", str(port), "--watch", "0.1", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        documents = [json.loads(_read_line(proc)) for _ in range(2)]
        assert [[row["role"] for row in doc["rows"]] for doc in documents] == [["listener"], ["listener"]]
        assert documents[1]["taken"] > documents[0]["taken"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("dual_stack", [True, False])
def test_ipv6_wildcard_listeners_print_like_ss(dual_stack: bool) -> None:
    if not socket.has_dualstack_ipv6():
        pytest.skip("no dual-stack IPv6")
    with socket.create_server(("::", 0), family=socket.AF_INET6, dualstack_ipv6=dual_stack) as server:
        server.settimeout(10)
        port = server.getsockname()[1]
        peers = [socket.create_connection(("::1", port), timeout=10)]
        if dual_stack:
            peers.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        accepted = [server.accept()[0] for _ in peers]
        try:
            expected = _stable_ss(port)
            from netlab.sockets.table import endpoint_text

            taken = snapshot(port)
            ours = {
                (endpoint_text(r, r.local), endpoint_text(r, r.remote)): (
                    r.state.ss_name,
                    r.recv_q,
                    r.send_q,
                    frozenset(r.pids),
                )
                for r in taken.rows
            }
            assert ours == expected
            assert (f"*:{port}" in {key[0] for key in ours}) is dual_stack
        finally:
            for sock in peers + accepted:
                sock.close()


class _Terminal:
    """`netlab sockets ARGS` running in a pseudo-terminal; the screen is everything it wrote."""

    def __init__(self, *args: str, runtime_dir: Path) -> None:
        self.master, slave = pty.openpty()
        env = {
            **os.environ,
            "NETLAB_RUNTIME_DIR": str(runtime_dir),
            "TERM": "xterm-256color",
            "COLUMNS": "160",
        }
        env.pop("NO_COLOR", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "netlab", "sockets", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        self.screen = b""

    def read_until(self, pattern: bytes, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while pattern not in self.screen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {pattern!r} in {self.screen[-3000:]!r}"
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                self.screen += os.read(self.master, 65536)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self.master)


def test_watch_marks_a_send_queue_that_keeps_growing(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited by the accepted socket
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(10)
        port = server.getsockname()[1]
        sender = socket.create_connection(("127.0.0.1", port), timeout=10)
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        reader, _ = server.accept()  # never reads: the slow consumer
        terminal = _Terminal("--port", str(port), "--watch", "0.25", runtime_dir=tmp_path)
        try:
            for number in range(1, 9):  # more unread bytes before each refresh
                terminal.read_until(f"refresh {number} ".encode())
                sender.sendall(b"x" * 20000)
            terminal.read_until(b"refresh 10 ")

            def client_line(number: int) -> bytes:
                screen = terminal.screen
                block = screen[
                    screen.index(f"refresh {number} ".encode()) : screen.index(f"refresh {number + 1} ".encode())
                ]
                return next(line for line in block.split(b"\n") if b"client" in line)

            assert "↑".encode() not in client_line(1) + client_line(2)  # at most one growth so far
            assert any("↑".encode() in client_line(n) for n in range(3, 10))  # grew refresh after refresh
            terminal.proc.send_signal(signal.SIGINT)
            assert terminal.proc.wait(timeout=15) == 0
        finally:
            terminal.close()
            sender.close()
            reader.close()
