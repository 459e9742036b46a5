"""`netlab report` (not built yet)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `report` command to the app."""

    @app.command("report")
    def report() -> None:
        """Not built yet."""
        typer.echo("netlab report: not built yet", err=True)
        raise typer.Exit(1)
