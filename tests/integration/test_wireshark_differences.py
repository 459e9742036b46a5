"""docs/wireshark-differences.md, case by case: tshark's verdict and netlab's on each minimal capture
(tests/data/wireshark_differences, made by tests/data/make_difference_pcaps.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from netlab.capture.pcapfile import read_segments
from netlab.stream.expert_run import AnalysisResult, analyze

HERE = Path(__file__).resolve().parents[1] / "data" / "wireshark_differences"


def tshark_flags(path: Path) -> dict[int, set[str]]:
    """tshark's expert messages per frame, shortened to the flags they name."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    fields = ["retransmission", "fast_retransmission", "spurious_retransmission", "lost_segment"]
    fields += ["ack_lost_segment", "duplicate_ack", "reused_ports"]
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.number"]
    for name in fields:
        cmd += ["-e", f"tcp.analysis.{name}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    flags = {}
    for line in out.splitlines():
        number, *values = line.split("\t")
        present = {name for name, value in zip(fields, values, strict=False) if value}
        if present:
            flags[int(number)] = present
    return flags


def netlab(path: Path) -> AnalysisResult:
    return analyze(read_segments(path))


def netlab_flags(result: AnalysisResult) -> dict[int, set[str]]:
    return {f.frame: set(f.flags) for f in result.frames if f.flags}


def test_a_capture_drop_is_not_a_network_loss() -> None:
    """Wireshark: "previous segment not captured", then "ACKed segment that wasn't captured", counted
    with the losses. netlab flags the same frames (so counts agree) and says the capture missed it."""
    path = HERE / "capture_drop.pcap"
    assert tshark_flags(path) == {6: {"lost_segment"}, 7: {"ack_lost_segment"}}
    result = netlab(path)
    assert netlab_flags(result) == {6: {"lost_segment"}, 7: {"ack_lost_segment"}}
    summary = result.summaries[0]
    assert (summary.lost_in_capture, summary.lost_on_wire) == (1, 0)
    assert any("missing only from the capture" in s and "not a network loss" in s for s in summary.story)


def test_a_loss_on_the_wire_is_told_apart_from_a_capture_drop() -> None:
    """The contrast: the same gap, then duplicate ACKs and a fast retransmission into it."""
    path = HERE / "wire_loss.pcap"
    assert tshark_flags(path)[6] == {"lost_segment"}
    summary = netlab(path).summaries[0]
    assert (summary.lost_in_capture, summary.lost_on_wire) == (0, 1)
    assert any("lost on the way" in s for s in summary.story)


def test_two_synacks_with_different_isns() -> None:
    """Wireshark keeps the first SYN-ACK's ISN: the real SYN-ACK becomes "reused ports" and a
    retransmission, and so does every later segment of the server. netlab follows the SYN-ACK the
    client acknowledged: nothing is flagged, and the story says which SYN-ACK was the server's."""
    path = HERE / "two_synacks.pcap"
    theirs = tshark_flags(path)
    assert theirs[3] == {"reused_ports", "retransmission"}
    assert theirs[6] == {"retransmission"} and theirs[8] == {"retransmission"}
    result = netlab(path)
    assert netlab_flags(result) == {}
    story = " ".join(result.summaries[0].story)
    assert "frames 2 and 3" in story and "acknowledged frame 3's" in story


def test_a_resend_of_sacked_bytes_is_flagged_needless() -> None:
    """Frame 11 resends bytes the receiver's SACK blocks (frames 8, 9) reported received: needless.
    Wireshark decides from the cumulative ACK only and calls it a retransmission; netlab keeps
    Wireshark's flags and adds its own, `sacked_retransmission`, and the story says why
    (docs/wireshark-differences.md)."""
    path = HERE / "sack_ignored.pcap"
    theirs = tshark_flags(path)
    assert theirs[10] == {"retransmission", "fast_retransmission"} and theirs[11] == {"retransmission"}
    result = netlab(path)
    ours = netlab_flags(result)
    assert ours[10] == {"retransmission", "fast_retransmission"}  # the lost segment: Wireshark's verdict
    assert ours[11] == {"retransmission", "sacked_retransmission"}
    summary = result.summaries[0]
    assert summary.sack_blocks == 2
    assert summary.count("sacked_retransmission") == 1 and summary.count("retransmission") == 2
    assert any("needless" in s and "SACK" in s for s in summary.story)
    assert not any("timeout" in s for s in summary.story)  # frame 11 is not told as a timeout


def tshark_in_flight(path: Path) -> dict[int, int]:
    """tshark's `tcp.analysis.bytes_in_flight` per frame (frames with none left out)."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.number"]
    cmd += ["-e", "tcp.analysis.bytes_in_flight"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    pairs = (line.split("\t") for line in out.splitlines())
    return {int(number): int(value) for number, value in pairs if value}


def netlab_in_flight(path: Path) -> dict[int, int]:
    result = analyze(read_segments(path), keep_frames=True)
    return {f.frame: f.bytes_in_flight for f in result.frames if f.bytes_in_flight is not None}


@pytest.mark.parametrize(
    ("name", "theirs", "ours"),
    [
        # a D-SACK block (bytes received twice, below the cumulative ACK) is no delivery of bytes in flight
        ("dsack.pcap", {4: 100, 5: 100, 9: 100}, {4: 100, 5: 100, 8: 100, 9: 200}),
        # Wireshark keeps three of an ACK's four blocks
        ("sack_four_blocks.pcap", {4: 100, 13: 500, 15: 400}, {4: 100, 13: 400, 15: 300}),
        # Wireshark forgets the blocks when the receiver sends a segment without them (frame 9)
        ("sack_forgotten.pcap", {4: 100, 9: 6, 10: 200, 11: 300}, {4: 100, 9: 6, 10: 100, 11: 200}),
        # ...and agrees with netlab while the receiver's latest blocks say it all
        ("sack_ignored.pcap", {4: 100, 10: 100, 11: 100}, {4: 100, 10: 100, 11: 100}),
    ],
)
def test_sacked_bytes_are_not_in_flight(name: str, theirs: dict[int, int], ours: dict[int, int]) -> None:
    """Bytes in flight less the SACKed bytes: the receiver's scoreboard (RFC 6675), not Wireshark's
    latest three blocks of the latest segment (docs/wireshark-differences.md)."""
    path = HERE / name
    assert tshark_in_flight(path) == theirs
    assert netlab_in_flight(path) == ours
