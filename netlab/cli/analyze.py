"""`netlab analyze`: TCP expert analysis of a capture file or a live capture (thin: parse, build, call, write)."""

from __future__ import annotations

from typing import Any

import typer

from netlab.cli.analyze_run import GRAPH_USAGE, OPTIONS, analysis_options, analyze_file, graph_misuse, run_analyze
from netlab.cli.follow_live import LIVE_OPTIONS, live_options, run_live
from netlab.cli.follow_run import canonical_ip, role_judge
from netlab.cli.guard import run_guarded
from netlab.cli.typer_options import declared_by

HELP = (
    "Explain TCP's behaviour, connection by connection: the flags Wireshark's expert analysis sets "
    "(retransmissions, lost segments, duplicate ACKs, window full, ...), ack_rtt and bytes in flight per "
    "frame, and per connection its RTTs, throughput, Zeek's conn_state and history and a short story. From "
    "a capture file (--read) or live (capture until stopped, then analyse). Text or JSON Lines on stdout, "
    "one line of totals on stderr."
)


def register(app: typer.Typer) -> None:
    """Add the `analyze` command to the app."""

    @app.command("analyze", help=HELP)
    @declared_by({**OPTIONS, **LIVE_OPTIONS})
    def analyze_command(**options: Any) -> None:
        """TCP expert analysis of a capture file, or live (without --read)."""
        read, port, host = options["read"], options["port"] or [], options["host"] or []
        if graph_misuse(options):
            raise typer.BadParameter(GRAPH_USAGE, param_hint="--graph")
        live = live_options(read, port, host, *(options[name] for name in LIVE_OPTIONS))
        if live is None:
            for text in host:
                try:
                    canonical_ip(text)
                except ValueError as error:
                    raise typer.BadParameter(str(error), param_hint="--host") from None

        def body() -> None:
            if live is None:
                analyze_file(read, options)
            else:
                run_live(
                    live,
                    run_analyze,
                    command="analyze",
                    ports=list(live.ports),
                    live=True,
                    roles=role_judge(port, live=True),
                    **analysis_options(options),
                )

        run_guarded(body)
