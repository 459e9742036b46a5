"""`netlab check` graded against students' chat servers (tests/check_servers/, see its README): each server with
one classic bug fails or warns exactly the checks it must, each correct one passes, an unrecognised protocol is
skipped (never failed), and a server that does not start is reported so; plus `netlab join --dialect auto`
chatting both ways with every correct text-protocol server.

The grader's verdicts are compared by check id only, never by wording: a fail or warn must carry a non-empty
reason and evidence, and only where the issue names the cause (restart) must the reason or evidence name it.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVERS = REPO / "tests" / "check_servers"
VERDICTS = {"pass", "fail", "warn", "skip"}
# the checks that need no dialect: all an unrecognised protocol gets (issue 15)
DIALECT_FREE = {"connect-close", "silent-client", "clean-disconnect", "many-clients", "restart"}
ALL_CHECKS = (
    "connect",
    "broadcast",
    "sender-echo",
    "split-line",
    "coalesced-lines",
    "utf8-split",
    "long-line",
    "many-clients",
    "silent-client",
    "slow-consumer",
    "connect-close",
    "clean-disconnect",
    "utf8-nick",
    "abrupt-disconnect",
    "bad-bytes",
    "load",
    "restart",
)


pytestmark = pytest.mark.timeout(180)


# ------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Case:
    """One server and what `netlab check --only <only>` must say about it.

    Every check in `only` that is not in `fail`, `warn` or `skip` must pass. `cause` names, per check, words
    of which one must appear (case-insensitive) in that check's reason or evidence. `first_bytes`: the
    server's greeting, which the report must quote (readably or in base64, in `dialect` or in the skipped
    checks) when it says it did not recognise the protocol.
    """

    server: str
    only: tuple[str, ...]
    fail: frozenset[str] = frozenset()
    warn: frozenset[str] = frozenset()
    skip: frozenset[str] = frozenset()
    options: tuple[str, ...] = ()
    cause: dict[str, tuple[str, ...]] = field(default_factory=dict)
    first_bytes: bytes = b""
    slow: bool = False  # more than ~8 s with the grader of issue 15 (marked `slow`: `-m "not slow"` skips it)

    def expected(self, check: str) -> str:
        if check in self.fail:
            return "fail"
        if check in self.warn:
            return "warn"
        return "skip" if check in self.skip else "pass"


def _case(server: str, only: tuple[str, ...] | str, fail: str = "", warn: str = "", **extra: Any) -> Case:
    def ids(text: str) -> frozenset[str]:
        return frozenset(text.split())

    checks = tuple(only.split()) if isinstance(only, str) else only
    skip = extra.pop("skip", "")
    return Case(server, checks, ids(fail), ids(warn), ids(skip), **extra)


STRESS = frozenset({"load", "slow-consumer", "many-clients"})

CORRECT = [
    # the tutorial handshake gets the whole grading but the stress checks: every one passes (a healthy server);
    # the others, the checks where their protocol matters (handshake, prefix, framing, departure notice)
    # (the stress checks, load, slow-consumer and many-clients, grade netlab serve in test_check_cli.py)
    _case("ok_nick.py", tuple(c for c in ALL_CHECKS if c not in STRESS), options=("--clients", "20"), slow=True),
    _case("ok_name_token.py", "connect broadcast"),
    _case("ok_prompt.py", "connect broadcast"),
    _case("ok_first_line_name.py", "connect broadcast split-line"),
    _case("ok_raw.py", "broadcast clean-disconnect"),
    _case("ok_prefix_port.py", "broadcast split-line"),
    _case("ok_class.py", "connect broadcast bad-bytes"),
]
UNRECOGNISED = [
    # every check: the dialect-free ones pass, every other one is skipped with a reason, none fails
    _case(
        "ok_json_lines.py",
        ALL_CHECKS,
        skip=" ".join(sorted(set(ALL_CHECKS) - DIALECT_FREE)),
        options=("--clients", "20"),
        first_bytes=b'{"type": "hello", "want": "join"}\n',
    ),
    _case(
        "ok_length_prefixed.py",
        "broadcast connect-close many-clients",
        skip="broadcast",
        options=("--clients", "20"),
        first_bytes=b"\x00\x00\x00\x05HELLO",
    ),
]
BUGGY = [
    _case("bug_relay_per_recv.py", "split-line", fail="split-line"),
    _case("bug_per_chunk_prefix.py", "split-line", fail="split-line"),
    _case("bug_decode_per_chunk.py", "utf8-split", fail="utf8-split"),
    _case("bug_ascii_only.py", "utf8-split", fail="utf8-split"),
    _case("bug_global_lock_send.py", "slow-consumer", fail="slow-consumer", slow=True),
    _case("bug_blocking_send.py", "slow-consumer", fail="slow-consumer", slow=True),
    _case("bug_sender_echo.py", "sender-echo broadcast", warn="sender-echo"),
    _case("bug_handshake_in_accept.py", "silent-client", fail="silent-client", slow=True),
    _case("bug_dies_on_connect_close.py", "connect-close", fail="connect-close"),
    _case("bug_dies_on_reset.py", "abrupt-disconnect", fail="abrupt-disconnect"),
    _case("bug_busy_empty_recv.py", "clean-disconnect", fail="clean-disconnect"),
    _case("bug_list_mutated.py", "clean-disconnect", fail="clean-disconnect"),
    _case("bug_dead_socket.py", "clean-disconnect", fail="clean-disconnect"),
    _case("bug_cap_busywait.py", "many-clients", fail="many-clients", options=("--clients", "20"), slow=True),
    _case("bug_cap_hangs.py", "many-clients", fail="many-clients", options=("--clients", "20"), slow=True),
    _case("bug_restart_no_reuseaddr.py", "restart", fail="restart", cause={"restart": ("reuse",)}),
    _case("bug_restart_nondaemon.py", "restart", fail="restart", cause={"restart": ("daemon", "thread")}),
]
NOT_STARTING = ["bug_syntax_error.py.txt", "bug_wrong_port.py"]


# ------------------------------------------------------------------ helpers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1/0.0.0.0:`port` (the kernel's table; no probe connection)."""
    wanted = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = [row.split() for row in Path(table).read_text().splitlines()[1:]]
        except OSError:
            continue
        if any(fields[1].endswith(wanted) and fields[3] == "0A" for fields in rows):  # 0A: LISTEN
            return True
    return False


