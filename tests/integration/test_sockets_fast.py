"""The start-up fast path of `netlab sockets` (its own parser, no typer) against the typer command.

The two must agree on the options (names, kinds, choices, ranges, defaults), read every argument
list the fast parser takes exactly as typer does, and write the same bytes with the same exit
status; anything else the fast path declines, without writing, and typer answers.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import typer.main
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from netlab.cli import entry, sockets_fast
from netlab.cli.app import app
from netlab.errors import SocketsError
from netlab.packets import Endpoint
from netlab.sockets.model import ChatClient, Role, ServerStatus, Snapshot, SocketRow, TcpState
from netlab.sockets.table import select

PORT = 55555
LO = "127.0.0.1"


# Duck-typed: typer below 0.28 builds on click, 0.28 on its own copy of it.
CLICK_EXCEPTION = next(kind for kind in typer.BadParameter.__mro__ if kind.__name__ == "ClickException")
TYPE_NAMES = {"integer": "int", "text": "str", "string": "str", "boolean": "bool"}  # click's, typer 0.28's


def _typer_command() -> Any:
    return typer.main.get_command(app).commands["sockets"]  # type: ignore[attr-defined]


#: -v / -q, which every command takes (netlab.cli.app); the fast path declines them as unknown options,
#: so the typer command sets the log level.
APP_WIDE = {"log_verbose", "log_quiet"}


def _typer_options() -> dict[str, dict[str, object]]:
    """The sockets command's parameters as typer declares them, keyed by name."""
    found: dict[str, dict[str, object]] = {}
    for param in _typer_command().params:
        if param.name in APP_WIDE:
            continue
        kind = param.type
        assert param.name is not None
        choices = getattr(kind, "choices", None)
        found[param.name] = {
            "strings": sorted(param.opts + param.secondary_opts) if param.param_type_name == "option" else [],
            "flag": bool(getattr(param, "is_flag", False)),
            "count": bool(getattr(param, "count", False)),
            "multiple": param.multiple,
            "type": "choice" if choices else TYPE_NAMES.get(name := kind.name.removesuffix(" range"), name),
            "choices": list(choices) if choices else None,
            "range": (kind.min, kind.max) if hasattr(kind, "min") else None,
            "default": str(param.default.value) if hasattr(param.default, "value") else param.default,
            "envvar": param.envvar,
        }
        if choices:
            assert kind.case_sensitive, "the fast parser's choices are case-sensitive"
    return found


def _fast_options() -> dict[str, dict[str, object]]:
    """The fast parser's options in the same shape."""
    found: dict[str, dict[str, object]] = {}
    for name, option in sockets_fast.OPTIONS.items():
        found[name] = {
            "strings": sorted(option.strings + option.off),
            "flag": option.kind == "flag",
            "count": False,
            "multiple": option.many,
            "type": "choice" if option.choices else {"flag": "bool"}.get(option.kind, option.kind),
            "choices": list(option.choices) if option.choices else None,
            "range": option.range,
            "default": option.default,
            "envvar": None,
        }
    return found


def test_fast_parser_and_typer_command_declare_the_same_options() -> None:
    typer_options = _typer_options()
    # SECONDS (--watch's interval) is typer's only positional argument; the fast path declines
    # every positional argument, and --watch, so it does not declare it.
    assert typer_options.pop("seconds")["strings"] == []
    assert _fast_options() == typer_options


def _normalized(params: dict[str, Any]) -> dict[str, object]:
    """Parsed values in one shape, whichever parser produced them."""
    return {
        name: (list(value) if value else None)
        if name == "state"
        else (str(value.value) if hasattr(value, "value") else value)
        for name, value in params.items()
    }


def _typer_parse(args: list[str]) -> dict[str, object] | None:
    """What typer's parser makes of `args` (None when it refuses them), SECONDS aside."""
    try:
        context = _typer_command().make_context("sockets", list(args))
    except (CLICK_EXCEPTION, typer.Exit):
        return None
    params = {name: value for name, value in context.params.items() if name not in APP_WIDE}
    return {"seconds": params.pop("seconds"), **_normalized(params)}


