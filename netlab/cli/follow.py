"""`netlab follow`: Follow TCP Stream from a pcap/pcapng file (thin: parse, build, call, write)."""

from __future__ import annotations

import dataclasses
from typing import Any

import typer

from netlab.cli.follow_fast import OPTIONS, follow_file, misuse, pipeline_options, proto_of
from netlab.cli.follow_live import LIVE_OPTIONS, live_options, run_live
from netlab.cli.follow_run import role_judge, run_follow
from netlab.cli.guard import run_guarded
from netlab.cli.typer_options import declared_by


def _formats_help() -> str:
    from netlab.render import format_info, format_names

    return "; ".join(f"{name}: {format_info(name).description}" for name in format_names())


def _command_help() -> str:
    from netlab.render import format_info, format_names

    formats = "\n\n".join(f"  {name}: {format_info(name).description}" for name in format_names())
    return (
        "Follow TCP streams, from a capture file (--read) or live: every stream's dialogue in order, "
        "numbered like Wireshark's tcp.stream, gaps shown where bytes are missing. With --proto udp (or "
        "--udp), UDP conversations instead, numbered like udp.stream, one turn per datagram; --proto all "
        "follows both. The dialogue goes to stdout, a summary to stderr.\n\nFormats (--format):\n\n" + formats
    )


def _refuse(problem: tuple[str, str] | None) -> None:
    if problem is not None:
        raise typer.BadParameter(problem[1], param_hint=problem[0])


def register(app: typer.Typer) -> None:
    """Add the `follow` command to the app."""

    @app.command("follow", help=_command_help())
    @declared_by({**OPTIONS, **LIVE_OPTIONS})
    def follow_command(**options: Any) -> None:
        """Follow TCP streams in a capture file."""
        read, port, host = options["read"], options["port"] or [], options["host"] or []
        direction, color = options["direction"], options["color"]
        _refuse(misuse(options["fmt"], direction.value, color.value, []))
        live = live_options(read, port, host, *(options[name] for name in LIVE_OPTIONS))
        if live is not None:
            live = dataclasses.replace(live, protocols=proto_of(options).protocols)
        if live is None:  # a live capture resolves host names itself (run_live)
            _refuse(misuse(options["fmt"], direction.value, color.value, host))

        def body() -> None:
            if live is None:
                follow_file(read, options)
            else:
                run_live(
                    live,
                    run_follow,
                    ports=list(live.ports),
                    live=True,
                    roles=role_judge(port, live=True),
                    **pipeline_options(options),
                )

        run_guarded(body)

    follow_command.__doc__ = (
        "Follow TCP streams in a capture file, or live (without --read).\n\nFormats: " + _formats_help()
    )
