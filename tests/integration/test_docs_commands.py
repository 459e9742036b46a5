"""Every `netlab ...` command line quoted in README.md and docs/*.md parses with the CLI as written.

The lines are found in fenced code blocks and inline code spans (`tests/shell_commands.py`), split like
a shell splits them, and parsed by the typer app itself (`make_context`, no resilient parsing): an
unknown option, a flag given a value, a missing value, a bad choice or a number out of range fails.
Nothing is executed. Metavariables (`--port P`) get a sample value of the right type; an inline span
that only names a command (`netlab report`) has to name one that exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from shell_commands import Invocation, code_in_markdown, invocations, parse
from typer.exceptions import Exit

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _quoted_commands() -> list[tuple[str, Invocation, bool]]:
    found = []
    for path in DOCS:
        blocks, spans = code_in_markdown(path.read_text(encoding="utf-8"))
        found += [(path.name, inv, False) for line in blocks for inv in invocations(line)]
        found += [(path.name, inv, True) for span in spans for inv in invocations(span, first_only=True)]
    return found


def _help_commands() -> list[tuple[str, Invocation, bool]]:
    """Command lines in the commands' own help texts (examples, backticked mentions)."""
    import typer.main

    from netlab.cli.app import app

    found = []
    for name, command in typer.main.get_command(app).commands.items():  # type: ignore[attr-defined]
        text = f"{command.help or ''}\n{command.epilog or ''}"
        spans = re.findall(r"`([^`]+)`", text)
        lines = [line.split("  #")[0] for line in re.sub(r"`[^`]+`", "", text).splitlines()]
        found += [(f"netlab {name} --help", inv, False) for line in lines for inv in invocations(line)]
        found += [(f"netlab {name} --help", inv, True) for span in spans for inv in invocations(span, first_only=True)]
    return found


QUOTED = _quoted_commands() + _help_commands()


def test_the_docs_quote_commands_of_every_kind() -> None:
    commands = {inv.args[0] for _, inv, _ in QUOTED if not inv.args[0].startswith("-")}
    assert commands == {"serve", "join", "sockets", "follow", "analyze", "report", "lab", "check"}
    assert len(QUOTED) > 60


@pytest.mark.parametrize(
    ("where", "invocation", "inline"), QUOTED, ids=[f"{name}:{inv.line.strip()[:60]}" for name, inv, _ in QUOTED]
)
def test_every_quoted_command_line_parses(where: str, invocation: Invocation, inline: bool) -> None:
    try:
        parse(invocation.args, samples=True, mention=inline)
    except Exit as done:  # --help
        assert done.exit_code == 0
    except Exception as error:  # noqa: BLE001 - every usage error the CLI raises is a failure here
        pytest.fail(f"{where}: `{invocation.line.strip()}` does not parse: {type(error).__name__}: {error}")


@pytest.mark.parametrize(
    "line",
    [
        "netlab serve -v",
        "netlab follow --port 36655 --save captures/lab-x.pcap",
        "netlab follow --read",
        "netlab serve --bogus",
        "netlab follow --port P --direction sideways",
    ],
)
def test_the_check_catches_what_a_shell_would_refuse(line: str) -> None:
    (invocation,) = invocations(line)
    if line == "netlab serve -v":  # `-v` after the command: accepted, as the README says
        assert parse(invocation.args)[1]["log_verbose"] == 1
        return
    with pytest.raises(
        Exception, match=r"(?i)unexpected extra argument|requires an argument|no such option|is not one of"
    ):
        parse(invocation.args, samples=True)
