"""A logger for the modules of `netlab sockets` that does not import `logging` (start-up time).

Importing logging costs `netlab sockets --json` about 5 ms here (it pulls in traceback, threading,
string and weakref), a tenth of what the whole command may take to stay under `ss -tanp`. These
modules log at INFO and DEBUG only, and such a record reaches a handler only if someone set a
level and a handler up, which takes importing logging. In a process that never imported it, the
logging module would drop the record too (no handler; the last-resort handler starts at WARNING).
So a record goes to `logging.getLogger(name)` when logging is imported, and is dropped otherwise;
the CLI's typer path, pytest and any program that configures logging all import it first.
"""

from __future__ import annotations

import sys

DEBUG = 10
INFO = 20


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

    def _log(self, level: int, msg: str, args: tuple[object, ...]) -> None:
        logging = sys.modules.get("logging")
        if logging is not None:  # else nothing can be listening: see the module docstring
            logging.getLogger(self.name).log(level, msg, *args, stacklevel=3)
