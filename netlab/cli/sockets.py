"""`netlab sockets`: the chat's sockets as `ss -tanp` sees them, with who is who and who is stuck.

This module is the typer command (help, usage errors), built from the options that the start-up fast
path `netlab.cli.sockets_fast` declares and reads without importing typer. The options' meaning and
the output live in `netlab.cli.sockets_view`, shared by both; `tests/integration/test_sockets_fast.py`
checks that the two read arguments alike.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from netlab.cli.guard import run_guarded
from netlab.cli.sockets_fast import OPTIONS
from netlab.cli.sockets_view import DEFAULT_INTERVAL, OptionsConflict, make_view
from netlab.cli.typer_options import declared_by

HELP = """Show the chat's TCP sockets: the listener, then each client connection with both ends side by side.

Each row: role, nickname (from a running `netlab serve`), protocol, local and remote address, state, Recv-Q and
Send-Q (bytes queued, as ss shows them), pid and process. Without root, pids of other users' processes show as -
and one note on stderr says so.

Examples:

  netlab sockets                      # the chat on port 55555

  netlab sockets --watch              # live view every 2 s; Ctrl-C quits

  netlab sockets --all --state established --json | jq '.rows[]'

  sudo "$(command -v netlab)" sockets --netns lab-client --format netstat   # sudo: by its full path
"""


def register(app: typer.Typer) -> None:
    """Add the `sockets` command to the app."""

    @app.command("sockets", help=HELP)
    @declared_by(OPTIONS)
    def sockets(
        seconds: Annotated[
            float | None,
            typer.Argument(
                metavar="SECONDS",
                help=f"Refresh interval for --watch (default {DEFAULT_INTERVAL:g}).",
                show_default=False,
            ),
        ] = None,
        **options: Any,
    ) -> None:
        try:
            view = make_view(seconds=seconds, **options)
        except OptionsConflict as conflict:
            raise typer.BadParameter(str(conflict), param_hint=conflict.param_hint) from None
        if options["watch"]:
            run_guarded(lambda: view.watch(seconds or DEFAULT_INTERVAL))
        else:
            run_guarded(view.once)
