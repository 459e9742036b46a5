"""`netlab analyze`'s per-connection analyser (pure): Wireshark's flags plus its measurements.

`ExpertAnalysis` is a `ConnectionAnalysis` (the flags, `netlab.stream.analysis`) that also
measures, per segment, what Wireshark's TCP dissector (4.0) adds to its analysis tree:

- `ack_rtt` (`tcp.analysis.ack_rtt`) and the frame it acknowledges (`tcp.analysis.acks_frame`):
  each direction keeps Wireshark's list of unacknowledged segments (every segment with data, SYN
  or FIN, retransmissions included, at most 10 000). A segment's acknowledgement number (read
  even without the ACK flag, as Wireshark does) removes the segments it covers, trims the one it
  covers in part, and when it equals a segment's end exactly, the oldest such segment is the one
  it acknowledges: the RTT is the time since that segment (none when it is 0);
- `bytes_in_flight` (`tcp.analysis.bytes_in_flight`): on a segment with data, the span from the
  lowest start to the highest end of the sender's unacknowledged segments, less the bytes in it the
  receiver has reported received with SACK blocks (RFC 2018), counted only while the sender's flight
  is valid (it stops after a lost segment, until the other side ACKs again). The SACKed bytes are a
  scoreboard (RFC 6675): every block the receiver reported, until its cumulative ACK passes it.
  As in Wireshark, a SYN or FIN on the segment itself is not counted (one on an earlier segment
  still unacknowledged is). Wireshark subtracts the blocks of the receiver's latest segment only, at most three of them,
  duplicate (D-SACK) and out-of-flight blocks included; see docs/wireshark-differences.md;
- SACK in the verdicts: a retransmission of bytes the receiver had all SACKed already also gets
  netlab's own flag `sacked_retransmission` (needless; Wireshark's flags, decided from the
  cumulative ACK only, stay as they are), and a sequence gap the receiver SACKed across was missing
  only from the capture;
- `reused_ports` (`tcp.analysis.reused_ports`): the SYN that opened the connection reuses the
  4-tuple of an earlier one with another initial sequence number (the reassembler says so), or a
  SYN (or SYN-ACK) comes with another sequence number than the one this direction started from;
- the per-connection facts the summary (`netlab.stream.conn_summary`) is built from: packets and
  payload bytes each way, retransmitted bytes, RTT samples, Zeek's endpoint states and history
  letters, and the times of the events the story tells (losses, retransmissions and the duplicate
  ACKs before them, window full and zero window periods, resets).

Relative sequence numbers are Wireshark's: from the SYN's sequence number, else from the first
segment's minus one; the other direction's from the first ACK's acknowledgement number minus one.

Every frame's `FrameResult` is kept only when asked (`keep_frames`); flagged frames always are.
Not thread-safe: one per connection, fed in capture order.
"""

from __future__ import annotations

from dataclasses import dataclass

from netlab.packets import ACK, FIN, RST, SYN, SackBlocks
from netlab.stream.analysis import ORDINARY, AnalysisFlag, ConnectionAnalysis, FrameAnalysis
from netlab.stream.events import Direction
from netlab.stream.seq import HALF, SEQ_MASK

__all__ = ["REUSED_PORTS", "SACKED_RETRANSMISSION", "ExpertAnalysis", "FrameResult", "SideFacts"]

REUSED_PORTS = "reused_ports"
"""The flag name of `tcp.analysis.reused_ports` (set by the reassembler's split, not by a rule here)."""

SACKED_RETRANSMISSION = "sacked_retransmission"
"""netlab's own flag, which Wireshark has not: a retransmission (plain or fast, as Wireshark flags it,
and keeps flagging it) of bytes the receiver had all reported received with SACK blocks, so it was
needless. Wireshark decides from the cumulative ACK only (docs/wireshark-differences.md)."""

