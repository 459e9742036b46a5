"""`run_guarded`: a typer command's body, with netlab errors turned into one stderr line and an exit code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from netlab.cli.exits import exit_status_for
from netlab.errors import NetlabError


def run_guarded(body: Callable[[], Any]) -> Any:
    """Run a command body, turning netlab errors into one stderr line and an exit code."""
    try:
        return body()
    except NetlabError as error:
        typer.echo(f"netlab: {error}", err=True)
        raise typer.Exit(int(exit_status_for(error))) from None
