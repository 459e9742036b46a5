"""JSON Lines: one object per event (pure).

Data chunks: `{"schema_version":1,"stream":0,"src":"ip:port","dst":"ip:port","direction":"c2s",
"ts":..,"frame":..,"data":"<base64>"}`; every other event has an `"event"` key and no `"data"`
(`opened`, `gap`, `control`, `notice`, `closed`). IPv6 endpoints are written `[addr]:port`.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import asdict
from typing import Any

from netlab.render.base import RenderOptions
from netlab.stream.events import Closed, Control, Data, Direction, Event, Gap, Notice, Opened

SCHEMA_VERSION = 1
_C2S = Direction.C2S
_b64 = binascii.b2a_base64


class JsonLinesRenderer:
    """Incremental JSON Lines renderer."""

    binary = False

    def __init__(self, options: RenderOptions) -> None:
        self._hidden = None if options.direction is None else options.direction.reverse  # never shown
        self._prefixes: dict[int, str] = {}  # 2 * stream + (0 for c2s, 1 for s2c) -> the fixed part

    def _prefix(self, event: Data) -> str:
        return (
            f'{{"schema_version":1,"stream":{event.stream},"src":"{event.src}","dst":"{event.dst}",'
            f'"direction":"{event.direction.value}","ts":'
        )

    def begin(self) -> str:
        return ""

    def on_event(self, event: Event) -> str:
        if type(event) is Data:
            return self.on_data(event)
        return json.dumps(self._other(event), separators=(",", ":")) + "\n"

    def on_data(self, event: Data) -> str:
        """The line of one data chunk (the hot path: the fixed part is cached per stream and way)."""
        if event.direction is self._hidden:
            return ""
        key = 2 * event.stream + (event.direction is not _C2S)
        prefix = self._prefixes.get(key)
        if prefix is None:
            prefix = self._prefixes[key] = self._prefix(event)
        return f'{prefix}{event.ts!r},"frame":{event.frame},"data":"{_b64(event.data, newline=False).decode()}"}}\n'

    def _other(self, event: Event) -> dict[str, Any]:
        record: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        if isinstance(event, Opened):
            record.update(
                event="opened",
                stream=event.stream,
                ts=round(event.ts, 6),
                frame=event.frame,
                client=str(event.client),
                server=str(event.server),
                roles_guessed=event.roles_guessed,
            )
            if event.vlan:
                record["vlan"] = list(event.vlan)
        elif isinstance(event, Gap):
            record.update(
                event="gap",
                stream=event.stream,
                direction=event.direction.value,
                ts=round(event.ts, 6),
                frame=event.frame,
                size=event.size,
                offset=event.offset,
                reason=event.reason.value,
            )
        elif isinstance(event, Control):
            record.update(
                event="control",
                kind=event.kind.value,
                stream=event.stream,
                direction=event.direction.value,
                ts=round(event.ts, 6),
                frame=event.frame,
                seq=event.seq,
                ack=event.ack,
            )
        elif isinstance(event, Notice):
            record.update(
                event="notice",
                kind=event.kind.value,
                stream=event.stream,
                direction=event.direction.value,
                ts=round(event.ts, 6),
                frame=event.frame,
                size=event.size,
            )
        elif isinstance(event, Closed):
            stats = asdict(event.stats)
            record.update(
                event="closed",
                stream=event.stream,
                ts=round(event.ts, 6),
                frame=event.frame,
                reason=event.reason.value,
                stats=stats,
            )
        return record

    def end(self) -> str:
        return ""