MAX_UNACKED = 10_000  # Wireshark's TCP_MAX_UNACKED_SEGMENTS
MAX_SACKED = 256  # disjoint SACKed ranges kept per direction (a receiver reports at most 4 per segment)
_BIF_LIMIT = 2_000_000_000  # Wireshark shows bytes in flight only below this
_SYN_FIN = SYN | FIN
_CONTROL = SYN | FIN | RST

# Zeek's endpoint states (TCP_INACTIVE ... TCP_RESET), as small ints for the per-segment path.
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)


@dataclass(frozen=True, slots=True)
class FrameResult:
    """What `netlab analyze` says about one captured TCP segment (stable names: graphs read them).

    Attributes:
        frame: Wireshark's `frame.number` (1-based, every frame of the file counted).
        stream: Wireshark's `tcp.stream`.
        ts: capture time stamp, seconds since the epoch.
        direction: client→server or server→client.
        flags: the `tcp.analysis.*` flag names set on it, in `AnalysisFlag` order, then
            `reused_ports`; a fast or spurious retransmission also carries `retransmission`, as
            in tshark's fields.
        seq, next_seq: relative sequence number of its first byte and of the byte after it (SYN and
            FIN count one), Wireshark's `tcp.seq` and `tcp.nxtseq`.
        ack: relative acknowledgement number (`tcp.ack`), 0 without the ACK flag.
        length: payload length on the wire (`tcp.len`).
        window: the advertised window, scaled when the scale is known (`tcp.window_size`).
        tcp_flags: the TCP header flag bits (`netlab.packets.TcpFlag`).
        ack_rtt: seconds since the segment this one acknowledges (`tcp.analysis.ack_rtt`), or None.
        acked_frame: the frame of that segment (`tcp.analysis.acks_frame`), or None.
        bytes_in_flight: unacknowledged bytes of the sender after this segment
            (`tcp.analysis.bytes_in_flight`), or None.
        dup_ack_of: the frame a duplicate ACK repeats (`tcp.analysis.duplicate_ack_frame`), or None.
        dup_ack_num: which duplicate it is (`tcp.analysis.duplicate_ack_num`), 0 if none.
    """

    frame: int
    stream: int
    ts: float
    direction: Direction
    flags: tuple[str, ...]
    seq: int
    next_seq: int
    ack: int
    length: int
    window: int
    tcp_flags: int
    ack_rtt: float | None
    acked_frame: int | None
    bytes_in_flight: int | None
    dup_ack_of: int | None
    dup_ack_num: int


_FLAG_ORDER = tuple(AnalysisFlag)
_RETRANSMISSIONS = frozenset(
    {AnalysisFlag.RETRANSMISSION, AnalysisFlag.FAST_RETRANSMISSION, AnalysisFlag.SPURIOUS_RETRANSMISSION}
)
_names_cache: dict[tuple[frozenset[AnalysisFlag], bool], tuple[str, ...]] = {}


def flag_names(flags: frozenset[AnalysisFlag], reused: bool = False) -> tuple[str, ...]:
    """The names of `flags` as tshark's fields show them (with `retransmission` on every kind)."""
    key = (flags, reused)
    names = _names_cache.get(key)
    if names is None:
        retransmission = not flags.isdisjoint(_RETRANSMISSIONS)
        names = tuple(
            flag.value
            for flag in _FLAG_ORDER
            if flag in flags or (flag is AnalysisFlag.RETRANSMISSION and retransmission)
        ) + ((REUSED_PORTS,) if reused else ())
        _names_cache[key] = names
    return names


