"""`netlab follow --read` end to end: formats, selection, exit codes, stdout vs stderr, golden output."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netlab.capture.pcapfile import read_packets
from netlab.cli.app import app

DATA = Path(__file__).resolve().parents[1] / "data"
GOLDEN = Path(__file__).resolve().parents[1] / "golden"
ENV = {"NO_COLOR": "1", "COLUMNS": "100", "TERM": "dumb"}


def follow(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["follow", *args], env=ENV)
    return result.exit_code, result.stdout, result.stderr


def test_json_lines_schema() -> None:
    code, out, err = follow("--read", str(DATA / "chat_ipv6.pcap"), "--format", "json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    chunks = [obj for obj in lines if "data" in obj]
    assert all(obj["schema_version"] == 1 for obj in lines)
    assert chunks[0]["src"] == "[fd00::1]:40000" and chunks[0]["dst"] == "[fd00::2]:55555"
    assert base64.b64decode(chunks[0]["data"]) == b"NICK alice\r\n"
    assert chunks[0]["stream"] == 0 and isinstance(chunks[0]["ts"], float)
    events = {obj["event"] for obj in lines if "data" not in obj}
    assert {"opened", "control", "closed"} <= events
    assert "1 of 1 stream(s)" in err and "28 bytes client→server" in err


@pytest.mark.parametrize("name", ["chat_ipv4", "snaplen", "port_reuse"])
def test_text_output_matches_golden(name: str, update_golden: bool) -> None:
    code, out, err = follow("--read", str(DATA / f"{name}.pcap"))
    assert code == 0, err
    golden = GOLDEN / f"follow_{name}.txt"
    if update_golden:
        golden.write_text(out)
    assert out == golden.read_text()
    assert "\x1b[" not in out  # redirected output: no escape codes


def test_hex_output_matches_golden(update_golden: bool) -> None:
    code, out, _ = follow("--read", str(DATA / "chat_ipv4.pcap"), "--format", "hex")
    assert code == 0
    golden = GOLDEN / "follow_chat_ipv4.hex.txt"
    if update_golden:
        golden.write_text(out)
    assert out == golden.read_text()


def test_raw_one_direction_is_exactly_the_bytes() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "netlab",
            "follow",
            "-r",
            str(DATA / "chat_ipv4.pcap"),
            "-f",
            "raw",
            "-d",
            "s2c",
        ],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout == b"welcome alice\r\nbye\n"
    assert b"stream(s)" in result.stderr


def test_stream_port_and_host_selection() -> None:
    code, out, _ = follow("-r", str(DATA / "port_reuse_new_server_isn.pcap"), "-f", "json", "--stream", "1")
    assert code == 0
    assert {json.loads(line)["stream"] for line in out.splitlines()} == {1}
    # a selection nothing matches is a data problem (exit 1, was 0), and the message says what exists
    code, out, err = follow("-r", str(DATA / "chat_ipv4.pcap"), "--port", "9999")
    assert code == 1 and out == "" and "0 of 1 stream(s)" in err
    assert err.splitlines()[-1] == "netlab: no stream matches --port 9999; the capture has stream 0"
    code, out, _ = follow("-r", str(DATA / "chat_ipv4.pcap"), "--host", "10.0.0.2", "-f", "raw")
    assert code == 0 and "NICK alice" in out
    code, out, err = follow("-r", str(DATA / "chat_ipv4.pcap"), "--stream", "7")
    assert (code, out) == (1, "") and err.splitlines()[-1] == "netlab: no stream 7; the capture has stream 0"


def test_vlans_copies_merge_and_different_connections_stay_apart() -> None:
    def streams(name: str, *extra: str) -> set[int]:
        code, out, _ = follow("-r", str(DATA / name), "-f", "json", *extra)
        assert code == 0
        return {json.loads(line)["stream"] for line in out.splitlines() if '"data"' in line}

    # the same packets on VLANs 10 and 20 (a router between VLANs): one stream, as in Wireshark
    assert streams("vlan_collision.pcap") == {0}
    assert streams("vlan_collision.pcap", "--vlans", "split") == {0, 1}
    # two different connections on one 4-tuple, one per VLAN: two streams (Wireshark merges them)
    assert streams("vlan_two_connections.pcap") == {0, 1}
    assert streams("vlan_two_connections.pcap", "--vlans", "merge") == {0}
    assert streams("vlan_two_connections.pcap", "--split-vlans") == {0, 1}


def test_missing_file_exits_66_with_one_line() -> None:
    code, out, err = follow("--read", "/nonexistent/x.pcap")
    assert code == 66 and out == ""
    assert err.strip().count("\n") == 0 and "no such capture file" in err


def test_unknown_format_is_a_usage_error() -> None:
    code, _, err = follow("--read", str(DATA / "chat_ipv4.pcap"), "--format", "nope")
    assert code == 2 and "unknown format" in err


def test_truncated_capture_prints_everything_readable_then_the_summary_and_one_line_error(tmp_path: Path) -> None:
    whole = (DATA / "chat_ipv4.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[: len(whole) - 60])  # inside the last record: all data was read
    result = subprocess.run(
        [sys.executable, "-m", "netlab", "follow", "-r", str(cut), "-f", "raw"],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == b"NICK alice\r\nwelcome alice\r\nhello\tworld \x01\xff\r\nbye\n"
    err = result.stderr.decode()
    assert "Traceback" not in err
    summary, error = err.strip().splitlines()  # was: the error line alone, no summary
    assert summary.startswith("netlab follow: 1 of 1 stream(s), 9 packets")
    records = list(read_packets(DATA / "chat_ipv4.pcap"))
    offset = 24 + sum(16 + len(frame) for _lt, _ts, frame, _orig in records[:-1])  # the last record's start
    assert error.startswith(f"netlab: {cut}: truncated packet record")
    assert f" at byte offset {offset}: frame " in error
    assert f"frame {len(records)} is cut short" in error


def test_help_explains_formats() -> None:
    result = CliRunner().invoke(app, ["follow", "--help"], env=ENV)
    assert result.exit_code == 0
    for name in ("text", "hex", "raw", "json", "tshark-ascii", "tshark-yaml"):
        assert name in result.stdout


def test_host_filter_accepts_any_spelling_and_rejects_junk() -> None:
    code, out, _ = follow("-r", str(DATA / "chat_ipv6.pcap"), "--host", "FD00:0::2", "-f", "raw")
    assert code == 0 and out.startswith("NICK alice")
    code, out, err = follow("-r", str(DATA / "chat_ipv6.pcap"), "--host", "nope")
    assert code == 2 and out == "" and "not an IPv4 or IPv6 address" in err


def test_read_leaves_the_garbage_collector_as_it_found_it() -> None:
    import gc

    before = gc.get_threshold()
    code, _out, err = follow("--read", str(DATA / "chat_ipv4.pcap"), "--format", "json")
    assert code == 0, err
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0 and gc.isenabled()
