"""The console entry point (`netlab`, `python -m netlab`): `netlab sockets` and `netlab follow --read`
fast, everything else through typer.

Starting Python and importing typer and every command costs more than `ss -tanp` takes to list the
sockets (bench/sockets_bench.py); `netlab sockets` is meant to be cheaper than that. So
`netlab sockets ...` is first offered to a stdlib parser (`netlab.cli.sockets_fast`), which runs the
command when it reads the arguments exactly as the typer command would, and otherwise declines
without writing anything. `netlab follow ...` likewise goes first to `netlab.cli.follow_fast`, which
runs capture files. Every other command, option or mistake goes to the typer app (`netlab.cli.app`).
"""

from __future__ import annotations

import sys

from netlab.cli.exits import run_quietly


def main() -> None:
    """Console-script entry point; quiet on a closed pipe and on Ctrl-C."""
    if sys.argv[1:2] == ["sockets"]:
        from netlab.cli.logsetup import configure_logging
        from netlab.cli.sockets_fast import run

        configure_logging(0, 0)  # the typer app's set-up without -v / -q (which go to typer, as does a decline)

        if run_quietly(lambda: run(sys.argv[2:])):
            return
    elif sys.argv[1:2] == ["follow"]:
        from netlab.cli.follow_fast import run as run_follow

        if run_quietly(lambda: run_follow(sys.argv[2:])):
            return
    elif sys.argv[1:2] == ["analyze"]:
        from netlab.cli.analyze_run import run_fast as run_analyze

        if run_quietly(lambda: run_analyze(sys.argv[2:])):
            return
    from netlab.cli.app import main as typer_main

    typer_main()
