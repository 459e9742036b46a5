"""`netlab sockets ...` without typer: the start-up fast path of the console entry point.

Importing typer and building the app costs more than the snapshot itself, and `netlab sockets
--json` is meant to be cheaper than `ss -tanp`. So the entry point hands the arguments of
`netlab sockets` to this parser first. It reads the typer command's options (`OPTIONS`, which a
test compares with the command) the way click's parser does, and declines whatever it is not
sure to read exactly as typer would: `--help`, unknown options, a missing or invalid value,
`--`, positional arguments (SECONDS), `--watch`, conflicting options and netlab errors. A declined
run goes to the typer command, so help texts, usage errors, error lines and exit codes stay
typer's; nothing has been written when it declines.

Not argparse: importing it (with gettext and locale) and building the parser took about 7 ms
here, a tenth of the whole command's budget; this parser is a loop over a dict.
"""

from __future__ import annotations

from netlab.cli.sockets_view import Backend, ColorMode, OptionsConflict, OutputFormat, make_view
from netlab.errors import NetlabError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, a start-up cost of `netlab sockets`
if TYPE_CHECKING:
    from typing import Any

PORT_RANGE = (1, 65535)  # the typer command's min/max for --port

# name -> (option strings, kind, choices); kinds: "flag" (no value), "int", "str", "multiple" (str,
# repeatable). Defaults: False for flags, None for the others except where DEFAULTS says.
OPTIONS: dict[str, tuple[tuple[str, ...], str, tuple[str, ...] | None]] = {
    "port": (("--port", "-p"), "int", None),
    "pid": (("--pid",), "int", None),
    "all_ports": (("--all", "-a"), "flag", None),
    "listening": (("--listening", "-l"), "flag", None),
    "state": (("--state", "-s"), "multiple", None),
    "as_json": (("--json",), "flag", None),
    "output": (("--format", "-f"), "str", tuple(f.value for f in OutputFormat)),
    "watch": (("--watch", "-w"), "flag", None),
    "netns": (("--netns",), "str", None),
    "backend": (("--backend",), "str", tuple(b.value for b in Backend)),
    "color": (("--color",), "str", tuple(c.value for c in ColorMode)),
}
DEFAULTS: dict[str, object] = {"output": "text", "backend": "auto", "color": "auto"}
_BY_STRING = {string: name for name, (strings, _kind, _choices) in OPTIONS.items() for string in strings}


class Declined(Exception):
    """The fast parser does not take these arguments; the typer command will."""


def parse(args: list[str]) -> dict[str, Any]:
    """The options in `args` (what follows `netlab sockets`), read as the typer command reads them.

    Like click: `--name value`, `--name=value`, `-x value`, `-xvalue`, flags grouped (`-al`,
    `-ap 80`); an option's value is the next argument whatever it looks like; the last of
    repeated options wins, except `--state`, which collects.

    Raises:
        Declined: arguments the typer command should see (see the module docstring).
    """
    values: dict[str, Any] = {name: False if kind == "flag" else None for name, (_s, kind, _c) in OPTIONS.items()}
    values.update(DEFAULTS)
    pending = list(args)
    while pending:
        arg = pending.pop(0)
        if not arg.startswith("-") or arg in ("-", "--"):
            raise Declined(f"{arg!r}: a positional argument (SECONDS) or '--'")
        if arg.startswith("--"):
            string, equals, attached = arg.partition("=")
            _take(values, string, attached if equals else None, pending)
            continue
        for index in range(1, len(arg)):  # -alp80: flags, then at most one option with a value
            if _take(values, "-" + arg[index], arg[index + 1 :] or None, pending):
                break
    if values["watch"]:
        raise Declined("--watch runs through the typer command")
    return values


def _take(values: dict[str, Any], string: str, attached: str | None, pending: list[str]) -> bool:
    """Store the option `string`; True when it took a value (`attached`, else the next argument)."""
    name = _BY_STRING.get(string)
    if name is None:
        raise Declined(f"{string}: not an option of the fast parser (--help, a typo, ...)")
    _strings, kind, choices = OPTIONS[name]
    if kind == "flag":
        if attached is not None and string.startswith("--"):
            raise Declined(f"{string} takes no value")
        values[name] = True
        return False
    if attached is None:
        if not pending:
            raise Declined(f"{string} needs a value")
        attached = pending.pop(0)
    values[name] = _value(name, kind, choices, attached, values[name])
    return True


def _value(name: str, kind: str, choices: tuple[str, ...] | None, text: str, before: object) -> object:
    if kind == "multiple":
        return [*(before if isinstance(before, list) else []), text]
    if choices is not None and text not in choices:
        raise Declined(f"{text!r} is not one of {choices}")
    if kind != "int":
        return text
    try:
        number = int(text)
    except ValueError:
        raise Declined(f"{text!r} is not an integer") from None
    if name == "port" and not PORT_RANGE[0] <= number <= PORT_RANGE[1]:
        raise Declined(f"--port {number} is out of range")
    return number


def run(args: list[str]) -> bool:
    """Run `netlab sockets ARGS` without typer when the fast parser takes `args`.

    Returns:
        True when the command ran (exit status 0); False when it declined and wrote nothing.
    """
    try:
        options = parse(args)
        view = make_view(
            seconds=None,
            port=options["port"],
            pid=options["pid"],
            all_ports=bool(options["all_ports"]),
            listening=bool(options["listening"]),
            state=options["state"],
            as_json=bool(options["as_json"]),
            output=OutputFormat(options["output"]),
            watch=False,
            netns=options["netns"],
            backend=Backend(options["backend"]),
            color=ColorMode(options["color"]),
        )
        taken = view.take()
    except (Declined, OptionsConflict, NetlabError):
        return False  # errors are reported by the typer command, the one place they become exit codes
    view.write(taken)
    return True
