"""`netlab serve`: run the reference chat server until Ctrl-C, SIGTERM or /shutdown."""

from __future__ import annotations

import logging
import resource
import signal
import sys
import threading
from types import FrameType

import typer

from netlab.chat.limits import MAX_LINE_BYTES
from netlab.cli.guard import run_guarded

log = logging.getLogger("netlab.chat.server")


def _raise_fd_limit(wanted: int) -> None:
    """Lift the soft open-file limit towards `wanted` (bounded by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def register(app: typer.Typer) -> None:
    """Add the `serve` command to the app."""

    @app.command("serve")
    def serve(
        host: str = typer.Option(
            "127.0.0.1",
            "--host",
            help="Address to listen on (IPv6 too, e.g. ::1). "
            "Other machines can join only if you pass an external address or 0.0.0.0.",
        ),
        port: int = typer.Option(55555, "--port", "-p", min=0, max=65535, help="TCP port (0 picks a free one)."),
        max_clients: int = typer.Option(
            1000,
            "--max-clients",
            min=1,
            help="Connections allowed at once; newcomers beyond it are told the room is full.",
        ),
        history: int = typer.Option(20, "--history", min=0, help="Last N messages shown to newcomers."),
        flood_rate: float = typer.Option(
            5.0,
            "--flood-rate",
            min=0,
            help="Messages per second per client before reading is slowed down (nothing is lost); 0 turns it off.",
        ),
        flood_burst: int = typer.Option(10, "--flood-burst", min=1, help="Messages a client may send in a burst."),
        idle_timeout: float = typer.Option(
            0,
            "--idle-timeout",
            min=0,
            help="Drop clients silent for this many seconds (0: never; TCP keepalive still drops dead peers).",
        ),
        handshake_timeout: float = typer.Option(
            30, "--handshake-timeout", min=0.1, help="Seconds a new connection has to send a nickname."
        ),
        sendq: int = typer.Option(
            1 << 20,
            "--sendq",
            min=4096,
            help="Bytes queued for a client before it is disconnected for not reading (SendQ exceeded).",
        ),
        max_line: int = typer.Option(MAX_LINE_BYTES, "--max-line", min=64, help="Longest accepted line in bytes."),
        no_status: bool = typer.Option(
            False, "--no-status", help="Do not publish the status file read by `netlab sockets`."
        ),
    ) -> None:
        """Run the chat server (default 127.0.0.1:55555) until Ctrl-C or SIGTERM.

        Clients: `netlab join`, `nc 127.0.0.1 55555`, telnet, or the classic students' tutorial
        client. When stdin is a terminal, type /who, /kick NICK \\[reason], /say TEXT or /shutdown.
        Joins, leaves and kicks are logged on stderr; message bodies only with -v.
        """
        level = logging.getLogger("netlab").getEffectiveLevel()  # set from -v / -q by the app callback
        verbose, quiet = level < logging.WARNING, level > logging.WARNING

        def body() -> None:
            from netlab.chat.server import ChatServer, ServerConfig

            if not quiet and not verbose:
                log.setLevel(logging.INFO)
            _raise_fd_limit(max_clients + 64)
            config = ServerConfig(
                host=host,
                port=port,
                max_clients=max_clients,
                history=history,
                flood_rate=flood_rate,
                flood_burst=flood_burst,
                idle_timeout=idle_timeout,
                handshake_timeout=handshake_timeout,
                sendq_bytes=sendq,
                max_line=max_line,
                publish_status=not no_status,
                log_bodies=verbose,
            )
            server = ChatServer(config=config)
            _run_until_stopped(server)

        run_guarded(body)


def _run_until_stopped(server: object) -> None:
    """Start `server`, wait for SIGINT/SIGTERM or /shutdown, stop it (joins every thread)."""
    from netlab.chat.console import OperatorConsole
    from netlab.chat.registry import format_address
    from netlab.chat.server import ChatServer

    assert isinstance(server, ChatServer)
    done = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received, shutting down", signal.Signals(signum).name)
        done.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    console = None
    try:
        where = format_address(server.start())
        typer.echo(f"netlab serve: listening on {where} (Ctrl-C to stop)", err=True)
        if sys.stdin is not None and sys.stdin.isatty():
            console = OperatorConsole(server, sys.stdin, sys.stderr, done.set)
            console.start()
        while not done.wait(0.5):
            pass
    finally:
        if console is not None:
            console.stop()
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
