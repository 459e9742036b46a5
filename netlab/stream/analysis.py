"""TCP expert analysis with Wireshark's definitions (pure): one verdict per captured segment.

`ConnectionAnalysis` is fed the segments of one TCP connection (both directions, capture
order) and answers, for each, the `tcp.analysis.*` flags Wireshark's TCP dissector would set:
retransmission, fast retransmission, spurious retransmission, out-of-order, lost segment
("previous segment not captured"), ACKed lost segment ("ACKed segment that wasn't
captured"), duplicate ACK (its number and the frame it duplicates), keep-alive and its ACK,
zero window, zero-window probe and its ACK, window full and window update.

Theory of operation. Each direction keeps what Wireshark's `tcp_analyze_sequence_number`
keeps (Wireshark 4.0, the version Debian ships and CI installs; User's Guide, "TCP Analysis"):

- `nextseq`: the highest sequence number sent so far plus one (SYN and FIN count one byte)
  and the time it was reached; 0 means "nothing sent yet" (Wireshark's own sentinel, kept for
  bit-for-bit agreement, quirks included);
- `maxseqtobeacked`: the end of the contiguous bytes seen, for ACKed-lost detection;
- `lastack`, its time, the last `window`, and the flags of the direction's last segment;
- the duplicate-ACK counter and the last frame that was not a duplicate ACK.

The tests run in Wireshark's order, and the order decides (each verified with tshark 4.0 on
the captures of tests/analysis_captures.py and the public corpus):

1. a 1-byte segment at `nextseq` while the other side's window is 0 is a zero-window probe,
   and nothing else of steps 2-4 is looked at;
2. zero window, lost segment (starts beyond `nextseq`; not on RST), keep-alive (0 or 1 byte
   at `nextseq - 1`), window update, window full; then, for a pure ACK repeating the last ACK
   and window: keep-alive ACK, zero-window-probe ACK or else duplicate ACK;
3. ACKed lost segment: an ACK beyond the other side's contiguous end;
4. for a segment with data, SYN or FIN that is not a keep-alive: spurious retransmission
   (every byte already ACKed) first, then, when it does not advance `nextseq`, fast
   retransmission (>= 2 duplicate ACKs for exactly its sequence number from the other side,
   the last within 20 ms), out-of-order (within the connection's initial RTT of the highest
   segment, or 3 ms when the handshake was not seen, and not ending at `nextseq`), or else a
   plain retransmission. SYN and FIN count as a byte, so a repeated SYN, SYN-ACK or FIN is a
   retransmission too.

tshark's filter `tcp.analysis.retransmission` matches plain, fast and spurious
retransmissions (`FrameAnalysis.is_retransmission`). Wireshark quirks kept on purpose, so
counts agree: a sequence or acknowledgement number of exactly 0 reads as "none yet"; the
acknowledgement field is used even without the ACK flag; a SYN at time 0 gives no initial RTT;
the duplicate-ACK counter's "already flagged" mark (-1, unsigned in Wireshark) also counts as
enough duplicate ACKs for a fast retransmission. Sequence numbers are absolute and compared
modulo 2**32 through `netlab.stream.seq`.

Window scale: `window_full` needs the window-scale shift from the SYN options, which a
`Segment` carries in `wscale` (None: not known). While neither SYN told us the shift, the
window scale is unknown and, as in Wireshark when the handshake was not captured, no segment
is flagged window full. (netlab's decoder reads the option from every SYN it decodes.)

Not thread-safe: one `ConnectionAnalysis` per connection, fed from one thread.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from netlab.packets import ACK, FIN, NO_WINDOW_SCALE, RST, SYN, SackBlocks, Segment
from netlab.stream.seq import HALF as _HALF
from netlab.stream.seq import SEQ_MASK, seq_add, seq_diff, seq_gt, seq_lt

__all__ = ["AnalysisFlag", "ConnectionAnalysis", "FrameAnalysis", "NO_WINDOW_SCALE"]

_SYN_FIN = SYN | FIN
_SYN_FIN_RST = SYN | FIN | RST
_ACK_OR_CONTROL = ACK | _SYN_FIN_RST
# Time limits in microseconds: time stamps are float seconds since the epoch, exact to about
# 0.2 µs, so time differences are compared rounded to the microsecond (pcap's resolution), where
# Wireshark compares nanoseconds. Equal times then compare equal, as in Wireshark.
_FAST_RETRANSMISSION_WINDOW = 20_000  # after the last duplicate ACK (Wireshark's 20 ms)
_DEFAULT_OOO_THRESHOLD = 3_000  # when the initial RTT is unknown (Wireshark's 3 ms)
_NO_LIMIT = 1 << 62  # a negative initial RTT: Wireshark's unsigned threshold is then huge
_SCALE_UNKNOWN = -1  # Wireshark's win_scale -1: the SYN options were not seen
_SCALE_NONE = -2  # Wireshark's win_scale -2: window scaling is not in use

# Flag bits (the internal form; `FrameAnalysis.flags` is the public one).
_RETRANSMISSION = 1 << 0
_FAST_RETRANSMISSION = 1 << 1
_SPURIOUS = 1 << 2
_OUT_OF_ORDER = 1 << 3
_LOST = 1 << 4
_ACK_LOST = 1 << 5
_DUP_ACK = 1 << 6
_KEEP_ALIVE = 1 << 7
_KEEP_ALIVE_ACK = 1 << 8
_ZERO_WINDOW = 1 << 9
_ZW_PROBE = 1 << 10
_ZW_PROBE_ACK = 1 << 11
_WINDOW_FULL = 1 << 12
_WINDOW_UPDATE = 1 << 13


class AnalysisFlag(enum.Enum):
    """One `tcp.analysis.*` flag; the value is Wireshark's field name after "tcp.analysis."."""

    RETRANSMISSION = "retransmission"
    FAST_RETRANSMISSION = "fast_retransmission"
    SPURIOUS_RETRANSMISSION = "spurious_retransmission"
    OUT_OF_ORDER = "out_of_order"
    LOST_SEGMENT = "lost_segment"
    ACK_LOST_SEGMENT = "ack_lost_segment"
    DUPLICATE_ACK = "duplicate_ack"
    KEEP_ALIVE = "keep_alive"
    KEEP_ALIVE_ACK = "keep_alive_ack"
    ZERO_WINDOW = "zero_window"
    ZERO_WINDOW_PROBE = "zero_window_probe"
    ZERO_WINDOW_PROBE_ACK = "zero_window_probe_ack"
    WINDOW_FULL = "window_full"
    WINDOW_UPDATE = "window_update"


