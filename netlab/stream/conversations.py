"""The sans-IO UDP conversation tracker: datagrams in, stream events out (Wireshark's "Follow UDP Stream").

Theory of operation
-------------------
A conversation is one address/port pair, either way round (and, unless VLANs are merged, one
VLAN tag stack: the same pair on two VLANs is two conversations, as TCP streams are kept apart).
Conversations are numbered in order of their first datagram, counting every one the tracker is
fed, as Wireshark numbers its ``udp.stream``: a caller that shows only some conversations (by port
or host) still feeds them all, so the numbers agree with tshark's. The end that sent the first
datagram is the client (`RoleReason.FIRST_SENDER`).

Datagrams are not sequenced: each one is one `Data` event (one turn), in capture order, and
nothing is ever reordered, deduplicated or reported missing; only bytes cut by the capture's snap
length become a `Gap` (`GapReason.NOT_CAPTURED`), as in a TCP transcript. An empty datagram is
counted but gives no `Data`. UDP has no end: every conversation is closed by `flush`, at the end
of the capture (`CloseReason.END`), with its counts.

Memory grows with the number of conversations (a key and a few counters each), never with the
bytes they carry.
"""

from __future__ import annotations

from dataclasses import dataclass

from netlab.packets import Datagram, Endpoint
from netlab.stream.events import (
    Closed,
    CloseReason,
    Data,
    Direction,
    Event,
    Gap,
    GapReason,
    Opened,
    StreamStats,
    Transport,
)
from netlab.stream.roles import RoleReason
from netlab.stream.vlan_copies import VLAN_MODES, VlanMode

__all__ = ["Conversation", "ConversationTracker"]


@dataclass(slots=True)
class Conversation:
    """One UDP conversation's state: its number, its ends and its counts so far (mutable, internal)."""

    stream: int
    client: Endpoint
    server: Endpoint
    first_ts: float
    last_ts: float = 0.0
    last_frame: int = 0
    packets_c2s: int = 0
    packets_s2c: int = 0
    bytes_c2s: int = 0
    bytes_s2c: int = 0
    not_captured: int = 0

    def stats(self) -> StreamStats:
        """The conversation's counts as a `StreamStats` (bytes are payload bytes on the wire)."""
        return StreamStats(
            packets_c2s=self.packets_c2s,
            packets_s2c=self.packets_s2c,
            bytes_c2s=self.bytes_c2s,
            bytes_s2c=self.bytes_s2c,
            not_captured_bytes=self.not_captured,
            first_ts=self.first_ts,
            last_ts=self.last_ts,
        )


class ConversationTracker:
    """Turns UDP datagrams into per-conversation events (sans-IO: no clock, no sockets, no printing).

    Args:
        vlans: ``"merge"`` ignores VLAN tags (exactly Wireshark); ``"auto"`` and ``"split"`` keep
            the same address/port pair on different VLANs apart.

    Not thread-safe: one tracker belongs to one pipeline.
    """

    def __init__(self, *, vlans: VlanMode = "auto") -> None:
        if vlans not in VLAN_MODES:
            raise ValueError(f"vlans must be one of {', '.join(VLAN_MODES)}, not {vlans!r}")
        self._by_vlan = vlans != "merge"
        self._conversations: dict[tuple[object, ...], tuple[Conversation, Direction]] = {}
        self._open: list[Conversation] = []  # in stream order
        self._next_stream = 0

    @property
    def streams(self) -> int:
        """How many conversations have been opened so far."""
        return self._next_stream

    def feed(self, datagram: Datagram) -> list[Event]:
        """Take one datagram (in capture order) and return the events it causes."""
        events: list[Event] = []
        self.feed_into(datagram, events)
        return events

    def feed_into(self, datagram: Datagram, events: list[Event]) -> None:
        """`feed`, appending the events to the caller's list."""
        src, dst = datagram.src, datagram.dst
        key: tuple[object, ...] = (src, dst, datagram.vlan) if self._by_vlan else (src, dst)
        found = self._conversations.get(key)
        if found is None:
            found = self._open_conversation(datagram, key, events)
        conv, direction = found
        size, captured = datagram.wire_len, len(datagram.payload)
        conv.last_ts, conv.last_frame = datagram.ts, datagram.frame
        if direction is Direction.C2S:
            conv.packets_c2s += 1
            offset = conv.bytes_c2s
            conv.bytes_c2s += size
        else:
            conv.packets_s2c += 1
            offset = conv.bytes_s2c
            conv.bytes_s2c += size
        if captured:
            events.append(Data(conv.stream, direction, datagram.ts, datagram.frame, src, dst, datagram.payload, offset))
        if size > captured:
            conv.not_captured += size - captured
            events.append(
                Gap(
                    conv.stream,
                    direction,
                    datagram.ts,
                    datagram.frame,
                    size - captured,
                    offset + captured,
                    GapReason.NOT_CAPTURED,
                )
            )

    def _open_conversation(
        self, datagram: Datagram, key: tuple[object, ...], events: list[Event]
    ) -> tuple[Conversation, Direction]:
        conv = Conversation(self._next_stream, datagram.src, datagram.dst, datagram.ts)
        self._next_stream += 1
        self._open.append(conv)
        found = self._conversations[key] = (conv, Direction.C2S)
        reverse = (datagram.dst, datagram.src, *key[2:])
        self._conversations.setdefault(reverse, (conv, Direction.S2C))  # a datagram to itself: one way
        events.append(
            Opened(
                conv.stream,
                datagram.ts,
                datagram.frame,
                datagram.src,
                datagram.dst,
                RoleReason.FIRST_SENDER,
                datagram.vlan,
                Direction.C2S,
                Transport.UDP,
            )
        )
        return found

    def flush(self) -> list[Event]:
        """The end of the capture: close every conversation, in stream order, with its counts."""
        events: list[Event] = [
            Closed(conv.stream, conv.last_ts, conv.last_frame, CloseReason.END, conv.stats()) for conv in self._open
        ]
        self._open.clear()
        self._conversations.clear()
        return events
