"""Drawing the graphs (netlab.graphs.draw, matplotlib): files, formats, determinism, labels, lazy import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from netlab.capture.pcapfile import read_segments
from netlab.errors import GraphError
from netlab.graphs.draw import svg_text, write_graph
from netlab.graphs.series import graph_data
from netlab.graphs.streams import segments_by_stream
from netlab.packets import Segment

LOSSY = Path(__file__).resolve().parents[1] / "data" / "lab_hosts4_lossy.pcap"
UNITS = {
    "seq": ("relative sequence number (bytes)", "time since the connection's first segment (s)"),
    "throughput": ("throughput (bit/s)",),
    "window": ("bytes",),
    "rtt": ("round-trip time (ms)",),
}


@pytest.fixture(scope="module")
def stream1() -> list[Segment]:
    return segments_by_stream(read_segments(LOSSY), [1])[1]


@pytest.mark.parametrize("kind", ["seq", "throughput", "window", "rtt"])
def test_write_graph_writes_svg_and_png_with_units_on_the_axes(
    kind: str, stream1: list[Segment], tmp_path: Path
) -> None:
    samples = [(stream1[3].ts, 0.0012), (stream1[9].ts, 0.0031)]
    svg, png = tmp_path / f"{kind}.svg", tmp_path / f"{kind}.PNG"
    write_graph(kind, stream1, samples, svg)
    write_graph(kind, stream1, samples, png)
    text = svg.read_text(encoding="utf-8")
    assert text.startswith("<?xml") and "<svg" in text
    for label in UNITS[kind]:
        assert label in text, label
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert svg.stat().st_size < 80_000  # text stays text: small files


def test_svg_output_is_deterministic_and_undated(stream1: list[Segment], tmp_path: Path) -> None:
    first, second = tmp_path / "a.svg", tmp_path / "b.svg"
    write_graph("seq", stream1, [], first)
    write_graph("seq", stream1, [], second)
    assert first.read_bytes() == second.read_bytes()
    assert b"<dc:date>" not in first.read_bytes()


def test_the_time_sequence_graph_marks_the_retransmissions_in_black_and_white(stream1: list[Segment]) -> None:
    # stream 1 of the lossy lab: 2 retransmissions client→server and 4 server→client (tshark agrees)
    svg = svg_text(graph_data("seq", stream1))
    assert svg.startswith('<svg class="graph" role="img"')
    assert "retransmission (2)" in svg and "retransmission (4)" in svg
    # marks readable without colour: the retransmission marker is a cross (its own path), the window dashed
    assert "stroke-dasharray" in svg
    assert svg.count("<use ") > 6  # markers are drawn as reused marker paths


def test_two_graphs_inlined_in_one_page_have_no_id_in_common(stream1: list[Segment]) -> None:
    import re

    ids = [set(re.findall(r'id="([^"]+)"', svg_text(graph_data(kind, stream1)))) for kind in ("seq", "window")]
    assert ids[0] and ids[1]
    assert not ids[0] & ids[1]


def test_write_graph_refuses_what_it_cannot_draw(stream1: list[Segment], tmp_path: Path) -> None:
    with pytest.raises(GraphError, match=r"\.svg or \.png"):
        write_graph("seq", stream1, [], tmp_path / "graph.pdf")
    with pytest.raises(GraphError, match="unknown graph"):
        write_graph("pie", stream1, [], tmp_path / "graph.svg")
    with pytest.raises(GraphError, match="no segments"):
        write_graph("seq", [], [], tmp_path / "graph.svg")
    with pytest.raises(GraphError, match="cannot write"):
        write_graph("seq", stream1, [], tmp_path / "no" / "such" / "dir.svg")


def test_an_rtt_graph_without_samples_says_so(stream1: list[Segment], tmp_path: Path) -> None:
    write_graph("rtt", stream1, [], tmp_path / "rtt.svg")
    assert "no RTT samples" in (tmp_path / "rtt.svg").read_text(encoding="utf-8")


def test_commands_that_draw_nothing_never_import_matplotlib() -> None:
    code = (
        "import sys\n"
        "import netlab.cli.app, netlab.cli.entry, netlab.cli.report, netlab.cli.lab\n"
        "import netlab.report.write, netlab.report.figures, netlab.graphs.draw, netlab.graphs.series\n"
        "from netlab.cli.app import app\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    help_run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "netlab", "report", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "matplotlib" not in help_run.stderr
