"""Exit codes, their one table, and the entry point's guard, without typer (the fast paths use them too).

The table (`EXIT_MEANINGS`) is the single source of what each status means: `exit_table_epilog`
puts it at the end of every command's `--help`, and a test checks the README's copy against it.
Which error gets which status is decided in `exit_status_for`, and nowhere else.
"""

from __future__ import annotations

import enum
import io
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from netlab.errors import (
    CapturePermissionError,
    FilterUnavailable,
    InputMissing,
    LabPermissionError,
    NetlabError,
    NoRights,
    PcapReadError,
    SocketsPermissionError,
    Unreachable,
)

if TYPE_CHECKING:
    from typing import Any


class ExitStatus(enum.IntEnum):
    """Exit codes (see STYLE.md §6 and `EXIT_MEANINGS`)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    NO_INPUT = 66
    UNAVAILABLE = 69
    NO_PERMISSION = 77
    INTERRUPTED = 130


def exit_status_for(error: NetlabError) -> ExitStatus:
    """The exit status for a netlab error: the only place errors become exit codes (table: `EXIT_MEANINGS`)."""
    if isinstance(error, (NoRights, CapturePermissionError, LabPermissionError, SocketsPermissionError)):
        return ExitStatus.NO_PERMISSION
    if isinstance(error, (FilterUnavailable, Unreachable)):
        return ExitStatus.UNAVAILABLE
    if isinstance(error, InputMissing) or (isinstance(error, PcapReadError) and error.missing):
        return ExitStatus.NO_INPUT
    return ExitStatus.ERROR


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


class OutputError(OSError):
    """Writing to standard output failed for a reason other than a closed pipe (a full disk, EIO)."""


class _StdoutBuffer(io.BufferedWriter):
    """Standard output's byte buffer, whose write errors say that they are standard output's.

    Text written to `sys.stdout` reaches the file through this buffer (the text layer hands it
    over in blocks), and binary output (`--format raw`) writes to it directly, so every failed
    write or flush on stdout raises `OutputError`, whichever command or library wrote. A closed
    pipe stays a `BrokenPipeError`, which the entry point treats as a normal end. With
    `unbuffered` (`python -u`, PYTHONUNBUFFERED), every write goes straight to the file, as
    Python's own unbuffered stdout does.
    """

    unbuffered = False

    def write(self, data: Any) -> int:
        try:
            written = super().write(data)
            if self.unbuffered:
                super().flush()
            return written
        except BrokenPipeError:
            raise
        except OSError as error:
            raise OutputError(error.errno, os.strerror(error.errno) if error.errno else str(error)) from None

    def flush(self) -> None:
        try:
            super().flush()
        except BrokenPipeError:
            raise
        except OSError as error:
            raise OutputError(error.errno, os.strerror(error.errno) if error.errno else str(error)) from None


def guard_stdout() -> None:
    """Put `_StdoutBuffer` under `sys.stdout` (same file, encoding, errors and buffering); idempotent.

    Does nothing when stdout is not a file descriptor (closed, or replaced by a test runner).
    """
    current = sys.stdout
    if current is None or isinstance(getattr(current, "buffer", None), _StdoutBuffer):
        return
    try:
        fd = current.fileno()
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is both OSError and ValueError
        return
    current.flush()
    buffer = _StdoutBuffer(io.FileIO(fd, "w", closefd=False))
    buffer.unbuffered = not isinstance(getattr(current, "buffer", None), io.BufferedWriter)  # -u: a raw FileIO
    sys.stdout = io.TextIOWrapper(
        buffer,
        encoding=current.encoding,
        errors=current.errors,
        newline="\n",
        line_buffering=bool(current.line_buffering),
        write_through=getattr(current, "write_through", False),
    )


def _silence_stdout() -> None:
    """Python docs, "Note on SIGPIPE": point stdout at devnull so the interpreter's final flush is quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def run_quietly(body: Callable[[], object]) -> object:
    """Run an entry point's body and return what it returns; quiet on a closed pipe (exit 1) and on
    Ctrl-C (exit 130), as typer's own main is. Any other failed write to standard output (a full
    disk, an I/O error) is one line on stderr, "netlab: cannot write to standard output: REASON",
    and exit 1; what was written is flushed before the body's exit status counts."""
    guard_stdout()
    try:
        try:
            result = body()
        except SystemExit:
            sys.stdout.flush()
            raise
        sys.stdout.flush()
        return result
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(ExitStatus.ERROR)
    except OutputError as error:
        _silence_stdout()
        sys.stderr.write(f"netlab: cannot write to standard output: {error.strerror}\n")
        sys.exit(ExitStatus.ERROR)
    except KeyboardInterrupt:
        sys.exit(ExitStatus.INTERRUPTED)
