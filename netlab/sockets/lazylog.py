"""A logger for the modules of `netlab sockets` that does not import `logging` (start-up time).

Importing logging (it pulls in traceback, threading, string and weakref) is a sizeable share of what
`netlab sockets --json` may take to stay under half of `ss -tanp`'s time (bench/README.md,
"Start-up"; bench/sockets_bench.py). These modules log at INFO and DEBUG only, and such a record
reaches a handler only if someone set a level and a handler up, which takes importing logging. In a
process that never imported it, the logging module would drop the record too (no handler; the
last-resort handler starts at WARNING). So a record goes to `logging.getLogger(name)` when logging
is imported, and is dropped otherwise; the CLI's typer path, pytest and any program that configures
logging all import it first.

Warnings are different: they must reach the user. `warning` imports logging when needed, and before
the first warning of a process runs the hook set with `before_first_warning` (the fast path of
`netlab sockets` sets up the same stderr handler as the typer app there, so both print alike).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable

DEBUG = 10
INFO = 20
_hook: list[Callable[[], None]] = []


def before_first_warning(hook: Callable[[], None]) -> None:
    """Run `hook` (once) before the first warning is logged through a LazyLogger."""
    _hook[:] = [hook]


class LazyLogger:
    """`logging.getLogger(name)`'s `debug` and `info`, forwarded only once logging is imported.

    Thread-safe as logging is: it holds nothing but the name.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def debug(self, msg: str, *args: object) -> None:
        """Log `msg % args` at DEBUG."""
        self._log(DEBUG, msg, args)

    def info(self, msg: str, *args: object) -> None:
        """Log `msg % args` at INFO."""
        self._log(INFO, msg, args)

    def warning(self, msg: str, *args: object) -> None:
        """Log `msg % args` at WARNING (imports logging; see the module docstring)."""
        while _hook:
            _hook.pop()()
        import logging

        logging.getLogger(self.name).warning(msg, *args, stacklevel=2)

    def _log(self, level: int, msg: str, args: tuple[object, ...]) -> None:
        logging = sys.modules.get("logging")
        if logging is not None:  # else nothing can be listening: see the module docstring
            logging.getLogger(self.name).log(level, msg, *args, stacklevel=3)
