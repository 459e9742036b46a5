"""JSON Lines: one object per event (pure).

Data chunks: `{"schema_version":1,"stream":0,"proto":"tcp","src":"ip:port","dst":"ip:port",
"direction":"c2s","ts":..,"frame":..,"data":"<base64>"}`; every other event has an `"event"` key and
no `"data"`. Every line names its stream's protocol after the stream number: `"proto"` is "tcp" for a
TCP stream (`tcp.stream`), "udp" for a UDP conversation (`udp.stream`; each datagram one data line).
IPv6 endpoints are written `[addr]:port`. After `schema_version` and `event`, in this order:

* `opened`: stream, proto, ts, frame, client, server, roles_guessed, roles_reason (which rule decided who
  is the server: `netlab.stream.roles.RoleReason`, e.g. "syn", "port-option", "listening",
  "fan-in", "port-range", "lower-port"), and vlan (a list) when tagged;
* `gap`: stream, proto, direction, ts, frame, size, offset, reason;
* `control`: kind, stream, proto, direction, ts, frame, seq, ack;
* `notice`: kind, stream, proto, direction, ts, frame, size;
* `closed`: stream, proto, ts, frame, reason, stats (the `StreamStats` fields).

Their `ts` is rounded to the microsecond; a data chunk's is the capture's. Lines are compact
(`json.dumps(record, separators=(",", ":"))`).
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from netlab.render.base import RenderOptions
from netlab.stream.events import Closed, Control, Data, Direction, Event, Gap, Notice, Opened, StreamStats, Transport

SCHEMA_VERSION = 1
_C2S = Direction.C2S
_b64 = binascii.b2a_base64
_encode = json.JSONEncoder(separators=(",", ":")).encode  # what json.dumps builds for every call
_STATS_FIELDS = tuple(field.name for field in fields(StreamStats))  # scalars: asdict minus its deep copy


class JsonLinesRenderer:
    """Incremental JSON Lines renderer."""

    binary = False

    def __init__(self, options: RenderOptions) -> None:
        self._hidden = None if options.direction is None else options.direction.reverse  # never shown
        self._prefixes: dict[int, str] = {}  # 2 * stream + (0 for c2s, 1 for s2c) -> the fixed part
        self._udp: set[int] = set()  # the streams that are UDP conversations

    def _proto(self, stream: int) -> str:
        return "udp" if stream in self._udp else "tcp"

    def _prefix(self, event: Data) -> str:
        return (
            f'{{"schema_version":1,"stream":{event.stream},"proto":"{self._proto(event.stream)}",'
            f'"src":"{event.src}","dst":"{event.dst}","direction":"{event.direction.value}","ts":'
        )

    def begin(self) -> str:
        return ""

    def on_event(self, event: Event) -> str:
        if type(event) is Data:
            return self.on_data(event)
        if type(event) is Opened and event.proto is Transport.UDP:
            self._udp.add(event.stream)
        line = _LINES.get(type(event))
        return '{"schema_version":1}\n' if line is None else line(event, self._proto(event.stream))

    def on_data(self, event: Data) -> str:
        """The line of one data chunk (the hot path: the fixed part is cached per stream and way)."""
        if event.direction is self._hidden:
            return ""
        key = 2 * event.stream + (event.direction is not _C2S)
        prefix = self._prefixes.get(key)
        if prefix is None:
            prefix = self._prefixes[key] = self._prefix(event)
        return f'{prefix}{event.ts!r},"frame":{event.frame},"data":"{_b64(event.data, newline=False).decode()}"}}\n'

    def end(self) -> str:
        return ""


# The other events, one line each: what json.dumps writes for the records in the module docstring (a
# test holds them to that), written directly at a third of the cost. `_q` quotes and escapes a
# string as json.dumps does.
_q = json.encoder.encode_basestring_ascii


def _ts(ts: float) -> str:
    """`round(ts, 6)` as json.dumps writes it."""
    ts = round(ts, 6)
    return repr(ts) if ts - ts == 0 else _encode(ts)  # NaN and infinities have JSON spellings of their own


def _opened(e: Opened, proto: str) -> str:
    vlan = f',"vlan":[{",".join(map(str, e.vlan))}]' if e.vlan else ""
    return (
        f'{{"schema_version":1,"event":"opened","stream":{e.stream},"proto":"{proto}","ts":{_ts(e.ts)},'
        f'"frame":{e.frame},'
        f'"client":{_q(str(e.client))},"server":{_q(str(e.server))},'
        f'"roles_guessed":{"true" if e.roles_guessed else "false"},"roles_reason":{_q(e.roles_reason.value)}'
        f"{vlan}}}\n"
    )


def _gap(e: Gap, proto: str) -> str:
    return (
        f'{{"schema_version":1,"event":"gap","stream":{e.stream},"proto":"{proto}","direction":{_q(e.direction.value)},'
        f'"ts":{_ts(e.ts)},"frame":{e.frame},"size":{e.size},"offset":{e.offset},"reason":{_q(e.reason.value)}}}\n'
    )


def _control(e: Control, proto: str) -> str:
    return (
        f'{{"schema_version":1,"event":"control","kind":{_q(e.kind.value)},"stream":{e.stream},"proto":"{proto}",'
        f'"direction":{_q(e.direction.value)},"ts":{_ts(e.ts)},"frame":{e.frame},"seq":{e.seq},"ack":{e.ack}}}\n'
    )


def _notice(e: Notice, proto: str) -> str:
    return (
        f'{{"schema_version":1,"event":"notice","kind":{_q(e.kind.value)},"stream":{e.stream},"proto":"{proto}",'
        f'"direction":{_q(e.direction.value)},"ts":{_ts(e.ts)},"frame":{e.frame},"size":{e.size}}}\n'
    )


def _closed(e: Closed, proto: str) -> str:
    stats = _encode({name: getattr(e.stats, name) for name in _STATS_FIELDS})
    return (
        f'{{"schema_version":1,"event":"closed","stream":{e.stream},"proto":"{proto}","ts":{_ts(e.ts)},"frame":{e.frame},'
        f'"reason":{_q(e.reason.value)},"stats":{stats}}}\n'
    )


_LINES: dict[type, Callable[[Any, str], str]] = {
    Opened: _opened,
    Gap: _gap,
    Control: _control,
    Notice: _notice,
    Closed: _closed,
}
