"""`netlab lab` (not built yet)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `lab` command to the app."""

    @app.command("lab")
    def lab() -> None:
        """Not built yet."""
        typer.echo("netlab lab: not built yet", err=True)
        raise typer.Exit(1)
