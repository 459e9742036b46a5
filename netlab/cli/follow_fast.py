"""`netlab follow --read FILE ...` without typer: the start-up fast path of the console entry point.

Importing typer, building the app and parsing with it costs more than following a small capture
(bench/README.md, "Start-up", times both paths). So the entry point hands the arguments
of `netlab follow` to this module first. It declares the command's options for a capture file
(`OPTIONS`, from which `netlab.cli.follow` builds the typer command) and reads them with the fast
parser of `netlab.cli.fastparse`, which reads them as click's parser does, and declines whatever it
is not sure to read exactly as typer would: no `--read`, live-capture options, `--help`, unknown options, a missing
or invalid
value, a value typer's command would reject (an unknown format, a `--direction` or `--color` the format
cannot honour, a host that is not an address), `--` and positional arguments. A declined run goes to the typer
command, so help texts, usage errors and exit codes stay typer's; nothing has been written when it
declines.

A netlab error while the capture is read (a missing or damaged file) is reported as the typer
command reports it: one stderr line and the exit status of `netlab.cli.exits.exit_status_for`.
Nothing on this path logs, so the log handler the typer app sets up is not needed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from netlab.cli.choices import ColorChoice
from netlab.cli.exits import exit_status_for
from netlab.cli.fastparse import Declined, Option
from netlab.cli.fastparse import parse as parse_options
from netlab.cli.follow_run import DirectionChoice, ProtoChoice, VlanChoice, canonical_ip, role_judge, run_follow
from netlab.errors import NetlabError
from netlab.render.base import format_names, option_conflict

# The follow command's options for a capture file, declared once: `netlab.cli.follow` builds the
# typer command from them and the live-capture ones (`netlab.cli.follow_live.LIVE_OPTIONS`), which
# the fast parser does not know and so declines.
OPTIONS: dict[str, Option] = {
    "read": Option(
        ("--read", "-r"),
        Path,
        metavar="FILE",
        help="pcap or pcapng file to read (gzip is fine); without it, capture live.",
    ),
    "stream": Option(
        ("--stream", "-s"),
        int,
        many=True,
        low=0,
        help="Only this stream (Wireshark's tcp.stream number); repeatable.",
    ),
    "fmt": Option(
        ("--format", "-f"),
        default="text",
        metavar="FORMAT",
        help=f"Output format, one of: {', '.join(format_names())}.",
    ),
    "port": Option(
        ("--port", "-p"),
        int,
        many=True,
        low=0,
        high=65535,
        help="Only streams with this port at either end; repeatable.",
    ),
    "host": Option(("--host",), many=True, help="Only streams with this IP address at either end; repeatable."),
    "proto": Option(
        ("--proto",),
        ProtoChoice,
        default="tcp",
        help="What to follow: tcp streams, udp conversations (Wireshark's Follow UDP Stream: one per address/port"
        " pair, numbered like udp.stream, each datagram one turn, the first sender as client), or all of both.",
    ),
    "udp": Option(("--udp",), bool, help="Same as --proto udp (with --proto all: still all)."),
    "direction": Option(
        ("--direction", "-d"),
        DirectionChoice,
        default="both",
        help="Only client→server (c2s) or server→client (s2c) bytes.",
    ),
    "color": Option(
        ("--color",),
        ColorChoice,
        default="auto",
        help="Color the text output (auto: only on a terminal, without NO_COLOR).",
    ),
    "vlans": Option(
        ("--vlans",),
        VlanChoice,
        default="auto",
        help="One 4-tuple on several VLANs: auto merges copies of the same packets (as Wireshark)"
        " and keeps different connections apart; merge always merges; split never does.",
    ),
    "split_vlans": Option(("--split-vlans",), bool, hidden=True, help="Same as --vlans split."),
    "summary": Option(
        ("--summary",),
        bool,
        off=("--no-summary",),
        default=True,
        help="Print the counts on stderr at the end.",
    ),
}


def parse(args: list[str]) -> dict[str, Any]:
    """The options in `args` (what follows `netlab follow`), read as the typer command reads them.

    Raises:
        Declined: arguments the typer command should see (see the module docstring).
    """
    values = parse_options(args, OPTIONS)
    if not values["read"]:
        raise Declined("no --read: a live capture")
    problem = misuse(values["fmt"], values["direction"], values["color"], values["host"] or [])
    if problem is not None:
        raise Declined(problem[1])
    return values


def misuse(fmt: str, direction: str, color: str, hosts: list[str]) -> tuple[str, str] | None:
    """(option, message) for values the follow command refuses, checked before it reads anything:
    an unknown format, a `--direction` or `--color` the format cannot honour, a `--host` that is not
    an address (for a capture file: a live capture resolves host names). None when all is well."""
    if fmt not in format_names():
        return "--format", f"unknown format {fmt!r}; choose from {', '.join(format_names())}"
    conflict = option_conflict(fmt, direction, color)
    if conflict is not None:
        return conflict
    for text in hosts:
        try:
            canonical_ip(text)
        except ValueError as error:
            return "--host", str(error)
    return None


def run(args: list[str]) -> bool:
    """Run `netlab follow ARGS` without typer when the fast parser takes `args`.

    Returns:
        True when the command ran (exit status 0); False when it declined and wrote nothing.
    Raises:
        SystemExit: a netlab error while reading, after its one stderr line (as the typer command).
    """
    try:
        options = parse(args)
    except Declined:
        return False
    try:
        follow_file(Path(options["read"]), options)
    except NetlabError as error:
        sys.stderr.write(f"netlab: {error}\n")
        sys.stderr.flush()
        sys.exit(int(exit_status_for(error)))
    return True


def pipeline_options(options: dict[str, Any]) -> dict[str, Any]:
    """`run_follow`'s keyword arguments for the parsed options (a choice as its enum member or its value)."""
    return {
        "fmt": options["fmt"],
        "streams": options["stream"] or [],
        "hosts": options["host"] or [],
        "direction": DirectionChoice(options["direction"]),
        "color": ColorChoice(options["color"]),
        "vlans": VlanChoice.split if options["split_vlans"] else VlanChoice(options["vlans"]),
        "summary": options["summary"],
        "proto": proto_of(options),
    }


def proto_of(options: dict[str, Any]) -> ProtoChoice:
    """--proto, with --udp as its shorthand (`--udp --proto all` is still all)."""
    proto = ProtoChoice(options["proto"])
    return ProtoChoice.udp if options["udp"] and proto is ProtoChoice.tcp else proto


def follow_file(path: Path, options: dict[str, Any]) -> None:
    """Follow the streams of the capture file `path` (both paths' `--read`)."""
    from netlab.capture.pcapfile import read_segments
    from netlab.capture.undecoded import FrameTally
    from netlab.cli.progress import read_progress

    ports = options["port"] or []
    tally = FrameTally()
    progress = read_progress(str(path))
    run_follow(
        read_segments(path, tally=tally, progress=progress, udp=proto_of(options) is not ProtoChoice.tcp),
        roles=role_judge(ports, capture_file=path),
        batch=True,
        ports=ports,
        tally=tally,
        progress=progress,
        **pipeline_options(options),
    )
