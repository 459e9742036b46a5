"""The json renderer writes each line directly; every line must be what json.dumps writes for its record."""

from __future__ import annotations

import base64
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from conformance_kit import KIT

from netlab.capture.pcapfile import read_segments
from netlab.packets import Endpoint
from netlab.render import RenderOptions, make_renderer
from netlab.stream.events import (
    Closed,
    CloseReason,
    Control,
    ControlKind,
    Data,
    Direction,
    Event,
    Gap,
    GapReason,
    Notice,
    NoticeKind,
    Opened,
    StreamStats,
)
from netlab.stream.reassembly import Reassembler
from netlab.stream.roles import RoleReason

DATA = Path(__file__).resolve().parents[1] / "data"


def _record(event: Event, proto: str = "tcp") -> dict[str, Any]:
    """The record of the schema (the renderer's module docstring), built the plain way."""
    head: dict[str, Any] = {"schema_version": 1}
    if isinstance(event, Data):
        return head | {
            "stream": event.stream,
            "proto": proto,
            "src": str(event.src),
            "dst": str(event.dst),
            "direction": event.direction.value,
            "ts": event.ts,
            "frame": event.frame,
            "data": base64.b64encode(event.data).decode(),
        }
    ts = round(event.ts, 6)
    if isinstance(event, Opened):
        record = head | {"event": "opened", "stream": event.stream, "proto": proto, "ts": ts, "frame": event.frame}
        record |= {
            "client": str(event.client),
            "server": str(event.server),
            "roles_guessed": event.roles_guessed,
            "roles_reason": event.roles_reason.value,
        }
        return record | ({"vlan": list(event.vlan)} if event.vlan else {})
    if isinstance(event, Gap):
        return head | {
            "event": "gap",
            "stream": event.stream,
            "proto": proto,
            "direction": event.direction.value,
            "ts": ts,
            "frame": event.frame,
            "size": event.size,
            "offset": event.offset,
            "reason": event.reason.value,
        }
    if isinstance(event, Control):
        return head | {
            "event": "control",
            "kind": event.kind.value,
            "stream": event.stream,
            "proto": proto,
            "direction": event.direction.value,
            "ts": ts,
            "frame": event.frame,
            "seq": event.seq,
            "ack": event.ack,
        }
    if isinstance(event, Notice):
        return head | {
            "event": "notice",
            "kind": event.kind.value,
            "stream": event.stream,
            "proto": proto,
            "direction": event.direction.value,
            "ts": ts,
            "frame": event.frame,
            "size": event.size,
        }
    assert isinstance(event, Closed)
    return head | {
        "event": "closed",
        "stream": event.stream,
        "proto": proto,
        "ts": ts,
        "frame": event.frame,
        "reason": event.reason.value,
        "stats": asdict(event.stats),
    }


def _captures() -> list[Path]:
    return sorted(DATA.glob("*.pcap")) + sorted((KIT / "pcaps").glob("*.pcap*"))


@pytest.mark.parametrize("path", _captures(), ids=lambda p: p.name)
def test_every_line_is_what_json_dumps_writes_for_its_record(path: Path) -> None:
    renderer = make_renderer("json", RenderOptions())
    events = Reassembler().feed_all(read_segments(path))
    for event in events:
        expected = json.dumps(_record(event), separators=(",", ":")) + "\n"
        assert renderer.on_event(event) == expected


def test_odd_values_too() -> None:
    a, b = Endpoint("fe80::1", 1), Endpoint('10.0.0.1"\\', 2)  # no decoder writes such an address
    stats = StreamStats(packets_c2s=3, first_ts=0.5, last_ts=math.inf)
    events: list[Event] = [
        Opened(7, 1e-7, 9, a, b, RoleReason.LOWER_PORT, (1, 4094)),
        Opened(8, math.nan, 9, b, a, RoleReason.SYN, ()),
        Gap(7, Direction.S2C, -1.25, 3, 10, 20, GapReason.LOST_ACKED),
        Control(7, Direction.C2S, 1700000000.1234567, 4, ControlKind.RST, 5, 6, 0),
        Notice(7, Direction.C2S, 12, 5, NoticeKind.OUT_OF_ORDER, 1),
        Closed(7, 3.0, 6, CloseReason.RST, stats),
    ]
    renderer = make_renderer("json", RenderOptions())
    for event in events:
        assert renderer.on_event(event) == json.dumps(_record(event), separators=(",", ":")) + "\n"


def test_udp_conversations_say_so_on_every_line() -> None:
    from netlab.stream.conversations import ConversationTracker

    tracker = ConversationTracker()
    events = [e for d in read_segments(DATA / "udp_dns.pcap", udp=True).udp_datagrams() for e in tracker.feed(d)]
    events += tracker.flush()
    renderer = make_renderer("json", RenderOptions())
    lines = [renderer.on_event(event) for event in events]
    assert len(lines) > 4
    for event, line in zip(events, lines, strict=True):
        assert line == json.dumps(_record(event, "udp"), separators=(",", ":")) + "\n"
