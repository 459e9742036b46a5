"""A small click-like option parser over a table, for the start-up fast paths of the console entry point.

`netlab sockets` and `netlab follow --read` first offer their arguments to this parser
(`netlab.cli.sockets_fast`, `netlab.cli.follow_fast`), each with a table of the typer command's
options. It reads them the way click's parser does: `--name value`, `--name=value`, `-x value`,
`-xvalue`, short flags grouped with at most one short option taking a value last (`-al`, `-ap80`),
off switches (`--no-summary`), repeatable options that collect, integers with a range, choices. An
option's value is the next argument whatever it looks like; the last of repeated options wins. It
raises `Declined` for whatever it is not sure to read exactly as typer would (unknown options,
`--help`, a missing or invalid value, a flag given a value, `--`, positional arguments), so that
the command goes to typer, which writes the help texts and usage errors.

Not argparse: importing it (with gettext and locale) and building a parser is a sizeable share of
the whole `netlab sockets` command's start-up (bench/README.md, "Start-up"); nor typing or
dataclasses, which a test keeps out of that command's imports. This is a loop over a dict.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

KINDS = ("flag", "str", "int")


class Declined(Exception):
    """The fast parser does not take these arguments; the typer command will."""


class Option:
    """One option of a command as the fast parser reads it (a row of an option table).

    Args:
        strings: the option strings that turn it on or take its value (`--port`, `-p`).
        kind: "flag" (no value), "str" or "int".
        many: repeatable; its values collect in a list (None when it is not given).
        choices: the values accepted (case-sensitive), or None for any.
        low, high: an "int" option's inclusive range (None: unbounded on that side).
        off: a flag's off switches (`--no-summary`).
        default: the value when the option is not given (None; False for a flag).
    """

    __slots__ = ("choices", "default", "high", "kind", "low", "many", "off", "strings")

    def __init__(
        self,
        *strings: str,
        kind: str = "str",
        many: bool = False,
        choices: Iterable[str] | None = None,
        low: int | None = None,
        high: int | None = None,
        off: tuple[str, ...] = (),
        default: object = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown option kind {kind!r}")
        self.strings, self.kind, self.many, self.off = strings, kind, many, off
        self.choices = tuple(choices) if choices is not None else None
        self.low, self.high = low, high
        self.default = False if default is None and kind == "flag" else default

    @property
    def range(self) -> tuple[int | None, int | None] | None:
        """(low, high) for an integer with a bound, else None (as click's IntRange shows it)."""
        return None if self.low is None and self.high is None else (self.low, self.high)

    def read(self, text: str) -> object:
        """The value of `text` for this option.

        Raises:
            Declined: not one of the choices, not an integer, or out of range.
        """
        if self.choices is not None and text not in self.choices:
            raise Declined(f"{text!r} is not one of {self.choices}")
        if self.kind != "int":
            return text
        try:
            number = int(text)  # as click's INT: " 12 ", "08" and "1_0" are numbers too
        except ValueError:
            raise Declined(f"{text!r} is not an integer") from None
        if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
            raise Declined(f"{number} is out of range for {self.strings[0]}")
        return number


def parse(args: list[str], table: dict[str, Option]) -> dict[str, Any]:
    """The options in `args`, keyed by their names in `table`, read as click reads them.

    Every option of the table has a value in the result: what was given, else its default.

    Raises:
        Declined: arguments the typer command should see (see the module docstring).
    """
    names = {string: name for name, option in table.items() for string in (*option.strings, *option.off)}
    values: dict[str, Any] = {name: option.default for name, option in table.items()}
    pending = list(args)
    while pending:
        arg = pending.pop(0)
        if not arg.startswith("-") or arg in ("-", "--"):
            raise Declined(f"{arg!r}: a positional argument or '--'")
        if arg.startswith("--"):
            string, equals, attached = arg.partition("=")
            _take(values, table, names, string, attached if equals else None, pending)
            continue
        for index in range(1, len(arg)):  # -alp80: flags, then at most one option with a value
            if _take(values, table, names, "-" + arg[index], arg[index + 1 :] or None, pending):
                break
    return values


def _take(
    values: dict[str, Any],
    table: dict[str, Option],
    names: dict[str, str],
    string: str,
    attached: str | None,
    pending: list[str],
) -> bool:
    """Store the option `string`; True when it took a value (`attached`, else the next argument)."""
    name = names.get(string)
    if name is None:
        raise Declined(f"{string}: not an option of the fast parser (--help, a typo, ...)")
    option = table[name]
    if option.kind == "flag":
        if attached is not None and string.startswith("--"):
            raise Declined(f"{string} takes no value")
        values[name] = string not in option.off
        return False  # a short flag: the rest of its group is more options
    if attached is None:
        if not pending:
            raise Declined(f"{string} needs a value")
        attached = pending.pop(0)
    value = option.read(attached)
    values[name] = [*(values[name] or []), value] if option.many else value
    return True
