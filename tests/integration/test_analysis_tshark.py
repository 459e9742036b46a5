"""netlab's TCP expert flags equal tshark's, frame by frame, on test captures, the public corpus and lab runs.

For every frame either side flags, the set of `tcp.analysis.*` fields (retransmission, fast and
spurious retransmission, out-of-order, lost and ACKed-lost segment, duplicate ACK with its number
and frame, keep-alive and its ACK, zero window, zero-window probe and its ACK, window full,
window update) must be the same. Differences netlab makes on purpose are listed in `EXCEPTIONS`,
each with its reason.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis_captures import (  # noqa: E402
    SCENARIOS,
    syn_window_scales,
    write_random_conversations,
    write_scenarios,
)
from analysis_compare import Verdict, differences, netlab_verdicts, tshark_verdicts  # noqa: E402

from netlab.capture.pcapfile import read_segments  # noqa: E402

pytestmark = pytest.mark.tshark

DATA = Path(__file__).resolve().parents[1] / "data"
CORPUS = Path(os.environ.get("NETLAB_CONFORMANCE_PCAPS", "/work/shared/conformance/pcaps"))
CORPUS_FILES = sorted(CORPUS.glob("*.pcap*")) if CORPUS.is_dir() else []

EXCEPTIONS: dict[tuple[str, int], str] = {}


# netlab's own test captures where its reassembler splits connections differently from tshark
# (the analysis then runs per netlab connection): the whole file is excepted.
SPLIT_DIFFERENTLY = {
    "port_reuse_new_server_isn.pcap": "after a closed connection, a SYN with the old ISN answered by a SYN-ACK with "
    "a new ISN starts a new connection in netlab; Wireshark 4.0 continues the old one (the SYN has the old ISN), so "
    "it flags the second connection's packets",
    "vlan_two_connections.pcap": "netlab keeps the same 4-tuple on two VLANs apart; Wireshark's TCP conversations "
    "ignore the VLAN, so it sees one connection whose packets repeat or reorder",
}
OWN_CAPTURES = sorted(DATA.glob("*.pcap*"))

# Frames of netlab's own captures where it decides differently on purpose (README, "Where netlab differs").
OWN_EXCEPTIONS: dict[tuple[str, int], str] = {
    ("late_syn_inside.pcap", 9): "a late SYN inside the closed connection's sequence space is a retransmission "
    "in netlab (RFC 1122 TIME-WAIT); Wireshark opens a new stream for it",
}


def _without_exceptions(
    name: str, diff: list[tuple[int, Verdict | None, Verdict | None]]
) -> list[tuple[int, Verdict | None, Verdict | None]]:
    return [row for row in diff if (name, row[0]) not in EXCEPTIONS]


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, range]]:
    path = tmp_path_factory.mktemp("analysis") / "scenarios.pcap"
    return path, write_scenarios(path)


def test_each_scenario_shows_tshark_its_flags(scenarios: tuple[Path, dict[str, range]]) -> None:
    """The captures really cover every case: tshark sets each scenario's flags on its frames."""
    path, frames = scenarios
    theirs = tshark_verdicts(path)
    for name, (_script, flags) in SCENARIOS.items():
        seen = set().union(*(theirs[f].fields for f in frames[name] if f in theirs))
        assert set(flags) <= seen, f"{name}: tshark shows {sorted(seen)}"


def test_scenarios_agree_with_tshark_frame_by_frame(scenarios: tuple[Path, dict[str, range]]) -> None:
    """With the SYNs' window-scale options known, every flag of every frame equals tshark's."""
    path, _frames = scenarios
    diff = differences(netlab_verdicts(path, syn_window_scales(path)), tshark_verdicts(path))
    assert diff == []


def test_scenarios_agree_with_tshark_with_the_decoded_window_scale(
    scenarios: tuple[Path, dict[str, range]],
) -> None:
    """What `follow --read` gets: the decoder reads the SYNs' window-scale options itself, so
    window_full agrees too, with no stand-in."""
    path, _frames = scenarios
    decoded = {seg.frame: seg.wscale for seg in read_segments(path) if seg.flags & 0x02}
    assert decoded == syn_window_scales(path)
    assert differences(netlab_verdicts(path), tshark_verdicts(path)) == []


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.name for p in CORPUS_FILES])
def test_public_corpus_agrees_with_tshark(path: Path) -> None:
    diff = _without_exceptions(path.name, differences(netlab_verdicts(path), tshark_verdicts(path)))
    assert diff == []


@pytest.mark.parametrize("path", OWN_CAPTURES, ids=[p.name for p in OWN_CAPTURES])
def test_own_test_captures_agree_with_tshark(path: Path) -> None:
    diff = differences(netlab_verdicts(path), tshark_verdicts(path))
    diff = [row for row in diff if (path.name, row[0]) not in OWN_EXCEPTIONS]
    if path.name in SPLIT_DIFFERENTLY:
        assert diff, f"{path.name} agrees now: drop it from SPLIT_DIFFERENTLY"
        assert all(ours is None for _frame, ours, _theirs in diff)  # only tshark's merged view flags them
    else:
        assert diff == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_bad_wire_conversations_agree_with_tshark(tmp_path: Path, seed: int) -> None:
    """Differential test: 60 made-up conversations with loss, duplicates, reordering, late and
    quick retransmissions, duplicate ACKs, zero windows, probes and keep-alives."""
    path = tmp_path / f"random-{seed}.pcap"
    write_random_conversations(path, seed, 60)
    theirs = tshark_verdicts(path)
    assert len(theirs) > 300
    assert differences(netlab_verdicts(path, syn_window_scales(path)), theirs) == []


def test_corpus_is_there() -> None:
    if not CORPUS_FILES:
        pytest.skip(f"no public corpus at {CORPUS} (set NETLAB_CONFORMANCE_PCAPS)")
    assert len(CORPUS_FILES) >= 10


def test_exceptions_are_still_differences() -> None:
    """An exception that no longer differs must be removed from the list."""
    for (name, frame), _reason in EXCEPTIONS.items():
        path = CORPUS / name
        if not path.exists():
            continue
        diff = differences(netlab_verdicts(path), tshark_verdicts(path))
        assert frame in {row[0] for row in diff}, f"{name} frame {frame} agrees now: drop the exception"


def test_committed_lossy_lab_capture_agrees_with_tshark() -> None:
    """A `lab --hosts 4 --loss 5 --reorder 10 --seed 7` capture (tests/data/make_lab_capture.py)."""
    path = DATA / "lab_hosts4_lossy.pcap"
    ours, theirs = netlab_verdicts(path), tshark_verdicts(path)
    assert differences(ours, theirs) == []
    counts = Counter(field for verdict in theirs.values() for field in verdict.fields)
    assert counts["retransmission"] >= 3 and counts["duplicate_ack"] >= 3  # it is lossy


@pytest.mark.live
def test_fresh_lossy_lab_run_agrees_with_tshark(tmp_path: Path) -> None:
    """The same on a lab run made now (root: network namespaces)."""
    if os.geteuid() != 0:
        pytest.skip("netlab lab --hosts needs root")
    if shutil.which("tc") is None:
        pytest.skip("tc (netem) is not installed")
    sys.path.insert(0, str(DATA))
    from make_lab_capture import lab_capture

    path = lab_capture(tmp_path)
    assert differences(netlab_verdicts(path), tshark_verdicts(path)) == []
