"""TCP sequence-number arithmetic modulo 2**32 (RFC 793 §3.3, RFC 1982 serial numbers).

Sequence numbers are compared and subtracted only through these helpers: plain `<` breaks
where a capture wraps past 2**32.
"""

from __future__ import annotations

SEQ_MOD = 1 << 32
SEQ_MASK = SEQ_MOD - 1
_HALF = 1 << 31


def seq_add(seq: int, n: int) -> int:
    """`seq + n` modulo 2**32."""
    return (seq + n) & SEQ_MASK


def seq_diff(a: int, b: int) -> int:
    """The signed distance `a - b` in sequence space, in [-2**31, 2**31)."""
    d = (a - b) & SEQ_MASK
    return d - SEQ_MOD if d >= _HALF else d


def seq_lt(a: int, b: int) -> bool:
    """True when `a` comes before `b`."""
    return seq_diff(a, b) < 0


def seq_le(a: int, b: int) -> bool:
    """True when `a` comes before `b` or equals it."""
    return seq_diff(a, b) <= 0


def seq_gt(a: int, b: int) -> bool:
    """True when `a` comes after `b`."""
    return seq_diff(a, b) > 0


def seq_ge(a: int, b: int) -> bool:
    """True when `a` comes after `b` or equals it."""
    return seq_diff(a, b) >= 0