def netlab_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}


@dataclass
class Graded:
    exit_code: int
    stdout: str
    stderr: str
    document: dict[str, Any]
    lingering: list[int]  # of the server's port and the one above it, those still listening after the run

    def verdicts(self) -> dict[str, str]:
        return {check["id"]: check["verdict"] for check in self.document["checks"]}

    def check(self, check_id: str) -> dict[str, Any]:
        return next(check for check in self.document["checks"] if check["id"] == check_id)


def grade(server: str, only: tuple[str, ...], options: tuple[str, ...] = ()) -> tuple[Graded, int]:
    """Run `netlab check --exec` on `server` with a free port; return the parsed JSON document and the port."""
    port = free_port()
    while listening(port + 1):  # bug_wrong_port.py listens there
        port = free_port()
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(SERVERS / server))} {port}"
    args = [sys.executable, "-m", "netlab", "check", "--exec", command, "--port", str(port), "--format", "json"]
    for check in only:
        args += ["--only", check]
    result = subprocess.run(
        [*args, *options], cwd=REPO, env=netlab_env(), capture_output=True, text=True, timeout=170, check=False
    )
    context = f"exit {result.returncode}\nstdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    try:
        document = json.loads(result.stdout)
    except ValueError as error:
        raise AssertionError(f"stdout is not one JSON document ({error})\n{context}") from None
    lingering = [at for at in (port, port + 1) if still_listening(at)]  # at once: the test may come much later
    return Graded(result.returncode, result.stdout, result.stderr, document, lingering), port


def assert_schema(graded: Graded, started: bool = True) -> None:
    """The issue's JSON keys, summary counts that match the checks, and the exit status (a server that did not
    start exits 1 with every check skipped)."""
    document = graded.document
    assert {"schema_version", "target", "dialect", "checks", "summary"} <= set(document), sorted(document)
    summary = document["summary"]
    assert {"pass", "fail", "warn", "skip"} <= set(summary), summary
    counted = {verdict: 0 for verdict in VERDICTS}
    for check in document["checks"]:
        assert {"id", "verdict", "reason", "evidence"} <= set(check), check
        assert check["verdict"] in VERDICTS, check
        assert isinstance(check["evidence"], dict), check
        counted[check["verdict"]] += 1
        if check["verdict"] in ("fail", "warn", "skip"):
            assert isinstance(check["reason"], str) and check["reason"].strip(), check
        if check["verdict"] in ("fail", "warn"):
            assert check["evidence"], f"a {check['verdict']} without evidence: {check}"
    assert {verdict: summary[verdict] for verdict in VERDICTS} == counted, (summary, counted)
    expected_exit = 1 if counted["fail"] or not started else 0
    assert graded.exit_code == expected_exit, (graded.exit_code, counted, graded.stderr[-2000:])