def _fast_parse(args: list[str]) -> dict[str, object] | None:
    try:
        return {"seconds": None, **_normalized(sockets_fast.parse(list(args)))}
    except sockets_fast.Declined:
        return None


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--json"],
        ["--port", "4242", "--json"],
        ["--port=4242"],
        ["-p", "4242"],
        ["-p4242"],
        ["-al"],
        ["-ap", "80"],
        ["-ap80", "-s", "estab"],
        ["--pid", "-5"],
        ["--state", "established,listen", "-s", "time-wait"],
        ["-f", "netstat"],
        ["-fjson"],
        ["--format=json", "--json"],
        ["--netns", "lab-client", "--backend", "proc", "--color", "never"],
        ["--netns", "-x y"],
        ["--netns", "--json"],  # click too takes the next argument as the value, whatever it looks like
        ["--netns="],
        ["--port", "1", "--port", "65535"],
        ["--pid", " 12 "],
    ],
)
def test_fast_parser_takes_the_usual_spellings_as_typer_reads_them(args: list[str]) -> None:
    fast = _fast_parse(args)
    assert fast is not None, "the fast path should take these"
    assert fast == _typer_parse(args)


@pytest.mark.parametrize(
    "args",
    [
        ["-h"],
        ["--help"],
        ["-ah"],
        ["--watch"],
        ["-w", "--json"],
        ["0.5"],
        ["--", "--json"],
        ["-p=5"],
        ["--port", "0"],
        ["--port", "65536"],
        ["--port", "x"],
        ["--po", "5"],
        ["--json=1"],
        ["--format", "JSON"],
        ["--bogus"],
        ["-p"],
    ],
)
def test_fast_parser_declines_help_watch_and_anything_typer_might_read_otherwise(args: list[str]) -> None:
    assert _fast_parse(args) is None


TOKENS = [
    *("--port", "-p", "--pid", "--all", "-a", "--listening", "-l", "--state", "-s", "--json"),
    *("--format", "-f", "--watch", "-w", "--netns", "--backend", "--color", "-h", "--help", "--"),
    *("-al", "-la", "-ap", "-lp", "-p5", "-p=5", "--port=5", "--port=", "--json=1", "-x", "--po", "-pid"),
    *("5", "0", "65535", "65536", "-1", "1.5", "abc", "", " 7", "08", "1_0", "-", "a=b", "-a=b", "nan"),
    *("estab", "listen,estab", "bogus", "text", "json", "netstat", "JSON", "auto", "never", "proc"),
    *("sock_diag", "psutil", "always", "-s5", "-fjson", "-f=json", "--netns=x", "-x y"),
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=7))
def test_whatever_the_fast_parser_takes_typer_reads_the_same(args: list[str]) -> None:
    fast = _fast_parse(args)
    if fast is not None:
        assert _typer_parse(args) == fast


# --- the same output, exit status and stderr through both paths ---------------------------------


def _rows() -> tuple[SocketRow, ...]:
    server, client = Endpoint(LO, PORT), Endpoint(LO, 40000)
    return (
        SocketRow(4, server, Endpoint("0.0.0.0", 0), TcpState.LISTEN, 0, 128, 1, 0, (10,), "netlab"),
        SocketRow(4, server, client, TcpState.ESTABLISHED, 0, 512, 2, 0, (10,), "netlab"),
        SocketRow(4, client, server, TcpState.ESTABLISHED, 7, 0, 3, 0, (20,), "python"),
        SocketRow(4, Endpoint(LO, 41000), server, TcpState.TIME_WAIT, 0, 0),
    )


@pytest.fixture
def fixed_snapshot(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, object]]]:
    """`snapshot` answers from fixed rows; each call is recorded and echoed in a note on stderr."""
    calls: list[dict[str, object]] = []

    def fake(
        port: int | None = PORT,
        *,
        pid: int | None = None,
        netns: str | None = None,
        states: Any = (),
        status_dir: Any = None,
        backend: str = "auto",
    ) -> Snapshot:
        call = {"port": port, "pid": pid, "netns": netns, "states": list(states), "backend": backend}
        calls.append(call)
        if pid == 666:
            raise SocketsError("no process with pid 666")
        rows = [row for row in select(_rows(), states) if port is None or port in (row.local.port, row.remote.port)]
        client = ChatClient("alice", Endpoint(LO, 40000), Endpoint(LO, PORT))
        server = ServerStatus(10, PORT, (Endpoint(LO, PORT),), (client,))
        named = [
            replace(row, nickname="alice", role=Role.SERVER_SIDE if row.local.port == PORT else Role.CLIENT_SIDE)
            if row.inode in (2, 3)
            else row
            for row in rows
        ]
        return Snapshot(
            rows=tuple(named),
            taken=1700000000.5,
            port=port,
            backend="sock_diag" if backend == "auto" else backend,
            servers=(server,),
            notes=(f"asked for {call}",),
            netns=netns,
        )

    monkeypatch.setattr("netlab.sockets.snapshot.snapshot", fake)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "160")
    yield calls


