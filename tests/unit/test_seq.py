"""Sequence arithmetic modulo 2**32."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from netlab.stream.seq import SEQ_MASK, seq_add, seq_diff, seq_ge, seq_gt, seq_le, seq_lt

seqs = st.integers(min_value=0, max_value=SEQ_MASK)
steps = st.integers(min_value=-(2**31) + 1, max_value=2**31 - 1)


def test_wrap_around() -> None:
    assert seq_add(SEQ_MASK, 1) == 0
    assert seq_diff(0, SEQ_MASK) == 1
    assert seq_lt(SEQ_MASK - 10, 5)
    assert seq_gt(5, SEQ_MASK - 10)
    assert seq_le(7, 7) and seq_ge(7, 7)


@given(seqs, steps)
def test_diff_inverts_add(a: int, n: int) -> None:
    assert seq_diff(seq_add(a, n), a) == n
    assert seq_lt(a, seq_add(a, n)) == (n > 0)
