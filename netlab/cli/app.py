"""The `netlab` entry point: builds the typer app, maps errors to exit codes in one place."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import typer

from netlab import __version__
from netlab.cli.exits import exit_table_epilog, run_quietly
from netlab.cli.logsetup import configure_logging

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


_LOG_OPTIONS = (
    inspect.Parameter(
        "log_verbose",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=int,
        default=typer.Option(0, "--verbose", "-v", count=True, help="More diagnostics on stderr (repeat for more)."),
    ),
    inspect.Parameter(
        "log_quiet",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=int,
        default=typer.Option(0, "--quiet", "-q", count=True, help="Fewer diagnostics on stderr."),
    ),
)


def _with_log_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`command` taking -v / -q after its name too (`netlab serve -v` as `netlab -v serve`): they add to
    the level the app's own -v / -q set before the command runs."""

    @functools.wraps(command)
    def run(*args: Any, log_verbose: int = 0, log_quiet: int = 0, **kwargs: Any) -> Any:
        if log_verbose or log_quiet:
            configure_logging(log_verbose, log_quiet, base=logging.getLogger("netlab").getEffectiveLevel())
        return command(*args, **kwargs)

    signature = inspect.signature(command, eval_str=True)
    run.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *_LOG_OPTIONS])  # type: ignore[attr-defined]
    run.__annotations__ = {**command.__annotations__, "log_verbose": int, "log_quiet": int}
    return run


def _register_commands() -> None:
    """Add every command, each also taking -v / -q and ending its --help with the exit-status table."""
    from netlab.cli import analyze, check, follow, join, lab, report, serve, sockets

    for module in (serve, join, sockets, follow, analyze, report, lab, check):
        module.register(app)
    for info in app.registered_commands:
        assert info.callback is not None
        info.callback = _with_log_options(info.callback)
        info.epilog = info.epilog or exit_table_epilog()


_register_commands()


def main() -> None:
    """The typer app's entry point; quiet on a closed pipe and on Ctrl-C.

    The console script starts at `netlab.cli.entry.main`, which runs `netlab sockets` without typer
    when it can and comes here otherwise.
    """
    run_quietly(lambda: app(prog_name="netlab"))  # the name users type, however Python was started
