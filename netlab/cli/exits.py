"""Exit codes and the entry point's guard, without typer (the sockets fast path uses them too)."""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Callable


class ExitStatus(enum.IntEnum):
    """Exit codes (see STYLE.md §6)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    NO_INPUT = 66
    UNAVAILABLE = 69
    NO_PERMISSION = 77
    INTERRUPTED = 130


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
