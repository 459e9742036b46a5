"""Exit codes, their one table, and the entry point's guard, without typer (the fast paths use them too).

The table (`EXIT_MEANINGS`) is the single source of what each status means: `exit_table_epilog`
puts it at the end of every command's `--help`, and a test checks the README's copy against it.
Which error gets which status is decided in `netlab.cli.app.exit_status_for`, and nowhere else.
"""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Callable


class ExitStatus(enum.IntEnum):
    """Exit codes (see STYLE.md §6 and `EXIT_MEANINGS`)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    NO_INPUT = 66
    UNAVAILABLE = 69
    NO_PERMISSION = 77
    INTERRUPTED = 130


#: What each status means, for every command alike (the `--help` epilogs and the README's table).
EXIT_MEANINGS: dict[ExitStatus, str] = {
    ExitStatus.OK: "ok",
    ExitStatus.ERROR: "a data problem, reported on stderr: truncated or damaged input (everything before the cut "
    "is still output), no such stream (the message says which exist), a failed check, a file that could "
    "not be written",
    ExitStatus.USAGE: "usage: an unknown or malformed option, or options that contradict each other",
    ExitStatus.NO_INPUT: "no input: a capture file or script that does not exist",
    ExitStatus.UNAVAILABLE: "unreachable or unavailable: a server that refuses the connection, a capture backend "
    "or libpcap that is missing",
    ExitStatus.NO_PERMISSION: "no rights: capturing, network namespaces or other users' sockets need root "
    "(whatever could be done without them is still written)",
    ExitStatus.INTERRUPTED: "interrupted by Ctrl-C or SIGTERM before the work was done (the first Ctrl-C is the "
    "normal way to stop serve, live follow, sockets --watch, lab --keep-running and join's prompt: exit 0)",
}


def exit_table_epilog() -> str:
    """The exit-status table as a `--help` epilog (one paragraph per status)."""
    rows = "\n\n".join(f"{int(status):>3}  {meaning}" for status, meaning in EXIT_MEANINGS.items())
    return "Exit status (the same for every netlab command):\n\n" + rows


def run_quietly(body: Callable[[], object]) -> object:
    """Run an entry point's body and return what it returns; quiet on a closed pipe (exit 1) and on
    Ctrl-C (exit 130), as typer's own main is."""
    try:
        return body()
    except BrokenPipeError:
        # Python docs, "Note on SIGPIPE": point stdout at devnull so the interpreter's final flush is quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(ExitStatus.ERROR)
    except KeyboardInterrupt:
        sys.exit(ExitStatus.INTERRUPTED)
