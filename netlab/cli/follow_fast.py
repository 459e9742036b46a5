"""`netlab follow --read FILE ...` without typer: the start-up fast path of the console entry point.

Importing typer, building the app and parsing with it costs about 90 ms here, a few percent of
following a large capture and most of following a small one. So the entry point hands the arguments
of `netlab follow` to this parser first. It reads the typer command's options for a capture file
(`OPTIONS`, which a test compares with the command) the way click's parser does, and declines
whatever it is not sure to read exactly as typer would: no `--read`, live-capture options, `--help`,
unknown options, a missing or invalid value, a value typer's command would reject (an unknown
format, a tshark format with `--direction`, a host that is not an address), `--` and positional
arguments. A declined run goes to the typer command, so help texts, usage errors and exit codes stay
typer's; nothing has been written when it declines.

A netlab error while the capture is read (a missing or damaged file) is reported as the typer
command reports it: one stderr line and the exit status of `netlab.cli.app.exit_status_for`.
Nothing on this path logs, so the log handler the typer app sets up is not needed.
"""

from __future__ import annotations

import sys

from netlab.cli.follow_run import ColorChoice, DirectionChoice, VlanChoice, canonical_ip, run_follow
from netlab.errors import NetlabError
from netlab.render.base import format_names

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing here
if TYPE_CHECKING:
    from typing import Any

PORT_RANGE = (0, 65535)  # the typer command's min/max for --port
STREAM_MIN = 0  # ... and its min for --stream

# name -> (option strings, kind, choices); kinds: "flag" (no value), "str", "ints" (int, repeatable),
# "strs" (str, repeatable). `--no-summary` is the off switch of the `summary` flag.
OPTIONS: dict[str, tuple[tuple[str, ...], str, tuple[str, ...] | None]] = {
    "read": (("--read", "-r"), "str", None),
    "stream": (("--stream", "-s"), "ints", None),
    "fmt": (("--format", "-f"), "str", None),
    "port": (("--port", "-p"), "ints", None),
    "host": (("--host",), "strs", None),
    "direction": (("--direction", "-d"), "str", tuple(d.value for d in DirectionChoice)),
    "color": (("--color",), "str", tuple(c.value for c in ColorChoice)),
    "vlans": (("--vlans",), "str", tuple(v.value for v in VlanChoice)),
    "split_vlans": (("--split-vlans",), "flag", None),
    "summary": (("--summary",), "flag", None),
}
OFF_SWITCHES = {"--no-summary": "summary"}
DEFAULTS: dict[str, object] = {
    "fmt": "text",
    "direction": "both",
    "color": "auto",
    "vlans": "auto",
    "summary": True,
}
_BY_STRING = {string: name for name, (strings, _kind, _choices) in OPTIONS.items() for string in strings}


class Declined(Exception):
    """The fast parser does not take these arguments; the typer command will."""


def parse(args: list[str]) -> dict[str, Any]:
    """The options in `args` (what follows `netlab follow`), read as the typer command reads them.

    Like click: `--name value`, `--name=value`, `-x value`, `-xvalue` (every short option of the
    command takes a value); an option's value is the next argument whatever it looks like; the last
    of repeated options wins, except the repeatable ones, which collect.

    Raises:
        Declined: arguments the typer command should see (see the module docstring).
    """
    values: dict[str, Any] = {name: None for name in OPTIONS}
    values["split_vlans"] = False
    values.update(DEFAULTS)
    pending = list(args)
    while pending:
        arg = pending.pop(0)
        if not arg.startswith("-") or arg in ("-", "--"):
            raise Declined(f"{arg!r}: a positional argument or '--'")
        if arg.startswith("--"):
            string, equals, attached = arg.partition("=")
            _take(values, string, attached if equals else None, pending)
        else:
            _take(values, arg[:2], arg[2:] or None, pending)
    _check(values)
    return values


def _take(values: dict[str, Any], string: str, attached: str | None, pending: list[str]) -> None:
    """Store the option `string`, its value `attached` or else the next argument."""
    name = _BY_STRING.get(string) or OFF_SWITCHES.get(string)
    if name is None:
        raise Declined(f"{string}: not an option of the fast parser (--help, live capture, a typo, ...)")
    _strings, kind, choices = OPTIONS[name]
    if kind == "flag":
        if attached is not None:
            raise Declined(f"{string} takes no value")
        values[name] = string not in OFF_SWITCHES
        return
    if attached is None:
        if not pending:
            raise Declined(f"{string} needs a value")
        attached = pending.pop(0)
    if kind == "strs":
        values[name] = [*(values[name] or []), attached]
    elif kind == "ints":
        values[name] = [*(values[name] or []), _int(name, attached)]
    elif choices is not None and attached not in choices:
        raise Declined(f"{attached!r} is not one of {choices}")
    else:
        values[name] = attached


def _int(name: str, text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise Declined(f"{text!r} is not an integer") from None
    low, high = PORT_RANGE if name == "port" else (STREAM_MIN, None)
    if number < low or (high is not None and number > high):
        raise Declined(f"{number} is out of range for {name}")
    return number


def _check(values: dict[str, Any]) -> None:
    """What the typer command checks before it runs (its usage errors stay its own)."""
    if not values["read"]:
        raise Declined("no --read: a live capture")
    if values["fmt"] not in format_names():
        raise Declined(f"unknown format {values['fmt']!r}")
    if values["direction"] != "both" and values["fmt"].startswith("tshark-"):
        raise Declined("the tshark formats always show both directions")
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

    try:
        run_follow(
            read_segments(Path(options["read"])),
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