_BIT_FLAGS: tuple[tuple[int, AnalysisFlag], ...] = (
    (_RETRANSMISSION, AnalysisFlag.RETRANSMISSION),
    (_FAST_RETRANSMISSION, AnalysisFlag.FAST_RETRANSMISSION),
    (_SPURIOUS, AnalysisFlag.SPURIOUS_RETRANSMISSION),
    (_OUT_OF_ORDER, AnalysisFlag.OUT_OF_ORDER),
    (_LOST, AnalysisFlag.LOST_SEGMENT),
    (_ACK_LOST, AnalysisFlag.ACK_LOST_SEGMENT),
    (_DUP_ACK, AnalysisFlag.DUPLICATE_ACK),
    (_KEEP_ALIVE, AnalysisFlag.KEEP_ALIVE),
    (_KEEP_ALIVE_ACK, AnalysisFlag.KEEP_ALIVE_ACK),
    (_ZERO_WINDOW, AnalysisFlag.ZERO_WINDOW),
    (_ZW_PROBE, AnalysisFlag.ZERO_WINDOW_PROBE),
    (_ZW_PROBE_ACK, AnalysisFlag.ZERO_WINDOW_PROBE_ACK),
    (_WINDOW_FULL, AnalysisFlag.WINDOW_FULL),
    (_WINDOW_UPDATE, AnalysisFlag.WINDOW_UPDATE),
)


