"""The `netlab` entry point: builds the typer app, maps errors to exit codes in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from netlab import __version__
from netlab.cli.exits import ExitStatus, run_quietly
from netlab.cli.logsetup import configure_logging
from netlab.errors import (
    CapturePermissionError,
    FilterUnavailable,
    LabPermissionError,
    NetlabError,
    PcapReadError,
)


def exit_status_for(error: NetlabError) -> ExitStatus:
    """The exit status for a netlab error: the only place errors become exit codes."""
    if isinstance(error, (CapturePermissionError, LabPermissionError)):
        return ExitStatus.NO_PERMISSION
    if isinstance(error, FilterUnavailable):
        return ExitStatus.UNAVAILABLE
    if isinstance(error, PcapReadError) and error.missing:
        return ExitStatus.NO_INPUT
    return ExitStatus.ERROR


app = typer.Typer(
    name="netlab",
    help="A network-lab toolkit: a threaded TCP chat, its sockets, and Follow TCP Stream from live capture or pcap.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"netlab {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More diagnostics on stderr (repeat for more)."),
    quiet: int = typer.Option(0, "--quiet", "-q", count=True, help="Fewer diagnostics on stderr."),
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """netlab: see TCP at work. Run `netlab COMMAND --help` for each command."""
    configure_logging(verbose, quiet)


def run_guarded(body: Callable[[], Any]) -> Any:
    """Run a command body, turning netlab errors into one stderr line and an exit code."""
    try:
        return body()
    except NetlabError as error:
        typer.echo(f"netlab: {error}", err=True)
        raise typer.Exit(int(exit_status_for(error))) from None


def _register_commands() -> None:
    from netlab.cli import follow, join, lab, report, serve, sockets

    for module in (serve, join, sockets, follow, report, lab):
        module.register(app)


_register_commands()


def main() -> None:
    """The typer app's entry point; quiet on a closed pipe and on Ctrl-C.

    The console script starts at `netlab.cli.entry.main`, which runs `netlab sockets` without typer
    when it can and comes here otherwise.
    """
    run_quietly(lambda: app(prog_name="netlab"))  # the name users type, however Python was started