class SideFacts:
    """What one direction of a connection showed (mutable, owned by its `ExpertAnalysis`)."""

    __slots__ = (
        "base_seq",
        "base_set",
        "valid_bif",
        "unacked",
        "packets",
        "bytes",
        "retransmitted_bytes",
        "state",
        "synack_frame",
        "holes",
        "lost_on_wire",
        "lost_in_capture",
        "saw_data",
        "saw_ack",
        "zero_window_since",
        "zero_window_time",
        "zero_windows",
        "sacked",
        "sack_blocks",
    )

    def __init__(self) -> None:
        self.base_seq = 0
        self.base_set = False
        self.valid_bif = True
        self.unacked: list[list[float]] = []  # [seq, next_seq, frame, ts], oldest first
        self.packets = 0
        self.bytes = 0  # payload bytes on the wire
        self.retransmitted_bytes = 0
        self.state = INACTIVE  # Zeek's endpoint state
        self.holes: list[tuple[int, int]] = []  # (start, end) of sequence gaps not resolved yet
        self.lost_on_wire = 0  # gaps the sender filled by resending: lost on the way
        self.lost_in_capture = 0  # gaps the receiver acknowledged with nothing resent: missed by the capture
        self.synack_frame = 0  # the SYN-ACK this side's relative sequence numbers start from
        self.saw_data = False  # Zeek's "d" and "a" letters given already
        self.saw_ack = False
        self.zero_window_since: float | None = None  # this side advertises a zero window since then
        self.zero_window_time = 0.0
        self.zero_windows = 0
        # the SACK scoreboard of this side's data: (start, end) relative to `base_seq`, sorted,
        # disjoint, above the other side's cumulative ACK
        self.sacked: list[tuple[int, int]] = []
        self.sack_blocks = 0  # SACK blocks the other side reported about this side's data


