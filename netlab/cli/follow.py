"""`netlab follow`: Follow TCP Stream from a pcap/pcapng file (thin: parse, build, call, write)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from netlab.cli.app import run_guarded
from netlab.cli.choices import ColorChoice
from netlab.cli.follow_live import LIVE_HELP, live_options, run_live
from netlab.cli.follow_run import DirectionChoice, VlanChoice, canonical_ip, role_judge, run_follow
from netlab.render.base import format_names, option_conflict

FORMAT_NAMES = format_names()


def _formats_help() -> str:
    from netlab.render import format_info, format_names

    return "; ".join(f"{name}: {format_info(name).description}" for name in format_names())


def _command_help() -> str:
    from netlab.render import format_info, format_names

    formats = "\n\n".join(f"  {name}: {format_info(name).description}" for name in format_names())
    return (
        "Follow TCP streams, from a capture file (--read) or live: every stream's dialogue in order, "
        "numbered like Wireshark's tcp.stream, gaps shown where bytes are missing. The dialogue goes "
        "to stdout, a summary to stderr.\n\nFormats (--format):\n\n" + formats
    )


def _check_address(text: str) -> None:
    try:
        canonical_ip(text)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--host") from None


def register(app: typer.Typer) -> None:
    """Add the `follow` command to the app."""
    names = FORMAT_NAMES

    @app.command("follow", help=_command_help())
    def follow_command(
        read: Annotated[
            Path | None,
            typer.Option(
                "--read", "-r", help="pcap or pcapng file to read (gzip is fine); without it, capture live.",
                metavar="FILE",
            ),
        ] = None,
        stream: Annotated[
            list[int] | None,
            typer.Option(
                "--stream", "-s", help="Only this stream (Wireshark's tcp.stream number); repeatable.", min=0
            ),
        ] = None,
        fmt: Annotated[
            str,
            typer.Option(
                "--format", "-f", help=f"Output format, one of: {', '.join(FORMAT_NAMES)}.", metavar="FORMAT"
            ),
        ] = "text",
        port: Annotated[
            list[int] | None,
            typer.Option(
                "--port",
                "-p",
                help="Only streams with this port at either end; repeatable.",
                min=0,
                max=65535,
            ),
        ] = None,
        host: Annotated[
            list[str] | None,
            typer.Option("--host", help="Only streams with this IP address at either end; repeatable."),
        ] = None,
        direction: Annotated[
            DirectionChoice,
            typer.Option("--direction", "-d", help="Only client→server (c2s) or server→client (s2c) bytes."),
        ] = DirectionChoice.both,
        color: Annotated[
            ColorChoice,
            typer.Option(
                "--color", help="Color the text output (auto: only on a terminal, without NO_COLOR)."
            ),
        ] = ColorChoice.auto,
        vlans: Annotated[
            VlanChoice,
            typer.Option(
                "--vlans",
                help="One 4-tuple on several VLANs: auto merges copies of the same packets (as Wireshark)"
                " and keeps different connections apart; merge always merges; split never does.",
            ),
        ] = VlanChoice.auto,
        split_vlans: Annotated[
            bool, typer.Option("--split-vlans", hidden=True, help="Same as --vlans split.")
        ] = False,
        summary: Annotated[
            bool, typer.Option("--summary/--no-summary", help="Print the counts on stderr at the end.")
        ] = True,
        iface: Annotated[str | None, typer.Option("--iface", "-i", help=LIVE_HELP["iface"], rich_help_panel="Live capture")] = None,
        bpf_filter: Annotated[str | None, typer.Option("--filter", help=LIVE_HELP["filter"], rich_help_panel="Live capture")] = None,
        backend: Annotated[str | None, typer.Option("--backend", help=LIVE_HELP["backend"], rich_help_panel="Live capture")] = None,
        save: Annotated[bool, typer.Option("--save", help=LIVE_HELP["save"], rich_help_panel="Live capture")] = False,
        save_to: Annotated[Path | None, typer.Option("--save-to", help=LIVE_HELP["save_to"], metavar="FILE", rich_help_panel="Live capture")] = None,
        duration: Annotated[float | None, typer.Option("--duration", help=LIVE_HELP["duration"], min=0, metavar="SECONDS", rich_help_panel="Live capture")] = None,
        count: Annotated[int | None, typer.Option("--count", "-c", help=LIVE_HELP["count"], min=1, rich_help_panel="Live capture")] = None,
        until_idle: Annotated[float | None, typer.Option("--until-idle", help=LIVE_HELP["until_idle"], min=0, metavar="SECONDS", rich_help_panel="Live capture")] = None,
    ) -> None:
        """Follow TCP streams in a capture file."""
        if fmt not in names:
            raise typer.BadParameter(
                f"unknown format {fmt!r}; choose from {', '.join(names)}", param_hint="--format"
            )
        conflict = option_conflict(fmt, direction.value, color.value)
        if conflict is not None:
            raise typer.BadParameter(conflict[1], param_hint=conflict[0])

        live = live_options(
            read, port or [], host or [], iface, bpf_filter, backend, save, save_to, duration, count, until_idle
        )
        if live is None:  # a live capture resolves host names itself (run_live)
            for text in host or []:
                _check_address(text)

        def body() -> None:
            from netlab.capture.pcapfile import read_segments

            nonlocal vlans
            if split_vlans:
                vlans = VlanChoice.split

            if live is not None:
                run_live(live, run_follow, fmt=fmt, streams=stream or [], ports=list(live.ports),
                         hosts=host or [], direction=direction, color=color, vlans=vlans,
                         summary=summary, live=True, roles=role_judge(port or [], live=True))
                return
            assert read is not None
            run_follow(
                read_segments(read),
                roles=role_judge(port or [], capture_file=read),
                batch=True,
                fmt=fmt,
                streams=stream or [],
                ports=port or [],
                hosts=host or [],
                direction=direction,
                color=color,
                vlans=vlans,
                summary=summary,
            )

        run_guarded(body)

    follow_command.__doc__ = (
        "Follow TCP streams in a capture file, or live (without --read).\n\nFormats: " + _formats_help()
    )
