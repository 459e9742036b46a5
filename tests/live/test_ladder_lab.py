"""The lab's own captures against tshark: ladder order and frame numbers, analysis counts, report text.

Three captures: a loopback lab run (every handshake captured), a lossy, reordering
`--hosts 4 --loss 5 --reorder 10 --seed 7` run, and the loopback capture with its first frames cut
off (a capture that starts mid-stream).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tshark_oracle import assert_agrees_with_tshark, tshark_flag_frames, tshark_table
from typer.testing import CliRunner

from netlab.capture.pcapfile import read_packets
from netlab.capture.writer import PcapWriter
from netlab.cli.app import app
from netlab.lab.netns import namespaces_supported

pytestmark = [pytest.mark.live, pytest.mark.tshark]


def _lab(tmp_path: Path, name: str, *extra: str) -> Path:
    result = CliRunner().invoke(
        app, ["lab", *extra, "--captures", str(tmp_path), "--reports", str(tmp_path), "--name", name]
    )
    assert result.exit_code == 0, result.output
    return tmp_path / f"{name}.pcap"


def _cut(pcap: Path, out: Path, skip: int) -> Path:
    """`pcap` without its first `skip` frames."""
    records = list(read_packets(pcap))
    with PcapWriter(out, records[0][0]) as writer:
        for _linktype, ts, frame, orig_len in records[skip:]:
            writer.write(ts, frame, orig_len)
    return out


@pytest.fixture(scope="module")
def loopback(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _lab(tmp_path_factory.mktemp("lab"), "loopback")


def test_loopback_lab_ladder_and_counts_match_tshark(loopback: Path) -> None:
    assert_agrees_with_tshark(loopback)
    html = (loopback.parent / "loopback" / "report.html").read_text()
    assert "inferred" not in html  # every handshake ACK was captured: none is invented
    first = re.search(r"<g class=\"row (\w+) c2s\"><title>frame (\d+): \[ACK\]", html)
    assert first is not None, "the handshake's ACK is drawn as a captured frame"


def test_capture_starting_mid_stream_matches_tshark(loopback: Path, tmp_path: Path) -> None:
    assert_agrees_with_tshark(_cut(loopback, tmp_path / "mid.pcap", 12))


@pytest.mark.skipif(not namespaces_supported(), reason="cannot create network namespaces here")
def test_lossy_reordering_hosts_ladder_and_counts_match_tshark(tmp_path: Path) -> None:
    pcap = _lab(tmp_path, "lossy", "--hosts", "4", "--loss", "5", "--reorder", "10", "--seed", "7")
    assert_agrees_with_tshark(pcap)
    table = tshark_table(pcap)
    assert tshark_flag_frames(table, "retransmission"), "a 5% loss run without one retransmission tests nothing"
    markdown = (tmp_path / "lossy" / "report.md").read_text()
    assert "tcp.analysis.retransmission" in markdown  # the report says how its counts are defined
