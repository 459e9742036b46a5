"""Putting one direction's bytes in order: retransmissions, reordering, holds and holes (pure).

The `Sequencer` places each segment's payload in its `Flow` and emits what is in order, as
Wireshark's follow does (``check_follow_fragments``), with netlab's additions:

* a segment that starts below ``next`` is a retransmission: only bytes beyond ``next`` are new,
  and the overlapping bytes are compared with the recently emitted ones to flag a conflict;
* out-of-order segments wait in ``frags`` (first copy wins, Wireshark's quirks with overlapping
  out-of-order segments included);
* a hole is skipped (a ``Gap``) only when the peer acknowledges bytes beyond it (the receiver had
  them; Wireshark's rule) or at the end (nothing more will come: data after a hole is still
  shown, unlike Wireshark);
* an in-order segment whose TCP checksum is known bad is *held* until the receiver ACKs it, a good
  copy replaces it, or the end: so a good copy beats a corrupt one, while captures with
  offloaded (invalid) checksums everywhere still lose nothing;
* a flow started without a SYN is *unsettled*: data from before its first segment may still
  come (its start moves back), until the peer acknowledges or enough segments wait.

Memory is bounded by the out-of-order bytes (``max_buffer`` per direction; beyond it the lowest
hole becomes a gap).
"""

from __future__ import annotations

from netlab.packets import SYN, Segment
from netlab.stream.events import Event, Gap, GapReason, Notice, NoticeKind
from netlab.stream.flow import Flow, Fragment, take
from netlab.stream.seq import seq_add
from netlab.stream.states import FlowEvent, FlowState

DEFAULT_MAX_BUFFER = 8 * 1024 * 1024
OFFLOAD_TRUST = 2  # after this many bad checksums were ACKed, stop holding (sender-side capture)
_MAX_LEAD = 1 << 20  # an unsettled flow's start moves back by at most this much
_PROVISIONAL_SEGMENTS = 8  # ...and is settled after this many segments even without an ACK


