"""One direction of a TCP connection as the reassembler keeps it, and the in-order step (pure).

A `Flow` keeps ``next``: the absolute offset of the next byte owed to the reader. Sequence
numbers become absolute offsets once per segment, relative to ``origin + next`` (modulo 2**32,
`netlab.stream.seq`), so wrap-around never reaches the comparisons. Where the stream starts is
its `FlowState` (`netlab.stream.states`); everything else is plain attributes on purpose: they
are read and written for every captured segment (``follow --read`` spends most of its time
here), and slots are the cheapest storage Python has.

`take` is the in-order step: bytes at ``next``, whole, appended to the stream. Every path that
emits bytes ends in it. `FlowView` is a read-only view for code outside the reassembler (the
VLAN-copy judge).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netlab.packets import Endpoint
from netlab.stream.events import Data, Direction
from netlab.stream.seq import seq_add, seq_diff
from netlab.stream.states import FLOW_TRANSITIONS, FlowEvent, FlowState, advance

if TYPE_CHECKING:
    from netlab.stream.connection import Connection

RECENT_BYTES = 4 * 1024  # retransmitted bytes are compared with this much history
RECENT_LIMIT = 2 * RECENT_BYTES  # ...kept in a buffer trimmed back to that when it grows past this


class Fragment:
    """Bytes waiting in a flow: out of order, or held for a bad checksum (mutable: `pos` moves)."""

    __slots__ = ("pos", "length", "data", "ts", "frame", "checksum_ok")

    def __init__(self, pos: int, length: int, data: bytes, ts: float, frame: int, checksum_ok: bool | None) -> None:
        self.pos = pos  # absolute offset of the first byte
        self.length = length  # length on the wire (`data` may be shorter: snap length)
        self.data = data
        self.ts = ts
        self.frame = frame
        self.checksum_ok = checksum_ok


class Flow:
    """One direction of a connection (mutable; owned by one `Reassembler`).

    Invariants: every byte below `next` has been emitted exactly once, as `Data` or inside a
    `Gap`; `frags` holds out-of-order bytes at or above `next` in arrival order (first copy wins);
    `recent` holds the last emitted bytes, ending at `recent_end`.
    """

    __slots__ = (
        "conn",
        "stream",
        "direction",
        "src",
        "dst",
        "state",
        "fin",
        "origin",
        "next",
        "base_seq",
        "isn",
        "other_isn",
        "frags",
        "frag_bytes",
        "held",
        "offloaded",
        "recent",
        "recent_end",
        "packets",
        "bytes",
    )

    def __init__(self, direction: Direction, src: Endpoint, dst: Endpoint, conn: Connection) -> None:
        self.conn = conn
        self.stream = conn.stream
        self.direction = direction
        self.src = src
        self.dst = dst
        self.state = FlowState.IDLE
        self.fin = False  # a FIN was sent this way
        self.origin = 0  # raw sequence number of absolute offset 0
        self.next = 0  # absolute offset of the next byte owed
        self.base_seq: int | None = None  # the ISN as Wireshark records it (port-reuse test)
        self.isn: int | None = None  # the ISN of a SYN actually seen
        self.other_isn: int | None = None  # a second SYN's other ISN, before any data: the peer's ACK decides
        self.frags: list[Fragment] = []
        self.frag_bytes = 0
        self.held: Fragment | None = None  # in-order bytes with a bad checksum, waiting
        self.offloaded = 0  # bad-checksum segments the receiver accepted (checksum offload)
        self.recent = bytearray()  # the last emitted bytes (up to 2 * RECENT_BYTES), ending at recent_end
        self.recent_end = 0
        self.packets = 0
        self.bytes = 0

    def absolute(self, seq: int) -> int:
        """The absolute offset of raw sequence number `seq` (nearest to `next`)."""
        return self.next + seq_diff(seq, seq_add(self.origin, self.next))

    def advance(self, event: FlowEvent) -> None:
        """Move to the state `event` leads to (`netlab.stream.states.FLOW_TRANSITIONS`)."""
        self.state = advance(FLOW_TRANSITIONS, "flow", self.state, event)

    def start(self, seq: int, syn: bool, empty: bool) -> None:
        """The first segment of this direction: raw sequence number `seq`, a SYN or not, empty or not."""
        self.origin = seq_add(seq, 1) if syn else seq
        self.next = 0
        self.base_seq = seq if syn else seq_add(seq, -1)
        if syn:
            self.isn = seq
            self.advance(FlowEvent.START_SYN)
        else:
            self.advance(FlowEvent.START_EMPTY if empty else FlowEvent.START_DATA)

    def restart(self, isn: int) -> None:
        """Start again at the SYN with initial sequence number `isn` (nothing was emitted yet)."""
        self.origin = seq_add(isn, 1)
        self.base_seq = self.isn = isn
        self.other_isn = None

    def rebase(self, shift: int) -> None:
        """Move an unsettled flow's start `shift` bytes earlier (offsets stay >= 0)."""
        self.origin = seq_add(self.origin, -shift)
        for frag in self.frags:
            frag.pos += shift

    def same_as_emitted(self, pos: int, data: bytes) -> bool | None:
        """Whether `data` at offset `pos` equals the recently emitted bytes it overlaps.

        None when it overlaps none of them (nothing to compare).
        """
        stop = self.recent_end
        start = stop - len(self.recent)
        lo, hi = max(pos, start), min(pos + len(data), stop)
        if lo >= hi:
            return None
        return self.recent[lo - start : hi - start] == data[lo - pos : hi - pos]


_new_data = tuple.__new__  # `Data` is a NamedTuple: skipping its __new__ saves a call per chunk


def take(flow: Flow, ts: float, frame: int, data: bytes) -> Data:
    """The in-order step: emit `data` (whole, in order) at the flow's next offset; return its `Data` event."""
    nxt = flow.next
    length = len(data)
    flow.bytes += length
    recent = flow.recent
    if flow.recent_end != nxt:
        recent.clear()
    recent += data
    flow.next = flow.recent_end = nxt + length
    if len(recent) > RECENT_LIMIT:
        del recent[: len(recent) - RECENT_BYTES]
    return _new_data(Data, (flow.stream, flow.direction, ts, frame, flow.src, flow.dst, data, nxt))


class FlowView:
    """A read-only view of a `Flow`, for code outside the reassembler (`netlab.stream.vlan_copies`)."""

    __slots__ = ("_flow",)

    def __init__(self, flow: Flow) -> None:
        self._flow = flow

    @property
    def started(self) -> bool:
        """True once a segment was seen in this direction."""
        return self._flow.state is not FlowState.IDLE

    @property
    def isn(self) -> int | None:
        """The initial sequence number of a SYN seen in this direction, else None."""
        return self._flow.isn

    @property
    def next(self) -> int:
        """The absolute offset of the next byte owed (every byte before it was emitted)."""
        return self._flow.next

    def absolute(self, seq: int) -> int:
        """The absolute offset of raw sequence number `seq` (nearest to `next`)."""
        return self._flow.absolute(seq)

    def same_as_emitted(self, pos: int, data: bytes) -> bool | None:
        """See `Flow.same_as_emitted`."""
        return self._flow.same_as_emitted(pos, data)
