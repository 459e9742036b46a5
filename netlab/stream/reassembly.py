"""The sans-IO TCP reassembler: segments in, stream events out.

Theory of operation
-------------------
Connections are keyed by their 4-tuple; each gets a stream number in order of first
appearance, like Wireshark's ``tcp.stream``. The same 4-tuple on another VLAN is, by default
(``vlans="auto"``), held and judged (`netlab.stream.vlan_copies`): copies of the live stream are
merged into it as Wireshark does, a different connection becomes a stream of its own (numbered
when that is decided); ``"merge"`` and ``"split"`` force either way. A SYN (without
ACK) starts a new stream on a used 4-tuple when its ISN differs from the one seen before, or
when the old connection was closed (both FINs, or a RST after the handshake).

Each direction (a ``_Flow``) keeps ``next``: the absolute offset of the next byte owed to the
reader. Sequence numbers are turned into absolute offsets once per segment with ``seq_diff``
against ``origin + next`` (modulo 2**32), so wrap-around never reaches the comparisons.
Invariants:

* every byte below ``next`` has been emitted exactly once, as ``Data`` or inside a ``Gap``;
* ``frags`` holds out-of-order segments at or above ``next`` in arrival order (first copy wins,
  as in Wireshark's follow, including its quirks with overlapping out-of-order segments);
* a segment that starts below ``next`` is a retransmission: only bytes beyond ``next`` are new,
  and the overlapping bytes are compared with a window of recently emitted bytes (``recent``) to
  flag a conflicting overlap;
* a hole is skipped (a ``Gap``) only when the peer acknowledges bytes beyond it (the receiver had
  them; Wireshark's rule) or at ``flush`` (nothing more will come: data after a hole is still
  shown, unlike Wireshark);
* an in-order segment whose TCP checksum is known bad is *held* until the receiver ACKs it, a good
  copy replaces it, or ``flush``: so a good copy beats a corrupt one, while captures with
  offloaded (invalid) checksums everywhere still lose nothing.

Memory is bounded by the open connections and their out-of-order bytes (``max_buffer`` per
direction; beyond it the lowest hole becomes a gap).
"""

from __future__ import annotations

from collections.abc import Iterable

from netlab.capture.model import Endpoint, Segment, SegmentFields
from netlab.stream.analysis import AnalysisFlag, ConnectionAnalysis, FrameAnalysis
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
    Packet,
    StreamStats,
)
from netlab.stream.roles import RoleJudge, RoleReason
from netlab.stream.seq import SEQ_MASK, seq_diff
from netlab.stream.vlan_copies import VLAN_MODES, Candidate, Verdict, VlanMode, decide, judge

_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10
_RECENT_BYTES = 4 * 1024  # retransmitted bytes are compared with this much history
_RECENT_LIMIT = 2 * _RECENT_BYTES  # ...kept in a buffer trimmed back to that when it grows past this
_MAX_LEAD = 1 << 20  # a SYN-less flow's start moves back by at most this much
_PROVISIONAL_SEGMENTS = 8  # ...and is settled after this many segments even without an ACK
_SWEEP_AT = 10_000  # unfinished connections before closed ones are finished and forgotten
_OFFLOAD_TRUST = 2  # after this many bad checksums were ACKed, stop holding (sender-side capture)
DEFAULT_MAX_BUFFER = 8 * 1024 * 1024
_PACKET_PAYLOAD = 64  # payload bytes a `Packet` event keeps (for previews)


class _Frag:
    __slots__ = ("pos", "length", "data", "ts", "frame", "checksum_ok")

    def __init__(
        self, pos: int, length: int, data: bytes, ts: float, frame: int, checksum_ok: bool | None
    ) -> None:
        self.pos = pos
        self.length = length
        self.data = data
        self.ts = ts
        self.frame = frame
        self.checksum_ok = checksum_ok


class _Flow:
    """One direction of a connection (mutable, private to the reassembler)."""

    __slots__ = (
        "conn",
        "direction",
        "src",
        "dst",
        "started",
        "origin",
        "next",
        "soft",
        "provisional",
        "base_seq",
        "isn",
        "frags",
        "frag_bytes",
        "held",
        "offloaded",
        "recent",
        "recent_end",
        "fin",
        "packets",
        "bytes",
    )

    def __init__(self, direction: Direction, src: Endpoint, dst: Endpoint, conn: _Conn) -> None:
        self.conn = conn
        self.direction = direction
        self.src = src
        self.dst = dst
        self.started = False
        self.origin = 0  # raw sequence number of absolute offset 0
        self.next = 0  # absolute offset of the next byte owed
        self.soft = False  # started by an empty non-SYN segment (maybe a keep-alive)
        self.provisional = False  # started without a SYN: where the stream begins is not settled yet
        self.base_seq: int | None = None  # the ISN as Wireshark records it (port-reuse test)
        self.isn: int | None = None  # the ISN of a SYN actually seen
        self.frags: list[_Frag] = []
        self.frag_bytes = 0
        self.held: _Frag | None = None
        self.offloaded = 0  # bad-checksum segments the receiver accepted (checksum offload)
        self.recent = bytearray()  # the last emitted bytes (up to 2 * _RECENT_BYTES), ending at recent_end
        self.recent_end = 0
        self.fin = False
        self.packets = 0
        self.bytes = 0

    def absolute(self, seq: int) -> int:
        """The absolute offset of raw sequence number `seq` (nearest to `next`)."""
        return self.next + seq_diff(seq, (self.origin + self.next) & SEQ_MASK)


