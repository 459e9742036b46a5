"""Each command-line option declared once (`Option`), and a small click-like parser over a table of them.

`netlab sockets` and `netlab follow` declare their options as tables of `Option` (in
`netlab.cli.sockets_fast`, `netlab.cli.follow_fast`, `netlab.cli.follow_live`); the typer commands
are built from those tables (`netlab.cli.typer_options`), and the start-up fast paths of the console
entry point read the same tables with `parse`, without importing typer. It reads arguments the way
click's parser does: `--name value`, `--name=value`, `-x value`, `-xvalue`, short flags grouped with
at most one short option taking a value last (`-al`, `-ap80`), off switches (`--no-summary`),
repeatable options that collect, numbers with a range, choices. An option's value is the next
argument whatever it looks like; the last of repeated options wins. It raises `Declined` for whatever
it is not sure to read exactly as typer would (unknown options, `--help`, a missing or invalid value,
a flag given a value, `--`, positional arguments), so that the command goes to typer, which writes
the help texts and usage errors.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

KINDS = ("flag", "str", "int", "float")


class Declined(Exception):
    """The fast parser does not take these arguments; the typer command will."""


@dataclass(frozen=True, slots=True)
class Option:
    """One option of a command, declared once: the typer command is built from it
    (`netlab.cli.typer_options`) and the fast parser reads it.

    Attributes:
        strings: the option strings that turn it on or take its value (`--port`, `-p`).
        type: what the value converts to: bool (a flag, no value), int, float, str, `Path`, or an
            enum whose values are the accepted choices (case-sensitive).
        help: the help text typer shows.
        many: repeatable; its values collect in a list (None when it is not given).
        low, high: a number's inclusive range (None: unbounded on that side).
        off: a flag's off switch (`--no-summary`), at most one.
        default: the value when the option is not given (an enum option's: the enum value); None, or
            False for a flag.
        metavar, hidden, panel: how typer's help shows it (`rich_help_panel`).
    """

    strings: tuple[str, ...]
    type: Callable[[str], Any] = str
    help: str = ""
    many: bool = False
    low: int | None = None
    high: int | None = None
    off: tuple[str, ...] = ()
    default: object = None
    metavar: str | None = None
    hidden: bool = False
    panel: str | None = None

    def __post_init__(self) -> None:
        if len(self.off) > 1 or (self.off and self.type is not bool):
            raise ValueError(f"{self.strings[0]}: one off switch, on a flag only")
        if self.default is None and self.type is bool:
            object.__setattr__(self, "default", False)

    @property
    def kind(self) -> str:
        """ "flag", "int", "float" or "str" (text, a path or a choice), as the fast parser reads it."""
        kinds: dict[object, str] = {bool: "flag", int: "int", float: "float"}
        return kinds.get(self.type, "str")

    @property
    def choices(self) -> tuple[str, ...] | None:
        """The values accepted (an enum option's values), or None for any."""
        if isinstance(self.type, type) and issubclass(self.type, enum.Enum):
            return tuple(str(member.value) for member in self.type)
        return None

    @property
    def range(self) -> tuple[int | None, int | None] | None:
        """(low, high) for a number with a bound, else None (as click's IntRange shows it)."""
        return None if self.low is None and self.high is None else (self.low, self.high)

    def read(self, text: str) -> object:
        """The value of `text` for this option (a choice, a path: the text as given).

        Raises:
            Declined: not one of the choices, not a number, or out of range.
        """
        choices = self.choices
        if choices is not None and text not in choices:
            raise Declined(f"{text!r} is not one of {choices}")
        kind = self.kind
        if kind not in ("int", "float"):
            return text
        try:
            number = int(text) if kind == "int" else float(text)  # as click's INT: " 12 ", "08", "1_0"
        except ValueError:
            raise Declined(f"{text!r} is not a number") from None
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