class Sequencer:
    """Places payload in flows and emits what is in order (the byte half of the reassembler).

    Args:
        prefer_good_checksum: hold in-order segments with a bad TCP checksum until acknowledged
            or replaced by a good copy.
        max_buffer: out-of-order bytes buffered per direction before the lowest hole is given up.
    """

    __slots__ = ("prefer_good_checksum", "max_buffer")

    def __init__(self, *, prefer_good_checksum: bool = True, max_buffer: int = DEFAULT_MAX_BUFFER) -> None:
        self.prefer_good_checksum = prefer_good_checksum
        self.max_buffer = max_buffer

    # -- new bytes ------------------------------------------------------------------------------

    def payload(self, flow: Flow, seg: Segment, events: list[Event]) -> None:
        """Place `seg`'s payload (it has some) in `flow`; emit what is now in order."""
        if flow.state is FlowState.IDLE:
            flow.start(seg.seq, bool(seg.flags & SYN), False)
        seq = seq_add(seg.seq, 1) if seg.flags & SYN else seg.seq
        pos = self._adjust_start(flow, flow.absolute(seq))
        data, length = seg.payload, seg.wire_len
        nxt = flow.next
        if pos < nxt:  # a retransmission: only bytes beyond `next` are new
            end = pos + length
            if flow.same_as_emitted(pos, data) is False:
                flow.conn.counts["conflicts"] += 1
            events.append(_notice(flow, seg, NoticeKind.RETRANSMISSION, length))
            data = data[nxt - pos :]
            if end <= nxt or not data:
                return
            pos, length = nxt, end - nxt
        frag = Fragment(pos, length, data, seg.ts, seg.frame, seg.checksum_ok)
        provisional = flow.state.provisional
        if pos == nxt and not provisional:
            self._in_order(flow, frag, seg, events)
            return
        held = flow.held
        behind_held = held is not None and pos == held.pos + held.length
        self._buffer(flow, frag, seg, events, count=not (behind_held or provisional))
        if provisional and len(flow.frags) >= _PROVISIONAL_SEGMENTS:
            self._settle(flow, seg, events)

    @staticmethod
    def _adjust_start(flow: Flow, pos: int) -> int:
        """Fix where a SYN-less flow starts, given its first data at `pos`; returns the new `pos`."""
        nxt = flow.next
        if flow.state.empty_start:
            flow.advance(FlowEvent.DATA)
            if pos == nxt + 1 and not flow.frags:  # the empty segment was a keep-alive: no gap
                flow.origin = seq_add(flow.origin, 1)
                return nxt
        if flow.state.provisional and pos < nxt and nxt - pos <= _MAX_LEAD:  # data from before the first seen
            flow.rebase(nxt - pos)
            return nxt
        return pos

    def _in_order(self, flow: Flow, frag: Fragment, seg: Segment, events: list[Event]) -> None:
        """Bytes at `next`: emit them, unless a bad checksum makes them wait for an ACK or a good copy."""
        held = flow.held
        if held is not None:
            self._replace_held(flow, held, frag.data, frag.length, seg, events)
            return
        if frag.checksum_ok is False and self.prefer_good_checksum and flow.offloaded < OFFLOAD_TRUST:
            flow.held = frag
            return
        _emit(flow, frag.data, frag.length, frag.ts, frag.frame, events)
        if flow.frags:
            _drain(flow, None, seg, events)

    def _buffer(self, flow: Flow, frag: Fragment, seg: Segment, events: list[Event], *, count: bool = True) -> None:
        """Keep out-of-order bytes (a good copy replaces a corrupt one at the same place)."""
        for i, other in enumerate(flow.frags):
            if other.pos == frag.pos:
                if other.checksum_ok is False and frag.checksum_ok and other.length <= frag.length:
                    flow.frags[i] = frag  # the good copy replaces the corrupt one in place
                    flow.frag_bytes += len(frag.data) - len(other.data)
                    if other.data != frag.data[: len(other.data)]:
                        events.append(_notice(flow, seg, NoticeKind.BAD_CHECKSUM_REPLACED, frag.length))
                    return
                break
        else:
            if count:
                events.append(_notice(flow, seg, NoticeKind.OUT_OF_ORDER, frag.length))
        flow.frags.append(frag)
        flow.frag_bytes += len(frag.data)
        if flow.frag_bytes > self.max_buffer:
            events.append(_notice(flow, seg, NoticeKind.BUFFER_LIMIT, flow.frag_bytes))
            _skip_hole(flow, GapReason.LOST_UNACKED, seg.ts, seg.frame, events)
            _drain(flow, None, seg, events)

    def _replace_held(
        self, flow: Flow, held: Fragment, data: bytes, length: int, seg: Segment, events: list[Event]
    ) -> None:
        """A second copy starting where a held (bad-checksum) segment starts."""
        flow.held = None
        if seg.checksum_ok is False:  # two bad copies: the first one wins, as usual
            _emit(flow, held.data, held.length, held.ts, held.frame, events)
            self.payload(flow, seg, events)
            return
        if data[: len(held.data)] != held.data[: len(data)]:
            flow.conn.counts["conflicts"] += 1
            events.append(_notice(flow, seg, NoticeKind.BAD_CHECKSUM_REPLACED, length))
        _emit(flow, data, length, seg.ts, seg.frame, events)
        if length < held.length:  # the good copy is shorter: keep the held tail after it
            tail = Fragment(flow.next, held.length - length, held.data[length:], held.ts, held.frame, False)
            self._buffer(flow, tail, seg, events)
        if flow.frags:
            _drain(flow, None, seg, events)

    # -- acknowledgements and the end ---------------------------------------------------------------

    def acknowledge(self, flow: Flow, ack: int, seg: Segment, events: list[Event]) -> None:
        """The peer acknowledged up to `ack` (absolute) in `flow`: held and lost bytes are settled."""
        if flow.state.provisional:
            if 0 > ack >= -_MAX_LEAD:  # the receiver still waits for bytes before the first we saw
                flow.rebase(-ack)
                ack = 0
            self._settle(flow, seg, events)
        held = flow.held
        if held is not None and ack > held.pos:
            flow.held = None
            flow.offloaded += 1
            _emit(flow, held.data, held.length, held.ts, held.frame, events)
        if flow.frags:
            _drain(flow, ack, seg, events)

    @staticmethod
    def _settle(flow: Flow, seg: Segment, events: list[Event]) -> None:
        """The start of a SYN-less flow is known: emit what waited for it."""
        flow.advance(FlowEvent.SETTLE)
        if flow.frags:
            _drain(flow, None, seg, events)

    @staticmethod
    def release_all(flow: Flow, events: list[Event]) -> None:
        """End of input for `flow`: emit the held segment and every buffered one, after gaps."""
        held = flow.held
        if held is not None:
            flow.held = None
            _emit(flow, held.data, held.length, held.ts, held.frame, events)
        while flow.frags:
            frag = min(flow.frags, key=lambda f: f.pos)
            _skip_hole(flow, GapReason.LOST_UNACKED, frag.ts, frag.frame, events)
            before = len(flow.frags)
            _drain(flow, None, None, events)
            if len(flow.frags) == before:  # cannot happen: the lowest fragment now fits
                break


