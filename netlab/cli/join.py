"""`netlab join`: chat from a terminal (prompt_toolkit) or a pipe (plain lines)."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from netlab.chat.dialects import DIALECT_HELP, Dialect
from netlab.cli.guard import run_guarded

_DIALECT_HELP = "; ".join(f"{item.value}: {text}" for item, text in DIALECT_HELP.items()) + "."


def _default_nick() -> str:
    from netlab.chat.wire import nick_problem

    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = ""
    return name if name and nick_problem(name) is None else "guest"


def register(app: typer.Typer) -> None:
    """Add the `join` command to the app."""

    @app.command("join")
    def join(
        host: str = typer.Option("127.0.0.1", "--host", help="Server address."),
        port: int = typer.Option(55555, "--port", "-p", min=1, max=65535, help="Server port."),
        nick: str = typer.Option(None, "--nick", "-n", help="Your nickname (default: your login name)."),
        dialect: Annotated[
            Dialect, typer.Option("--dialect", "-d", case_sensitive=False, help=_DIALECT_HELP)
        ] = Dialect.AUTO,
        linger: float = typer.Option(
            1.0, "--linger", min=0, help="In a pipe: seconds to keep receiving after the input ends."
        ),
        timeout: float = typer.Option(5.0, "--timeout", min=0.1, help="Seconds to wait for connect and handshake."),
    ) -> None:
        """Join a chat. On a terminal: an interactive prompt; in a pipe: send each input line,
        print received messages on stdout, keep listening --linger seconds, exit 0 (1 when the
        server closes the connection first).

        Leave with /exit, /quit, exit, выход or Ctrl-D. Commands on netlab servers: /who, /nick NEW,
        /me ACTION, /msg NICK TEXT, /help.
        """

        def body() -> None:
            from netlab.chat.client import ChatClient

            interactive = sys.stdin.isatty() and sys.stdout.isatty()
            name = nick or _default_nick()
            with ChatClient.connect(host, port, name, dialect=dialect, timeout=timeout) as client:
                # closed (its reader thread joined) however the UI ends, e.g. on a failed write to stdout
                if interactive:
                    from netlab.chat.ui_prompt import run_prompt_ui

                    run_prompt_ui(client)
                else:
                    from netlab.chat.ui_line import plain_text, run_line_ui

                    if client.welcome is not None:
                        sys.stdout.write(plain_text(client.welcome) + "\n")
                        sys.stdout.flush()  # a pipe's reader sees it now, not with the next message
                    run_line_ui(client, sys.stdin, sys.stdout, linger)

        run_guarded(body)