@dataclass(frozen=True, slots=True)
class FrameAnalysis:
    """What one segment was, as Wireshark's TCP analysis would flag it.

    Attributes:
        flags: the `tcp.analysis.*` flags set on the segment; empty for an ordinary one.
        dup_ack_of: the frame number of the ACK this one duplicates
            (`tcp.analysis.duplicate_ack_frame`), None unless a duplicate ACK.
        dup_ack_count: which duplicate it is (`tcp.analysis.duplicate_ack_num`), 0 if none.
    """

    flags: frozenset[AnalysisFlag]
    dup_ack_of: int | None = None
    dup_ack_count: int = 0

    def has(self, flag: AnalysisFlag) -> bool:
        """True when `flag` is set on this segment."""
        return flag in self.flags

    @property
    def is_retransmission(self) -> bool:
        """True exactly when tshark's filter `tcp.analysis.retransmission` matches the frame.

        Wireshark (4.0) adds the `retransmission` field to fast and spurious retransmissions as
        well as to plain ones (checked with tshark); an out-of-order segment does not match it.
        """
        return not self.flags.isdisjoint(_RETRANSMISSION_FLAGS)


_RETRANSMISSION_FLAGS = frozenset(
    {AnalysisFlag.RETRANSMISSION, AnalysisFlag.FAST_RETRANSMISSION, AnalysisFlag.SPURIOUS_RETRANSMISSION}
)
_NO_FLAGS: frozenset[AnalysisFlag] = frozenset()
ORDINARY = FrameAnalysis(_NO_FLAGS)
"""The verdict on a segment Wireshark flags with nothing (shared: most segments get it)."""

_flag_sets: dict[int, frozenset[AnalysisFlag]] = {0: _NO_FLAGS}
_verdicts: dict[int, FrameAnalysis] = {0: ORDINARY}


def _flag_set(bits: int) -> frozenset[AnalysisFlag]:
    flags = _flag_sets.get(bits)
    if flags is None:
        flags = _flag_sets[bits] = frozenset(flag for bit, flag in _BIT_FLAGS if bits & bit)
    return flags


def _verdict(bits: int) -> FrameAnalysis:
    """The (cached) verdict for flag bits without a duplicate ACK."""
    verdict = _verdicts.get(bits)
    if verdict is None:
        verdict = _verdicts[bits] = FrameAnalysis(_flag_set(bits))
    return verdict


class _Direction:
    """What one direction of the connection has shown so far (Wireshark's `tcp_flow_t`)."""

    __slots__ = (
        "nextseq",
        "nextseq_ts",
        "maxseqtobeacked",
        "lastack",
        "lastack_ts",
        "window",
        "win_scale",
        "last_bits",
        "dupacks",
        "last_nondup",
    )

    def __init__(self) -> None:
        self.nextseq = 0  # 0: nothing sent yet (Wireshark's sentinel)
        self.nextseq_ts = 0.0
        self.maxseqtobeacked = 0
        self.lastack = 0
        self.lastack_ts = 0.0
        self.window = 0xFFFFFFFF  # no window advertised yet (Wireshark starts at G_MAXUINT32)
        self.win_scale = _SCALE_UNKNOWN
        self.last_bits = 0
        self.dupacks = 0
        self.last_nondup = 0


