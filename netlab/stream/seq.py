"""TCP sequence-number arithmetic modulo 2**32 (RFC 793 §3.3, RFC 1982 serial numbers).

Sequence numbers are compared and subtracted only through these helpers: plain `<` breaks
where a capture wraps past 2**32.
"""

from __future__ import annotations

SEQ_MOD = 1 << 32
SEQ_MASK = SEQ_MOD - 1
HALF = 1 << 31  # sequence numbers at least this far ahead (mod 2**32) are behind
_HALF = HALF


def seq_add(seq: int, n: int) -> int:
    """`seq + n` modulo 2**32."""
    return (seq + n) & SEQ_MASK


def seq_diff(a: int, b: int) -> int:
    """The signed distance `a - b` in sequence space, in [-2**31, 2**31)."""
    d = (a - b) & SEQ_MASK
    return d - SEQ_MOD if d >= _HALF else d


# The comparisons read the distance `(a - b) mod 2**32` directly (what `seq_diff` computes before
# its sign): one call instead of two, on the per-segment path of the TCP analysis.


def seq_lt(a: int, b: int) -> bool:
    """True when `a` comes before `b`."""
    return (a - b) & SEQ_MASK >= _HALF


def seq_le(a: int, b: int) -> bool:
    """True when `a` comes before `b` or equals it."""
    d = (a - b) & SEQ_MASK
    return d == 0 or d >= _HALF


def seq_gt(a: int, b: int) -> bool:
    """True when `a` comes after `b`."""
    return 0 < (a - b) & SEQ_MASK < _HALF


def seq_ge(a: int, b: int) -> bool:
    """True when `a` comes after `b` or equals it."""
    return (a - b) & SEQ_MASK < _HALF
