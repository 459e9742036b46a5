"""`netlab sockets`: the chat's sockets as `ss -tanp` sees them, with who is who and who is stuck."""

from __future__ import annotations

import enum
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from netlab.sockets.model import Snapshot, TcpState
    from netlab.sockets.table import Refresh

DEFAULT_PORT = 55555
DEFAULT_INTERVAL = 2.0


class OutputFormat(enum.StrEnum):
    """How to print the rows."""

    text = "text"
    json = "json"
    netstat = "netstat"


class Backend(enum.StrEnum):
    """Where the rows come from."""

    auto = "auto"
    sock_diag = "sock_diag"
    proc = "proc"
    psutil = "psutil"


class ColorMode(enum.StrEnum):
    """When to use colour on stdout."""

    auto = "auto"
    always = "always"
    never = "never"


HELP = """Show the chat's TCP sockets: the listener, then each client connection with both ends side by side.

Each row: role, nickname (from a running `netlab serve`), protocol, local and remote address, state, Recv-Q and Send-Q (bytes queued, as ss shows them), pid and process. Without root, pids of other users' processes show as - and one note on stderr says so.

Examples:

  netlab sockets                      # the chat on port 55555

  netlab sockets --watch              # live view every 2 s; Ctrl-C quits

  netlab sockets --all --state established --json | jq '.rows[]'

  sudo netlab sockets --netns lab-client --format netstat
"""


def register(app: typer.Typer) -> None:
    """Add the `sockets` command to the app."""

    @app.command("sockets", help=HELP)
    def sockets(
        seconds: Annotated[
            float | None,
            typer.Argument(
                metavar="SECONDS",
                help=f"Refresh interval for --watch (default {DEFAULT_INTERVAL:g}).",
                show_default=False,
            ),
        ] = None,
        port: Annotated[
            int | None,
            typer.Option(
                "--port",
                "-p",
                metavar="PORT",
                min=1,
                max=65535,
                help=f"Sockets with this local or remote port (default {DEFAULT_PORT}, the chat port).",
            ),
        ] = None,
        pid: Annotated[
            int | None,
            typer.Option(
                "--pid",
                metavar="PID",
                help="Sockets of this process and its children (any port unless --port).",
            ),
        ] = None,
        all_ports: Annotated[
            bool, typer.Option("--all", "-a", help="Every TCP socket, on any port.")
        ] = False,
        listening: Annotated[bool, typer.Option("--listening", "-l", help="Only listening sockets.")] = False,
        state: Annotated[
            list[str] | None,
            typer.Option(
                "--state",
                "-s",
                metavar="STATE",
                help="Only this state, e.g. established, time-wait, listen (repeatable).",
            ),
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="JSON for scripts (same as --format json).")
        ] = False,
        output: Annotated[
            OutputFormat,
            typer.Option(
                "--format", "-f", help="text (grouped table), json, or netstat (netstat -tanp's layout)."
            ),
        ] = OutputFormat.text,
        watch: Annotated[
            bool,
            typer.Option(
                "--watch",
                "-w",
                help="Refresh in place every SECONDS, marking new and closed sockets and a growing Send-Q.",
            ),
        ] = False,
        netns: Annotated[
            str | None,
            typer.Option(
                "--netns",
                metavar="NAME",
                help="Look into this network namespace (ip netns name or path; root).",
            ),
        ] = None,
        backend: Annotated[
            Backend,
            typer.Option(
                "--backend", help="auto (sock_diag on Linux, psutil elsewhere), sock_diag, proc or psutil."
            ),
        ] = Backend.auto,
        color: Annotated[
            ColorMode,
            typer.Option("--color", help="Colour on stdout: auto (terminals only), always, never."),
        ] = ColorMode.auto,
    ) -> None:
        from netlab.cli.app import run_guarded

        if seconds is not None and not watch:
            raise typer.BadParameter("SECONDS only makes sense with --watch", param_hint="SECONDS")
        if seconds is not None and not 0.05 <= seconds <= 3600:
            raise typer.BadParameter(
                "give a refresh interval between 0.05 and 3600 seconds", param_hint="SECONDS"
            )
        if all_ports and port is not None:
            raise typer.BadParameter("--all shows every port; drop --port or --all", param_hint="--all")
        if as_json and output is OutputFormat.netstat:
            raise typer.BadParameter(
                "--json and --format netstat are two different outputs: pick one", param_hint="--json"
            )
        states = _parse_states(state or [], listening)
        chosen_port = port if port is not None else (None if all_ports or pid is not None else DEFAULT_PORT)
        view = _View(
            port=chosen_port,
            pid=pid,
            netns=netns,
            states=states,
            backend=backend.value,
            output=OutputFormat.json if as_json else output,
            color=color,
        )
        if watch:
            run_guarded(lambda: view.watch(seconds or DEFAULT_INTERVAL))
        else:
            run_guarded(view.once)


