"""Writing a report's files: report.md, report.html (and dialogue.txt, streamed while reading)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from shlex import quote

from netlab.capture.pcapfile import Progress
from netlab.capture.undecoded import FrameTally
from netlab.errors import LabError, PcapReadError
from netlab.invocation import program_text
from netlab.packets import Endpoint
from netlab.report.build import Collected, build_report, read_capture
from netlab.report.figures import add_graphs
from netlab.report.markdown import render_markdown
from netlab.report.model import Command, GraphPolicy, Report, RunInfo
from netlab.report.page import render_html
from netlab.stream.roles import RoleHints

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """Where a report's files were written."""

    directory: Path
    dialogue: Path | None
    markdown: Path
    html: Path


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise LabError(f"cannot write {path}: {error.strerror}") from None


def prepare_directory(directory: Path) -> None:
    """Create the report directory (and parents), or explain in one line why we cannot."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LabError(f"cannot create the report directory {directory}: {error.strerror}") from None


def collect_into(
    directory: Path,
    pcap: Path,
    nicknames: Mapping[Endpoint, str] | None = None,
    hints: RoleHints | None = None,
    tally: FrameTally | None = None,
    progress: Progress | None = None,
    graphs: GraphPolicy = GraphPolicy.AUTO,
) -> tuple[Collected, PcapReadError | None]:
    """Read `pcap`, streaming its follow transcript into `directory/dialogue.txt`.

    `hints`: what is known about the servers (`netlab.stream.roles`), for connections whose
    handshake was not captured. `tally`, `progress`: as `read_capture`'s. `graphs`: which connections
    will get graphs (only they keep their segments).
    """
    prepare_directory(directory)
    dialogue = directory / "dialogue.txt"
    try:
        with dialogue.open("w", encoding="utf-8") as sink:
            return read_capture(
                pcap,
                nicknames=nicknames,
                dialogue_sink=sink.write,
                hints=hints,
                tally=tally,
                progress=progress,
                graph_connections=graphs.connections,
            )
    except OSError as error:
        raise LabError(f"cannot write {dialogue}: {error.strerror}") from None


def write_report(report: Report, directory: Path, graphs: GraphPolicy = GraphPolicy.AUTO) -> ReportFiles:
    """Write report.md and report.html into `directory` (dialogue.txt is written by `collect_into`).

    The connections' graphs are drawn as `graphs` says, one SVG file each beside report.md
    (`netlab.report.figures`). Without a capture there is no dialogue.txt, and
    `ReportFiles.dialogue` is None.
    """
    prepare_directory(directory)
    report = add_graphs(report, directory, graphs)
    dialogue = directory / "dialogue.txt"
    files = ReportFiles(
        directory, dialogue if dialogue.exists() else None, directory / "report.md", directory / "report.html"
    )
    _write_text(files.markdown, render_markdown(report))
    _write_text(files.html, render_html(report))
    return files


def report_from_pcap(
    pcap: Path,
    directory: Path,
    server_ports: Iterable[int] = (),
    graphs: GraphPolicy = GraphPolicy.AUTO,
    *,
    tally: FrameTally | None = None,
    progress: Progress | None = None,
) -> tuple[ReportFiles, Report, PcapReadError | None]:
    """`netlab report --read`: a report from any capture, without the sockets section.

    `server_ports`: the ports the user named as the servers' (``--port``); `graphs`: which
    connections get graphs (``--graphs``/``--no-graphs``). Returns the files, the
    report, and the error that cut a truncated or damaged capture short (the report then covers
    everything before it, and says so), or None. `tally` counts the frames without a TCP
    segment; `progress` is called as the file is read (`netlab.capture.pcapfile.Progress`).
    """
    hints = RoleHints(ports=frozenset(server_ports))
    collected, broken = collect_into(directory, pcap, hints=hints, graphs=graphs, tally=tally, progress=progress)
    netlab = program_text(privileged=False)
    run = RunInfo(
        title=f"netlab report: {pcap.name}",
        kind="pcap",
        started=collected.first_ts,
        settings=(("capture", str(pcap)), ("connections", str(len(collected.connections)))),
        commands=(
            Command(
                "1. the transcript, as in Wireshark's Follow TCP Stream", f"{netlab} follow --read {quote(str(pcap))}"
            ),
            Command(
                "2. the same report again", f"{netlab} report --read {quote(str(pcap))} --out {quote(str(directory))}"
            ),
            Command(
                "3. Wireshark's view of retransmissions", f"tshark -r {quote(str(pcap))} -Y tcp.analysis.retransmission"
            ),
        ),
        notes=("The sockets section is omitted: a capture file does not show the sockets.",),
    )
    report = build_report(run, collected, capture_path=str(pcap))
    return write_report(report, directory, graphs), report, broken
