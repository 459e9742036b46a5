"""`netlab serve` (not built yet)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `serve` command to the app."""

    @app.command("serve")
    def serve() -> None:
        """Not built yet."""
        typer.echo("netlab serve: not built yet", err=True)
        raise typer.Exit(1)
