"""`netlab report --read`: every public conformance capture, and the user's mistakes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conformance_kit import KIT
from typer.testing import CliRunner

from netlab.cli.app import app

CONFORMANCE = KIT / "pcaps"
PCAPS = sorted(CONFORMANCE.glob("*.pcap*")) if CONFORMANCE.is_dir() else []


@pytest.mark.skipif(not PCAPS, reason="../shared/conformance/pcaps is not there")
def test_every_conformance_capture_gives_a_report(tmp_path: Path) -> None:
    runner = CliRunner()
    failures = []
    for pcap in PCAPS:
        out = tmp_path / pcap.name
        # graphs are drawn for the corpus by test_report_graphs.test_every_conformance_connection_can_be_graphed;
        # drawing every connection's here would take this test past its time limit
        result = runner.invoke(app, ["report", "--read", str(pcap), "--out", str(out), "--no-graphs"])
        if result.exit_code != 0:
            failures.append(f"{pcap.name}: exit {result.exit_code}: {result.stderr.strip()[-200:]}")
            continue
        assert result.stdout.splitlines() == [str(out / n) for n in ("dialogue.txt", "report.md", "report.html")]
        html = (out / "report.html").read_text(encoding="utf-8")
        drawn = len(re.findall(r'<article class="connection"', html))
        assert len(re.findall(r'<svg[^>]*class="ladder"', html)) == drawn, pcap.name
        conversations = len(re.findall(r'<article class="conversation"', html))  # UDP: a dialogue, no ladder
        assert len(re.findall(r'<div class="dialogue">', html)) == drawn + conversations, pcap.name
        assert 'class="sockets"' not in html
        assert "<script" not in html.lower(), pcap.name
    assert not failures, "\n".join(failures)


def _chat_pcap(tmp_path: Path) -> Path:
    """A tiny capture of one chat connection, written with netlab's own pcap writer."""
    import struct

    from netlab.capture.writer import PcapWriter

    def frame(src: int, dst: int, seq: int, ack: int, flags: int, payload: bytes) -> bytes:
        tcp = struct.pack("!HHIIBBHHH", src, dst, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])
        )
        return b"\x00" * 12 + b"\x08\x00" + ip + tcp

    c, s = 40000, 55555
    path = tmp_path / "chat.pcap"
    with PcapWriter(path, 1) as writer:
        for ts, args in enumerate(
            [
                (c, s, 100, 0, 0x02, b""),
                (s, c, 500, 101, 0x12, b""),
                (c, s, 101, 501, 0x10, b""),
                (s, c, 501, 101, 0x18, b"NICK"),
                (c, s, 101, 505, 0x18, b"alice\n"),
                (c, s, 107, 505, 0x18, "Привет <b>мир</b>\n".encode()),
                (c, s, 107, 505, 0x18, "Привет <b>мир</b>\n".encode()),
                (c, s, 107 + len("Привет <b>мир</b>\n".encode()), 505, 0x11, b""),
            ]
        ):
            writer.write(1000.0 + ts / 10, frame(*args))
    return path


def test_report_of_a_chat_capture_names_the_participant_and_counts_the_retransmission(tmp_path: Path) -> None:
    pcap = _chat_pcap(tmp_path)
    result = CliRunner().invoke(app, ["report", "--read", str(pcap), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "1 TCP connection" in result.stderr
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "| 0 | alice (127.0.0.1:40000) | 6 | 2 | 33 | 4 | 1 |" in md
    row = next(line for line in md.splitlines() if line.startswith("| 0 |"))
    assert row.split("|")[7].strip() == "1"
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Привет &lt;b&gt;мир&lt;/b&gt;" in html and "<b>мир" not in html
    assert "retransmission" in html
    assert "Привет <b>мир</b>" in (tmp_path / "out" / "dialogue.txt").read_text(encoding="utf-8")


def test_default_out_directory_is_reports_slash_capture_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pcap = _chat_pcap(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["report", "--read", str(pcap)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "reports" / "chat" / "report.html").is_file()


@pytest.mark.parametrize(
    ("make", "code", "words"),
    [
        (lambda p: p / "missing.pcap", 66, "no such capture file"),
        (lambda p: p, 1, "is a directory"),
        (lambda p: (p / "junk.pcap", (p / "junk.pcap").write_bytes(b"not a capture at all"))[0], 1, ""),
    ],
)
def test_user_mistakes_give_one_line_and_an_exit_code(tmp_path: Path, make: object, code: int, words: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    result = CliRunner().invoke(app, ["report", "--read", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("netlab: ") and "reading" not in line]
    assert len(lines) == 1 and words in lines[0]
    assert "Traceback" not in result.output and result.stdout == ""


def test_read_is_required() -> None:
    result = CliRunner().invoke(app, ["report"])
    assert result.exit_code == 2
    assert "--read" in result.output