def _parse_states(names: list[str], listening: bool) -> list[TcpState]:
    from netlab.sockets.model import TcpState

    states: list[TcpState] = [TcpState.LISTEN] if listening else []
    for name in names:
        for part in name.split(","):
            try:
                states.append(TcpState.from_name(part))
            except ValueError:
                choices = ", ".join(sorted({s.ss_name.lower() for s in TcpState}))
                raise typer.BadParameter(
                    f"unknown state {part!r}; choose from {choices}", param_hint="--state"
                ) from None
    return states


class _View:
    """Takes snapshots with the chosen options and writes them (stdout: data; stderr: notes)."""

    def __init__(
        self,
        *,
        port: int | None,
        pid: int | None,
        netns: str | None,
        states: list[TcpState],
        backend: str,
        output: OutputFormat,
        color: ColorMode,
    ) -> None:
        self.port, self.pid, self.netns, self.states, self.backend = port, pid, netns, states, backend
        self.output, self.color = output, color
        self._noted: set[str] = set()

    def take(self) -> Snapshot:
        from netlab.sockets.snapshot import snapshot

        taken = snapshot(self.port, pid=self.pid, netns=self.netns, states=self.states, backend=self.backend)
        for note in taken.notes:
            self._say(f"note: {note}")
        return taken

    def _say(self, text: str) -> None:
        """One line on stderr, once per run (a --watch repeats the same remarks at every refresh)."""
        if text not in self._noted:
            self._noted.add(text)
            typer.echo(f"netlab: {text}", err=True)

    def once(self) -> None:
        import json

        from netlab.sockets.table import group_rows, render_netstat, render_text, to_document

        taken = self.take()
        if self.output is OutputFormat.json:
            sys.stdout.write(json.dumps(to_document(taken), ensure_ascii=False) + "\n")
        elif self.output is OutputFormat.netstat:
            sys.stdout.write(render_netstat(row for group in group_rows(taken.rows) for row in group.rows))
        else:
            console = self._console()
            if console is None:
                sys.stdout.write(render_text(group_rows(taken.rows)))
            else:
                console.print(_rich_table(taken, None))
            if not taken.rows:
                hint = (
                    " (is `netlab serve` running?)" if self.port == DEFAULT_PORT and self.pid is None else ""
                )
                self._say(f"no TCP sockets {self._where()}{hint}")
        sys.stdout.flush()

    def watch(self, interval: float) -> None:
        from netlab.sockets.table import WatchTracker

        tracker = WatchTracker()
        console = self._console() if self.output is OutputFormat.text else None
        try:
            if console is None:
                while True:
                    self.once()
                    time.sleep(interval)
            from rich.live import Live

            with Live(console=console, auto_refresh=False, transient=False) as live:
                while True:
                    taken = self.take()
                    refresh = tracker.update(taken.rows)
                    live.update(_rich_table(taken, refresh, interval), refresh=True)
                    time.sleep(interval)
        except KeyboardInterrupt:
            typer.echo("", err=True)  # Ctrl-C is the normal way out of --watch: end the line, exit 0

    def _console(self) -> Console | None:
        """A rich console for a terminal (or --color always); None means plain text."""
        if self.color is ColorMode.never:
            return None
        from rich.console import Console

        console = Console(force_terminal=True if self.color is ColorMode.always else None, highlight=False)
        return console if console.is_terminal else None

    def _where(self) -> str:
        parts = [f"on port {self.port}" if self.port is not None else "on any port"]
        if self.pid is not None:
            parts.append(f"of pid {self.pid}")
        if self.netns:
            parts.append(f"in namespace {self.netns}")
        return " ".join(parts)


def _rich_table(taken: Snapshot, refresh: Refresh | None, interval: float | None = None) -> Table:
    """The grouped table for a terminal; with `refresh`, new/closed/growing rows are marked."""
    from rich import box
    from rich.table import Table

    from netlab.sockets.table import COLUMNS, NUMERIC, Mark, group_rows, row_cells

    rows = refresh.rows if refresh is not None else taken.rows
    title = f"TCP sockets {'on port ' + str(taken.port) if taken.port is not None else 'on every port'}"
    if refresh is not None:
        stamp = time.strftime("%H:%M:%S", time.localtime(taken.taken))
        title += f" · refresh {refresh.number} at {stamp}, every {interval:g}s · Ctrl-C quits"
    table = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("")
    for name in COLUMNS:
        table.add_column(name, justify="right" if name in NUMERIC else "left", no_wrap=True)
    styles: dict[Mark | None, tuple[str, str]] = {
        None: (" ", ""),
        Mark.NEW: ("+", "bold green"),
        Mark.CLOSED: ("-", "dim strike"),
        Mark.GROWING: ("↑", "bold red"),
    }
    groups = group_rows(rows)
    for index, group in enumerate(groups):
        if index and (len(group.rows) > 1 or len(groups[index - 1].rows) > 1):
            table.add_section()  # a blank line around each connection, as in the plain table
        for row in group.rows:
            marker, style = styles[refresh.mark(row) if refresh is not None else None]
            table.add_row(marker, *row_cells(row), style=style or None)
    if refresh is not None:
        table.caption = "+ new   - closed   ↑ Send-Q growing (slow reader)"
        table.caption_justify = "left"
    return table