class ConnectionAnalysis:
    """Both directions of one TCP connection (one `tcp.stream`). Not thread-safe.

    Feed every segment of the connection in capture order with `feed`; `forward` tells the
    two directions apart (True for one, False for the other, consistently).
    """

    __slots__ = ("_fwd", "_rev", "_first_rtt", "_syn_ts")

    def __init__(self) -> None:
        self._fwd = _Direction()
        self._rev = _Direction()
        self._first_rtt: float | None = None  # the handshake's RTT: last SYN to the first ACK
        self._syn_ts: float | None = None  # time of the most recent SYN (without ACK)

    @property
    def initial_rtt(self) -> float | None:
        """The connection's initial RTT in seconds (`tcp.analysis.initial_rtt`), None until known."""
        return self._first_rtt

    def swap_direction(self, forward: bool, state: object | None = None) -> object:
        """Replace what one direction showed with `state` (a fresh start when None); return the old state.

        For an analysis that knows better than Wireshark which segments belong to the connection
        (`netlab.stream.expert`: a second SYN-ACK with another ISN); the plain analysis never calls it.
        `state` must be a value this method returned.
        """
        old = self._fwd if forward else self._rev
        new = state if isinstance(state, _Direction) else _Direction()
        if state is None:
            new.win_scale = old.win_scale
        if forward:
            self._fwd = new
        else:
            self._rev = new
        return old

    def feed(self, forward: bool, seg: Segment) -> FrameAnalysis:
        """Analyse the next segment of the connection and return how Wireshark would flag it."""
        return self.observe(
            forward, seg.frame, seg.ts, seg.seq, seg.ack, seg.flags, seg.window, seg.wire_len, seg.wscale, seg.sack
        )

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
        """`feed` with the segment's fields given one by one (for loops that hold no `Segment`).

        Args:
            seglen: the payload length on the wire (`Segment.wire_len`).
            wscale: on a SYN, the window-scale shift from its options, `NO_WINDOW_SCALE` when it
                had none, None when not known.
            sack: the segment's SACK blocks (`Segment.sack`). Wireshark's flags do not look at
                them, so neither does this class; `netlab.stream.expert.ExpertAnalysis` does.
        """
        if self._fast_path and self.ordinary(forward, frame, ts, seq, ack, flags, window, seglen):
            return ORDINARY
        if forward:
            fwd, rev = self._fwd, self._rev
        else:
            fwd, rev = self._rev, self._fwd
        if flags & SYN:
            self._window_scale(fwd, rev, bool(flags & ACK), wscale)
        bits, dup_of = self._sequence_checks(fwd, rev, frame, ts, seq, ack, flags, window, seglen)
        self._handshake_rtt(ts, flags)
        if dup_of is not None:
            return FrameAnalysis(_flag_set(bits), dup_of, fwd.dupacks)
        return _verdicts.get(bits) or _verdict(bits)

    _fast_path = True  # tests turn it off to compare with the general path

    def ordinary(
        self, forward: bool, frame: int, ts: float, seq: int, ack: int, flags: int, window: int, seglen: int
    ) -> bool:
        """The common case, decided and recorded cheaply: True (and the segment recorded) when it gets no flag.

        Its verdict is then `ORDINARY`; on False nothing was touched, and `observe` decides. Only for
        a plain `ConnectionAnalysis`: a subclass's `observe` may do more (the reassembler's quick path
        calls this directly, `observe` only when it returns False).

        An ACK without SYN/FIN/RST at exactly the next sequence number, with an open window, that
        is neither a zero-window probe, nor a possible window-full, nor all-acknowledged data, and
        that acknowledges nothing unseen; a pure ACK must also move the acknowledgement (else it
        may be a duplicate ACK, a window update or a keep-alive ACK). Every check of the general
        path then fails, so only the state updates remain. This runs for nearly every segment of
        ``follow --read``, so it is written out in one function, with the `netlab.stream.seq`
        comparisons inlined (a property test holds it to the general path).
        """
        if forward:
            fwd, rev = self._fwd, self._rev
        else:
            fwd, rev = self._rev, self._fwd
        nextseq = fwd.nextseq
        if flags & _ACK_OR_CONTROL != ACK or seq != nextseq or not nextseq or not window:
            return False  # not an ACK, or a SYN/FIN/RST, or not at the next sequence number, or a zero window
        # seq_gt(ack, rev.maxseqtobeacked), inlined (commonly it acknowledges exactly that: equal, not greater)
        tobeacked = rev.maxseqtobeacked
        if (self._syn_ts and not self._first_rtt) or (
            tobeacked and ack != tobeacked and 0 < (ack - tobeacked) & SEQ_MASK < _HALF
        ):
            return False
        lastack = fwd.lastack
        if seglen:
            if seglen == 1 and not rev.window:
                return False  # maybe a zero-window probe
            end = (seq + seglen) & SEQ_MASK  # seq_add, inlined
            acked = rev.lastack  # commonly `seq`: then the segment is `seglen` bytes beyond it, the sums shorter
            # seq_gt(end, acked), inlined
            if acked and acked != seq and not 0 < (end - acked) & SEQ_MASK < _HALF:
                return False  # every byte acknowledged already: spurious
            scale = rev.win_scale
            if scale != _SCALE_UNKNOWN:  # window full when it fills the receive window exactly
                room = rev.window << (scale if scale > 0 else 0)
                # seq_diff(end, seq_add(acked, room)) == 0, inlined
                if seglen == room & SEQ_MASK if acked == seq else not (end - acked - room) & SEQ_MASK:
                    return False
            fwd.nextseq = end
            fwd.nextseq_ts = ts
            if seq == fwd.maxseqtobeacked or not fwd.maxseqtobeacked:
                fwd.maxseqtobeacked = end
        elif ack == lastack:
            return False
        elif not fwd.maxseqtobeacked:
            fwd.maxseqtobeacked = nextseq
        if ack != lastack:
            fwd.last_nondup = frame
            fwd.dupacks = 0
        fwd.window = window
        fwd.lastack = ack
        fwd.lastack_ts = ts
        fwd.last_bits = 0
        return True

    # -- the checks, in Wireshark's order ---------------------------------------------------

    def _sequence_checks(
        self,
        fwd: _Direction,
        rev: _Direction,
        frame: int,
        ts: float,
        seq: int,
        ack: int,
        flags: int,
        window: int,
        seglen: int,
    ) -> tuple[int, int | None]:
        if seglen == 1 and seq == fwd.nextseq and rev.window == 0:
            bits, dup_of = _ZW_PROBE, None
        else:
            bits = self._segment_flags(fwd, rev, seq, flags, window, seglen)
            bits, dup_of = self._same_place(fwd, rev, bits, seq, ack, flags, window, seglen)
        if ack != fwd.lastack:
            fwd.last_nondup = frame
            fwd.dupacks = 0
        if flags & ACK and rev.maxseqtobeacked and seq_gt(ack, rev.maxseqtobeacked):
            bits |= self._acked_unseen(rev)
        if (seglen or flags & _SYN_FIN) and not bits & _KEEP_ALIVE:
            bits |= self._retransmission_kind(fwd, rev, ts, seq, flags, seglen)
        self._advance(fwd, bits, frame, ts, seq, ack, flags, window, seglen)
        return bits, dup_of

    @staticmethod
    def _segment_flags(fwd: _Direction, rev: _Direction, seq: int, flags: int, window: int, seglen: int) -> int:
        """Zero window, lost segment, keep-alive and window full (step 2, before the ACK checks)."""
        bits = 0
        nextseq = fwd.nextseq
        control = flags & _SYN_FIN_RST
        if window == 0 and not control:
            bits |= _ZERO_WINDOW
        if nextseq and not flags & RST and seq_gt(seq, nextseq):
            bits |= _LOST
        if seglen <= 1 and seq == seq_add(nextseq, -1) and not control:
            bits |= _KEEP_ALIVE
        if seglen and not control and rev.win_scale != _SCALE_UNKNOWN:
            shift = 0 if rev.win_scale == _SCALE_NONE else rev.win_scale
            if seq_diff(seq_add(seq, seglen), seq_add(rev.lastack, rev.window << shift)) == 0:
                bits |= _WINDOW_FULL
        return bits

    @staticmethod
    def _same_place(
        fwd: _Direction, rev: _Direction, bits: int, seq: int, ack: int, flags: int, window: int, seglen: int
    ) -> tuple[int, int | None]:
        """A pure ACK repeating the last sequence and ACK numbers: window update, keep-alive ACK,
        zero-window-probe ACK or duplicate ACK (with the frame it duplicates)."""
        if seglen or flags & _SYN_FIN_RST or seq != fwd.nextseq or ack != fwd.lastack:
            return bits, None
        if window and window != fwd.window:
            return bits | _WINDOW_UPDATE, None
        if window != fwd.window:
            return bits, None
        if window and rev.last_bits & _KEEP_ALIVE:
            return bits | _KEEP_ALIVE_ACK, None
        if not window and rev.last_bits & _ZW_PROBE:
            return bits | _ZW_PROBE_ACK, None
        if not window:
            return bits, None
        fwd.dupacks = 1 if fwd.dupacks < 0 else fwd.dupacks + 1
        return bits | _DUP_ACK, fwd.last_nondup

    @staticmethod
    def _acked_unseen(rev: _Direction) -> int:
        """An ACK beyond what the other side was seen sending: flag it once per hole.

        As Wireshark: move the contiguous end up to the highest sequence seen and flag; when it
        is there already (the other side is stalled with pure ACKs), flag only if that side has
        not been flagged since its ACK last moved, which the duplicate-ACK counter's -1 records.
        (Wireshark's counter is unsigned, so -1 also counts as ">= 2 duplicate ACKs" below.)
        """
        if seq_lt(rev.maxseqtobeacked, rev.nextseq):
            rev.maxseqtobeacked = rev.nextseq
            return _ACK_LOST
        bits = _ACK_LOST if rev.dupacks == 0 else 0
        rev.dupacks = -1
        return bits

    def _retransmission_kind(
        self, fwd: _Direction, rev: _Direction, ts: float, seq: int, flags: int, seglen: int
    ) -> int:
        """Spurious, fast retransmission, out-of-order or plain retransmission (or 0), in that order."""
        lastack = rev.lastack
        if seglen and lastack and not seq_gt(seq_add(seq, seglen), lastack):
            return _SPURIOUS  # every byte of it was acknowledged already
        nextseq = fwd.nextseq
        if not nextseq or not seq_lt(seq, nextseq):
            return 0  # it advances the sequence: new data
        if seglen > 1 and seq_add(nextseq, -1) == seq:  # new data after a zero-window probe
            return 0
        if _fast_retransmission(rev, ts, seq):
            return _FAST_RETRANSMISSION
        rtt = self._first_rtt
        threshold = _DEFAULT_OOO_THRESHOLD if not rtt else (round(rtt * 1e6) if rtt > 0 else _NO_LIMIT)
        if 0 <= round((ts - fwd.nextseq_ts) * 1e6) < threshold and nextseq != seq_add(
            seq, seglen + (1 if flags & _SYN_FIN else 0)
        ):
            return _OUT_OF_ORDER
        return _RETRANSMISSION

    @staticmethod
    def _advance(
        fwd: _Direction,
        bits: int,
        frame: int,
        ts: float,
        seq: int,
        ack: int,
        flags: int,
        window: int,
        seglen: int,
    ) -> None:
        """Remember what this segment showed: the highest sequence sent, contiguous end, ACK, window."""
        end = seq_add(seq, seglen + (1 if flags & _SYN_FIN else 0))
        probe = bits & _ZW_PROBE
        if not probe and (not fwd.nextseq or seq_gt(end, fwd.nextseq)):
            fwd.nextseq = end
            fwd.nextseq_ts = ts
        if not probe and (not fwd.maxseqtobeacked or seq == fwd.maxseqtobeacked):
            fwd.maxseqtobeacked = fwd.nextseq
        fwd.window = window
        fwd.lastack = ack
        fwd.lastack_ts = ts
        fwd.last_bits = bits

    # -- connection-wide facts -----------------------------------------------------------------

    @staticmethod
    def _window_scale(fwd: _Direction, rev: _Direction, synack: bool, wscale: int | None) -> None:
        """Record a SYN's window-scale option the way Wireshark does (scaling needs both SYNs)."""
        if wscale is None:
            return  # options not known: leave the scale as it is (unknown unless already set)
        if wscale != NO_WINDOW_SCALE:
            fwd.win_scale = min(wscale, 14)
        if fwd.win_scale == _SCALE_UNKNOWN:  # this SYN has no option: nobody scales
            fwd.win_scale = rev.win_scale = _SCALE_NONE
        elif synack and rev.win_scale == _SCALE_NONE:  # the SYN had none: the SYN-ACK's is void
            fwd.win_scale = _SCALE_NONE

    def _handshake_rtt(self, ts: float, flags: int) -> None:
        """Wireshark's initial RTT: from the most recent SYN to the first ACK without SYN."""
        if flags & SYN:
            if not flags & ACK:
                self._syn_ts = ts
        elif flags & ACK and self._syn_ts and not self._first_rtt:  # a SYN at time 0 counts as none
            self._first_rtt = ts - self._syn_ts


def _fast_retransmission(rev: _Direction, ts: float, seq: int) -> bool:
    """At least two duplicate ACKs from the other side asked for exactly `seq`, the last within 20 ms.

    (The duplicate-ACK counter's -1, Wireshark's unsigned "already flagged" mark, counts as enough.)
    """
    if not (rev.dupacks >= 2 or rev.dupacks < 0) or rev.lastack != seq:
        return False
    return 0 <= round((ts - rev.lastack_ts) * 1e6) < _FAST_RETRANSMISSION_WINDOW