class ExpertAnalysis(ConnectionAnalysis):
    """`ConnectionAnalysis` plus Wireshark's measurements and the connection's facts (see the module).

    Args:
        stream: the connection's `tcp.stream` number.
        reused: the connection's first segment is a SYN reusing an earlier connection's 4-tuple.
        keep_frames: keep a `FrameResult` for every segment, not only the flagged ones.
    """

    __slots__ = (
        "stream",
        "keep_frames",
        "frames",
        "client",
        "server",
        "rtts",
        "rtt_times",
        "events",
        "first_ts",
        "last_ts",
        "history",
        "window_full_time",
        "synack_choice",
        "_pending_synack",
        "_reused",
        "_window_full_at",
    )

    def __init__(self, stream: int, *, reused: bool = False, keep_frames: bool = False) -> None:
        super().__init__()
        self.stream = stream
        self.keep_frames = keep_frames
        self.frames: list[FrameResult] = []
        self.client = SideFacts()  # the forward direction (client→server)
        self.server = SideFacts()
        self.rtts: list[float] = []  # every ack_rtt sample, in capture order
        self.rtt_times: list[float] = []  # ...and the time of the ACK that gave it (the RTT graph)
        # (ts, kind, direction is c2s, detail): the events the story tells, in capture order
        self.events: list[tuple[float, str, bool, float]] = []
        self.first_ts: float | None = None
        self.last_ts = 0.0
        self.history = ""  # Zeek's history letters: upper case for the client, each once per direction
        self.window_full_time = 0.0  # seconds from each window-full segment to the receiver's next segment
        # two SYN-ACKs with different ISNs: (first frame, second frame, the frame the client acknowledged)
        self.synack_choice: tuple[int, int, int | None] | None = None
        # the SYN-ACK sender (True: the client), and the first SYN-ACK's frame, ISN and state; the second's frame
        self._pending_synack: tuple[bool, int, int, object, int] | None = None
        self._reused = reused
        self._window_full_at: tuple[bool, float] | None = None  # (sender is the client, since)

    def observe(
        self,
        forward: bool,
        frame: int,
        ts: float,
        seq: int,
        ack: int,
        flags: int,
        window: int,
        seglen: int,
        wscale: int | None = None,
        sack: SackBlocks = (),
    ) -> FrameAnalysis:
        """`ConnectionAnalysis.observe`, then the measurements and facts of the segment.

        Written for the common segment (a few attribute checks, no call) since it runs for every
        segment `netlab analyze` reads; the rare work is in `_control`, `_acknowledge`, `_in_flight`,
        `_zero_window` and `_flagged`.
        """
        fwd, rev = (self.client, self.server) if forward else (self.server, self.client)
        if flags & SYN and flags & ACK and fwd.synack_frame and seq != fwd.base_seq and not fwd.saw_data:
            self._second_synack(forward, fwd, frame, seq)
        highest = (self._fwd if forward else self._rev).nextseq
        verdict = ConnectionAnalysis.observe(self, forward, frame, ts, seq, ack, flags, window, seglen, wscale)
        if flags & _CONTROL or fwd.state < PARTIAL:
            self._control(forward, fwd, rev, frame, seq, ack, flags)
        if flags & ACK:
            if not rev.base_set:
                rev.base_seq = (ack - 1) & SEQ_MASK
                rev.base_set = True
            rev.valid_bif = True
            if sack or rev.sacked:
                _scoreboard(rev, ack, sack)
        resent_sacked = bool(fwd.sacked and seglen and verdict.flags and _resends_sacked(fwd, verdict, seq, seglen))
        if self.first_ts is None:
            self.first_ts = ts
        self.last_ts = ts
        fwd.packets += 1
        if seglen or flags & _SYN_FIN:
            if len(fwd.unacked) < MAX_UNACKED:
                fwd.unacked.append([seq, (seq + seglen + (1 if flags & _SYN_FIN else 0)) & SEQ_MASK, frame, ts])
        unacked = rev.unacked
        acked_frame = rtt = None
        if unacked:
            first = unacked[0]
            if len(unacked) == 1 and first[1] == ack:  # one segment outstanding, acknowledged exactly
                unacked.clear()
                acked_frame, rtt = int(first[2]), (ts - first[3]) or None
            else:
                acked_frame, rtt = _acknowledge(unacked, ack, ts)
            if rtt is not None:
                self.rtts.append(rtt)
                self.rtt_times.append(ts)
        if verdict is not ORDINARY and AnalysisFlag.LOST_SEGMENT in verdict.flags:
            fwd.valid_bif = False  # until the other side ACKs again
            fwd.holes.append((highest, seq))
        elif fwd.holes and seglen:
            _resend_into(fwd, seq)
        if rev.holes and flags & ACK:
            _acknowledge_holes(rev, ack)
        in_flight = None
        if seglen:
            fwd.bytes += seglen
            if not fwd.saw_data:
                fwd.saw_data = True
                self._letter(forward, "d")
            mine = fwd.unacked
            if len(mine) == 1 and fwd.valid_bif and not fwd.sacked:  # the common case of `_in_flight`
                span = int(mine[0][1] - mine[0][0]) & SEQ_MASK
                in_flight = span if 0 < span < _BIF_LIMIT else None
            elif mine and fwd.valid_bif:
                in_flight = _in_flight(fwd)
            if in_flight is not None and flags & _SYN_FIN:
                in_flight -= 1  # Wireshark: this segment's SYN or FIN is no byte in flight
        elif flags & ACK and not fwd.saw_ack and not flags & _CONTROL:
            fwd.saw_ack = True
            self._letter(forward, "a")
        if not window or fwd.zero_window_since is not None:
            self._zero_window(forward, fwd, ts, flags, window)
        full = self._window_full_at
        if full is not None and full[0] is not forward:  # the receiver answered a full window
            self.window_full_time += ts - full[1]
            self._window_full_at = None
        if verdict is not ORDINARY:
            self._flagged(forward, fwd, verdict, ts, seglen, resent_sacked)
        elif not self.keep_frames and not self._reused:
            return verdict
        reused = self._reused
        self._reused = False
        scale = (self._fwd if forward else self._rev).win_scale
        self.frames.append(
            FrameResult(
                frame,
                self.stream,
                ts,
                Direction.C2S if forward else Direction.S2C,
                flag_names(verdict.flags, reused) + ((SACKED_RETRANSMISSION,) if resent_sacked else ()),
                (seq - fwd.base_seq) & SEQ_MASK,
                (seq + seglen + (1 if flags & _SYN_FIN else 0) - fwd.base_seq) & SEQ_MASK,
                (ack - rev.base_seq) & SEQ_MASK if flags & ACK and rev.base_set else 0,
                seglen,
                window << scale if scale > 0 and not flags & SYN else window,
                flags,
                rtt,
                acked_frame,
                in_flight,
                verdict.dup_ack_of,
                verdict.dup_ack_count,
            )
        )
        return verdict

    # -- facts for the summary and the story ----------------------------------------------------

    def _control(
        self, forward: bool, fwd: SideFacts, rev: SideFacts, frame: int, seq: int, ack: int, flags: int
    ) -> None:
        """A SYN, FIN or RST, or a side still opening: relative-sequence base, reused ports, Zeek's state."""
        if flags & SYN and fwd.base_set and seq != fwd.base_seq:  # a new ISN on the same 4-tuple
            self._reused = True
            fwd.base_set = False
        if not fwd.base_set:
            fwd.base_seq = seq if flags & SYN else (seq - 1) & SEQ_MASK
            fwd.base_set = True
            if flags & SYN and flags & ACK:
                fwd.synack_frame = frame
        pending = self._pending_synack
        if pending is not None and forward is not pending[0] and flags & ACK and not flags & SYN:
            self._choose_synack(ack)
        self._letter(forward, _zeek_transition(fwd, rev, flags))

    def _second_synack(self, forward: bool, fwd: SideFacts, frame: int, seq: int) -> None:
        """A SYN-ACK with another ISN than the first one, before any data: a new start for its direction.

        Wireshark (4.0) keeps the first ISN and calls this one reused ports, and everything its
        sender sends after it retransmissions. netlab starts the direction afresh, and when the
        other side acknowledges the first ISN after all, goes back to it (`_choose_synack`).
        """
        old_state = self.swap_direction(forward)
        self._pending_synack = (forward, fwd.synack_frame, fwd.base_seq, old_state, frame)
        fwd.unacked = [entry for entry in fwd.unacked if entry[2] != fwd.synack_frame]
        fwd.base_set = False  # the new ISN becomes the base: no "reused ports"
        fwd.synack_frame = 0

    def _choose_synack(self, ack: int) -> None:
        """The other side's first ACK after two SYN-ACKs says which one was the real answer."""
        assert self._pending_synack is not None
        forward, old_frame, old_isn, old_state, new_frame = self._pending_synack
        self._pending_synack = None
        sender = self.client if forward else self.server
        acked = None
        if (ack - 1) & SEQ_MASK == old_isn:  # the first one after all: back to it
            self.swap_direction(forward, old_state)
            sender.base_seq = old_isn
            acked = old_frame
        elif (ack - 1) & SEQ_MASK == sender.base_seq:
            acked = new_frame
        self.synack_choice = (old_frame, new_frame, acked)

    def _zero_window(self, forward: bool, fwd: SideFacts, ts: float, flags: int, window: int) -> None:
        """A zero window advertised (Zeek's "w"), or the end of one."""
        if not window:
            if fwd.zero_window_since is None and not flags & _CONTROL:
                fwd.zero_window_since = ts
                fwd.zero_windows += 1
                self._letter(forward, "w")
        elif fwd.zero_window_since is not None:
            fwd.zero_window_time += ts - fwd.zero_window_since
            fwd.zero_window_since = None

    def _letter(self, forward: bool, letter: str) -> None:
        """Add Zeek's history `letter` (upper case for the client) unless that direction showed it."""
        if letter:
            if forward:
                letter = letter.upper()
            if letter not in self.history:
                self.history += letter

    def _flagged(
        self, forward: bool, fwd: SideFacts, verdict: FrameAnalysis, ts: float, seglen: int, sacked: bool
    ) -> None:
        """Count a flagged segment's facts and keep the events the story tells (`sacked`: a
        retransmission of bytes the receiver had all SACKed)."""
        flags = verdict.flags
        events = self.events
        if verdict.is_retransmission and seglen:
            fwd.retransmitted_bytes += seglen
            self._letter(forward, "t")
        if AnalysisFlag.FAST_RETRANSMISSION in flags:
            rev = self._rev if forward else self._fwd
            events.append((ts, "fast_retransmission", forward, float(max(rev.dupacks, 2))))
        elif AnalysisFlag.RETRANSMISSION in flags and not sacked:  # (a needless one is told apart)
            here = self._fwd if forward else self._rev
            events.append((ts, "retransmission", forward, ts - here.nextseq_ts))
        elif AnalysisFlag.SPURIOUS_RETRANSMISSION in flags:
            events.append((ts, "spurious_retransmission", forward, 0.0))
        if sacked:
            events.append((ts, SACKED_RETRANSMISSION, forward, 0.0))
        for flag in (AnalysisFlag.LOST_SEGMENT, AnalysisFlag.ACK_LOST_SEGMENT, AnalysisFlag.OUT_OF_ORDER):
            if flag in flags:
                events.append((ts, flag.value, forward, 0.0))
        if AnalysisFlag.WINDOW_FULL in flags:
            events.append((ts, "window_full", forward, 0.0))
            if self._window_full_at is None:
                self._window_full_at = (forward, ts)
        if AnalysisFlag.DUPLICATE_ACK in flags:
            events.append((ts, "duplicate_ack", forward, float(verdict.dup_ack_count)))

    def close_open_periods(self, ts: float) -> None:
        """End of the capture: a zero window still advertised counts until `ts`."""
        for side in (self.client, self.server):
            if side.zero_window_since is not None:
                side.zero_window_time += max(0.0, ts - side.zero_window_since)
                side.zero_window_since = None


