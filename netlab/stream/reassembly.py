"""The sans-IO TCP reassembler: segments in, stream events out.

Theory of operation
-------------------
Connections are keyed by their 4-tuple; each gets a stream number in order of first
appearance, like Wireshark's ``tcp.stream``. The same 4-tuple on another VLAN is, by default
(``vlans="auto"``), held and judged (`netlab.stream.vlan_copies`): copies of the live stream are
merged into it as Wireshark does, a different connection becomes a stream of its own (numbered
when that is decided); ``"merge"`` and ``"split"`` force either way. A SYN (without
ACK) starts a new stream on a used 4-tuple when its ISN differs from the one seen before, or
when the old connection was closed (both FINs, or a RST after the handshake) -- except a late
duplicate: a SYN after the close whose ISN is the old one's, or lies inside the old connection's
sequence space (RFC 793/1122: TIME-WAIT refuses those). Such a SYN is held until the next segment
of its 4-tuple: a SYN-ACK acknowledging it with a new ISN makes it a new connection after all;
anything else makes it a retransmission in the old stream.

Stream numbers stay Wireshark's even where netlab sees no connection: Wireshark numbers a new
stream for a TCP header quoted in an ICMP error (`netlab.packets.QUOTED`) on an unknown 4-tuple,
and for a late duplicate SYN with another ISN. The reassembler reserves those numbers (a later
connection on a quoted 4-tuple takes its number, as in Wireshark) and lists the ones no
connection took in `Reassembler.unused`, with the reason.

The parts: a `Connection` (`netlab.stream.connection`) holds two `Flow`s
(`netlab.stream.flow`, one per direction) and its state and counts; the state machines are
tables in `netlab.stream.states`; the `Sequencer` (`netlab.stream.ordering`) puts each
direction's bytes in order, and every byte emitted goes through one in-order step,
`netlab.stream.flow.take`. This module routes segments to connections, opens, finishes and
forgets them, and emits the control events.

Memory is bounded by the open connections and their out-of-order bytes (``max_buffer`` per
direction; beyond it the lowest hole becomes a gap).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from netlab.packets import ACK, FIN, QUOTED, RST, SYN, Endpoint, Segment, SegmentFields
from netlab.stream.analysis import ConnectionAnalysis, FrameAnalysis
from netlab.stream.connection import Connection
from netlab.stream.events import (
    Closed,
    CloseReason,
    Control,
    ControlKind,
    Data,
    Direction,
    Event,
    Notice,
    NoticeKind,
    Opened,
    Packet,
)
from netlab.stream.flow import RECENT_BYTES, RECENT_LIMIT, Flow, FlowView
from netlab.stream.ordering import DEFAULT_MAX_BUFFER, OFFLOAD_TRUST, Sequencer
from netlab.stream.roles import RoleJudge, RoleReason
from netlab.stream.seq import SEQ_MASK, seq_add, seq_diff
from netlab.stream.states import FlowState
from netlab.stream.vlan_copies import VLAN_MODES, Candidate, Verdict, VlanMode, decide, judge

__all__ = ["DEFAULT_MAX_BUFFER", "Reassembler"]

_CONTROL = SYN | FIN | RST
_NOT_QUICK = _CONTROL | QUOTED  # segments `feed_batch` always hands to `feed`
_SYN_ACK = SYN | ACK
_SWEEP_AT = 10_000  # unfinished connections before closed ones are finished and forgotten
_PACKET_PAYLOAD = 64  # payload bytes a `Packet` event keeps (for previews)
_IDLE = FlowState.IDLE
_UNSETTLED = FlowState.UNSETTLED
_UNSETTLED_EMPTY = FlowState.UNSETTLED_EMPTY
_SETTLED = FlowState.SETTLED
_new_data = tuple.__new__  # `Data` is a NamedTuple: skipping its __new__ saves a call per chunk

_Entry = tuple[Connection, Flow, Flow]  # a connection and its (this way, other way) flows
_Key = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class _HeldSyn:
    """A SYN on the 4-tuple of a closed connection that may be a late duplicate, held until the next segment."""

    syn: Segment
    entry: _Entry  # the old connection, the SYN sender's direction first
    keys: tuple[_Key, _Key]  # its dict keys, this way and back (taken out of `_conns` meanwhile)
    number: int | None  # the stream number Wireshark gives it (another ISN than the old one's), if any


def _waits_for_ack(flow: Flow) -> bool:
    """True when an acknowledgement may settle something in `flow` (held, buffered or its start)."""
    return (
        bool(flow.frags)
        or flow.held is not None
        or flow.state is _UNSETTLED
        or flow.state is _UNSETTLED_EMPTY
        or flow.other_isn is not None
    )


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
        analysis: makes each connection's analyser, given its stream number and whether its SYN
            reuses the 4-tuple of an earlier connection with another initial sequence number
            (Wireshark's "reused ports"); default: a plain `ConnectionAnalysis`.

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
        analysis: Callable[[int, bool], ConnectionAnalysis] | None = None,
    ) -> None:
        if vlans not in VLAN_MODES:
            raise ValueError(f"vlans must be one of {', '.join(VLAN_MODES)}, not {vlans!r}")
        self.vlans: VlanMode = vlans
        self._by_vlan = vlans != "merge"  # dict keys carry the VLAN tags
        self._candidates: dict[tuple[object, ...], Candidate] = {}  # held frames on another VLAN
        self._vlans_seen: set[tuple[int, ...]] = set()
        self._bytes = Sequencer(prefer_good_checksum=prefer_good_checksum, max_buffer=max_buffer)
        self._strict = prefer_good_checksum  # the same, at hand for `feed_batch`
        self.roles = roles if roles is not None else RoleJudge()
        self.packets = packets
        self._analysis = analysis
        self._conns: dict[tuple[object, ...], _Entry] = {}
        self._all: dict[int, Connection] = {}  # stream number -> connection not yet finished, in order
        self._keys: dict[int, tuple[tuple[object, ...], ...]] = {}  # stream number -> its dict keys
        self._sweep_at = _SWEEP_AT
        self._next_stream = 0
        self._held: dict[_Key, _HeldSyn] = {}  # both keys of a 4-tuple whose SYN is held
        self._reserved: dict[_Key, int] = {}  # both keys of a quoted 4-tuple -> its reserved number
        self.unused: dict[int, str] = {}
        """Stream numbers Wireshark gives to something that is not a connection, and what it was."""

    @property
    def prefer_good_checksum(self) -> bool:
        """Whether in-order bytes with a bad checksum wait for an ACK or a good copy."""
        return self._bytes.prefer_good_checksum

    @property
    def max_buffer(self) -> int:
        """Out-of-order bytes buffered per direction before the lowest hole is given up."""
        return self._bytes.max_buffer

    @property
    def streams(self) -> int:
        """How many stream numbers have been given so far (Wireshark's count, `unused` ones included)."""
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
        if seg.flags & QUOTED:
            self._quoted(seg, key)
            return events
        if self._held:
            held = self._held.get(key)
            if held is not None:
                self._settle(held, seg, events)
        entry = self._conns.get(key)
        if entry is None and self.vlans == "auto":
            candidate = self._candidates.get(key) if self._candidates else None
            if candidate is None:
                candidate = self._candidate_for(seg, key)
            if candidate is not None:
                self._consider(candidate, seg, events)
                return events
        if entry is None or (seg.flags & _SYN_ACK == SYN and self._reused(entry[1], seg)):
            if entry is not None and self._hold_late_syn(entry, seg, key):
                return events
            entry = self._open(seg, key, entry, events)
        self._process(entry, seg, events)
        return events

    def feed_batch(self, batch: Iterable[SegmentFields], events: list[Event]) -> None:
        """Feed segments given as `SegmentFields`, appending the events they cause to `events`.

        The same events as `feed(Segment(*fields))` for each in turn (all of `Segment`'s fields,
        as the decoder gives them). The common cases take a quick path without building the
        `Segment`: a pure ACK in a started direction, or the next bytes of a direction, whole,
        with nothing pending and a checksum that is not known bad; without SYN, FIN, RST or SACK
        blocks, and with an ACK that settles nothing in the other direction. Anything else goes
        through `feed`, with no state touched before. Events land in the caller's list as they
        happen, so after an exception (Ctrl-C) it holds the events of every segment fed before.

        The quick path is written out by hand: it is the per-packet loop of ``follow --read``,
        where a Python call costs about as much as the work of a step, so `Connection.record`,
        the in-order test and the in-order step (`netlab.stream.flow.take`) are inlined, and the
        plain analysis is one call (`ConnectionAnalysis.ordinary`; `observe` only for a segment
        it may flag). tests/unit/test_reassembly.py holds it to `feed` (the general path, where
        `Sequencer.payload` comes to the same `take`) on shuffled, duplicated and lost segments
        with acknowledgements both ways.
        """
        if self.packets:
            for fields in batch:
                events.extend(self.feed(Segment(*fields)))
            return
        conns = self._conns
        split = self._by_vlan
        strict = self._strict
        plain = self._analysis is None  # a subclass's `observe` may do more than `ordinary` records
        append = events.append
        for fields in batch:
            frame, ts, src, dst, seq, ack, flags, window, data, length, checksum_ok, vlan, _, sack = fields
            entry = None if flags & _NOT_QUICK or sack else conns.get((src, dst) + vlan if split else (src, dst))
            if entry is None:
                events.extend(self.feed(Segment(*fields)))
                continue
            conn, flow, rev = entry
            if (
                flags & ACK  # that may settle something in the other direction: `_waits_for_ack(rev)`, inlined
                and (
                    rev.frags
                    or rev.held is not None
                    or rev.state is _UNSETTLED
                    or rev.state is _UNSETTLED_EMPTY
                    or rev.other_isn is not None
                )
            ) or (
                not (  # data: the next bytes (`seq_diff(seq, origin + next) == 0`), whole, nothing pending
                    flow.state is _SETTLED
                    and not (seq - flow.origin - flow.next) & SEQ_MASK
                    and length == len(data)
                    and not flow.frags
                    and flow.held is None
                    and (checksum_ok is not False or flow.offloaded >= OFFLOAD_TRUST or not strict)
                )
                if length
                else flow.state is _IDLE  # a pure ACK that starts its direction
            ):
                events.extend(self.feed(Segment(*fields)))
                continue
            flow.packets += 1  # `conn.record(...)`, inlined
            conn.last_ts = ts
            conn.last_frame = frame
            analysis = conn.analysis
            forward = flow is conn.c2s
            if not (plain and analysis.ordinary(forward, frame, ts, seq, ack, flags, window, length)):
                verdict = analysis.observe(forward, frame, ts, seq, ack, flags, window, length)
                if verdict.flags:
                    conn.count(verdict)
            if length:  # `take(flow, ts, frame, data)`, inlined
                nxt = flow.next
                flow.bytes += length
                recent = flow.recent
                if flow.recent_end != nxt:
                    recent.clear()
                recent += data
                flow.next = flow.recent_end = nxt + length
                if len(recent) > RECENT_LIMIT:
                    del recent[: len(recent) - RECENT_BYTES]
                append(_new_data(Data, (flow.stream, flow.direction, ts, frame, flow.src, flow.dst, data, nxt)))

    def _process(self, entry: _Entry, seg: Segment, events: list[Event]) -> None:
        """The work of `feed` once the segment's connection is known."""
        flags = seg.flags
        conn, flow, rev = entry
        verdict = conn.record(
            flow, seg.frame, seg.ts, seg.seq, seg.ack, flags, seg.window, seg.wire_len, seg.wscale, seg.sack
        )
        start = len(events)
        if flags & _CONTROL:
            self._control(conn, flow, rev, seg, events)
        if flags & ACK and _waits_for_ack(rev):
            if rev.other_isn is not None:
                _choose_isn(rev, seg.ack)
            self._bytes.acknowledge(rev, rev.absolute(seg.ack), seg, events)
        if seg.wire_len:
            self._bytes.payload(flow, seg, events)
        elif flow.state is _IDLE and not flags & RST:  # a RST's sequence number starts no stream
            flow.start(seg.seq, bool(flags & SYN), True)
        if self.packets:
            events.insert(start, self._packet(conn, flow, rev, seg, verdict))

    @staticmethod
    def _packet(conn: Connection, flow: Flow, rev: Flow, seg: Segment, verdict: FrameAnalysis) -> Packet:
        """The `Packet` event of `seg`, with sequence numbers relative to each direction's start."""
        seq, ack = _relative(flow, rev, seg)
        return Packet(
            conn.stream,
            flow.direction,
            seg.ts,
            seg.frame,
            seg.flags,
            seq,
            ack,
            seg.wire_len,
            seg.payload[:_PACKET_PAYLOAD],
            verdict,
        )

    @staticmethod
    def _control(conn: Connection, flow: Flow, rev: Flow, seg: Segment, events: list[Event]) -> None:
        """A SYN, FIN or RST: the connection's and the flow's state, and the `Control` event."""
        flags = seg.flags
        if flags & RST:
            kind = ControlKind.RST
        elif flags & SYN:
            kind = ControlKind.SYN_ACK if flags & ACK else ControlKind.SYN
            if flow.isn is not None and seg.seq != flow.isn and flow.next == 0 and not flow.frags:
                flow.other_isn = seg.seq  # two SYNs, two ISNs, nothing sent yet: follow the one acknowledged
            if seg.checksum_ok is False:  # a corrupt SYN is rare; a sender offloading checksums is not
                flow.offloaded = OFFLOAD_TRUST
        else:
            kind = ControlKind.FIN
            flow.fin = True
        conn.control(kind)
        seq, ack = _relative(flow, rev, seg)
        events.append(Control(conn.stream, flow.direction, seg.ts, seg.frame, kind, seq, ack, seg.wire_len))

    def flush(self) -> list[Event]:
        """End of input: release what is still buffered (after gaps) and close every stream."""
        events: list[Event] = []
        for held in list(dict.fromkeys(self._held.values())):
            self._settle(held, None, events)
        self._resolve_candidates(events)
        for conn in self._all.values():
            self._finish(conn, CloseReason.END, events)
        self._all.clear()
        self._keys.clear()
        self._conns.clear()
        return events

    # -- connections ------------------------------------------------------------------------

    @staticmethod
    def _reused(flow: Flow, seg: Segment) -> bool:
        conn = flow.conn
        if flow.base_seq is not None and seg.seq != flow.base_seq:
            return True
        return conn.closed and conn.state.handshake

    def _back_key(self, seg: Segment) -> _Key:
        """The dict key of the other direction of `seg`'s 4-tuple."""
        dst, src = seg.dst, seg.src
        return (dst, src) + seg.vlan if self._by_vlan else (dst, src)

    def _open(
        self, seg: Segment, key: tuple[object, ...], old: _Entry | None, events: list[Event], number: int | None = None
    ) -> _Entry:
        reused = old is not None and old[1].base_seq is not None and seg.seq != old[1].base_seq
        if old is not None:
            self._finish(old[0], CloseReason.REUSED, events)
            del self._all[old[0].stream]
            del self._keys[old[0].stream]
        if len(self._all) >= self._sweep_at:
            self._sweep(events)
        back_key = self._back_key(seg)
        if number is None and self._reserved:
            number = self._reserved.pop(key, None)
            if number is not None:
                self._reserved.pop(back_key, None)
        if number is None:
            number = self._next_stream
            self._next_stream += 1
        else:
            self.unused.pop(number, None)
        client, server, reason = self._roles(seg)
        conn = Connection(number, client, server, seg.ts)
        if self._analysis is not None:
            conn.analysis = self._analysis(conn.stream, reused)
        forward = seg.src == client and seg.dst == server
        here: _Entry = (conn, conn.c2s, conn.s2c) if forward else (conn, conn.s2c, conn.c2s)
        back: _Entry = (conn, here[2], here[1])
        if self._by_vlan:
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
        if seg.flags & SYN:
            client, server = (dst, src) if seg.flags & ACK else (src, dst)
            self.roles.observe(client, server, server=server)
            return client, server, RoleReason.SYN
        server, reason = self.roles.decide(src, dst)
        self.roles.observe(src, dst)
        return (dst if server == src else src), server, reason

    def _sweep(self, events: list[Event]) -> None:
        """Finish connections that are over (both FINs, or a RST), so memory follows open ones.

        Runs when the number of unfinished connections doubles; a stray packet of a swept
        connection would start a new stream, which is why closed ones are not dropped at once.
        """
        self._resolve_candidates(events)
        waiting = {held.entry[0] for held in self._held.values()}  # a held SYN may yet go to them
        for number, conn in list(self._all.items()):
            if conn.closed and conn not in waiting:
                self._finish(conn, CloseReason.END, events)
                del self._all[number]
                for key in self._keys.pop(number):
                    if self._conns.get(key, (None,))[0] is conn:
                        del self._conns[key]
        self._sweep_at = max(_SWEEP_AT, 2 * len(self._all))

    def _finish(self, conn: Connection, reason: CloseReason, events: list[Event]) -> None:
        for flow in (conn.c2s, conn.s2c):
            self._bytes.release_all(flow, events)
        if reason is CloseReason.END:
            reason = conn.close_reason()
        events.append(Closed(conn.stream, conn.last_ts, conn.last_frame, reason, conn.stats()))

    # -- late duplicate SYNs and quoted headers ------------------------------------------------

    def _hold_late_syn(self, entry: _Entry, seg: Segment, key: _Key) -> bool:
        """Hold `seg`, a SYN on the 4-tuple of `entry`'s connection, if it may be a late duplicate.

        It may when the connection is closed (after its handshake) and the SYN's ISN is the one
        the same end used before or lies inside that connection's sequence space, which RFC 793's
        TIME-WAIT rules (RFC 1122, 4.2.2.13) refuse for a new connection.
        """
        conn, flow, _ = entry
        if not (conn.closed and conn.state.handshake) or flow.base_seq is None:
            return False
        offset = seq_diff(seg.seq, flow.base_seq)
        if not 0 <= offset <= flow.next + 2:  # the ISN, the bytes sent, the FIN
            return False
        number = None
        if offset:  # Wireshark starts a new stream for another ISN (and a retransmission for the same)
            number = self._next_stream
            self._next_stream += 1
        held = _HeldSyn(seg, entry, (key, self._back_key(seg)), number)
        for k in held.keys:
            self._conns.pop(k, None)
            self._held[k] = held
        return True

    def _settle(self, held: _HeldSyn, seg: Segment | None, events: list[Event]) -> None:
        """Decide a held SYN with `seg`, the next segment of its 4-tuple (None: there is none)."""
        for k in held.keys:
            if self._held.get(k) is held:
                del self._held[k]
        syn, (conn, flow, rev) = held.syn, held.entry
        alive = self._all.get(conn.stream) is conn
        if (
            seg is not None
            and seg.flags & _SYN_ACK == _SYN_ACK
            and seg.src == syn.dst
            and seg.ack == seq_add(syn.seq, 1)
            and seg.seq != rev.base_seq
        ):  # answered with a new ISN: a new connection after all
            entry = self._open(syn, held.keys[0], held.entry if alive else None, events, held.number)
            self._process(entry, syn, events)
            return
        if held.number is not None:
            self.unused[held.number] = (
                f"frame {syn.frame}: a late duplicate SYN of stream {conn.stream} (its ISN lies inside that "
                "closed connection's sequence space; netlab counts it as a retransmission there)"
            )
        if alive:
            self._conns[held.keys[1]] = (conn, rev, flow)
            self._conns[held.keys[0]] = held.entry
            self._process(held.entry, syn, events)

    def _quoted(self, seg: Segment, key: _Key) -> None:
        """A TCP header quoted in an ICMP error: reserve Wireshark's stream number if its 4-tuple is new."""
        back = self._back_key(seg)
        if key in self._conns or back in self._conns or key in self._reserved or key in self._held:
            return
        number = self._next_stream
        self._next_stream += 1
        self._reserved[key] = self._reserved[back] = number
        self.unused[number] = f"frame {seg.frame}: a TCP header ({seg.src} → {seg.dst}) quoted in an ICMP error"

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
        return Verdict.CONFLICT if entry is None else judge(seg, FlowView(entry[1]), FlowView(entry[2]))

    def _consider(self, candidate: Candidate, seg: Segment, events: list[Event]) -> None:
        """Hold `seg` and judge it: split at the first contradiction, decide when held long enough."""
        candidate.add(seg)
        new_syn = seg.flags & _SYN_ACK == SYN and candidate.owner.closed  # a new connection after the owner's
        if new_syn or self._verdict(candidate, seg) is Verdict.CONFLICT:
            self._split(candidate, events)
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


def _choose_isn(flow: Flow, ack: int) -> None:
    """`flow` sent two SYNs with different ISNs: follow the one `ack` acknowledges (Wireshark keeps the first)."""
    other = flow.other_isn
    assert other is not None
    if ack == seq_add(other, 1):
        flow.restart(other)
    elif ack == seq_add(flow.base_seq if flow.base_seq is not None else other, 1) or flow.next:
        flow.other_isn = None


def _relative(flow: Flow, rev: Flow, seg: Segment) -> tuple[int, int]:
    """`seg`'s sequence and acknowledgement numbers relative to each direction's start (0: unknown)."""
    seq = seq_diff(seg.seq, flow.base_seq) if flow.base_seq is not None else 0
    ack = seq_diff(seg.ack, rev.base_seq) if seg.flags & ACK and rev.base_seq is not None else 0
    return seq, ack