def _notice(flow: Flow, seg: Segment, kind: NoticeKind, size: int) -> Notice:
    return Notice(flow.stream, flow.direction, seg.ts, seg.frame, kind, size)


def _emit(flow: Flow, data: bytes, length: int, ts: float, frame: int, events: list[Event]) -> None:
    """Emit bytes at `next` (and a not-captured gap for a snap-length-truncated tail)."""
    offset = flow.next
    captured = len(data)
    if captured:
        events.append(take(flow, ts, frame, data))
    if captured < length:
        missing = length - captured
        flow.conn.counts["not_captured_bytes"] += missing
        events.append(Gap(flow.stream, flow.direction, ts, frame, missing, offset + captured, GapReason.NOT_CAPTURED))
    flow.next = offset + length


def _drain(flow: Flow, ack: int | None, seg: Segment | None, events: list[Event]) -> None:
    """Emit buffered segments that now fit (Wireshark's check_follow_fragments loop).

    With `ack` (and the `seg` that carried it), a hole below it is skipped as a gap: the receiver
    acknowledged bytes beyond it.
    """
    frags = flow.frags
    while frags:
        lowest = frags[0].pos
        nxt = flow.next
        for i, frag in enumerate(frags):
            pos = frag.pos
            if pos < lowest:
                lowest = pos
            if pos <= nxt:
                del frags[i]
                flow.frag_bytes -= len(frag.data)
                end = pos + frag.length
                if end > nxt:
                    _emit(flow, frag.data[nxt - pos :], end - nxt, frag.ts, frag.frame, events)
                break
        else:
            if ack is None or ack <= lowest or seg is None:
                return
            _gap(flow, lowest - nxt, GapReason.LOST_ACKED, seg.ts, seg.frame, events)
            flow.next = lowest


def _gap(flow: Flow, size: int, reason: GapReason, ts: float, frame: int, events: list[Event]) -> None:
    counts = flow.conn.counts
    counts["gaps"] += 1
    counts["gap_bytes"] += size
    events.append(Gap(flow.stream, flow.direction, ts, frame, size, flow.next, reason))


def _skip_hole(flow: Flow, reason: GapReason, ts: float, frame: int, events: list[Event]) -> None:
    lowest = min(frag.pos for frag in flow.frags)
    if lowest > flow.next:
        _gap(flow, lowest - flow.next, reason, ts, frame, events)
        flow.next = lowest