def _acknowledge(unacked: list[list[float]], ack: int, ts: float) -> tuple[int | None, float | None]:
    """Remove what `ack` acknowledges from `unacked` (Wireshark's walk); the frame and RTT it acks exactly.

    Wireshark walks the list newest first and the last exact match it meets wins, so the oldest
    segment ending exactly at `ack` is the acknowledged one. A segment `ack` covers in part keeps
    its unacknowledged rest.
    """
    acked: list[float] | None = None
    kept: list[list[float]] = []
    for entry in unacked:
        end = int(entry[1])
        ahead = (end - ack) & SEQ_MASK
        if ahead == 0:
            if acked is None:
                acked = entry
            continue
        if 0 < ahead < HALF:  # the segment ends beyond ack: it stays
            start = int(entry[0])
            if 0 < (ack - start) & SEQ_MASK < HALF:
                entry[0] = ack
            kept.append(entry)
    if len(kept) != len(unacked):
        unacked[:] = kept
    if acked is None:
        return None, None
    rtt = ts - acked[3]
    return int(acked[2]), (rtt if rtt else None)


def _resend_into(side: SideFacts, seq: int) -> None:
    """A segment starting inside a gap of its sender's: the gap was lost on the way and is being resent."""
    for hole in side.holes:
        if (seq - hole[0]) & SEQ_MASK < (hole[1] - hole[0]) & SEQ_MASK:
            side.holes.remove(hole)
            side.lost_on_wire += 1
            return


