"""`netlab lab`: the whole networks lab in one command, on loopback or on namespaced hosts."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from netlab.cli.exits import exit_status_for
from netlab.cli.guard import run_guarded
from netlab.errors import CapturePermissionError

if TYPE_CHECKING:
    from netlab.lab.run import LabResult

SCRIPT_HELP = (
    "A conversation of your own: a UTF-8 file with one `NICK> LINE` per line (a participant joins on "
    "their first line; `NICK>` alone just joins; commands like /me, /msg, /nick, /quit are sent as "
    "typed; after `/nick NEW` use NEW; `@snapshot` marks where to look at the sockets; # comments). "
    "See the README."
)


def register(app: typer.Typer) -> None:
    """Add the `lab` command to the app."""

    @app.command("lab")
    def lab(
        clients: Annotated[
            int | None,
            typer.Option(
                "--clients",
                "-c",
                min=2,
                max=200,
                help="Participants in the default conversation (default 3; with --hosts N, N-1).",
            ),
        ] = None,
        messages: Annotated[
            int | None,
            typer.Option(
                "--messages",
                "-m",
                min=0,
                max=1000,
                help="Extra chat lines each participant sends in the default conversation (default 2).",
            ),
        ] = None,
        script: Annotated[Path | None, typer.Option("--script", "-s", metavar="FILE", help=SCRIPT_HELP)] = None,
        port: Annotated[
            int,
            typer.Option(
                "--port",
                "-p",
                min=0,
                max=65535,
                help="Server port (default 0: a free port, shown in the summary).",
            ),
        ] = 0,
        keep_running: Annotated[
            bool,
            typer.Option(
                "--keep-running",
                help="After the conversation, keep the server (and the capture) up for your own clients until Ctrl-C.",
            ),
        ] = False,
        hosts: Annotated[
            int,
            typer.Option(
                "--hosts",
                min=0,
                max=200,
                help="Run on N hosts in network namespaces (server on h1, clients on h2..hN) joined by a switch "
                "that captures and can impair the wire. Linux, root. 0 = loopback.",
            ),
        ] = 0,
        loss: Annotated[
            float, typer.Option("--loss", min=0, max=100, help="With --hosts: drop PCT% of IP frames.")
        ] = 0.0,
        delay: Annotated[
            float, typer.Option("--delay", min=0, max=10000, help="With --hosts: delay every IP frame MS ms.")
        ] = 0.0,
        reorder: Annotated[
            float,
            typer.Option(
                "--reorder",
                min=0,
                max=100,
                help="With --hosts: send PCT% of IP frames ahead of the --delay queue so they overtake "
                "others (without --delay: hold them 25 ms so later ones overtake).",
            ),
        ] = 0.0,
        seed: Annotated[
            int | None, typer.Option("--seed", help="With --hosts: seed the wire's random choices.")
        ] = None,
        captures: Annotated[Path, typer.Option("--captures", metavar="DIR", help="Where the pcap goes.")] = Path(
            "captures"
        ),
        reports: Annotated[Path, typer.Option("--reports", metavar="DIR", help="Where report folders go.")] = Path(
            "reports"
        ),
        name: Annotated[str | None, typer.Option("--name", help="Run name (default lab-YYYYmmdd-HHMMSS).")] = None,
        graphs: Annotated[
            bool | None,
            typer.Option(
                "--graphs/--no-graphs",
                help="Draw each connection's TCP graphs into the report: --graphs for every connection, "
                "--no-graphs for none (default: graphs when there are at most 6 connections).",
                show_default=False,
            ),
        ] = None,
    ) -> None:
        """Run the whole networks lab in one command and write a report a teacher can open.

        Starts the chat server, captures its traffic, lets scripted participants hold a short
        multilingual conversation (a join, a private message, a nickname change, a /me, a leave),
        takes a socket snapshot mid-conversation, shuts everything down cleanly, and writes
        captures/RUN.pcap, reports/RUN/dialogue.txt, reports/RUN/report.md and reports/RUN/report.html.
        The paths go to stdout; progress goes to stderr. Capturing needs root (or CAP_NET_RAW);
        without it the lab says so, writes the report without the capture parts and exits 77.

        Examples (sudo needs netlab's full path: its PATH holds no virtualenv): `sudo .venv/bin/netlab lab`;
        `sudo .venv/bin/netlab lab --clients 5 --messages 4`;
        `sudo .venv/bin/netlab lab --hosts 4 --loss 5 --delay 10 --reorder 10` (a lossy, reordering wire
        between namespaced hosts: the report then shows retransmissions and out-of-order segments).
        """
        if (loss or delay or reorder or seed is not None) and not hosts:
            typer.echo(
                "netlab: --loss, --delay, --reorder and --seed need --hosts N "
                "(loopback never loses or reorders a packet)",
                err=True,
            )
            raise typer.Exit(2)
        if script is not None and (clients is not None or messages is not None):
            typer.echo(
                "netlab: --clients and --messages shape the default conversation; "
                "with --script, the script decides who says what",
                err=True,
            )
            raise typer.Exit(2)
        if hosts == 1:
            typer.echo("netlab: --hosts needs at least 2 (one server host and one client host)", err=True)
            raise typer.Exit(2)

        def body() -> None:
            from netlab.lab.impair import Impairment
            from netlab.lab.run import LabConfig, LabRun
            from netlab.report.model import GraphPolicy

            config = LabConfig(
                clients=clients,
                messages=2 if messages is None else messages,
                script=script,
                port=port,
                keep_running=keep_running,
                hosts=hosts,
                impairment=Impairment(loss, delay, reorder),
                seed=seed,
                captures_dir=captures,
                reports_dir=reports,
                run_name=name,
                graphs=GraphPolicy.AUTO if graphs is None else GraphPolicy.ALL if graphs else GraphPolicy.NONE,
            )
            if hosts:
                from netlab.lab.netns import require_root

                require_root()
            stop = threading.Event()
            lab_run = LabRun(config, lambda text: typer.echo(f"netlab lab: {text}", err=True), stop)
            try:
                with _terminate_as_interrupt():
                    result = lab_run.run()
            except KeyboardInterrupt:
                typer.echo(f"netlab lab: {lab_run.leftovers()}", err=True)
                raise
            report = result.report
            typer.echo(f"netlab lab: done; {len(report.connections)} TCP connection(s) in the report", err=True)
            for note in result.notes:
                typer.echo(f"netlab lab: note: {note}", err=True)
            for problem in result.problems:
                typer.echo(f"netlab lab: problem: {problem}", err=True)
            if result.pcap is not None:
                typer.echo(f"capture:  {result.pcap}")
            if result.files.dialogue is not None:
                typer.echo(f"dialogue: {result.files.dialogue}")
            typer.echo(f"report:   {result.files.markdown}")
            typer.echo(f"html:     {result.files.html}")
            _exit_for_what_is_missing(result)

        run_guarded(body)


def _exit_for_what_is_missing(result: LabResult) -> None:
    """After a report was written: exit with the status of what kept the capture from starting (77 for
    no capture rights), or 1 when the capture is damaged or fails the byte check; else return (exit 0)."""
    error = result.capture_error
    if error is not None:
        why = "no capture rights (see above)" if isinstance(error, CapturePermissionError) else str(error)
        typer.echo(f"netlab: the report was written without the capture, dialogue and diagrams: {why}", err=True)
        raise typer.Exit(int(exit_status_for(error)))
    if result.check_failed:
        typer.echo("netlab: the capture check failed: see the problems above and in the report", err=True)
        raise typer.Exit(1)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt, so `kill` cleans up like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
