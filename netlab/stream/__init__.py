"""TCP stream reassembly (pure): segments in, Wireshark-compatible stream events out.

Reassemble a pcap in three lines::

    from netlab.capture.pcapfile import read_segments
    from netlab.stream import Reassembler, build_dialogues
    dialogues = build_dialogues(Reassembler().feed_all(read_segments("capture.pcap")))

`Reassembler` is the sans-IO core (`feed(segment) -> events`, `flush() -> events`);
`build_dialogues(events)` groups events into per-stream turns with statistics.
"""

from __future__ import annotations

from netlab.stream.dialogue import Dialogue, Turn, build_dialogues
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
from netlab.stream.pipeline import FollowSummary, StreamFilter, follow
from netlab.stream.reassembly import Reassembler

__all__ = [
    "CloseReason",
    "Closed",
    "Control",
    "ControlKind",
    "Data",
    "Dialogue",
    "Direction",
    "Event",
    "FollowSummary",
    "Gap",
    "GapReason",
    "Notice",
    "NoticeKind",
    "Opened",
    "Reassembler",
    "StreamFilter",
    "StreamStats",
    "Turn",
    "build_dialogues",
    "follow",
]