def _acknowledge_holes(side: SideFacts, ack: int) -> None:
    """An ACK covering gaps of the other side's that nothing was resent into: the capture missed them."""
    kept = [hole for hole in side.holes if 0 < (hole[1] - ack) & SEQ_MASK < HALF]
    side.lost_in_capture += len(side.holes) - len(kept)
    side.holes = kept


def _scoreboard(side: SideFacts, ack: int, blocks: SackBlocks) -> None:
    """The other side acknowledged `side`'s data up to `ack` and SACKed `blocks` of it: the scoreboard.

    Ranges at or below the cumulative ACK leave the scoreboard (a D-SACK block, RFC 2883, reports
    bytes received twice, not bytes in flight); the rest are merged. A gap of `side`'s that the
    blocks cover, with nothing resent into it, was missing only from the capture (`lost_in_capture`).
    """
    base = side.base_seq
    acked = (ack - base) & SEQ_MASK
    ranges = [(start, end) for start, end in side.sacked if end > acked]
    for left, right in blocks:
        start, end = (left - base) & SEQ_MASK, (right - base) & SEQ_MASK
        if start < end and end - start < HALF and end > acked:
            ranges.append((max(start, acked), end))
            side.sack_blocks += 1
    if blocks:
        ranges.sort()
        merged: list[tuple[int, int]] = []
        for start, end in ranges:
            if merged and start <= merged[-1][1]:
                if end > merged[-1][1]:
                    merged[-1] = (merged[-1][0], end)
            elif len(merged) < MAX_SACKED:
                merged.append((start, end))
        ranges = merged
    side.sacked = ranges
    if blocks and side.holes:
        kept = [hole for hole in side.holes if not _covered(side, hole[0], (hole[1] - hole[0]) & SEQ_MASK)]
        side.lost_in_capture += len(side.holes) - len(kept)
        side.holes = kept


