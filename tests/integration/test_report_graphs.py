"""`netlab report` with TCP graphs and flag counts: the lossy lab capture, checked against tshark and in Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from conformance_kit import KIT
from typer.testing import CliRunner

from netlab.capture.pcapfile import read_segments
from netlab.cli.app import app
from netlab.graphs.draw import render
from netlab.graphs.series import GRAPH_KINDS, graph_data
from netlab.graphs.streams import segments_by_stream
from netlab.report.model import AUTO_GRAPHED_CONNECTIONS

LOSSY = Path(__file__).resolve().parents[1] / "data" / "lab_hosts4_lossy.pcap"
TSHARK = shutil.which("tshark")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KINDS = ("seq", "throughput", "window")
PCAPS = sorted((KIT / "pcaps").glob("*.pcap*")) if (KIT / "pcaps").is_dir() else []


def many_connections_pcap(path: Path, connections: int, lines: int = 3) -> Path:
    """A capture of `connections` short chat connections (handshake, a few lines each way, FINs)."""
    import struct

    from netlab.capture.writer import PcapWriter

    def frame(src: int, dst: int, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
        tcp = struct.pack("!HHIIBBHHH", src, dst, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, b"\x7f\0\0\1", b"\x7f\0\0\1")
        return b"\x00" * 12 + b"\x08\x00" + ip + tcp

    t = 1000.0
    with PcapWriter(path, 1) as writer:
        for n in range(connections):
            c, s, cs, ss = 40000 + n, 55555, 100, 500
            frames = [(c, s, cs, 0, 0x02), (s, c, ss, cs + 1, 0x12), (c, s, cs + 1, ss + 1, 0x10)]
            cs, ss = cs + 1, ss + 1
            for i in range(lines):
                line = f"line {i} of {n}\n".encode()
                frames += [(c, s, cs, ss, 0x18, line), (s, c, ss, cs + len(line), 0x18, line)]
                cs, ss = cs + len(line), ss + len(line)
                frames.append((c, s, cs, ss, 0x10))
            frames += [(c, s, cs, ss, 0x11), (s, c, ss, cs + 1, 0x11), (c, s, cs + 1, ss + 1, 0x10)]
            for args in frames:
                t += 0.001
                writer.write(t, frame(*args))  # type: ignore[arg-type]
    return path


@pytest.fixture(scope="module")
def lossy_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "lossy"
    result = CliRunner().invoke(app, ["report", "--read", str(LOSSY), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _flag_tables(markdown: str) -> dict[int, Counter[str]]:
    """Per stream, the flag counts the report's Markdown lists."""
    tables: dict[int, Counter[str]] = {}
    for section in re.split(r"^### ", markdown, flags=re.M)[1:]:
        stream = int(re.match(r"stream (\d+)", section).group(1))  # type: ignore[union-attr]
        rows = re.findall(r"^\| tcp\.analysis\.(\w+) \| .* \| (\d+) \|$", section, flags=re.M)
        tables[stream] = Counter({flag: int(count) for flag, count in rows})
    return tables


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")
def test_each_connections_flag_counts_are_tsharks(lossy_report: Path) -> None:
    flags = ("retransmission", "spurious_retransmission", "fast_retransmission", "out_of_order", "lost_segment")
    flags += ("ack_lost_segment", "duplicate_ack", "window_update", "window_full", "zero_window", "keep_alive")
    fields = [arg for flag in flags for arg in ("-e", f"tcp.analysis.{flag}")]
    rows = subprocess.run(
        [TSHARK, "-r", str(LOSSY), "-Y", "tcp.analysis.flags", "-T", "fields", "-e", "tcp.stream", *fields],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    expected: dict[int, Counter[str]] = {}
    for row in rows:
        stream, *values = row.split("\t")
        counts = expected.setdefault(int(stream), Counter())
        counts.update(flag for flag, value in zip(flags, values, strict=True) if value)
    got = _flag_tables((lossy_report / "report.md").read_text(encoding="utf-8"))
    assert {s: +c for s, c in got.items()} == {s: +expected.get(s, Counter()) for s in got}
    assert got[1]["retransmission"] == 6  # the lossy lab's retransmissions are in the report


def test_each_connection_has_its_graphs_as_files_linked_from_markdown_and_inline_in_html(lossy_report: Path) -> None:
    markdown = (lossy_report / "report.md").read_text(encoding="utf-8")
    html = (lossy_report / "report.html").read_text(encoding="utf-8")
    for stream in range(3):
        for kind in KINDS:
            name = f"stream-{stream}-{kind}.svg"
            assert (lossy_report / name).read_bytes().startswith(b"<?xml")
            assert f"]({name})" in markdown
    assert len(re.findall(r'<svg class="graph graph-seq"', html)) == 3
    assert len(re.findall(r'<svg class="graph ', html)) == 12  # 3 connections: seq, throughput, window, rtt
    assert "<script" not in html.lower() and "<?xml" not in html
    assert not re.findall(r"url\((?!#)", html), "an SVG refers to something outside the page"
    assert not re.findall(r'href="(?!#)', html.split("<svg", 1)[1]), "a graph links outside the page"
    ids = re.findall(r' id="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "an element id appears twice in the page"
    seq = html[html.index('id="stream-1-seq"') :]
    seq = seq[: seq.index("</figure>")]
    assert "retransmission (2)" in seq and "retransmission (4)" in seq  # both directions of stream 1 lost segments


def test_no_graphs_draws_none_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "plain"
    result = CliRunner().invoke(app, ["report", "--read", str(LOSSY), "--out", str(out), "--no-graphs"])
    assert result.exit_code == 0, result.output
    assert not list(out.glob("*.svg"))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'class="graph' not in html
    assert "--no-graphs" in html and "tcp.analysis.retransmission" in html  # the flag counts stay


def test_by_default_only_a_capture_of_few_connections_gets_graphs(tmp_path: Path) -> None:
    few = many_connections_pcap(tmp_path / "few.pcap", AUTO_GRAPHED_CONNECTIONS)
    result = CliRunner().invoke(app, ["report", "--read", str(few), "--out", str(tmp_path / "few")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "few").glob("stream-*-seq.svg"))) == AUTO_GRAPHED_CONNECTIONS
    pcap = many_connections_pcap(tmp_path / "many.pcap", AUTO_GRAPHED_CONNECTIONS + 1)
    out = tmp_path / "many"
    result = CliRunner().invoke(app, ["report", "--read", str(pcap), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not list(out.glob("*.svg"))
    assert f"at most {AUTO_GRAPHED_CONNECTIONS} connections" in (out / "report.md").read_text(encoding="utf-8")
    result = CliRunner().invoke(app, ["report", "--read", str(pcap), "--out", str(out), "--graphs"])
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("stream-*-seq.svg"))) == AUTO_GRAPHED_CONNECTIONS + 1


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_the_lossy_report_with_its_graphs_renders_in_chromium(lossy_report: Path, tmp_path: Path) -> None:
    from PIL import Image

    url = (lossy_report / "report.html").resolve().as_uri()
    profile = [f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, *profile, "--dump-dom", url], capture_output=True, text=True, timeout=90, check=True
    ).stdout
    assert len(re.findall(r'<svg[^>]*class="graph graph-seq"', dom)) == 3
    assert len(re.findall(r'<svg[^>]*class="graph ', dom)) == 12
    assert len(re.findall(r'<table class="flags"', dom)) >= 2
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, *profile, f"--screenshot={shot}", "--window-size=1100,14000", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    image = Image.open(shot).convert("RGB")
    assert image.size == (1100, 14000)
    colours = image.getcolors(maxcolors=1 << 20) or []
    total = image.size[0] * image.size[1]
    assert len(colours) > 50, "the screenshot is (nearly) blank"
    assert max(count for count, _ in colours) < 0.97 * total, "the screenshot is one colour"
    red = sum(n for n, c in colours if all(abs(a - b) < 30 for a, b in zip(c, (0xC6, 0x28, 0x28), strict=True)))
    assert red > 100, "no retransmission marks (red crosses) were drawn"


@pytest.mark.skipif(not PCAPS, reason="../shared/conformance/pcaps is not there")
def test_every_conformance_connection_can_be_graphed() -> None:
    """Every connection of the public corpus gives every graph's data; the first of each capture is drawn."""
    drawn = 0
    for pcap in PCAPS:
        streams = segments_by_stream(read_segments(pcap))
        for stream, segments in streams.items():
            for kind in GRAPH_KINDS:
                data = graph_data(kind, segments, [(s.ts, 0.001) for s in segments[:3]])
                assert data.kind == kind, (pcap.name, stream)
        if streams:
            first = streams[min(streams)]
            for kind in KINDS:
                assert render(graph_data(kind, first), "svg").startswith(b"<?xml"), pcap.name
            drawn += 1
    assert drawn > 50
