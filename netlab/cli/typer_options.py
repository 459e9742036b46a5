"""Typer parameters built from the option tables of `netlab.cli.fastparse` (one declaration per option).

A command declares its options once, as a table of `Option`; `declared_by(table)` turns the
command's ``**options`` parameter into one typer option per row, so the typer command and the fast
parser of the console entry point read the very same declaration.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from netlab.cli.fastparse import Option


def typer_parameter(name: str, option: Option) -> inspect.Parameter:
    """The typer parameter (keyword-only) that `option` declares under `name`."""
    strings = list(option.strings)
    if option.off:
        strings[0] = f"{strings[0]}/{option.off[0]}"
    info = typer.Option(
        *strings,
        help=option.help or None,
        metavar=option.metavar,
        min=option.low,
        max=option.high,
        hidden=option.hidden,
        rich_help_panel=option.panel,
    )
    kind: Any = option.type
    default = option.default
    if option.many:
        kind = list[kind] | None
    elif default is None:
        kind = kind | None
    elif option.choices is not None:
        default = option.type(str(default))  # the enum member typer hands over
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[kind, info])


def declared_by(table: dict[str, Option]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: the command's ``**options`` becomes the options of `table`, in its order."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command, eval_str=True)
        parameters: list[inspect.Parameter] = []
        for parameter in signature.parameters.values():
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                parameters.extend(typer_parameter(name, option) for name, option in table.items())
            else:
                parameters.append(parameter)
        command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
        return command

    return decorate
