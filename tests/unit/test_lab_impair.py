"""The lab switch's impairment core: loss, delay and reordering decisions (pure)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netlab.lab.impair import ImpairedWire, Impairment

percent = st.floats(min_value=0, max_value=100, allow_nan=False)
delays = st.floats(min_value=0, max_value=500, allow_nan=False)
gaps = st.lists(st.floats(min_value=0, max_value=0.05, allow_nan=False), min_size=1, max_size=60)


def _run(wire: ImpairedWire, gaps_s: list[float]) -> list[tuple[float, bytes, bool, bool]]:
    """Push one frame per gap, then drain in time order; returns (due, frame, dropped, reordered)."""
    now = 0.0
    out = []
    for index, gap in enumerate(gaps_s):
        now += gap
        out += [(r.due, r.frame, r.dropped, r.reordered) for r in wire.pop_due(now)]
        wire.push(index.to_bytes(2, "big"), (1,), now)
    out += [(r.due, r.frame, r.dropped, r.reordered) for r in wire.drain()]
    return out


@given(loss=percent, delay=delays, reorder=percent, gaps_s=gaps, seed=st.integers(0, 2**32))
def test_every_frame_is_released_once_no_earlier_than_its_delay(
    loss: float, delay: float, reorder: float, gaps_s: list[float], seed: int
) -> None:
    wire = ImpairedWire(Impairment(loss, delay, reorder), random.Random(seed))
    released = _run(wire, gaps_s)
    assert sorted(frame for _, frame, _, _ in released) == [i.to_bytes(2, "big") for i in range(len(gaps_s))]
    pushed_at = [sum(gaps_s[: i + 1]) for i in range(len(gaps_s))]
    for due, frame, _, reordered in released:
        held = (0 if delay else 0.025) if reordered else delay / 1000
        assert due >= pushed_at[int.from_bytes(frame, "big")] + held - 1e-9
    assert [r[0] for r in released] == sorted(r[0] for r in released)
    assert wire.stats.frames == len(gaps_s)
    assert wire.stats.dropped == sum(r[2] for r in released)
    assert wire.stats.reordered == sum(r[3] for r in released)
    assert len(wire) == 0


@given(delay=delays, gaps_s=gaps, seed=st.integers(0, 2**32))
def test_without_reorder_order_is_kept_and_without_loss_nothing_drops(
    delay: float, gaps_s: list[float], seed: int
) -> None:
    wire = ImpairedWire(Impairment(0, delay, 0), random.Random(seed))
    released = _run(wire, gaps_s)
    assert [r[1] for r in released] == [i.to_bytes(2, "big") for i in range(len(gaps_s))]
    assert not any(r[2] for r in released)


def test_loss_rate_is_roughly_the_percentage_asked_for() -> None:
    wire = ImpairedWire(Impairment(loss=10), random.Random(7))
    for _ in range(10_000):
        wire.push(b"f", (0,), 0.0)
    assert 800 < wire.stats.dropped < 1200
    assert sum(r.dropped for r in wire.drain()) == wire.stats.dropped


def test_reordered_frames_are_overtaken_by_later_ones() -> None:
    wire = ImpairedWire(Impairment(reorder=50, reorder_gap_ms=10), random.Random(3))
    for index in range(200):
        wire.push(index.to_bytes(2, "big"), (0,), index * 0.001)
    order = [int.from_bytes(r.frame, "big") for r in wire.drain()]
    assert order != sorted(order)
    assert 60 < wire.stats.reordered < 140


def test_with_a_delay_reordered_frames_skip_it_and_overtake_the_held_ones() -> None:
    wire = ImpairedWire(Impairment(delay_ms=10, reorder=30), random.Random(5))
    for index in range(100):
        wire.push(index.to_bytes(2, "big"), (0,), index * 0.001)
    released = wire.drain()
    assert all(r.due == int.from_bytes(r.frame, "big") * 0.001 for r in released if r.reordered)
    order = [int.from_bytes(r.frame, "big") for r in released]
    assert order != sorted(order)
    assert max(i - j for j, i in enumerate(order)) <= 10  # never more than one delay ahead


def test_unimpaired_frames_pass_at_once_and_never_drop() -> None:
    wire = ImpairedWire(Impairment(loss=100, delay_ms=100, reorder=100), random.Random(1))
    wire.push(b"arp", (0, 1), 5.0, impaired=False)
    assert [(r.frame, r.dropped, r.ports) for r in wire.pop_due(5.0)] == [(b"arp", False, (0, 1))]


def test_same_seed_same_decisions() -> None:
    def decisions(seed: int) -> list[bool]:
        wire = ImpairedWire(Impairment(loss=30, reorder=30), random.Random(seed))
        for _ in range(100):
            wire.push(b"x", (0,), 0.0)
        return [r.dropped for r in wire.drain()]

    assert decisions(42) == decisions(42)
    assert decisions(42) != decisions(43)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"loss": -1}, "--loss"), ({"reorder": 101}, "--reorder"), ({"delay_ms": -5}, "--delay")],
)
def test_out_of_range_values_are_refused_with_the_option_name(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Impairment(**kwargs)


def test_describe_names_each_impairment() -> None:
    assert Impairment().describe() == "a perfect wire"
    assert Impairment(loss=5, delay_ms=20).describe() == "loss 5%, delay 20 ms"
    assert Impairment(delay_ms=20, reorder=5).describe() == "delay 20 ms, reorder 5% (sent ahead of the delay)"
    assert Impairment(reorder=5).describe() == "reorder 5% (held 25 ms)"
    assert not Impairment().active and Impairment(reorder=1).active


def test_netem_arguments_carry_loss_and_delay_only() -> None:
    from netlab.lab.networks import netem_args

    assert netem_args(Impairment(loss=5, delay_ms=20, reorder=10)) == ["netem", "delay", "20ms", "loss", "5%"]
    assert netem_args(Impairment(loss=0.5)) == ["netem", "loss", "0.5%"]