def still_listening(port: int) -> bool:
    """Whether something still listens on `port` 5 s from now (returns as soon as nothing does)."""
    deadline = time.monotonic() + 5
    while listening(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    return listening(port)


def assert_left_nothing_behind(graded: Graded, port: int) -> None:
    """The server started by --exec was stopped at the end of the run, whatever it did (killed if it must be)."""
    assert port not in graded.lingering, f"something still listened on {port} after netlab check ended"


# ------------------------------------------------------------------ netlab check


# A grading mostly waits (for handshakes, deliveries, timeouts), so gradings whose expected verdicts no load
# on the box can change share the machine, four at a time:
# - the cases that run only checks measuring no CPU time and no latency beyond a bound of a second or two;
# - the cases whose bug shows as something that never happens (the server does not exit or rebind, a client
#   is left hanging, a line is never delivered) and that expect only fails or skips: load can only delay what
#   a correct server does, and each such bug leaves nothing that load could make look correct;
# - the servers that do not start.
# The others are graded two at a time (`graded_in_pairs`), or alone:
# - the correct servers whose passes rest on a latency bound (silent-client's 1 s, clean-disconnect's 1.2 s)
#   or on their CPU use (clean-disconnect, many-clients): two at a time, the four of them; a correct server's
#   latencies are milliseconds beside another grading that mostly waits, and its own CPU time stays its own;
# - slow-consumer's two failures, whose 40 senders load the box themselves: side by side, with each other
#   only (their stall is seconds long, and another grading adds milliseconds);
# - alone, every other case: a spin on an empty recv() fails as CPU use, which a crowded box would dilute,
#   and a busy-waiting cap burns a core while it is graded (a table edit that fits no group runs alone too).
QUICK_CHECKS = frozenset(
    {
        "connect",
        "broadcast",
        "sender-echo",
        "split-line",
        "coalesced-lines",
        "utf8-split",
        "bad-bytes",
        "connect-close",
        "abrupt-disconnect",
    }
)
NEVER_HAPPENS = frozenset(
    {
        "bug_restart_no_reuseaddr.py",  # the restarted server never binds
        "bug_restart_nondaemon.py",  # it never exits
        "bug_handshake_in_accept.py",  # the second client never gets its greeting
        "bug_cap_hangs.py",  # clients past the cap are left hanging
        "bug_list_mutated.py",  # after a leave, a live client's line is never delivered
        "bug_dead_socket.py",  # after a leave, the others never get the line
    }
)
PAIRED = (
    frozenset({"ok_nick.py", "ok_raw.py", "ok_json_lines.py", "ok_length_prefixed.py"}),  # correct ones
    frozenset({"bug_global_lock_send.py", "bug_blocking_send.py"}),  # slow-consumer stalls
)


def _in_parallel(case: Case) -> bool:
    if case.server in NEVER_HAPPENS:
        return not set(case.only) - case.fail - case.skip  # nothing expected to pass
    return not case.slow and set(case.only) <= QUICK_CHECKS


def _selected(request: pytest.FixtureRequest, param: str) -> set[str]:
    """The values of `param` in the tests this run selected (a `-k` or `-m` run grades only those)."""
    values = set()
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and param in callspec.params:
            value = callspec.params[param]
            values.add(value.server if isinstance(value, Case) else value)
    return values


Outcome = tuple[Graded, int] | BaseException


def _grade_all(jobs: list[tuple[str, tuple[str, ...], tuple[str, ...]]], workers: int) -> list[Outcome]:
    """Each job's grading (or what it raised, raised again in its own test), `workers` at a time."""

    def run(job: tuple[str, tuple[str, ...], tuple[str, ...]]) -> Outcome:
        try:
            return grade(*job)
        except (AssertionError, OSError, subprocess.SubprocessError) as error:
            return error

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, jobs))


NOT_STARTING_ONLY = ("connect", "broadcast", "connect-close")
NOT_STARTING_OPTIONS = ("--start-timeout", "3")


