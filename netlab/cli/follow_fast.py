"""`netlab follow --read FILE ...` without typer: the start-up fast path of the console entry point.

Importing typer, building the app and parsing with it costs more than following a small capture
takes, and a few percent of a large one (bench/README.md, "Start-up", times both paths). So the
entry point hands the arguments of `netlab follow` to this module first. It reads the typer
command's options for a capture file (`OPTIONS`, which a test compares with the command) with the
fast parser of `netlab.cli.fastparse`, which reads them as click's parser does, and declines
whatever it is not sure to read exactly as typer would: no `--read`, live-capture options, `--help`,
unknown options, a missing or invalid value, a value typer's command would reject (an unknown
format, a `--direction` or `--color` the format cannot honour, a host that is not an address), `--`
and positional arguments. A declined run goes to the typer command, so help texts, usage errors and
exit codes stay typer's; nothing has been written when it declines.

A netlab error while the capture is read (a missing or damaged file) is reported as the typer
command reports it: one stderr line and the exit status of `netlab.cli.app.exit_status_for`.
Nothing on this path logs, so the log handler the typer app sets up is not needed.
"""

from __future__ import annotations

import sys

from netlab.cli.choices import ColorChoice
from netlab.cli.fastparse import Declined, Option
from netlab.cli.fastparse import parse as parse_options
from netlab.cli.follow_run import DirectionChoice, VlanChoice, canonical_ip, role_judge, run_follow
from netlab.errors import NetlabError
from netlab.render.base import format_names, option_conflict

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing here
if TYPE_CHECKING:
    from typing import Any

# The typer command's options for a capture file (the live-capture ones are declined as unknown).
OPTIONS: dict[str, Option] = {
    "read": Option("--read", "-r"),
    "stream": Option("--stream", "-s", kind="int", many=True, low=0),
    "fmt": Option("--format", "-f", default="text"),
    "port": Option("--port", "-p", kind="int", many=True, low=0, high=65535),
    "host": Option("--host", many=True),
    "direction": Option("--direction", "-d", choices=[d.value for d in DirectionChoice], default="both"),
    "color": Option("--color", choices=[c.value for c in ColorChoice], default="auto"),
    "vlans": Option("--vlans", choices=[v.value for v in VlanChoice], default="auto"),
    "split_vlans": Option("--split-vlans", kind="flag"),
    "summary": Option("--summary", kind="flag", off=("--no-summary",), default=True),
}


def parse(args: list[str]) -> dict[str, Any]:
    """The options in `args` (what follows `netlab follow`), read as the typer command reads them.

    Raises:
        Declined: arguments the typer command should see (see the module docstring).
    """
    values = parse_options(args, OPTIONS)
    _check(values)
    return values


def _check(values: dict[str, Any]) -> None:
    """What the typer command checks before it runs (its usage errors stay its own)."""
    if not values["read"]:
        raise Declined("no --read: a live capture")
    if values["fmt"] not in format_names():
        raise Declined(f"unknown format {values['fmt']!r}")
    conflict = option_conflict(values["fmt"], values["direction"], values["color"])
    if conflict is not None:
        raise Declined(conflict[1])
    for text in values["host"] or []:
        try:
            canonical_ip(text)
        except ValueError:
            raise Declined(f"--host {text!r}") from None


def run(args: list[str]) -> bool:
    """Run `netlab follow ARGS` without typer when the fast parser takes `args`.

    Returns:
        True when the command ran (exit status 0); False when it declined and wrote nothing.
    Raises:
        SystemExit: a netlab error while reading, after its one stderr line (as the typer command).
    """
    try:
        options = parse(args)
    except Declined:
        return False
    from pathlib import Path

    from netlab.capture.pcapfile import read_segments

    path = Path(options["read"])
    try:
        run_follow(
            read_segments(path),
            roles=role_judge(options["port"] or [], capture_file=path),
            batch=True,
            fmt=options["fmt"],
            streams=options["stream"] or [],
            ports=options["port"] or [],
            hosts=options["host"] or [],
            direction=DirectionChoice(options["direction"]),
            color=ColorChoice(options["color"]),
            vlans=VlanChoice.split if options["split_vlans"] else VlanChoice(options["vlans"]),
            summary=options["summary"],
        )
    except NetlabError as error:
        from netlab.cli.app import exit_status_for

        sys.stderr.write(f"netlab: {error}\n")
        sys.stderr.flush()
        sys.exit(int(exit_status_for(error)))
    return True
