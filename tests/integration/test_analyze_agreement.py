"""`netlab analyze` against tshark over the shared conformance corpus and the lossy lab captures.

Per `tcp.analysis.*` flag, precision and recall summed over every capture must be at least 0.95;
`ack_rtt` must equal tshark's to 1 µs on at least 99 % of the frames where both give one. The table
is printed (`pytest -s` shows it; the README quotes it). The captures are read where the kit is
(`tests/conformance_kit.py`), never copied.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expert_agreement import FLAGS, LOSSY, agreement, corpus, table  # noqa: E402

pytestmark = pytest.mark.tshark


@pytest.fixture(scope="module")
def total():  # type: ignore[no-untyped-def]
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    paths = corpus()
    if len(paths) <= len(LOSSY):
        pytest.skip("the shared conformance corpus is not there (set NETLAB_CONFORMANCE_DIR)")
    return agreement(paths)


def test_every_flag_agrees_with_tshark_over_the_corpus(total) -> None:  # type: ignore[no-untyped-def]
    print()
    print(table(total))
    assert total.files >= 60
    weak = [
        f"{flag}: precision {total.precision(flag):.3f}, recall {total.recall(flag):.3f}"
        for flag in FLAGS
        if total.precision(flag) < 0.95 or total.recall(flag) < 0.95
    ]
    assert weak == []
    assert sum(total.true_pos.values()) > 1000  # the corpus really exercises the flags


def test_ack_rtt_agrees_with_tshark_to_the_microsecond(total) -> None:  # type: ignore[no-untyped-def]
    assert total.rtt_both > 1000
    assert total.rtt_equal / total.rtt_both >= 0.99


def test_lossy_lab_captures_agree_flag_for_flag() -> None:
    """The committed lossy lab captures on their own: no flag differs at all."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    lossy = agreement(LOSSY)
    assert lossy.files >= 1
    assert not lossy.false_pos and not lossy.false_neg, lossy.differences
    assert lossy.true_pos["retransmission"] >= 3
