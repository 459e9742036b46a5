"""Finding `netlab ...` command lines in text (the report's by-hand steps, README.md, docs/) and parsing them
with the typer app exactly as a shell and the CLI would read them.

A command line is split like a shell does (quotes, comments, `|`, `&&`, `;`, `&`, redirections). A segment
is a netlab command when, after an optional `$ ` prompt, `sudo`, `env VAR=...` or `ip netns exec NAME`, it
starts with the program: `netlab`, a path ending in `/netlab`, or `PYTHON -m netlab`. A first word ending in
":" after the program is a quoted message (`netlab follow: capturing ...`), not a command.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer.main

from netlab.cli.app import app

OPERATORS = {"|", "||", "&", "&&", ";", ";;", "(", ")", "<", ">", ">>", ">&", "<&", "2>", "|&"}
REDIRECTS = {"<", ">", ">>", ">&", "<&"}
#: Metavariables the docs use in place of values, and a value of the right type for each.
SAMPLES = {"P": "55555", "PORT": "55555", "N": "1", "S": "1", "SECONDS": "1", "PCT": "5", "MS": "10", "PID": "1"}
ELLIPSES = {"...", "…"}


@dataclass(frozen=True)
class Invocation:
    """One netlab command found in a line: the words before the program, the program, the arguments."""

    line: str
    prefix: tuple[str, ...]
    program: tuple[str, ...]
    args: tuple[str, ...]


def split_shell(line: str) -> list[list[str]]:
    """The simple commands of a shell line (without operators and redirection targets)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    segments: list[list[str]] = [[]]
    skip_next = False
    for token in lexer:
        if skip_next:
            skip_next = False
            continue
        if token in REDIRECTS or (token in OPERATORS and token not in REDIRECTS):
            skip_next = token in REDIRECTS
            segments.append([])
            continue
        if re.fullmatch(r"\d?>&?\d*", token):  # 2>&1, 2>
            continue
        segments[-1].append(token)
    return [segment for segment in segments if segment]


def _program_length(words: list[str]) -> int:
    if not words:
        return 0
    if words[0] in ("netlab", "$(command -v netlab)", "$(which netlab)") or words[0].endswith("/netlab"):
        return 1
    if len(words) >= 3 and Path(words[0]).name.startswith("python") and words[1:3] == ["-m", "netlab"]:
        return 3
    return 0


def invocation(line: str, words: list[str]) -> Invocation | None:
    """The netlab command in one simple command's words, or None."""
    start = 0
    while start < len(words):
        word = words[start]
        if word == "$" or word == "sudo" or word == "time":
            start += 1
        elif word == "env":
            start += 1
            while start < len(words) and "=" in words[start]:
                start += 1
        elif words[start : start + 3] == ["ip", "netns", "exec"]:
            start += 4
        else:
            break
    length = _program_length(words[start:])
    if not length:
        return None
    args = words[start + length :]
    if not args or args[0].endswith(":"):
        return None  # the program named, or a quoted message (`netlab follow: capturing`): no command line
    return Invocation(line, tuple(words[:start]), tuple(words[start : start + length]), tuple(args))


def invocations(text: str, *, first_only: bool = False) -> list[Invocation]:
    """Every netlab command in `text` (lines joined at a trailing backslash); with `first_only`, only one
    that starts a line (an inline code span: `--dialect auto|netlab` lists values, it pipes nothing)."""
    found = []
    for line in text.replace("\\\n", " ").splitlines():
        try:
            segments = split_shell(line)
        except ValueError:  # an unbalanced quote: prose, not a command
            continue
        for words in segments[:1] if first_only else segments:
            found += [inv] if (inv := invocation(line, words)) is not None else []
    return found


def code_in_markdown(text: str) -> tuple[list[str], list[str]]:
    """The lines of the fenced code blocks, and the inline code spans, of a Markdown text."""
    pieces: list[str] = []
    outside: list[str] = []
    fence: str | None = None
    block: list[str] = []
    for line in text.splitlines():
        marker = re.match(r"\s*(```+|~~~+)", line)
        if fence is None and marker:
            fence = marker.group(1)
            block = []
        elif fence is not None and line.strip().startswith(fence):
            pieces += block
            fence = None
        elif fence is not None:
            block.append(line)
        else:
            outside.append(line)
    prose = "\n".join(outside)
    return pieces, [span.replace("\n", " ") for span in re.findall(r"(?<!`)`([^`]+)`(?!`)", prose)]


def parse(
    args: tuple[str, ...] | list[str], *, samples: bool = False, mention: bool = False
) -> tuple[str, dict[str, Any]]:
    """Parse `netlab ARGS` as the typer app does (no resilient parsing): the command's name and its values.

    `samples` puts values in for the docs' metavariables (`--port P`); with `mention`, a bare command name
    (`netlab report` in prose) only has to exist. Raises the CLI's usage error (`typer._click` exceptions:
    NoSuchOption, BadParameter, MissingParameter, UsageError, ...) for what the CLI would refuse; `--help`
    raises its Exit with code 0.
    """
    words = [SAMPLES.get(word, word) if samples else word for word in args if word not in ELLIPSES]
    group = typer.main.get_command(app)
    context = group.make_context("netlab", list(words), resilient_parsing=False)
    rest = [*(getattr(context, "protected_args", None) or getattr(context, "_protected_args", [])), *context.args]
    assert rest, f"no command in {args}"
    name, command, remaining = group.resolve_command(context, rest)  # type: ignore[attr-defined]
    assert command is not None and name is not None
    if mention and not remaining:
        return name, {}
    sub = command.make_context(name, remaining, parent=context, resilient_parsing=False)
    return name, dict(sub.params)
