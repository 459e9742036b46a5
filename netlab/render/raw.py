"""`raw`: the stream bytes themselves, for piping into other tools (pure, incremental).

Both directions interleaved in order by default; `RenderOptions.direction` keeps one. Gaps
cannot be marked in raw bytes: they are skipped (the stderr summary counts them).
"""

from __future__ import annotations

from netlab.render.base import RenderOptions
from netlab.stream.events import Data, Event


class RawRenderer:
    """Bytes of the selected direction(s), nothing else."""

    binary = True

    def __init__(self, options: RenderOptions) -> None:
        self._direction = options.direction

    def begin(self) -> bytes:
        return b""

    def on_event(self, event: Event) -> bytes:
        if type(event) is Data and (self._direction is None or event.direction is self._direction):
            return event.data
        return b""

    def end(self) -> bytes:
        return b""
