"""`netlab check [HOST:]PORT` / `netlab check --exec CMD --port PORT`: grade a chat server (thin: the work is
`netlab.check.runner.Runner`)."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from netlab.chat.dialects import DIALECT_HELP, Dialect
from netlab.cli.fastparse import Option
from netlab.cli.guard import run_guarded
from netlab.cli.typer_options import declared_by


class Format(enum.StrEnum):
    """`--format` of `netlab check`."""

    TEXT = "text"
    JSON = "json"


def _check_ids() -> str:
    from netlab.check.ids import CHECK_IDS

    return ", ".join(CHECK_IDS)


OPTIONS: dict[str, Option] = {
    "exec_command": Option(
        ("--exec",),
        metavar="CMD",
        help="Start the server under test with this command (stopped at the end, restarted "
        "when a check killed it); needs --port.",
    ),
    "port": Option(
        ("--port", "-p"), int, low=1, high=65535, help="The server's port (with --exec: the port it listens on)."
    ),
    "start_timeout": Option(
        ("--start-timeout",), float, default=10.0, low=0, help="With --exec: seconds to wait for the port to listen."
    ),
    "dialect": Option(
        ("--dialect", "-d"),
        Dialect,
        default=Dialect.AUTO.value,
        help="; ".join(f"{item.value}: {text}" for item, text in DIALECT_HELP.items()) + ".",
    ),
    "clients": Option(("--clients",), int, default=100, low=2, high=5000, help="Clients for the many-clients check."),
    "only": Option(("--only",), many=True, metavar="ID", help="Run only this check (repeatable)."),
    "skip": Option(("--skip",), many=True, metavar="ID", help="Skip this check (repeatable)."),
    "output_format": Option(("--format", "-f"), Format, default=Format.TEXT.value, help="text (a table) or json."),
    "report": Option(("--report",), Path, metavar="FILE.html", help="Write a self-contained HTML report."),
    "save_to": Option(
        ("--save-to",), Path, metavar="FILE", help="Capture the whole check into this pcap (needs capture rights)."
    ),
    "timeout": Option(("--timeout",), float, low=1, help="Seconds for the whole run; checks left then are skipped."),
}

HELP = """Grade a chat server: connect clients, send what breaks students' servers, and judge each check
pass, fail, warn or skip, with the bytes that prove it.

Examples:

  netlab check 55555                                  # a server already running on 127.0.0.1:55555

  netlab check --exec 'python3 server.py' --port 55555 --report grade.html

  netlab check --exec 'python3 server.py' --port 55555 --format json --only broadcast --only split-line

Checks, in the order they run: """


def _target(target: str | None, port: int | None, command: str | None) -> tuple[str, int]:
    if target is None:
        if port is None:
            raise typer.BadParameter("give [HOST:]PORT, or --exec CMD --port PORT", param_hint="TARGET")
        return "127.0.0.1", port
    if command is not None:
        raise typer.BadParameter("with --exec, give the port with --port, not as TARGET", param_hint="TARGET")
    host, colon, number = target.rpartition(":")
    host = host.strip("[]") if colon else "127.0.0.1"
    try:
        value = int(number)
    except ValueError:
        raise typer.BadParameter(f"{target!r} is not [HOST:]PORT", param_hint="TARGET") from None
    if not 1 <= value <= 65535 or (port is not None and port != value):
        raise typer.BadParameter(f"{target!r}: the port must be 1-65535 (and agree with --port)", param_hint="TARGET")
    return host or "127.0.0.1", value


def register(app: typer.Typer) -> None:
    """Add the `check` command to the app."""

    @app.command("check", help=HELP + _check_ids() + ".")
    @declared_by(OPTIONS)
    def check(
        target: Annotated[
            str | None, typer.Argument(metavar="[HOST:]PORT", help="The server to grade (host defaults to 127.0.0.1).")
        ] = None,
        **options: Any,
    ) -> None:
        from netlab.check.runner import CheckOptions, selected

        command = options["exec_command"]
        if command is not None and options["port"] is None:
            raise typer.BadParameter("--exec needs --port (the port the server listens on)", param_hint="--port")
        host, port = _target(target, options["port"], command)
        only, skip = tuple(options["only"] or ()), tuple(options["skip"] or ())
        try:
            selected(only, skip)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--only/--skip") from None
        check_options = CheckOptions(
            host=host,
            port=port,
            command=command,
            start_timeout=options["start_timeout"],
            dialect=Dialect(options["dialect"]),
            clients=options["clients"],
            only=only,
            skip=skip,
            timeout=options["timeout"],
            save_to=options["save_to"],
            capture=options["report"] is not None,
        )
        run_guarded(lambda: _run(check_options, Format(options["output_format"]), options["report"]))


def _progress(text: str) -> None:
    sys.stderr.write(f"netlab: {text}\n")
    sys.stderr.flush()


def _run(options: Any, output: Format, report: Path | None) -> None:
    import os

    from netlab.check.model import Verdict, render_text, summary_line, to_document
    from netlab.check.runner import Runner
    from netlab.cli.exits import ExitStatus, exit_status_for

    outcome = Runner(options, _progress).run()
    if output is Format.JSON:
        sys.stdout.write(json.dumps(to_document(outcome.info, outcome.results), ensure_ascii=False, indent=1) + "\n")
    else:
        colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        sys.stdout.write(render_text(outcome.info, outcome.results, colour=colour))
    sys.stdout.flush()
    if report is not None:
        _write_report(outcome, report, options.port)
    _progress(
        summary_line(outcome.results)
        + (f"; capture in {outcome.capture_path}" if options.save_to and outcome.capture_path else "")
    )
    if options.save_to is not None and outcome.capture_error is not None:
        raise typer.Exit(int(exit_status_for(outcome.capture_error)))
    failed = outcome.did_not_start or any(r.verdict is Verdict.FAIL for r in outcome.results)
    raise typer.Exit(int(ExitStatus.ERROR if failed else ExitStatus.OK))


def _write_report(outcome: Any, path: Path, port: int) -> None:
    from netlab.check.model import Verdict
    from netlab.check.page import render_check_html
    from netlab.check.runner import captured_connections
    from netlab.errors import NetlabError

    connections = {}
    if outcome.capture_path is not None and outcome.capture_error is None:
        ports = [p for r in outcome.results if r.verdict in (Verdict.FAIL, Verdict.WARN) for p in r.evidence.ports]
        connections = captured_connections(outcome.capture_path, port, ports)
    try:
        path.write_text(render_check_html(outcome.info, outcome.results, connections), encoding="utf-8")
    except OSError as error:
        raise NetlabError(f"cannot write the report to {path}: {error.strerror}") from None
    _progress(f"report in {path}")
