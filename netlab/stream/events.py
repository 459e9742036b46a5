"""The events the reassembler emits (frozen, slotted value objects; pure).

Every event names its `stream` (Wireshark's `tcp.stream` number, or for a UDP conversation its
`udp.stream` number), the capture time `ts` and the `frame` (1-based) that caused it, so
transcripts, ladder diagrams and statistics can all be drawn from one event list. The `Opened`
event says which protocol a stream is (`Transport`); one event list holds one protocol's streams.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from netlab.packets import Endpoint
from netlab.stream.analysis import FrameAnalysis
from netlab.stream.roles import RoleReason


class Direction(enum.Enum):
    """Which way bytes flow: client to server or server to client."""

    C2S = "c2s"
    S2C = "s2c"

    @property
    def reverse(self) -> Direction:
        """The other direction."""
        return Direction.S2C if self is Direction.C2S else Direction.C2S


class Transport(enum.Enum):
    """The protocol of a stream: a TCP connection, or a UDP conversation (Wireshark's "Follow UDP Stream")."""

    TCP = "tcp"
    UDP = "udp"


class ControlKind(enum.Enum):
    """Connection-control packets a ladder diagram draws."""

    SYN = "syn"
    SYN_ACK = "syn-ack"
    FIN = "fin"
    RST = "rst"


class GapReason(enum.Enum):
    """Why bytes are missing from a transcript."""

    LOST_ACKED = "lost"  # not in the capture, but the receiver acknowledged them
    LOST_UNACKED = "unacked"  # a hole nothing acknowledged; later data is shown after it
    NOT_CAPTURED = "not-captured"  # cut off by the capture's snap length


class NoticeKind(enum.Enum):
    """Anomalies the reassembler counts and reports."""

    RETRANSMISSION = "retransmission"  # bytes seen before (identical copy or partial overlap)
    OUT_OF_ORDER = "out-of-order"  # arrived ahead of a hole, buffered
    CONFLICT = "conflicting-overlap"  # a copy of already-seen bytes that differs; first copy kept
    BAD_CHECKSUM_REPLACED = "bad-checksum-replaced"  # a copy with a bad checksum lost to a good one
    BUFFER_LIMIT = "buffer-limit"  # too many out-of-order bytes; released after a gap
    VLAN_COPY = "vlan-copy"  # the stream's frames also seen on another VLAN (size: frames held); merged


class CloseReason(enum.Enum):
    """How a stream ended."""

    FIN = "fin"  # both sides sent FIN
    RST = "rst"
    REFUSED = "refused"  # a RST answered the SYN: no handshake, no data
    END = "end"  # the capture ended first
    REUSED = "reused"  # a new connection took over the 4-tuple


@dataclass(frozen=True, slots=True)
class StreamStats:
    """Counts for one stream (or, added with `+`, for several).

    `retransmissions`, `fast_retransmissions`, `spurious_retransmissions`, `out_of_order`,
    `lost_segments` and `duplicate_acks` count frames with Wireshark's definitions
    (`netlab.stream.analysis`): each equals what ``tshark -Y tcp.analysis.<flag>`` counts, and
    `retransmissions` includes the fast and spurious ones, as tshark's filter does. `conflicts`,
    `gaps`, `gap_bytes` and `not_captured_bytes` are the transcript's: copies of bytes that
    disagree, and holes in what `follow` shows.
    """

    packets_c2s: int = 0
    packets_s2c: int = 0
    bytes_c2s: int = 0
    bytes_s2c: int = 0
    retransmissions: int = 0
    out_of_order: int = 0
    conflicts: int = 0
    gaps: int = 0
    gap_bytes: int = 0
    not_captured_bytes: int = 0
    first_ts: float = 0.0
    last_ts: float = 0.0
    fast_retransmissions: int = 0
    spurious_retransmissions: int = 0
    lost_segments: int = 0
    duplicate_acks: int = 0

    def __add__(self, other: StreamStats) -> StreamStats:
        """Totals over two streams: counts add up; the time span covers both."""
        if not isinstance(other, StreamStats):
            return NotImplemented
        counts = {name: getattr(self, name) + getattr(other, name) for name in _COUNTS}
        starts = [s.first_ts for s in (self, other) if s.packets]
        ends = [s.last_ts for s in (self, other) if s.packets]
        return StreamStats(**counts, first_ts=min(starts, default=0.0), last_ts=max(ends, default=0.0))

    @property
    def packets(self) -> int:
        """Packets in both directions."""
        return self.packets_c2s + self.packets_s2c

    @property
    def duration(self) -> float:
        """Seconds from the first to the last packet."""
        return self.last_ts - self.first_ts


_COUNTS = tuple(name for name in StreamStats.__dataclass_fields__ if name not in ("first_ts", "last_ts"))


@dataclass(frozen=True, slots=True)
class Opened:
    """A new stream: its first packet was seen.

    `client` sent the SYN. Without a SYN in the capture the roles are inferred from other
    evidence (`netlab.stream.roles`): `roles_reason` names the rule that decided, and
    `roles_guessed` is True. For a UDP conversation (`proto`), the client is the end that sent the
    first datagram (`RoleReason.FIRST_SENDER`, as Wireshark takes it).
    """

    stream: int
    ts: float
    frame: int
    client: Endpoint
    server: Endpoint
    roles_reason: RoleReason
    vlan: tuple[int, ...] = ()
    first_sender: Direction = Direction.C2S  # who sent the first packet (tshark's "Node 0")
    proto: Transport = Transport.TCP

    @property
    def roles_guessed(self) -> bool:
        """True when the handshake was not captured and the roles were inferred."""
        return self.roles_reason.guessed


class Data(NamedTuple):
    """In-order bytes of one direction. `offset` counts bytes (and gaps) of that direction so far."""

    stream: int
    direction: Direction
    ts: float
    frame: int
    src: Endpoint
    dst: Endpoint
    data: bytes
    offset: int


@dataclass(frozen=True, slots=True)
class Gap:
    """`size` bytes of one direction are missing at `offset`; never filled in."""

    stream: int
    direction: Direction
    ts: float
    frame: int
    size: int
    offset: int
    reason: GapReason


@dataclass(frozen=True, slots=True)
class Control:
    """A SYN, SYN-ACK, FIN or RST packet (every copy, for ladder diagrams).

    `seq`/`ack` are relative to the direction's initial sequence number (0 when unknown).
    """

    stream: int
    direction: Direction
    ts: float
    frame: int
    kind: ControlKind
    seq: int
    ack: int
    payload_len: int


@dataclass(frozen=True, slots=True)
class Notice:
    """An anomaly of `size` payload bytes (retransmission, out-of-order, conflicting overlap...)."""

    stream: int
    direction: Direction
    ts: float
    frame: int
    kind: NoticeKind
    size: int


@dataclass(frozen=True, slots=True)
class Closed:
    """The stream ended (or the capture did); carries its final statistics."""

    stream: int
    ts: float
    frame: int
    reason: CloseReason
    stats: StreamStats


@dataclass(frozen=True, slots=True)
class Packet:
    """One captured segment of a stream (emitted only when the reassembler is asked for packets).

    It comes before the events the segment causes. `seq` and `ack` are relative to each
    direction's initial sequence number (as Wireshark shows them; 0 when unknown), `length` is
    the payload length on the wire, `payload` the first bytes of what was captured, and
    `analysis` Wireshark's TCP analysis of the frame (`netlab.stream.analysis`). Ladder
    diagrams draw one arrow per `Packet`.
    """

    stream: int
    direction: Direction
    ts: float
    frame: int
    flags: int
    seq: int
    ack: int
    length: int
    payload: bytes
    analysis: FrameAnalysis


Event = Opened | Data | Gap | Control | Notice | Closed | Packet
