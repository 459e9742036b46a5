"""Where the CLI's log records go: stderr, as ``netlab: LEVEL: message``, at the level -v / -q choose.

Typer-free, so the start-up fast paths (`netlab.cli.sockets_fast`) can set up the same handler as
the typer app when they have something to log.
"""

from __future__ import annotations

import logging
import sys
from typing import Any


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes to whatever `sys.stderr` is at the time of each record.

    A handler bound to the stderr object of one moment breaks when that object is replaced and
    closed (typer's CliRunner does that around every in-process run).
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        """Ignored: the stream is always the current sys.stderr."""


def configure_logging(verbose: int, quiet: int, base: int = logging.WARNING) -> None:
    """Send log records to stderr at a level chosen by -v / -q (each a step of 10 from `base`)."""
    level = base - 10 * verbose + 10 * quiet
    level = max(logging.DEBUG, min(logging.CRITICAL, level))
    handler = _CurrentStderrHandler()
    handler.setFormatter(logging.Formatter("netlab: %(levelname)s: %(message)s"))
    root = logging.getLogger("netlab")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
