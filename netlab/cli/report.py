"""`netlab report --read FILE.pcap [--out DIR]`: the lab report from any capture."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from netlab.cli.guard import run_guarded
from netlab.errors import PcapReadError


def default_out(pcap: Path) -> Path:
    """`reports/<capture name without extension>/`."""
    name = pcap.name
    for suffix in (".gz", ".pcapng", ".pcap", ".cap"):
        name = name.removesuffix(suffix)
    return Path("reports") / (name or "capture")


def register(app: typer.Typer) -> None:
    """Add the `report` command to the app."""

    @app.command("report")
    def report(
        read: Annotated[
            Path,
            typer.Option(
                "--read",
                "-r",
                metavar="FILE",
                help="A pcap or pcapng capture (e.g. one you took with Wireshark).",
            ),
        ],
        out: Annotated[
            Path | None,
            typer.Option(
                "--out",
                "-o",
                metavar="DIR",
                help="Directory for dialogue.txt, report.md and report.html (default: reports/<capture name>/).",
            ),
        ] = None,
        port: Annotated[
            list[int] | None,
            typer.Option(
                "--port",
                "-p",
                min=0,
                max=65535,
                help="The server's port; repeatable. Only used to tell client from server in connections "
                "whose handshake the capture does not hold.",
            ),
        ] = None,
        graphs: Annotated[
            bool | None,
            typer.Option(
                "--graphs/--no-graphs",
                help="Draw each connection's TCP graphs (time-sequence, throughput, window) into the report: "
                "--graphs for every connection the report draws, --no-graphs for none "
                "(default: graphs when the capture has at most 6 connections).",
                show_default=False,
            ),
        ] = None,
    ) -> None:
        """Build the lab report from a capture: each TCP connection's dialogue, ladder diagram, statistics and graphs.

        Writes DIR/dialogue.txt (the `netlab follow` transcript), DIR/report.md and DIR/report.html
        (one self-contained page: open it in any browser), and the graphs as DIR/stream-N-KIND.svg.
        The sockets section of `netlab lab`'s report is left out, since a capture does not show
        sockets. Prints the paths on stdout.
        """

        def body() -> None:
            from netlab.capture.undecoded import FrameTally
            from netlab.cli.progress import read_progress
            from netlab.report.model import GraphPolicy
            from netlab.report.write import report_from_pcap

            if not read.exists():
                raise PcapReadError(f"no such capture file: {read}", missing=True)
            if read.is_dir():
                raise PcapReadError(f"{read} is a directory; give a .pcap or .pcapng file")
            directory = out or default_out(read)
            typer.echo(f"netlab: reading {read} ...", err=True)
            policy = GraphPolicy.AUTO if graphs is None else GraphPolicy.ALL if graphs else GraphPolicy.NONE
            tally, progress = FrameTally(), read_progress(str(read))
            try:
                files, built, broken = report_from_pcap(
                    read, directory, port or [], policy, tally=tally, progress=progress
                )
            finally:
                if progress is not None:
                    progress.close()
            typer.echo(f"netlab: {len(built.connections)} TCP connection(s); report in {directory}/", err=True)
            for line in tally.lines():
                typer.echo(f"netlab: {line}", err=True)
            for path in (files.dialogue, files.markdown, files.html):
                if path is not None:
                    typer.echo(str(path))
            if broken is not None:  # a data problem: exit 1, as `follow` does, with the report written
                raise PcapReadError(f"{broken}; the report shows everything before it", offset=broken.offset)

        run_guarded(body)
