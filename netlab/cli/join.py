"""`netlab join` (not built yet)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `join` command to the app."""

    @app.command("join")
    def join() -> None:
        """Not built yet."""
        typer.echo("netlab join: not built yet", err=True)
        raise typer.Exit(1)
