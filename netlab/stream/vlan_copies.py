"""Same 4-tuple, another VLAN: copies of a known connection, or a different connection?

A capture taken on a trunk can show one 4-tuple on several VLANs for two opposite reasons:

* the *same* packets seen twice or more (a router on a stick forwarding between VLANs, a
  mirror port, QinQ re-tagging): Wireshark merges them into one stream, the copies being
  retransmissions, and that is the readable answer;
* *different* connections that happen to share addresses and ports (overlapping private
  address plans per VLAN): merged, they would corrupt each other.

The reassembler (in its default ``vlans="auto"`` mode) holds the frames of a 4-tuple that turns
up on another VLAN than a live stream's (the owner) as a `Candidate`, `judge`s each frame against
the owner and `decide`s:

* a contradiction splits at once: a SYN with another ISN, or a new SYN after the owner closed;
  payload that differs from the bytes the owner emitted at that offset; sequence or
  acknowledgement numbers out of reach of the owner's sequence spaces;
* the same bytes at the same offset (a match) merge the frames into the owner as copies, once
  `MAX_SEGMENTS` frames or `MAX_BYTES` bytes are held (every held frame is judged again then:
  the owner may have caught up with frames that ran ahead of it), or at the end;
* payload only ahead of the owner, never compared, keeps the candidate held (up to four times the
  limits); if the owner never catches up it is a stream of its own;
* frames with nothing to compare (a direction the owner never saw, bytes it emitted too long
  ago to remember) merge, as Wireshark does.

Held frames reach the owner only once merged: a hole the owner gave up meanwhile (its peer
acknowledged past it) stays a gap even when a held copy had those bytes. All of it is pure and
only ever runs for 4-tuples seen on more than one VLAN.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Literal

from netlab.packets import ACK, SYN, Segment
from netlab.stream.connection import Connection
from netlab.stream.flow import FlowView
from netlab.stream.seq import seq_add

VlanMode = Literal["auto", "merge", "split"]
VLAN_MODES: tuple[VlanMode, ...] = ("auto", "merge", "split")

MAX_SEGMENTS = 64  # frames held before a candidate with a match is merged
MAX_BYTES = 256 * 1024  # ...or this many payload bytes
_WINDOW = 1 << 20  # sequence/ack numbers further than this from the stream's are another connection


class Verdict(enum.Enum):
    """What one frame says about a candidate."""

    FITS = "fits"  # nothing against it (numbers in reach, nothing to compare)
    MATCH = "match"  # the same bytes the owner emitted at that offset
    AHEAD = "ahead"  # payload beyond what the owner emitted so far: compare later
    CONFLICT = "conflict"  # another connection


class Candidate:
    """Frames of a 4-tuple on another VLAN than the live stream `owner`, held until decided."""

    __slots__ = ("owner", "owner_vlan", "keys", "log", "log_bytes")

    def __init__(self, owner: Connection, owner_vlan: tuple[int, ...], keys: tuple[tuple[object, ...], ...]) -> None:
        self.owner = owner
        self.owner_vlan = owner_vlan
        self.keys = keys  # the reassembler's keys for both directions on the candidate's VLAN
        self.log: list[Segment] = []
        self.log_bytes = 0

    def add(self, seg: Segment) -> None:
        """Hold one more frame."""
        self.log.append(seg)
        self.log_bytes += len(seg.payload)

    @property
    def full(self) -> bool:
        """True when enough is held to decide on a match."""
        return len(self.log) >= MAX_SEGMENTS or self.log_bytes >= MAX_BYTES

    @property
    def overfull(self) -> bool:
        """True when holding longer would only cost memory: decide with what there is."""
        return len(self.log) >= 4 * MAX_SEGMENTS or self.log_bytes >= 4 * MAX_BYTES


def judge(seg: Segment, fwd: FlowView, rev: FlowView) -> Verdict:
    """Compare `seg` (from another VLAN) with the owner's flows in its direction (`fwd`) and back."""
    flags = seg.flags
    if flags & SYN and fwd.isn is not None and seg.seq != fwd.isn:
        return Verdict.CONFLICT
    if flags & ACK and rev.started and not _in_reach(rev.absolute(seg.ack), rev):
        return Verdict.CONFLICT
    if not (seg.payload and fwd.started):
        return Verdict.FITS
    pos = fwd.absolute(seq_add(seg.seq, 1) if flags & SYN else seg.seq)
    if not _in_reach(pos, fwd):
        return Verdict.CONFLICT
    same = fwd.same_as_emitted(pos, seg.payload)
    if same is not None:
        return Verdict.MATCH if same else Verdict.CONFLICT
    return Verdict.AHEAD if pos >= fwd.next else Verdict.FITS


def _in_reach(pos: int, flow: FlowView) -> bool:
    """True when absolute offset `pos` is near enough to what `flow` sent to be the same connection."""
    return -_WINDOW <= pos <= flow.next + _WINDOW


def decide(verdicts: Iterable[Verdict], *, final: bool) -> bool | None:
    """Merge (True), split (False) or keep holding (None), from the verdicts on the held frames."""
    seen = set(verdicts)
    if Verdict.CONFLICT in seen:
        return False
    if Verdict.MATCH in seen:
        return True
    if Verdict.AHEAD in seen:
        return False if final else None
    return True
