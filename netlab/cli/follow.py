"""`netlab follow` (not built yet)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `follow` command to the app."""

    @app.command("follow")
    def follow() -> None:
        """Not built yet."""
        typer.echo("netlab follow: not built yet", err=True)
        raise typer.Exit(1)
