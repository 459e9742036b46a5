"""`netlab sockets ...` without typer: the start-up fast path of the console entry point.

Importing typer and building the app costs more than the snapshot itself, and `netlab sockets
--json` is meant to be cheaper than `ss -tanp`. So the entry point hands the arguments of
`netlab sockets` to this stdlib parser first. It mirrors the typer command's options (a test
compares the two) and declines whatever it is not sure to read exactly as typer would: `--help`,
anything it cannot parse, values typer would reject, `--watch`, and netlab errors. A declined run
goes to the typer command, so help texts, usage errors and error messages stay typer's, and
nothing has been written when it declines.
"""

from __future__ import annotations

import argparse

from netlab.cli.sockets_view import Backend, ColorMode, OptionsConflict, OutputFormat, make_view
from netlab.errors import NetlabError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, a start-up cost of `netlab sockets`
if TYPE_CHECKING:
    from typing import NoReturn

PORT_RANGE = (1, 65535)  # the typer command's min/max for --port


class Declined(Exception):
    """The fast parser does not take these arguments; the typer command will."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise Declined(message)


def _formatter(prog: str) -> argparse.HelpFormatter:
    """argparse builds a formatter to check each option's metavar; with a fixed width it does not
    import shutil to ask the terminal's (the parser never prints help: typer does)."""
    return argparse.HelpFormatter(prog, width=80)


def parser() -> argparse.ArgumentParser:
    """The options of `netlab sockets`, as the typer command declares them (no help: typer's)."""
    found = _Parser(prog="netlab sockets", add_help=False, allow_abbrev=False, formatter_class=_formatter)
    found.add_argument("seconds", nargs="?", type=float, metavar="SECONDS")
    found.add_argument("--port", "-p", type=int, metavar="PORT")
    found.add_argument("--pid", type=int, metavar="PID")
    found.add_argument("--all", "-a", action="store_true", dest="all_ports")
    found.add_argument("--listening", "-l", action="store_true")
    found.add_argument("--state", "-s", action="append", metavar="STATE")
    found.add_argument("--json", action="store_true", dest="as_json")
    found.add_argument("--format", "-f", choices=[f.value for f in OutputFormat], default="text", dest="output")
    found.add_argument("--watch", "-w", action="store_true")
    found.add_argument("--netns", metavar="NAME")
    found.add_argument("--backend", choices=[b.value for b in Backend], default="auto")
    found.add_argument("--color", choices=[c.value for c in ColorMode], default="auto")
    return found


def parse(args: list[str]) -> argparse.Namespace:
    """The options in `args` (what follows `netlab sockets`), read as the typer command reads them.

    Raises:
        Declined: arguments the typer command should see (help, errors, the watch mode, and
            spellings the two parsers read differently).
    """
    for arg in args:
        if arg == "--":
            break
        if arg.startswith("-") and not arg.startswith("--") and "=" in arg:
            raise Declined(f"{arg!r}: click reads -p=5 as the value '=5', argparse as 5")
    options = parser().parse_args(args)
    if options.seconds is not None or options.watch:
        raise Declined("--watch runs through the typer command")
    if options.port is not None and not PORT_RANGE[0] <= options.port <= PORT_RANGE[1]:
        raise Declined(f"--port {options.port} is out of range")
    return options


def run(args: list[str]) -> bool:
    """Run `netlab sockets ARGS` without typer when the fast parser takes `args`.

    Returns:
        True when the command ran (exit status 0); False when it declined and wrote nothing.
    """
    try:
        options = parse(args)
        view = make_view(
            seconds=options.seconds,
            port=options.port,
            pid=options.pid,
            all_ports=options.all_ports,
            listening=options.listening,
            state=options.state,
            as_json=options.as_json,
            output=OutputFormat(options.output),
            watch=options.watch,
            netns=options.netns,
            backend=Backend(options.backend),
            color=ColorMode(options.color),
        )
        taken = view.take()
    except (Declined, OptionsConflict, NetlabError):
        return False  # errors are reported by the typer command, the one place they become exit codes
    view.write(taken)
    return True