@pytest.fixture(scope="module")
def graded_in_parallel(request: pytest.FixtureRequest) -> dict[str, Outcome]:
    """The gradings that share the machine (see above), keyed by server; the longest ones start first."""
    wanted = _selected(request, "case") | (_selected(request, "server") & set(NOT_STARTING))
    cases = [c for c in (*CORRECT, *UNRECOGNISED, *BUGGY) if _in_parallel(c) and c.server in wanted]
    cases.sort(key=lambda c: not c.slow)  # stable: the slow ones first, then the table's order
    jobs = [(c.server, c.only, c.options) for c in cases]
    jobs += [(server, NOT_STARTING_ONLY, NOT_STARTING_OPTIONS) for server in NOT_STARTING if server in wanted]
    outcomes = _grade_all(jobs, workers=4)
    return {server: outcome for (server, _, _), outcome in zip(jobs, outcomes, strict=True)}


@pytest.fixture(scope="module")
def graded_in_pairs(request: pytest.FixtureRequest) -> dict[str, Outcome]:
    """Each group of `PAIRED` graded two at a time, one group after the other; the longest ones start first."""
    wanted = _selected(request, "case")
    graded: dict[str, Outcome] = {}
    for group in PAIRED:
        cases = [c for c in (*CORRECT, *UNRECOGNISED, *BUGGY) if c.server in group and c.server in wanted]
        cases.sort(key=lambda c: (not c.slow, -len(c.only)))
        outcomes = _grade_all([(c.server, c.only, c.options) for c in cases], workers=2)
        graded |= {case.server: outcome for case, outcome in zip(cases, outcomes, strict=True)}
    return graded


def _outcome(graded: dict[str, Outcome], server: str) -> tuple[Graded, int]:
    outcome = graded[server]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, id=case.server, marks=[pytest.mark.slow] if case.slow else [])
        for case in (*CORRECT, *UNRECOGNISED, *BUGGY)
    ],
)
def test_check_gives_exactly_the_expected_verdicts(case: Case, request: pytest.FixtureRequest) -> None:
    if _in_parallel(case):
        graded, port = _outcome(request.getfixturevalue("graded_in_parallel"), case.server)
    elif any(case.server in group for group in PAIRED):
        graded, port = _outcome(request.getfixturevalue("graded_in_pairs"), case.server)
    else:
        graded, port = grade(case.server, case.only, case.options)
    assert_schema(graded)
    verdicts = graded.verdicts()
    assert set(case.only) <= set(verdicts), f"checks missing from the report: {set(case.only) - set(verdicts)}"
    unasked = {check: verdict for check, verdict in verdicts.items() if check not in case.only}
    assert all(verdict == "skip" for verdict in unasked.values()), f"checks run without --only: {unasked}"
    got = {check: verdicts[check] for check in case.only}
    want = {check: case.expected(check) for check in case.only}
    reasons = {check: graded.check(check)["reason"] for check in case.only if got[check] != want[check]}
    assert got == want, f"reasons of the differences: {reasons}\nstderr:\n{graded.stderr[-3000:]}"
    for check, words in case.cause.items():
        entry = graded.check(check)
        text = (entry["reason"] + " " + json.dumps(entry["evidence"], ensure_ascii=False)).lower()
        assert any(word in text for word in words), f"{check}: the cause ({'/'.join(words)}) is not named: {entry}"
    if case.first_bytes:
        skipped = [check for check in graded.document["checks"] if check["verdict"] == "skip"]
        said = json.dumps([graded.document["dialect"], skipped], ensure_ascii=False)
        quotes = ("hello" in said.lower(), base64.b64encode(case.first_bytes[:6]).decode() in said)
        assert any(quotes), f"the server's first bytes are not quoted: {said[:2000]}"
    assert_left_nothing_behind(graded, port)


@pytest.mark.parametrize("server", NOT_STARTING)
def test_a_server_that_does_not_start_is_reported_and_every_check_skips(
    server: str, graded_in_parallel: dict[str, Outcome]
) -> None:
    """Exit 1, every check skipped, "did not start" said (the issue's words), a SyntaxError quoted from the
    server's stderr, and the server stopped even when it listens on the wrong port."""
    graded, port = _outcome(graded_in_parallel, server)
    assert_schema(graded, started=False)
    assert all(check["verdict"] == "skip" for check in graded.document["checks"]), graded.document
    said = (graded.stdout + graded.stderr).lower()
    assert "did not start" in said, said[-2000:]
    if server.startswith("bug_syntax_error"):
        assert "syntaxerror" in said, "the server's last stderr lines are not quoted"
    assert_left_nothing_behind(graded, port)
    if server == "bug_wrong_port.py":
        assert_left_nothing_behind(
            graded, port + 1
        )  # the server on the wrong port is stopped too (grade() chose it free)