def _through_typer(args: list[str]) -> tuple[int, str, str]:
    logger = logging.getLogger("netlab")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    try:
        result = CliRunner().invoke(app, ["sockets", *args], prog_name="netlab")  # as the console script
    finally:  # the app points the netlab logger at the runner's stderr, closed after the run
        logger.handlers[:], logger.level, logger.propagate = saved
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _through_entry_point(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`netlab sockets ARGS` through the console entry point, which tries the fast path first."""
    saved = sys.argv
    sys.argv = ["netlab", "sockets", *args]
    code = 0
    try:
        entry.main()
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    finally:
        sys.argv = saved
    out, err = capsys.readouterr()
    return code, out, err


SAME_OUTPUT = [
    [],
    ["--json"],
    ["--port", "55555", "--json"],
    ["-p", "55555"],
    ["-p", "40000", "-f", "netstat"],
    ["--all", "--state", "established,time-wait"],
    ["-al", "--json"],
    ["--pid", "20", "--backend", "proc"],
    ["--netns", "lab-client", "--json"],
    ["--port", "1"],
    ["--color", "never", "-s", "listen"],
    ["--color", "always"],
    ["--format", "json", "--json"],
    ["--port", "41000"],  # a TIME-WAIT row and no listener
    ["--port", "41000", "--json"],
]


@pytest.mark.parametrize("args", SAME_OUTPUT)
def test_fast_path_writes_what_the_typer_command_writes(
    args: list[str], fixed_snapshot: list[dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert sockets_fast.run(list(args)) is True, "the fast path should take these"
    fast_out, fast_err = capsys.readouterr()
    code, out, err = _through_typer(args)
    assert (0, fast_out, fast_err) == (code, out, err)
    assert len(fixed_snapshot) == 2 and fixed_snapshot[0] == fixed_snapshot[1]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--port", "41000"], True),
        (["--port", "41000", "-f", "netstat"], True),
        (["--port", "41000", "--json"], True),
        (["--port", "55555"], False),  # the listener is there
        (["--all", "-s", "time-wait"], False),  # LISTEN was filtered out: nothing to conclude
        (["--pid", "20"], False),
    ],
)
def test_rows_without_a_listener_say_no_server_is_listening_on_both_paths(
    args: list[str], said: bool, fixed_snapshot: list[dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert sockets_fast.run(list(args)) is True
    fast_out, fast_err = capsys.readouterr()
    assert fast_out
    assert ("no server is listening" in fast_err) is said, fast_err
    if said:
        assert (
            "netlab: no server is listening on port 41000: the row shown is a connection only (1 TIME-WAIT)\n"
            in fast_err
        )
    assert _through_typer(args) == (0, fast_out, fast_err)


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--pid", "666"], 1, "no process with pid 666"),  # a netlab error: typer's path reports it
        (["--state", "bogus"], 2, "unknown state"),
        (["--all", "--port", "80"], 2, "--all"),
        (["--json", "-f", "netstat"], 2, "pick one"),
        (["--port", "0"], 2, "--port"),
        (["--help"], 0, "Usage:"),
    ],
)
def test_what_the_fast_path_declines_typer_answers_and_nothing_is_written_twice(
    args: list[str],
    code: int,
    needle: str,
    fixed_snapshot: list[dict[str, object]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert sockets_fast.run(list(args)) is False
    assert capsys.readouterr() == ("", "")
    logger = logging.getLogger("netlab")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    try:
        got = _through_entry_point(args, capsys)
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
    assert got[0] == code
    assert needle in got[1] + got[2]
    assert (got[0], got[1], got[2]) == _through_typer(args)
    assert "Traceback" not in got[2]


def test_entry_point_runs_sockets_without_typer_and_other_commands_with_it(tmp_path: Path) -> None:
    """Pins the start-up cost: the fast path imports none of the heavy libraries (typer, click, rich,
    psutil, scapy) nor the typer app."""
    code = (
        "import sys\n"
        "from netlab.cli.entry import main\n"
        "sys.argv = ['netlab', 'sockets', '--port', '1', '--json']\n"
        "main()\n"
        "heavy = ('typer', 'click', 'rich', 'psutil', 'scapy', 'netlab.cli.app')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy))\n"
    )
    env = {**os.environ, "NETLAB_RUNTIME_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True, env=env)
    document, modules = out.stdout.splitlines()
    assert '"port": 1' in document
    assert modules == "[]"
    assert out.stderr == ""
    helped = subprocess.run(
        [sys.executable, "-m", "netlab", "sockets", "--help"], capture_output=True, text=True, timeout=60
    )
    assert helped.returncode == 0 and "--watch" in helped.stdout and "Usage" in helped.stdout