class _Conn:
    __slots__ = (
        "stream",
        "c2s",
        "s2c",
        "client",
        "server",
        "handshake",
        "rst",
        "refused",
        "analysis",
        "retransmissions",
        "fast_retransmissions",
        "spurious_retransmissions",
        "out_of_order",
        "lost_segments",
        "duplicate_acks",
        "conflicts",
        "gaps",
        "gap_bytes",
        "not_captured",
        "first_ts",
        "last_ts",
        "last_frame",
    )

    def __init__(self, stream: int, client: Endpoint, server: Endpoint, ts: float) -> None:
        self.stream = stream
        self.client = client
        self.server = server
        self.c2s = _Flow(Direction.C2S, client, server, self)
        self.s2c = _Flow(Direction.S2C, server, client, self)
        self.handshake = False  # a SYN-ACK was seen
        self.rst = False
        self.refused = False  # a RST came before any SYN-ACK (the connection was refused)
        self.analysis = ConnectionAnalysis()  # Wireshark's TCP analysis of each frame
        self.retransmissions = 0  # frames tshark's `tcp.analysis.retransmission` matches
        self.fast_retransmissions = 0
        self.spurious_retransmissions = 0
        self.out_of_order = 0
        self.lost_segments = 0
        self.duplicate_acks = 0
        self.conflicts = 0
        self.gaps = 0
        self.gap_bytes = 0
        self.not_captured = 0
        self.first_ts = ts
        self.last_ts = ts  # time stamp and frame number of the latest segment of this connection
        self.last_frame = 0

    def stats(self) -> StreamStats:
        return StreamStats(
            packets_c2s=self.c2s.packets,
            packets_s2c=self.s2c.packets,
            bytes_c2s=self.c2s.bytes,
            bytes_s2c=self.s2c.bytes,
            retransmissions=self.retransmissions,
            out_of_order=self.out_of_order,
            conflicts=self.conflicts,
            gaps=self.gaps,
            gap_bytes=self.gap_bytes,
            not_captured_bytes=self.not_captured,
            first_ts=self.first_ts,
            last_ts=self.last_ts,
            fast_retransmissions=self.fast_retransmissions,
            spurious_retransmissions=self.spurious_retransmissions,
            lost_segments=self.lost_segments,
            duplicate_acks=self.duplicate_acks,
        )

    def count(self, verdict: FrameAnalysis) -> None:
        """Count a frame Wireshark's analysis flagged (the counts of `StreamStats`)."""
        flags = verdict.flags
        if verdict.is_retransmission:
            self.retransmissions += 1
        if _FAST in flags:
            self.fast_retransmissions += 1
        if _SPURIOUS in flags:
            self.spurious_retransmissions += 1
        if _OOO in flags:
            self.out_of_order += 1
        if _LOST in flags:
            self.lost_segments += 1
        if _DUP_ACK in flags:
            self.duplicate_acks += 1

    def close_reason(self) -> CloseReason:
        if self.rst:
            return CloseReason.RST
        if self.refused and not self.handshake and not (self.c2s.bytes or self.s2c.bytes):
            return CloseReason.REFUSED
        if self.c2s.fin and self.s2c.fin:
            return CloseReason.FIN
        return CloseReason.END


_new_data = tuple.__new__
_FAST = AnalysisFlag.FAST_RETRANSMISSION
_SPURIOUS = AnalysisFlag.SPURIOUS_RETRANSMISSION
_OOO = AnalysisFlag.OUT_OF_ORDER
_LOST = AnalysisFlag.LOST_SEGMENT
_DUP_ACK = AnalysisFlag.DUPLICATE_ACK


def _take(conn: _Conn, flow: _Flow, ts: float, frame: int, data: bytes) -> Data:
    """Emit `data` (whole, in order) at `flow.next`: update the flow, return the `Data` event."""
    nxt = flow.next
    length = len(data)
    flow.bytes += length
    recent = flow.recent
    if flow.recent_end != nxt:
        recent.clear()
    recent += data
    flow.next = flow.recent_end = nxt + length
    if len(recent) > _RECENT_LIMIT:
        del recent[: len(recent) - _RECENT_BYTES]
    return _new_data(Data, (conn.stream, flow.direction, ts, frame, flow.src, flow.dst, data, nxt))


