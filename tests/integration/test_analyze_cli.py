"""`netlab analyze` end to end: JSON Lines schema, text, selection, exit codes, the fast path vs typer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netlab.cli.app import app

DATA = Path(__file__).resolve().parents[1] / "data"
LOSSY = DATA / "lab_hosts4_lossy.pcap"
ENV = {"NO_COLOR": "1", "COLUMNS": "100", "TERM": "dumb"}
FRAME_KEYS = ["frame", "stream", "flags", "ack_rtt", "bytes_in_flight", "dup_ack_of"]


def analyze(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["analyze", *args], env=ENV)
    return result.exit_code, result.stdout, result.stderr


def test_json_lines_flagged_frames_then_one_summary_per_connection() -> None:
    code, out, err = analyze("--read", str(LOSSY), "--format", "json")
    assert code == 0, err
    objects = [json.loads(line) for line in out.splitlines()]
    frames = [o for o in objects if "event" not in o]
    summaries = [o for o in objects if o.get("event") == "summary"]
    assert objects == frames + summaries  # frames first, then the summaries
    assert all(list(o) == FRAME_KEYS for o in frames)
    assert [o["frame"] for o in frames] == sorted(o["frame"] for o in frames)
    assert all(o["flags"] for o in frames)
    assert [s["stream"] for s in summaries] == [0, 1, 2]
    retransmitted = [o for o in frames if "retransmission" in o["flags"]]
    assert len(retransmitted) >= 3
    dup = next(o for o in frames if "duplicate_ack" in o["flags"])
    assert isinstance(dup["dup_ack_of"], int) and dup["dup_ack_of"] < dup["frame"]
    for s in summaries:
        assert s["conn_state"] == "SF" and s["history"].startswith("ShA")
        assert s["story"] and s["rtt_min"] <= s["rtt_median"] <= s["rtt_max"]
    assert "3 of 3 stream(s)" in err and err.count("\n") == 1


def test_json_frame_numbers_and_streams_are_tsharks() -> None:
    """frame = frame.number, stream = tcp.stream (tshark decides; the agreement test checks the flags)."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    code, out, _err = analyze("--read", str(LOSSY), "--format", "json")
    ours = {(o["frame"], o["stream"]) for o in map(json.loads, out.splitlines()) if "event" not in o}
    cmd = ["tshark", "-n", "-r", str(LOSSY), "-Y", "tcp.analysis.flags", "-T", "fields"]
    cmd += ["-e", "frame.number", "-e", "tcp.stream"]
    lines = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()
    theirs = {(int(a), int(b)) for a, b in (line.split("\t") for line in lines)}
    # tshark's tcp.analysis.flags also matches frames with expert notes netlab does not count (window
    # updates are included in both); every frame netlab flags is one tshark flags, in the same stream
    assert ours <= theirs and len(ours) >= len(theirs) - 2


def test_text_shows_each_connections_story_then_its_flagged_frames() -> None:
    code, out, err = analyze("--read", str(LOSSY), "--stream", "1")
    assert code == 0, err
    assert out.startswith("Stream 1: 10.0.0.3:40292 → 10.0.0.1:43145  [SF ")
    assert "handshake seen, initial RTT" in out and "retransmission timeout" in out
    assert "frame      time  dir  flags" in out and "duplicate_ack #1" in out
    assert "Stream 0" not in out and "\x1b[" not in out
    assert "1 of 3 stream(s)" in err


def test_a_stream_the_capture_lacks_is_a_data_problem() -> None:
    code, out, err = analyze("--read", str(LOSSY), "--stream", "7")
    assert code == 1 and out == ""
    assert "no stream 7; the capture has streams 0–2" in err


def test_a_missing_file_exits_66() -> None:
    code, _out, err = analyze("--read", str(DATA / "no-such.pcap"))
    assert code == 66 and "no-such.pcap" in err


def test_live_only_options_are_refused_with_read() -> None:
    code, _out, err = analyze("--read", str(LOSSY), "--duration", "1")
    assert code == 2 and "only apply to live capture" in err


@pytest.mark.parametrize("vlans", ["merge", "auto", "split"])
def test_the_graph_draws_the_stream_the_analysis_numbers(vlans: str, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The graph's segments are the analysed stream's, under the same --vlans numbering (one 4-tuple
    on two VLANs is one stream merged, two otherwise)."""
    import netlab.graphs.draw as draw
    from netlab.capture.pcapfile import read_segments
    from netlab.stream.expert_run import analyze as analyze_capture

    drawn: dict[str, list[int]] = {}

    def fake_write_graph(kind, segments, rtts, out, **kw):  # type: ignore[no-untyped-def]
        drawn[kind] = [seg.frame for seg in segments]

    monkeypatch.setattr(draw, "write_graph", fake_write_graph)
    pcap = DATA / "vlan_two_connections.pcap"
    out = tmp_path / "g.svg"
    for stream in (0, 1) if vlans != "merge" else (0,):
        code, _, err = analyze(
            "--read", str(pcap), "--vlans", vlans, "--stream", str(stream), "--graph", "seq", "--out", str(out)
        )
        assert code == 0, err
        result = analyze_capture(read_segments(pcap), keep_frames=True, vlans=vlans)  # type: ignore[arg-type]
        assert drawn["seq"] == [f.frame for f in result.frames if f.stream == stream]


@pytest.mark.parametrize(
    "args",
    [
        ["--read", str(LOSSY)],
        ["--read", str(LOSSY), "-f", "json", "--port", "43145"],
        ["--read", str(LOSSY), "--stream", "2", "--no-summary"],
        ["--read", str(LOSSY), "--host", "10.0.0.4", "--format=json"],
        ["--read", str(LOSSY), "--stream", "5"],
    ],
)
def test_the_fast_path_writes_what_typer_writes(args: list[str]) -> None:
    fast = subprocess.run(
        [sys.executable, "-m", "netlab", "analyze", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV},
        timeout=60,
    )
    code, out, err = analyze(*args)
    assert (fast.returncode, fast.stdout, fast.stderr) == (code, out, err)


@pytest.mark.parametrize("kind", ["seq", "rtt", "throughput", "window"])
def test_graph_draws_one_streams_graph(kind: str, tmp_path: Path) -> None:
    out = tmp_path / f"stream1-{kind}.svg"
    code, _, err = analyze("--read", str(LOSSY), "--stream", "1", "--graph", kind, "--out", str(out))
    assert code == 0, err
    svg = out.read_text(encoding="utf-8")
    assert svg.lstrip().startswith(("<?xml", "<svg")) and "</svg>" in svg
    assert f"{kind} graph of stream 1 written to {out}" in err
    if kind == "rtt":
        assert "no RTT samples" not in svg  # the analysis' ack_rtt samples reach the graph


@pytest.mark.parametrize(
    "args",
    [
        ["--graph", "seq", "--out", "x.svg"],  # no --stream
        ["--stream", "0", "--stream", "1", "--graph", "seq", "--out", "x.svg"],  # two
        ["--stream", "1", "--graph", "seq"],  # no --out
        ["--stream", "1", "--out", "x.svg"],  # no --graph
    ],
)
def test_graph_misuse_is_a_usage_error(args: list[str]) -> None:
    for run in (analyze, _subprocess):  # typer, and the fast path of the console script
        code, out, err = run("--read", str(LOSSY), *args)
        assert code == 2 and out == "" and "--graph needs" in err


def _subprocess(*args: str) -> tuple[int, str, str]:
    command = [sys.executable, "-m", "netlab", "analyze", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=os.environ | ENV)
    return done.returncode, done.stdout, done.stderr
