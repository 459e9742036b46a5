"""`netlab sockets ...` without typer: the start-up fast path of the console entry point.

Importing typer and building the app costs more than the snapshot itself, and `netlab sockets
--json` is meant to be cheaper than `ss -tanp`. So the entry point hands the arguments of
`netlab sockets` to this module first. It reads the typer command's options (`OPTIONS`, which a
test compares with the command) with the fast parser of `netlab.cli.fastparse`, which reads them as
click's parser does, and declines whatever it is not sure to read exactly as typer would: `--help`,
unknown options, a missing or invalid value, `--`, positional arguments (SECONDS), `--watch`,
conflicting options and netlab errors. A declined run goes to the typer command, so help texts,
usage errors, error lines and exit codes stay typer's; nothing has been written when it declines.
"""

from __future__ import annotations

from netlab.cli.choices import ColorChoice
from netlab.cli.fastparse import Declined, Option
from netlab.cli.fastparse import parse as parse_options
from netlab.cli.sockets_view import Backend, OptionsConflict, OutputFormat, make_view
from netlab.errors import NetlabError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, a start-up cost of `netlab sockets`
if TYPE_CHECKING:
    from typing import Any

# The typer command's options; SECONDS, its only positional argument, is declined with --watch.
OPTIONS: dict[str, Option] = {
    "port": Option("--port", "-p", kind="int", low=1, high=65535),
    "pid": Option("--pid", kind="int"),
    "all_ports": Option("--all", "-a", kind="flag"),
    "listening": Option("--listening", "-l", kind="flag"),
    "state": Option("--state", "-s", many=True),
    "as_json": Option("--json", kind="flag"),
    "output": Option("--format", "-f", choices=[f.value for f in OutputFormat], default="text"),
    "watch": Option("--watch", "-w", kind="flag"),
    "netns": Option("--netns"),
    "backend": Option("--backend", choices=[b.value for b in Backend], default="auto"),
    "color": Option("--color", choices=[c.value for c in ColorChoice], default="auto"),
}


def parse(args: list[str]) -> dict[str, Any]:
    """The options in `args` (what follows `netlab sockets`), read as the typer command reads them.

    Raises:
        Declined: arguments the typer command should see (see the module docstring).
    """
    values = parse_options(args, OPTIONS)
    if values["watch"]:
        raise Declined("--watch runs through the typer command")
    return values


def run(args: list[str]) -> bool:
    """Run `netlab sockets ARGS` without typer when the fast parser takes `args`.

    Returns:
        True when the command ran (exit status 0); False when it declined and wrote nothing.
    """
    from netlab.sockets.lazylog import before_first_warning

    before_first_warning(_configure_logging)  # a warning prints as the typer app would print it
    try:
        options = parse(args)
        view = make_view(
            seconds=None,
            port=options["port"],
            pid=options["pid"],
            all_ports=bool(options["all_ports"]),
            listening=bool(options["listening"]),
            state=options["state"],
            as_json=bool(options["as_json"]),
            output=OutputFormat(options["output"]),
            watch=False,
            netns=options["netns"],
            backend=Backend(options["backend"]),
            color=ColorChoice(options["color"]),
        )
        taken = view.take()
    except (Declined, OptionsConflict, NetlabError):
        return False  # errors are reported by the typer command, the one place they become exit codes
    view.write(taken)
    return True


def _configure_logging() -> None:
    """The typer app's logging set-up (its root callback's, without -v / -q, which go to typer)."""
    from netlab.cli.logsetup import configure_logging

    configure_logging(0, 0)
