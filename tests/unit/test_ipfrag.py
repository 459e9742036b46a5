"""IP fragment reassembly: the pure `Defragmenter`."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from netlab.capture.ipfrag import Defragmenter, Reassembled

KEY = ("10.0.0.1", "10.0.0.2", 6, 0x1234)


def test_in_order_fragments_give_the_datagram_on_the_last_one() -> None:
    d = Defragmenter()
    assert d.add(KEY, 1.0, 0, True, b"A" * 16) is None
    assert d.add(KEY, 1.1, 16, True, b"B" * 16) is None
    assert d.add(KEY, 1.2, 32, False, b"C" * 5) == Reassembled(b"A" * 16 + b"B" * 16 + b"C" * 5, 37)
    assert d.pending == 0 and d.completed == 1


def test_last_fragment_first_and_duplicates() -> None:
    d = Defragmenter()
    assert d.add(KEY, 1.0, 16, False, b"tail") is None
    assert d.add(KEY, 1.0, 16, False, b"tail") is None
    assert d.add(KEY, 1.0, 0, True, b"0123456789abcdef") == Reassembled(b"0123456789abcdeftail", 20)


def test_overlaps_keep_the_first_bytes() -> None:
    d = Defragmenter()
    d.add(KEY, 1.0, 0, True, b"aaaaaaaaaaaaaaaa")
    d.add(KEY, 1.0, 8, True, b"XXXXXXXXXXXXXXXX")  # overlaps the second half of the first
    got = d.add(KEY, 1.0, 24, False, b"zz")
    assert got == Reassembled(b"a" * 16 + b"X" * 8 + b"zz", 26)


def test_different_keys_do_not_mix() -> None:
    d = Defragmenter()
    other = (*KEY[:3], 0x9999)
    d.add(KEY, 1.0, 0, True, b"k" * 8)
    assert d.add(other, 1.0, 8, False, b"o") is None
    assert d.add(KEY, 1.0, 8, False, b"K") == Reassembled(b"k" * 8 + b"K", 9)
    assert d.pending == 1


def test_a_missing_piece_never_completes_and_expires() -> None:
    d = Defragmenter(timeout=30)
    d.add(KEY, 1.0, 0, True, b"x" * 8)
    assert d.add(KEY, 2.0, 16, False, b"y") is None
    assert d.pending == 1
    d.add(("other",), 40.0, 0, True, b"z" * 8)  # capture time moves on past the timeout
    assert d.pending == 1 and d.dropped == 1
    assert d.add(KEY, 41.0, 8, True, b"w" * 8) is None  # the rest of the expired datagram is stale


def test_limits_drop_the_oldest() -> None:
    d = Defragmenter(max_datagrams=2)
    for ident in range(3):
        d.add(("k", ident), 1.0, 0, True, b"x" * 8)
    assert d.pending == 2 and d.dropped == 1
    d = Defragmenter(max_bytes=20)
    d.add(("a",), 1.0, 0, True, b"x" * 16)
    d.add(("b",), 1.0, 0, True, b"x" * 16)
    assert d.pending == 1


def test_contradictions_drop_the_datagram() -> None:
    d = Defragmenter()
    d.add(KEY, 1.0, 8, False, b"x" * 8)  # ends at 16
    assert d.add(KEY, 1.0, 16, True, b"y" * 8) is None  # data past the end
    assert d.pending == 0 and d.dropped == 1
    d.add(KEY, 1.0, 0, True, b"x" * 8)
    d.add(KEY, 1.0, 16, False, b"y")
    assert d.add(KEY, 1.0, 24, False, b"z") is None  # a second, different end
    assert d.pending == 0
    assert d.add(KEY, 1.0, 65532, False, b"too long") is None  # past 65535 bytes
    assert d.pending == 0


def test_snaplen_cut_fragment_gives_the_captured_prefix_and_the_wire_length() -> None:
    d = Defragmenter()
    d.add(KEY, 1.0, 0, True, b"0123", wire_len=8)  # 4 of 8 bytes captured
    assert d.add(KEY, 1.0, 8, False, b"tail") == Reassembled(b"0123", 12)


@settings(max_examples=200, deadline=None)
@given(
    payload=st.binary(min_size=1, max_size=3000),
    cuts=st.lists(st.integers(1, 400), max_size=20),
    order=st.randoms(use_true_random=False),
    dupes=st.lists(st.integers(0, 30), max_size=5),
)
def test_any_fragmentation_in_any_order_gives_the_payload_exactly_once(
    payload: bytes, cuts: list[int], order: object, dupes: list[int]
) -> None:
    bounds = sorted({0, len(payload), *(8 * c for c in cuts if 8 * c < len(payload))})
    frags = [(lo, hi < len(payload), payload[lo:hi]) for lo, hi in zip(bounds, bounds[1:], strict=False)]
    frags += [frags[i % len(frags)] for i in dupes]
    order.shuffle(frags)  # type: ignore[attr-defined]
    d = Defragmenter()
    results = [d.add(KEY, 1.0, lo, more, data) for lo, more, data in frags]
    whole = [r for r in results if r is not None]
    assert whole[:1] == [Reassembled(payload, len(payload))]
    # duplicates arriving after completion start a new, never-completed datagram at most
    assert len(whole) <= 1 + len(dupes)
