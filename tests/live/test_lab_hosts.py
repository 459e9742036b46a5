"""`netlab lab --hosts 3 --loss 5`: real retransmissions in the capture, a byte-exact transcript,
nothing left behind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netlab.capture.pcapfile import read_segments
from netlab.cli.app import app
from netlab.lab.netns import list_namespaces, namespaces_supported
from netlab.lab.script import StepKind, default_script, parse_script
from netlab.stream import Direction, Reassembler, build_dialogues

NAMESPACES = pytest.mark.skipif(not namespaces_supported(), reason="cannot create network namespaces here")
pytestmark = [pytest.mark.live, pytest.mark.tshark, NAMESPACES]


def _ours() -> tuple[list[str], list[str]]:
    """The lab's namespaces and root-namespace links (prefix nl-), so concurrent tests do not interfere."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True, timeout=10).stdout
    links = sorted(name for line in out.splitlines() if (name := line.split(":", 2)[1].strip()).startswith("nl-"))
    return sorted(n for n in list_namespaces() if n.startswith("nl-")), links


def _expected_c2s(messages: int) -> dict[str, bytes]:
    """What each participant's client sends: its nickname, its lines, and /quit when it never quit."""
    script = parse_script(default_script(2, messages))
    expected = {}
    for index, nick in enumerate(script.participants):
        lines = [s.line for s in script.steps if s.kind is StepKind.SEND and s.actor == index]
        if "/quit" not in lines:
            lines.append("/quit")
        expected[nick] = (nick + "\n" + "".join(line + "\n" for line in lines)).encode()
    return expected


def test_lossy_hosts_retransmit_yet_the_transcript_is_byte_exact(tmp_path: Path) -> None:
    before = _ours()
    messages = 6
    result = CliRunner().invoke(
        app,
        [
            "lab",
            "--hosts",
            "3",
            "--loss",
            "5",
            "--seed",
            "7",
            "--messages",
            str(messages),
            "--captures",
            str(tmp_path),
            "--reports",
            str(tmp_path),
            "--name",
            "lossy",
        ],
    )
    assert result.exit_code == 0, result.output
    assert _ours() == before, "the lab left namespaces or links behind"
    assert "namespaces removed" in result.stderr
    pcap = tmp_path / "lossy.pcap"

    retransmissions = subprocess.run(
        ["tshark", "-r", str(pcap), "-Y", "tcp.analysis.retransmission or tcp.analysis.fast_retransmission"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert retransmissions.strip(), "tshark finds no retransmission in a capture with 5% loss"

    dialogues = build_dialogues(Reassembler().feed_all(read_segments(pcap)))
    assert all(d.client.ip.startswith("10.0.0.") and d.server.ip == "10.0.0.1" for d in dialogues)
    sent = {d.bytes(Direction.C2S).split(b"\n", 1)[0].decode(): d.bytes(Direction.C2S) for d in dialogues}
    assert sent == _expected_c2s(messages)
    assert all(not any(type(i).__name__ == "Gap" for i in d.items) for d in dialogues)

    md = (tmp_path / "lossy" / "report.md").read_text(encoding="utf-8")
    total = next(line for line in md.splitlines() if line.startswith("| total |"))
    assert int(total.split("|")[7]) > 0, "the report's statistics count no retransmission"
    html = (tmp_path / "lossy" / "report.html").read_text(encoding="utf-8")
    assert "retransmission" in html
    # per connection, the flag counts and the time-sequence graph's marks show the same retransmissions
    counted = re.findall(r"^\| tcp\.analysis\.retransmission \| .* \| (\d+) \|$", md, flags=re.M)
    assert sum(map(int, counted)) == int(total.split("|")[7])
    figures = re.findall(r'<figure class="graph-figure" id="stream-\d+-seq">(.*?)</figure>', html, flags=re.S)
    assert len(figures) == 2 and all('<svg class="graph graph-seq"' in f for f in figures)
    marks = [int(n) for f in figures for n in re.findall(r"retransmission \((\d+)\)", f)]
    assert sum(marks) == int(total.split("|")[7])
    assert len(list((tmp_path / "lossy").glob("stream-*-seq.svg"))) == 2
    assert "| server | alice |" in md and "| client | alice |" in md
    assert "| check | the capture holds every byte each of the 2 participants sent" in md


def test_without_the_rights_it_says_what_is_needed_and_leaves_nothing(tmp_path: Path) -> None:
    before = _ours()
    drop = ["setpriv", "--inh-caps=-sys_admin,-net_admin", "--bounding-set=-sys_admin,-net_admin", "--"]
    done = subprocess.run(
        [
            *drop,
            sys.executable,
            "-m",
            "netlab",
            "lab",
            "--hosts",
            "3",
            "--captures",
            str(tmp_path),
            "--reports",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 77, done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("netlab: ") and "CAP_SYS_ADMIN" in error
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert _ours() == before


def test_reordering_shows_as_out_of_order_in_capture_and_report(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "lab",
            "--hosts",
            "3",
            "--reorder",
            "30",
            "--delay",
            "10",
            "--seed",
            "3",
            "--messages",
            "6",
            "--captures",
            str(tmp_path),
            "--reports",
            str(tmp_path),
            "--name",
            "reordered",
        ],
    )
    assert result.exit_code == 0, result.output
    flagged = subprocess.run(
        ["tshark", "-r", str(tmp_path / "reordered.pcap"), "-Y", "tcp.analysis.out_of_order"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert flagged.strip(), "tshark sees no out-of-order segment"
    md = (tmp_path / "reordered" / "report.md").read_text(encoding="utf-8")
    total = next(line for line in md.splitlines() if line.startswith("| total |"))
    assert int(total.split("|")[8]) > 0, "the report counts no out-of-order segment"
    html = (tmp_path / "reordered" / "report.html").read_text(encoding="utf-8")
    assert "[TCP Out-Of-Order]" in html, "the ladder marks no out-of-order segment (as Wireshark does)"
    dialogues = build_dialogues(Reassembler().feed_all(read_segments(tmp_path / "reordered.pcap")))
    sent = {d.bytes(Direction.C2S).split(b"\n", 1)[0].decode(): d.bytes(Direction.C2S) for d in dialogues}
    assert sent == _expected_c2s(6)