def _covered(side: SideFacts, seq: int, length: int) -> bool:
    """True when the bytes `seq` .. `seq + length` of `side` are all on its SACK scoreboard."""
    start = (seq - side.base_seq) & SEQ_MASK
    end = start + length
    return any(low <= start and end <= high for low, high in side.sacked)


_RESENT = frozenset({AnalysisFlag.RETRANSMISSION, AnalysisFlag.FAST_RETRANSMISSION})


def _resends_sacked(side: SideFacts, verdict: FrameAnalysis, seq: int, seglen: int) -> bool:
    """True for a (fast) retransmission of bytes the receiver had all SACKed: needless."""
    return not verdict.flags.isdisjoint(_RESENT) and _covered(side, seq, seglen)


def _in_flight(side: SideFacts) -> int | None:
    """Bytes in flight: highest end minus lowest start of the unacknowledged segments, less the SACKed bytes."""
    base = side.base_seq
    first = last = None
    for entry in side.unacked:
        start = (int(entry[0]) - base) & SEQ_MASK
        end = (int(entry[1]) - base) & SEQ_MASK
        if first is None or start < first:
            first = start
        if last is None or end > last:
            last = end
    if first is None or last is None:
        return None
    span = (last - first) & SEQ_MASK
    for low, high in side.sacked:
        overlap = min(high, last) - max(low, first)
        if overlap > 0:
            span -= overlap
    return span if 0 < span < _BIF_LIMIT else None


def _zeek_transition(side: SideFacts, other: SideFacts, flags: int) -> str:
    """Zeek's endpoint state of `side` after it sent a segment with `flags`; its history letter ('' none)."""
    if flags & RST:
        side.state = RESET
        return "r"
    if flags & SYN:
        if side.state == INACTIVE:
            side.state = SYN_ACK_SENT if flags & ACK else SYN_SENT
        return "h" if flags & ACK else "s"
    if flags & FIN:
        if side.state != RESET:
            side.state = CLOSED
        return "f"
    if side.state == INACTIVE:
        side.state = PARTIAL
    elif flags & ACK and side.state in _OPENING and other.state in (*_OPENING, ESTABLISHED):
        side.state = ESTABLISHED
        if other.state in _OPENING:
            other.state = ESTABLISHED
    return ""


_OPENING = (SYN_SENT, SYN_ACK_SENT)