# ------------------------------------------------------------------ netlab join --dialect auto


class Process:
    """A child process whose stdout and stderr are collected by threads, as text."""

    def __init__(self, args: list[str], stdin: bool = False) -> None:
        self.proc = subprocess.Popen(
            args,
            cwd=REPO,
            env=netlab_env(),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self.out: list[str] = []
        self.err: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.threads = [
            threading.Thread(target=self._drain, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    @staticmethod
    def _drain(stream: IO[str], into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def stdout(self) -> str:
        return "".join(self.out)

    def stderr(self) -> str:
        return "".join(self.err)

    def type(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def end_input(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()

    def stop(self, sig: int = signal.SIGINT) -> None:
        self.end_input()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for thread in self.threads:
            thread.join(5)


def wait_until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


JOIN_SERVERS = [
    "ok_nick.py",
    "ok_name_token.py",
    "ok_prompt.py",
    "ok_raw.py",
    "ok_prefix_port.py",
    "ok_first_line_name.py",
    "ok_class.py",
]


def chat_both_ways(name: str) -> str:
    """Two piped `netlab join --dialect auto` clients of students' server `name`: a line from each must reach
    the other and both must end with status 0. Returns what went wrong ("" when nothing did)."""
    port = free_port()
    server = Process([sys.executable, "-u", str(SERVERS / name), str(port)])
    try:
        if not wait_until(lambda: listening(port), 10):
            return f"{name} did not listen: {server.stdout()}"

        def join(nick: str) -> Process:
            args = ["-m", "netlab", "-vv", "join", "--port", str(port), "--nick", nick, "--dialect", "auto"]
            return Process([sys.executable, *args, "--linger", "1"], stdin=True)

        alice, bob = join("alice"), join("bob")
        try:
            # not a condition of the test: the servers log their joins, and join -vv may name the dialect it
            # chose; a server that learns a name from the first line logs nothing until then
            wait_until(lambda: server.stdout().count(" joined") >= 2, 4)
            wait_until(lambda: all("dialect" in who.stderr().lower() for who in (alice, bob)), 3)
            alice.type("hello from alice\n")
            if not wait_until(lambda: "hello from alice" in bob.stdout(), 4):
                return (
                    f"bob never saw alice's line\nbob: {bob.stdout()!r}\nalice stderr: {alice.stderr()[-1500:]}\n"
                    f"server: {server.stdout()[-1500:]}"
                )
            bob.type("hello from bob\n")
            if not wait_until(lambda: "hello from bob" in alice.stdout(), 4):
                return (
                    f"alice never saw bob's line\nalice: {alice.stdout()!r}\nbob stderr: {bob.stderr()[-1500:]}\n"
                    f"server: {server.stdout()[-1500:]}"
                )
            for who in (alice, bob):
                who.end_input()
            for who in (alice, bob):
                try:
                    code = who.proc.wait(10)
                except subprocess.TimeoutExpired:
                    return f"a join did not end within 10 s of its end of input: {who.stderr()[-1500:]}"
                if code != 0:
                    return f"a join ended with status {code}: {who.stderr()[-1500:]}"
            return ""
        finally:
            alice.stop()
            bob.stop()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chatted() -> dict[str, str | BaseException]:
    """Each server's chat both ways, four servers at a time (each chat mostly waits for lines and lingers)."""

    def run(name: str) -> str | BaseException:
        try:
            return chat_both_ways(name)
        except (OSError, subprocess.SubprocessError) as error:  # raised again in its own test
            return error

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(JOIN_SERVERS, pool.map(run, JOIN_SERVERS), strict=True))


@pytest.mark.parametrize("server", JOIN_SERVERS)
def test_join_auto_chats_both_ways_with_a_students_server(server: str, chatted: dict[str, str | BaseException]) -> None:
    """Two piped `netlab join --dialect auto` clients: a line from each reaches the other."""
    outcome = chatted[server]
    if isinstance(outcome, BaseException):
        raise outcome
    assert outcome == "", outcome
