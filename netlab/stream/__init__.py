"""TCP stream reassembly (pure): segments in, Wireshark-compatible stream events out.

Reassemble a pcap in three lines::

    from netlab.capture.pcapfile import read_segments
    from netlab.stream import Reassembler, build_dialogues
    dialogues = build_dialogues(Reassembler().feed_all(read_segments("capture.pcap")))

`Reassembler` is the sans-IO core (`feed(segment) -> events`, `flush() -> events`);
`build_dialogues(events)` groups events into per-stream turns with statistics. UDP conversations
(Follow UDP Stream) come the same way from `ConversationTracker`::

    from netlab.stream import ConversationTracker
    tracker = ConversationTracker()
    events = [e for d in read_segments("capture.pcap").udp_datagrams() for e in tracker.feed(d)]
    dialogues = build_dialogues(events + tracker.flush())
"""

from __future__ import annotations

from netlab.stream.conversations import ConversationTracker
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
    Transport,
)
from netlab.stream.pipeline import FollowSummary, StreamFilter, follow
from netlab.stream.reassembly import Reassembler

__all__ = [
    "CloseReason",
    "Closed",
    "Control",
    "ControlKind",
    "ConversationTracker",
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
    "Transport",
    "Turn",
    "build_dialogues",
    "follow",
]
