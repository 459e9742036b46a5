"""`netlab sockets` (not built yet)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `sockets` command to the app."""

    @app.command("sockets")
    def sockets() -> None:
        """Not built yet."""
        typer.echo("netlab sockets: not built yet", err=True)
        raise typer.Exit(1)