_Entry = tuple[_Conn, _Flow, _Flow]  # a connection and its (this way, other way) flows


class Reassembler:
    """Turns TCP segments into per-stream events (sans-IO: no clock, no sockets, no printing).

    Args:
        vlans: the same 4-tuple on another VLAN: ``"auto"`` merges copies of a live stream (as
            Wireshark does) and keeps a different connection apart; ``"merge"`` always merges
            (exactly Wireshark); ``"split"`` never does.
        prefer_good_checksum: hold in-order segments with a bad TCP checksum until acknowledged
            or replaced by a good copy.
        max_buffer: out-of-order bytes buffered per direction before the lowest hole is given up.
        roles: decides who is the server of a connection whose handshake was not captured
            (`netlab.stream.roles`); it learns from every connection opened.
        packets: also emit a `Packet` event for every captured segment (ladder diagrams).

    Not thread-safe: one reassembler belongs to one pipeline.
    """

    def __init__(
        self,
        *,
        vlans: VlanMode = "auto",
        prefer_good_checksum: bool = True,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        roles: RoleJudge | None = None,
        packets: bool = False,
    ) -> None:
        if vlans not in VLAN_MODES:
            raise ValueError(f"vlans must be one of {', '.join(VLAN_MODES)}, not {vlans!r}")
        self.vlans: VlanMode = vlans
        self._by_vlan = vlans != "merge"  # dict keys carry the VLAN tags
        self._candidates: dict[tuple[object, ...], Candidate] = {}  # held frames on another VLAN
        self._vlans_seen: set[tuple[int, ...]] = set()
        self.prefer_good_checksum = prefer_good_checksum
        self.max_buffer = max_buffer
        self.roles = roles if roles is not None else RoleJudge()
        self.packets = packets
        self._conns: dict[tuple[object, ...], _Entry] = {}
        self._all: dict[int, _Conn] = {}  # stream number -> connection not yet finished, in order
        self._keys: dict[int, tuple[tuple[object, ...], ...]] = {}  # stream number -> its dict keys
        self._sweep_at = _SWEEP_AT
        self._next_stream = 0

    @property
    def streams(self) -> int:
        """How many streams have been opened so far."""
        return self._next_stream

    def feed_all(self, segments: Iterable[Segment]) -> list[Event]:
        """Feed every segment, then flush; return all events (convenience for small captures)."""
        events: list[Event] = []
        for segment in segments:
            events.extend(self.feed(segment))
        events.extend(self.flush())
        return events

    def feed(self, seg: Segment) -> list[Event]:
        """Take one segment (in capture order) and return the events it causes."""
        events: list[Event] = []
        src, dst = seg.src, seg.dst
        key: tuple[object, ...] = (src, dst)
        if self._by_vlan:
            key += seg.vlan
        entry = self._conns.get(key)
        if entry is None and self.vlans == "auto":
            candidate = self._candidates.get(key) if self._candidates else None
            if candidate is None:
                candidate = self._candidate_for(seg, key)
            if candidate is not None:
                self._consider(candidate, seg, events)
                return events
        if entry is None or (seg.flags & 0x12 == 0x02 and self._reused(entry[1], seg)):  # SYN without ACK
            entry = self._open(seg, key, entry, events)
        self._process(entry, seg, events)
        return events

    def _process(self, entry: _Entry, seg: Segment, events: list[Event]) -> None:
        """The work of `feed` once the segment's connection is known."""
        flags = seg.flags
        conn, flow, rev = entry
        flow.packets += 1
        conn.last_ts = seg.ts
        conn.last_frame = seg.frame
        verdict = conn.analysis.feed(flow.direction is Direction.C2S, seg)
        if verdict.flags:
            conn.count(verdict)
        start = len(events)
        if flags & 0x07:  # SYN, FIN or RST
            self._control(conn, flow, rev, seg, events)
        if flags & 0x10 and (rev.frags or rev.held is not None or rev.provisional):  # ACK that may settle
            self._acknowledge(conn, rev, rev.absolute(seg.ack), seg, events)
        if seg.wire_len:
            self._payload(conn, flow, seg, events)
        elif not flow.started:
            self._start(flow, seg)
        if self.packets:
            events.insert(start, self._packet(conn, flow, rev, seg, verdict))

    @staticmethod
    def _packet(conn: _Conn, flow: _Flow, rev: _Flow, seg: Segment, verdict: FrameAnalysis) -> Packet:
        """The `Packet` event of `seg`, with sequence numbers relative to each direction's start."""
        seq = seq_diff(seg.seq, flow.base_seq) if flow.base_seq is not None else 0
        ack = seq_diff(seg.ack, rev.base_seq) if seg.flags & _ACK and rev.base_seq is not None else 0
        return Packet(
            conn.stream, flow.direction, seg.ts, seg.frame, seg.flags, seq, ack, seg.wire_len,
            seg.payload[:_PACKET_PAYLOAD], verdict,
        )  # fmt: skip

    def feed_batch(self, batch: Iterable[SegmentFields], events: list[Event]) -> None:
        """Feed segments given as `SegmentFields`, appending the events they cause to `events`.

        The same events as `feed(Segment(*fields))` for each in turn. The common cases (a pure
        ACK, the next in-order bytes of a direction with nothing pending) are handled in this
        loop without building the `Segment`; anything else (SYN, FIN, RST, an ACK that may settle
        buffered bytes, reordering, retransmission, a held bad checksum) goes through `feed`,
        with no state touched before. Events land in the caller's list as they happen, so after
        an exception (Ctrl-C) it holds the events of every segment fed before.
        """
        if self.packets:
            for fields in batch:
                events.extend(self.feed(Segment(*fields)))
            return
        conns = self._conns
        split = self._by_vlan
        strict = self.prefer_good_checksum
        append = events.append
        for fields in batch:  # one loop for the batch: the per-packet path of `follow --read`
            frame, ts, src, dst, seq, ack, flags, window, data, length, checksum_ok, vlan, _wscale = fields
            if not flags & 0x07:  # no SYN, FIN or RST
                key: tuple[object, ...] = (src, dst)
                entry = conns.get(key + vlan if split else key)
                if entry is not None:
                    conn, flow, rev = entry
                    if not (flags & 0x10 and (rev.frags or rev.held is not None or rev.provisional)):
                        if not length:
                            if flow.started:
                                flow.packets += 1
                                conn.last_ts = ts
                                conn.last_frame = frame
                                verdict = conn.analysis.observe(
                                    flow is conn.c2s, frame, ts, seq, ack, flags, window, 0
                                )
                                if verdict.flags:
                                    conn.count(verdict)
                                continue
                        elif (
                            length == len(data)
                            and flow.started
                            and not (flow.frags or flow.soft or flow.provisional)
                            and flow.held is None
                            and (checksum_ok is not False or flow.offloaded >= _OFFLOAD_TRUST or not strict)
                        ):
                            nxt = flow.next
                            if (
                                not (seq - flow.origin - nxt) & SEQ_MASK
                            ):  # the next bytes, whole, nothing pending
                                flow.packets += 1
                                conn.last_ts = ts
                                conn.last_frame = frame
                                verdict = conn.analysis.observe(
                                    flow is conn.c2s, frame, ts, seq, ack, flags, window, length
                                )
                                if verdict.flags:
                                    conn.count(verdict)
                                # `_take`, inlined: this is where most of a capture's bytes go through
                                flow.bytes += length
                                recent = flow.recent
                                if flow.recent_end != nxt:
                                    recent.clear()
                                recent += data
                                flow.next = flow.recent_end = nxt + length
                                if len(recent) > _RECENT_LIMIT:
                                    del recent[: len(recent) - _RECENT_BYTES]
                                append(
                                    _new_data(
                                        Data,
                                        (
                                            conn.stream,
                                            flow.direction,
                                            ts,
                                            frame,
                                            flow.src,
                                            flow.dst,
                                            data,
                                            nxt,
                                        ),
                                    )
                                )
                                continue
            events.extend(self.feed(Segment(*fields)))

    def flush(self) -> list[Event]:
        """End of input: release what is still buffered (after gaps) and close every stream."""
        events: list[Event] = []
        self._resolve_candidates(events)
        for conn in self._all.values():
            self._finish(conn, CloseReason.END, events)
        self._all.clear()
        self._keys.clear()
        self._conns.clear()
        return events

    # -- connections ------------------------------------------------------------------------

    def _reused(self, flow: _Flow, seg: Segment) -> bool:
        conn = flow.conn
        if flow.base_seq is not None and seg.seq != flow.base_seq:
            return True
        closed = conn.rst or (conn.c2s.fin and conn.s2c.fin)
        return closed and conn.handshake

    def _open(self, seg: Segment, key: tuple[object, ...], old: _Entry | None, events: list[Event]) -> _Entry:
        if old is not None:
            self._finish(old[0], CloseReason.REUSED, events)
            del self._all[old[0].stream]
            del self._keys[old[0].stream]
        if len(self._all) >= self._sweep_at:
            self._sweep(events)
        client, server, reason = self._roles(seg)
        conn = _Conn(self._next_stream, client, server, seg.ts)
        self._next_stream += 1
        forward = seg.src == client and seg.dst == server
        here: _Entry = (conn, conn.c2s, conn.s2c) if forward else (conn, conn.s2c, conn.c2s)
        back: _Entry = (conn, here[2], here[1])
        src, dst = seg.src, seg.dst
        back_key: tuple[object, ...] = (dst, src)
        if self._by_vlan:
            back_key += seg.vlan
            self._vlans_seen.add(seg.vlan)
        self._conns[back_key] = back
        self._conns[key] = here  # after back_key: a self-connection (src == dst) keeps this one
        self._all[conn.stream] = conn
        self._keys[conn.stream] = (key, back_key)
        first = Direction.C2S if forward else Direction.S2C
        events.append(Opened(conn.stream, seg.ts, seg.frame, client, server, reason, seg.vlan, first))
        return here

    def _roles(self, seg: Segment) -> tuple[Endpoint, Endpoint, RoleReason]:
        """Client, server and why, for a connection whose first packet is `seg`."""
        src, dst = seg.src, seg.dst
        if seg.flags & _SYN:
            client, server = (dst, src) if seg.flags & _ACK else (src, dst)
            self.roles.observe(client, server, server=server)
            return client, server, RoleReason.SYN
        server, reason = self.roles.decide(src, dst)
        self.roles.observe(src, dst)
        return (dst if server == src else src), server, reason

    # -- the same 4-tuple on another VLAN (vlans="auto") -------------------------------------

    def _candidate_for(self, seg: Segment, key: tuple[object, ...]) -> Candidate | None:
        """A new `Candidate` when `seg`'s 4-tuple is live on another VLAN, else None."""
        vlan = seg.vlan
        seen = self._vlans_seen
        if not seen or (len(seen) == 1 and vlan in seen):
            return None
        bare = key[:2]
        for other in seen:
            entry = self._conns.get(bare + other) if other != vlan else None
            if entry is not None:
                candidate = Candidate(entry[0], other, (key, (seg.dst, seg.src) + vlan))
                for k in candidate.keys:
                    self._candidates[k] = candidate
                return candidate
        return None

    def _owner_entry(self, candidate: Candidate, seg: Segment) -> _Entry | None:
        """The owner's entry for `seg`'s direction, or None when the owner is no longer live."""
        src, dst = seg.src, seg.dst
        entry = self._conns.get((src, dst) + candidate.owner_vlan)
        return entry if entry is not None and entry[0] is candidate.owner else None

    def _verdict(self, candidate: Candidate, seg: Segment) -> Verdict:
        entry = self._owner_entry(candidate, seg)
        return Verdict.CONFLICT if entry is None else judge(seg, entry[1], entry[2])

    def _consider(self, candidate: Candidate, seg: Segment, events: list[Event]) -> None:
        """Hold `seg` and judge it: split at the first contradiction, decide when held long enough."""
        candidate.add(seg)
        owner = candidate.owner
        closed = owner.rst or (owner.c2s.fin and owner.s2c.fin)
        if (seg.flags & 0x12 == 0x02 and closed) or self._verdict(candidate, seg) is Verdict.CONFLICT:
            self._split(candidate, events)  # a new SYN after the owner closed is a new connection
        elif candidate.full:
            self._resolve(candidate, events, final=candidate.overfull)

    def _resolve(self, candidate: Candidate, events: list[Event], *, final: bool = True) -> None:
        """Judge every held frame again (the owner may have caught up), then merge, split or wait."""
        if candidate.owner.stream not in self._all:
            self._split(candidate, events)
            return
        merge = decide((self._verdict(candidate, seg) for seg in candidate.log), final=final)
        if merge:
            self._merge(candidate, events)
        elif merge is not None:
            self._split(candidate, events)

    def _resolve_candidates(self, events: list[Event]) -> None:
        """Decide every held candidate (end of input, or before connections are finished)."""
        for candidate in list(dict.fromkeys(self._candidates.values())):
            self._resolve(candidate, events)

    def _drop(self, candidate: Candidate) -> None:
        for key in candidate.keys:
            if self._candidates.get(key) is candidate:
                del self._candidates[key]

    def _merge(self, candidate: Candidate, events: list[Event]) -> None:
        """The held frames are copies: from now on this VLAN's frames go to the owner's stream."""
        self._drop(candidate)
        owner = candidate.owner
        for key in candidate.keys:
            entry = self._conns.get(key[:2] + candidate.owner_vlan)
            if entry is not None and entry[0] is owner:
                self._conns[key] = entry
        self._keys[owner.stream] += candidate.keys
        first = candidate.log[0]
        entry = self._conns[candidate.keys[0]]
        events.append(
            Notice(
                owner.stream,
                entry[1].direction,
                first.ts,
                first.frame,
                NoticeKind.VLAN_COPY,
                len(candidate.log),
            )
        )
        for seg in candidate.log:  # as Wireshark sees them: retransmissions, or bytes the owner missed
            src, dst = seg.src, seg.dst
            self._process(self._conns[(src, dst) + seg.vlan], seg, events)

    def _split(self, candidate: Candidate, events: list[Event]) -> None:
        """The held frames are another connection: open its stream and replay them."""
        self._drop(candidate)
        first, *rest = candidate.log
        entry = self._open(first, candidate.keys[0], None, events)
        self._process(entry, first, events)
        for seg in rest:
            events.extend(self.feed(seg))

    def _sweep(self, events: list[Event]) -> None:
        """Finish connections that are over (both FINs, or a RST), so memory follows open ones.

        Runs when the number of unfinished connections doubles; a stray packet of a swept
        connection would start a new stream, which is why closed ones are not dropped at once.
        """
        self._resolve_candidates(events)
        for number, conn in list(self._all.items()):
            if conn.rst or (conn.c2s.fin and conn.s2c.fin):
                self._finish(conn, CloseReason.END, events)
                del self._all[number]
                for key in self._keys.pop(number):
                    if self._conns.get(key, (None,))[0] is conn:
                        del self._conns[key]
        self._sweep_at = max(_SWEEP_AT, 2 * len(self._all))

    def _finish(self, conn: _Conn, reason: CloseReason, events: list[Event]) -> None:
        for flow in (conn.c2s, conn.s2c):
            self._release_all(conn, flow, events)
        if reason is CloseReason.END:
            reason = conn.close_reason()
        events.append(Closed(conn.stream, conn.last_ts, conn.last_frame, reason, conn.stats()))

    def _control(self, conn: _Conn, flow: _Flow, rev: _Flow, seg: Segment, events: list[Event]) -> None:
        flags = seg.flags
        if flags & _RST:
            kind = ControlKind.RST
            conn.rst = conn.rst or conn.handshake
            conn.refused = conn.refused or not conn.handshake
        elif flags & _SYN:
            kind = ControlKind.SYN_ACK if flags & _ACK else ControlKind.SYN
            if flags & _ACK:
                conn.handshake = True
            if seg.checksum_ok is False:  # a corrupt SYN is rare; a sender offloading checksums is not
                flow.offloaded = _OFFLOAD_TRUST
        else:
            kind = ControlKind.FIN
            flow.fin = True
        seq = seq_diff(seg.seq, flow.base_seq) if flow.base_seq is not None else 0
        ack = seq_diff(seg.ack, rev.base_seq) if flags & _ACK and rev.base_seq is not None else 0
        events.append(Control(conn.stream, flow.direction, seg.ts, seg.frame, kind, seq, ack, seg.wire_len))

    # -- bytes ------------------------------------------------------------------------------

    def _start(self, flow: _Flow, seg: Segment) -> None:
        syn = seg.flags & _SYN
        flow.started = True
        flow.origin = (seg.seq + 1) & SEQ_MASK if syn else seg.seq
        flow.next = 0
        flow.soft = not syn and not seg.wire_len
        flow.provisional = not syn
        flow.base_seq = seg.seq if syn else (seg.seq - 1) & SEQ_MASK
        if syn:
            flow.isn = seg.seq

    def _payload(self, conn: _Conn, flow: _Flow, seg: Segment, events: list[Event]) -> None:
        if not flow.started:
            self._start(flow, seg)
        seq = (seg.seq + 1) & SEQ_MASK if seg.flags & _SYN else seg.seq
        nxt = flow.next
        pos = nxt + seq_diff(seq, (flow.origin + nxt) & SEQ_MASK)
        data = seg.payload
        length = seg.wire_len
        if (
            pos == nxt
            and length == len(data)
            and not flow.frags
            and flow.held is None
            and not flow.soft
            and not flow.provisional
            and (
                seg.checksum_ok is not False
                or flow.offloaded >= _OFFLOAD_TRUST
                or not self.prefer_good_checksum
            )
        ):  # the common case: the next bytes, whole, nothing pending
            events.append(_take(conn, flow, seg.ts, seg.frame, data))
            return
        self._place(conn, flow, seg, pos, events)

    def _place(self, conn: _Conn, flow: _Flow, seg: Segment, pos: int, events: list[Event]) -> None:
        """The general case of `_payload`: start quirks, retransmissions, holds and holes."""
        pos = self._adjust_start(flow, pos)
        data, length = seg.payload, seg.wire_len
        nxt = flow.next
        if pos < nxt:  # a retransmission: only bytes beyond `next` are new
            end = pos + length
            self._compare(conn, flow, pos, data, seg)
            events.append(
                Notice(conn.stream, flow.direction, seg.ts, seg.frame, NoticeKind.RETRANSMISSION, length)
            )
            data = data[nxt - pos :]
            if end <= nxt or not data:
                return
            pos, length = nxt, end - nxt
        frag = _Frag(pos, length, data, seg.ts, seg.frame, seg.checksum_ok)
        if pos == nxt and not flow.provisional:
            self._in_order(conn, flow, frag, seg, events)
            return
        held = flow.held
        behind_held = held is not None and pos == held.pos + held.length
        self._buffer(conn, flow, frag, seg, events, count=not (behind_held or flow.provisional))
        if flow.provisional and len(flow.frags) >= _PROVISIONAL_SEGMENTS:
            self._settle(conn, flow, seg, events)

    def _adjust_start(self, flow: _Flow, pos: int) -> int:
        """Fix where a SYN-less flow starts, given its first data at `pos`; returns the new `pos`."""
        nxt = flow.next
        if flow.soft:
            flow.soft = False
            if pos == nxt + 1 and not flow.frags:  # the empty segment was a keep-alive: no gap
                flow.origin = (flow.origin + 1) & SEQ_MASK
                return nxt
        if flow.provisional and pos < nxt and nxt - pos <= _MAX_LEAD:  # data from before the first we saw
            self._rebase(flow, nxt - pos)
            return nxt
        return pos

    def _in_order(self, conn: _Conn, flow: _Flow, frag: _Frag, seg: Segment, events: list[Event]) -> None:
        """Bytes at `next`: emit them, unless a bad checksum makes them wait for an ACK or a good copy."""
        held = flow.held
        if held is not None:
            self._replace_held(conn, flow, held, frag.data, frag.length, seg, events)
            return
        if frag.checksum_ok is False and self.prefer_good_checksum and flow.offloaded < _OFFLOAD_TRUST:
            flow.held = frag
            return
        self._emit(conn, flow, frag.data, frag.length, frag.ts, frag.frame, events)
        if flow.frags:
            self._drain(conn, flow, None, seg, events)

    def _buffer(
        self, conn: _Conn, flow: _Flow, frag: _Frag, seg: Segment, events: list[Event], *, count: bool = True
    ) -> None:
        for i, other in enumerate(flow.frags):
            if other.pos == frag.pos:
                if other.checksum_ok is False and frag.checksum_ok and other.length <= frag.length:
                    flow.frags[i] = frag  # the good copy replaces the corrupt one in place
                    flow.frag_bytes += len(frag.data) - len(other.data)
                    if other.data != frag.data[: len(other.data)]:
                        events.append(
                            Notice(
                                conn.stream,
                                flow.direction,
                                seg.ts,
                                seg.frame,
                                NoticeKind.BAD_CHECKSUM_REPLACED,
                                frag.length,
                            )
                        )
                    return
                break
        else:
            if count:
                events.append(
                    Notice(
                        conn.stream, flow.direction, seg.ts, seg.frame, NoticeKind.OUT_OF_ORDER, frag.length
                    )
                )
        flow.frags.append(frag)
        flow.frag_bytes += len(frag.data)
        if flow.frag_bytes > self.max_buffer:
            events.append(
                Notice(
                    conn.stream, flow.direction, seg.ts, seg.frame, NoticeKind.BUFFER_LIMIT, flow.frag_bytes
                )
            )
            self._skip_hole(conn, flow, GapReason.LOST_UNACKED, seg.ts, seg.frame, events)
            self._drain(conn, flow, None, seg, events)

    def _replace_held(
        self,
        conn: _Conn,
        flow: _Flow,
        held: _Frag,
        data: bytes,
        length: int,
        seg: Segment,
        events: list[Event],
    ) -> None:
        """A second copy starting where a held (bad-checksum) segment starts."""
        flow.held = None
        if seg.checksum_ok is False:  # two bad copies: the first one wins, as usual
            self._emit(conn, flow, held.data, held.length, held.ts, held.frame, events)
            self._payload(conn, flow, seg, events)
            return
        if data[: len(held.data)] != held.data[: len(data)]:
            conn.conflicts += 1
            events.append(
                Notice(
                    conn.stream, flow.direction, seg.ts, seg.frame, NoticeKind.BAD_CHECKSUM_REPLACED, length
                )
            )
        if length < held.length:  # the good copy is shorter: keep the held tail after it
            self._emit(conn, flow, data, length, seg.ts, seg.frame, events)
            tail = _Frag(flow.next, held.length - length, held.data[length:], held.ts, held.frame, False)
            self._buffer(conn, flow, tail, seg, events)
        else:
            self._emit(conn, flow, data, length, seg.ts, seg.frame, events)
        if flow.frags:
            self._drain(conn, flow, None, seg, events)

    def _compare(self, conn: _Conn, flow: _Flow, pos: int, data: bytes, seg: Segment) -> None:
        """Flag a retransmitted copy whose bytes differ from what was already emitted."""
        end = pos + len(data)
        stop = flow.recent_end
        start = stop - len(flow.recent)
        lo, hi = max(pos, start), min(end, stop)
        if lo < hi and flow.recent[lo - start : hi - start] != data[lo - pos : hi - pos]:
            conn.conflicts += 1

    def _emit(
        self, conn: _Conn, flow: _Flow, data: bytes, length: int, ts: float, frame: int, events: list[Event]
    ) -> None:
        """Emit bytes at `next` (and a not-captured gap for a snap-length-truncated tail)."""
        offset = flow.next
        captured = len(data)
        if captured:
            events.append(_take(conn, flow, ts, frame, data))
        if captured < length:
            missing = length - captured
            conn.not_captured += missing
            events.append(
                Gap(
                    conn.stream, flow.direction, ts, frame, missing, offset + captured, GapReason.NOT_CAPTURED
                )
            )
        flow.next = offset + length

    def _drain(self, conn: _Conn, flow: _Flow, ack: int | None, seg: Segment, events: list[Event]) -> None:
        """Emit buffered segments that now fit (Wireshark's check_follow_fragments loop)."""
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
                        cut = nxt - pos
                        self._emit(conn, flow, frag.data[cut:], end - nxt, frag.ts, frag.frame, events)
                    break
            else:
                if ack is not None and ack > lowest:
                    self._gap(conn, flow, lowest - nxt, GapReason.LOST_ACKED, seg.ts, seg.frame, events)
                    flow.next = lowest
                    continue
                return

    def _acknowledge(self, conn: _Conn, flow: _Flow, ack: int, seg: Segment, events: list[Event]) -> None:
        """The peer acknowledged up to `ack` (absolute) in `flow`: held and lost bytes are settled."""
        if flow.provisional:
            if 0 > ack >= -_MAX_LEAD:  # the receiver still waits for bytes before the first we saw
                self._rebase(flow, -ack)
                ack = 0
            self._settle(conn, flow, seg, events)
        held = flow.held
        if held is not None and ack > held.pos:
            flow.held = None
            flow.offloaded += 1
            self._emit(conn, flow, held.data, held.length, held.ts, held.frame, events)
        if flow.frags:
            self._drain(conn, flow, ack, seg, events)

    def _rebase(self, flow: _Flow, shift: int) -> None:
        """Move a provisional flow's start `shift` bytes earlier (offsets stay >= 0)."""
        flow.origin = (flow.origin - shift) & SEQ_MASK
        for frag in flow.frags:
            frag.pos += shift

    def _settle(self, conn: _Conn, flow: _Flow, seg: Segment, events: list[Event]) -> None:
        """The start of a SYN-less flow is known: emit what waited for it."""
        flow.provisional = False
        if flow.frags:
            self._drain(conn, flow, None, seg, events)

    def _gap(
        self,
        conn: _Conn,
        flow: _Flow,
        size: int,
        reason: GapReason,
        ts: float,
        frame: int,
        events: list[Event],
    ) -> None:
        conn.gaps += 1
        conn.gap_bytes += size
        events.append(Gap(conn.stream, flow.direction, ts, frame, size, flow.next, reason))

    def _skip_hole(
        self, conn: _Conn, flow: _Flow, reason: GapReason, ts: float, frame: int, events: list[Event]
    ) -> None:
        lowest = min(frag.pos for frag in flow.frags)
        if lowest > flow.next:
            self._gap(conn, flow, lowest - flow.next, reason, ts, frame, events)
            flow.next = lowest

    def _release_all(self, conn: _Conn, flow: _Flow, events: list[Event]) -> None:
        """End of input for `flow`: emit the held segment and every buffered one, after gaps."""
        held = flow.held
        if held is not None:
            flow.held = None
            self._emit(conn, flow, held.data, held.length, held.ts, held.frame, events)
        while flow.frags:
            frag = min(flow.frags, key=lambda f: f.pos)
            self._skip_hole(conn, flow, GapReason.LOST_UNACKED, frag.ts, frag.frame, events)
            before = len(flow.frags)
            self._drain_simple(conn, flow, events)
            if len(flow.frags) == before:  # cannot happen: the lowest fragment now fits
                break

    def _drain_simple(self, conn: _Conn, flow: _Flow, events: list[Event]) -> None:
        frags = flow.frags
        progressed = True
        while frags and progressed:
            progressed = False
            nxt = flow.next
            for i, frag in enumerate(frags):
                if frag.pos <= nxt:
                    del frags[i]
                    flow.frag_bytes -= len(frag.data)
                    end = frag.pos + frag.length
                    if end > nxt:
                        self._emit(
                            conn, flow, frag.data[nxt - frag.pos :], end - nxt, frag.ts, frag.frame, events
                        )
                    progressed = True
                    break
