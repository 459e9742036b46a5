"""`netlab sockets`: the chat's sockets as `ss -tanp` sees them, with who is who and who is stuck.

This module is the typer command (help, usage errors). The options' meaning and the output live in
`netlab.cli.sockets_view`, shared with the start-up fast path `netlab.cli.sockets_fast`, which runs
the command without importing typer; `tests/integration/test_sockets_fast.py` keeps the two in step.
"""

from __future__ import annotations

from typing import Annotated

import typer

from netlab.cli.choices import ColorChoice
from netlab.cli.sockets_view import (
    DEFAULT_INTERVAL,
    DEFAULT_PORT,
    Backend,
    OptionsConflict,
    OutputFormat,
    make_view,
)

HELP = """Show the chat's TCP sockets: the listener, then each client connection with both ends side by side.

Each row: role, nickname (from a running `netlab serve`), protocol, local and remote address, state, Recv-Q and Send-Q (bytes queued, as ss shows them), pid and process. Without root, pids of other users' processes show as - and one note on stderr says so.

Examples:

  netlab sockets                      # the chat on port 55555

  netlab sockets --watch              # live view every 2 s; Ctrl-C quits

  netlab sockets --all --state established --json | jq '.rows[]'

  sudo "$(command -v netlab)" sockets --netns lab-client --format netstat   # sudo: by its full path
"""


def register(app: typer.Typer) -> None:
    """Add the `sockets` command to the app."""

    @app.command("sockets", help=HELP)
    def sockets(
        seconds: Annotated[
            float | None,
            typer.Argument(
                metavar="SECONDS",
                help=f"Refresh interval for --watch (default {DEFAULT_INTERVAL:g}).",
                show_default=False,
            ),
        ] = None,
        port: Annotated[
            int | None,
            typer.Option(
                "--port",
                "-p",
                metavar="PORT",
                min=1,
                max=65535,
                help=f"Sockets with this local or remote port (default {DEFAULT_PORT}, the chat port).",
            ),
        ] = None,
        pid: Annotated[
            int | None,
            typer.Option(
                "--pid",
                metavar="PID",
                help="Sockets of this process and its children (any port unless --port).",
            ),
        ] = None,
        all_ports: Annotated[
            bool, typer.Option("--all", "-a", help="Every TCP socket, on any port.")
        ] = False,
        listening: Annotated[bool, typer.Option("--listening", "-l", help="Only listening sockets.")] = False,
        state: Annotated[
            list[str] | None,
            typer.Option(
                "--state",
                "-s",
                metavar="STATE",
                help="Only this state, e.g. established, time-wait, listen (repeatable).",
            ),
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="JSON for scripts (same as --format json).")
        ] = False,
        output: Annotated[
            OutputFormat,
            typer.Option(
                "--format", "-f", help="text (grouped table), json, or netstat (netstat -tanp's layout)."
            ),
        ] = OutputFormat.text,
        watch: Annotated[
            bool,
            typer.Option(
                "--watch",
                "-w",
                help="Refresh in place every SECONDS, marking new and closed sockets and a growing Send-Q.",
            ),
        ] = False,
        netns: Annotated[
            str | None,
            typer.Option(
                "--netns",
                metavar="NAME",
                help="Look into this network namespace (ip netns name or path; root).",
            ),
        ] = None,
        backend: Annotated[
            Backend,
            typer.Option(
                "--backend", help="auto (sock_diag on Linux, psutil elsewhere), sock_diag, proc or psutil."
            ),
        ] = Backend.auto,
        color: Annotated[
            ColorChoice,
            typer.Option("--color", help="Colour on stdout: auto (terminals only), always, never."),
        ] = ColorChoice.auto,
    ) -> None:
        from netlab.cli.app import run_guarded

        try:
            view = make_view(
                seconds=seconds,
                port=port,
                pid=pid,
                all_ports=all_ports,
                listening=listening,
                state=state,
                as_json=as_json,
                output=output,
                watch=watch,
                netns=netns,
                backend=backend,
                color=color,
            )
        except OptionsConflict as conflict:
            raise typer.BadParameter(str(conflict), param_hint=conflict.param_hint) from None
        if watch:
            run_guarded(lambda: view.watch(seconds or DEFAULT_INTERVAL))
        else:
            run_guarded(view.once)
