"""A progress line on stderr while a capture file is read (`follow --read`, `report --read`).

Shown only when stderr is a terminal and stdout is not (a transcript scrolling on the same
terminal is its own progress, and a live line would garble it), and only once the read has
taken longer than `PROGRESS_AFTER_S` (the environment variable `NETLAB_PROGRESS_AFTER` sets
another delay, in seconds). rich is imported then, not before: a short read or a redirected
stderr never pays for it. The line is removed when the read ends, before the summary.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

PROGRESS_AFTER_S = 1.0


def _delay() -> float:
    text = os.environ.get("NETLAB_PROGRESS_AFTER", "")
    try:
        return max(0.0, float(text)) if text else PROGRESS_AFTER_S
    except ValueError:
        return PROGRESS_AFTER_S


def wanted() -> bool:
    """A progress line can be shown: stderr is a terminal and stdout is not."""
    try:
        return sys.stderr.isatty() and not sys.stdout.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


class ReadProgress:
    """The progress of reading one capture file: call it after each read block (a `pcapfile.Progress`).

    Args:
        name: the file, as shown.
        streams: how many streams were found so far (asked after each block; None: not shown).
    Not thread-safe: called from the reading thread only.
    """

    def __init__(self, name: str, streams: Callable[[], int] | None = None) -> None:
        self.name = name
        self.streams = streams
        self._after = _delay()
        self._started = time.monotonic()
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, done: int, size: int, frames: int) -> None:
        now = time.monotonic()
        if self._bar is None:
            if now - self._started < self._after:
                return
            self._show(size)
        elapsed = max(now - self._started, 1e-6)
        streams = "" if self.streams is None else f"{self.streams():,} streams, "
        self._bar.update(
            self._task,
            completed=done,
            total=size or None,
            detail=f"{frames:,} packets, {streams}{frames / elapsed:,.0f} packets/s",
        )

    def _show(self, size: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("reading {task.description}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr),
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = self._bar.add_task(self.name, total=size or None, detail="")
        self._bar.start()

    @property
    def shown(self) -> bool:
        """The line was shown (the read took longer than the delay)."""
        return self._bar is not None

    def close(self) -> None:
        """Remove the line (if it was shown)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def read_progress(name: str) -> ReadProgress | None:
    """A `ReadProgress` for the file `name`, or None when no line may be shown (see `wanted`)."""
    return ReadProgress(name) if wanted() else None
