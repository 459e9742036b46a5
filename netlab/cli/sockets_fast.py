"""`netlab sockets ...` without typer: the start-up fast path of the console entry point.

Importing typer and building the app costs more than the snapshot itself, and `netlab sockets
--json` is meant to be cheaper than `ss -tanp`. So the entry point hands the arguments of
`netlab sockets` to this module first. It declares the command's options (`OPTIONS`, from which
`netlab.cli.sockets` builds the typer command) and reads them with the fast parser of
`netlab.cli.fastparse`, which reads them as click's parser does, and declines whatever it is not sure to read
exactly as typer would: `--help`,
unknown options, a missing or invalid value, `--`, positional arguments (SECONDS), `--watch`,
conflicting options and netlab errors. A declined run goes to the typer command, so help texts,
usage errors, error lines and exit codes stay typer's; nothing has been written when it declines.
"""

from __future__ import annotations

from typing import Any

from netlab.cli.choices import ColorChoice
from netlab.cli.fastparse import Declined, Option
from netlab.cli.fastparse import parse as parse_options
from netlab.cli.sockets_view import DEFAULT_PORT, Backend, OptionsConflict, OutputFormat, make_view
from netlab.errors import NetlabError

# The sockets command's options, declared once: `netlab.cli.sockets` builds the typer command from
# them. SECONDS, its only positional argument, is the typer command's own; the fast path declines it.
OPTIONS: dict[str, Option] = {
    "port": Option(
        ("--port", "-p"),
        int,
        low=1,
        high=65535,
        metavar="PORT",
        help=f"Sockets with this local or remote port (default {DEFAULT_PORT}, the chat port).",
    ),
    "pid": Option(
        ("--pid",),
        int,
        metavar="PID",
        help="Sockets of this process and its children (any port unless --port).",
    ),
    "all_ports": Option(("--all", "-a"), bool, help="Every TCP socket, on any port."),
    "listening": Option(("--listening", "-l"), bool, help="Only listening sockets."),
    "state": Option(
        ("--state", "-s"),
        many=True,
        metavar="STATE",
        help="Only this state, e.g. established, time-wait, listen (repeatable).",
    ),
    "as_json": Option(("--json",), bool, help="JSON for scripts (same as --format json)."),
    "output": Option(
        ("--format", "-f"),
        OutputFormat,
        default="text",
        help="text (grouped table), json, or netstat (netstat -tanp's layout).",
    ),
    "watch": Option(
        ("--watch", "-w"),
        bool,
        help="Refresh in place every SECONDS, marking new and closed sockets and a growing Send-Q.",
    ),
    "netns": Option(
        ("--netns",), metavar="NAME", help="Look into this network namespace (ip netns name or path; root)."
    ),
    "backend": Option(
        ("--backend",),
        Backend,
        default="auto",
        help="auto (sock_diag on Linux, psutil elsewhere), sock_diag, proc or psutil.",
    ),
    "color": Option(
        ("--color",),
        ColorChoice,
        default="auto",
        help="Colour on stdout: auto (terminals only), always, never.",
    ),
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
    try:
        options = parse(args)
        view = make_view(seconds=None, **options)
        taken = view.take()
    except (Declined, OptionsConflict, NetlabError):
        return False  # errors are reported by the typer command, the one place they become exit codes
    view.write(taken)
    return True
