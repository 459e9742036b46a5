"""`netlab sockets` without typer: its option values, their checks, and the view that writes snapshots.

Both ways into the command use this module: the typer command (`netlab.cli.sockets`) and the
start-up fast path (`netlab.cli.sockets_fast`), which runs `netlab sockets ...` without importing
typer. So nothing here imports typer, and the library is imported where it is used.
"""

from __future__ import annotations

import enum
import json
import sys
import time
from typing import TYPE_CHECKING

from netlab.cli.choices import ColorChoice

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


class OptionsConflict(ValueError):
    """Options that parse one by one but make no sense together; the typer command reports it as usage.

    `param_hint` names the option to blame, as typer's `BadParameter` shows it.
    """

    def __init__(self, message: str, param_hint: str) -> None:
        super().__init__(message)
        self.param_hint = param_hint


def make_view(
    *,
    seconds: float | None,
    port: int | None,
    pid: int | None,
    all_ports: bool,
    listening: bool,
    state: list[str] | None,
    as_json: bool,
    output: OutputFormat | str,
    watch: bool,
    netns: str | None,
    backend: Backend | str,
    color: ColorChoice | str,
) -> SocketsView:
    """The view for the parsed options of `netlab sockets` (one argument per option; a choice as its
    enum member or its value, as the typer command and the fast parser give them).

    Raises:
        OptionsConflict: options that contradict each other, a bad interval or an unknown state.
    """
    output, backend, color = OutputFormat(output), Backend(backend), ColorChoice(color)
    if seconds is not None and not watch:
        raise OptionsConflict("SECONDS only makes sense with --watch", "SECONDS")
    if seconds is not None and not 0.05 <= seconds <= 3600:
        raise OptionsConflict("give a refresh interval between 0.05 and 3600 seconds", "SECONDS")
    if all_ports and port is not None:
        raise OptionsConflict("--all shows every port; drop --port or --all", "--all")
    if as_json and output is OutputFormat.netstat:
        raise OptionsConflict("--json and --format netstat are two different outputs: pick one", "--json")
    states = parse_states(state or [], listening)
    chosen_port = port if port is not None else (None if all_ports or pid is not None else DEFAULT_PORT)
    return SocketsView(
        port=chosen_port,
        pid=pid,
        netns=netns,
        states=states,
        backend=backend.value,
        output=OutputFormat.json if as_json else output,
        color=color,
    )


def parse_states(names: list[str], listening: bool) -> list[TcpState]:
    """The states asked for by `--state` (repeated or comma-separated) and `--listening`.

    Raises:
        OptionsConflict: a name that is no TCP state.
    """
    from netlab.sockets.model import TcpState

    states: list[TcpState] = [TcpState.LISTEN] if listening else []
    for name in names:
        for part in name.split(","):
            try:
                states.append(TcpState.from_name(part))
            except ValueError:
                choices = ", ".join(sorted({s.ss_name.lower() for s in TcpState}))
                raise OptionsConflict(f"unknown state {part!r}; choose from {choices}", "--state") from None
    return states


class SocketsView:
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
        color: ColorChoice,
    ) -> None:
        self.port, self.pid, self.netns, self.states, self.backend = port, pid, netns, states, backend
        self.output, self.color = output, color
        self._noted: set[str] = set()

    def take(self) -> Snapshot:
        """A snapshot with the chosen options; its notes go to stderr once it is taken.

        Raises:
            SocketsError: as `netlab.sockets.snapshot.snapshot` (nothing has been written then).
        """
        from netlab.sockets.snapshot import snapshot

        taken = snapshot(self.port, pid=self.pid, netns=self.netns, states=self.states, backend=self.backend)
        for note in taken.notes:
            self._say(f"note: {note}")
        return taken

    def _say(self, text: str) -> None:
        """One line on stderr, once per run (a --watch repeats the same remarks at every refresh)."""
        if text not in self._noted:
            self._noted.add(text)
            sys.stderr.write(f"netlab: {text}\n")
            sys.stderr.flush()

    def once(self) -> None:
        """Take one snapshot and write it."""
        self.write(self.take())

    def write(self, taken: Snapshot) -> None:
        """Write one snapshot in the chosen format."""
        from netlab.sockets.table import group_rows, render_netstat, render_text, to_document

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
                hint = " (is `netlab serve` running?)" if self.port == DEFAULT_PORT and self.pid is None else ""
                self._say(f"no TCP sockets {self._where()}{hint}")
        note = self._no_listener_note(taken)
        if note:
            self._say(note)
        sys.stdout.flush()

    def _no_listener_note(self, taken: Snapshot) -> str:
        """The "no server is listening ..." note when rows are shown but none is a listener ("" otherwise).

        TIME-WAIT rows of a server that has stopped, or a client's connection to another host, look
        like a running server at a glance. Said only when a listener would have been shown: not
        with `--pid`, nor with `--state` filters that leave LISTEN out.
        """
        from netlab.sockets.model import TcpState

        if not taken.rows or self.pid is not None or (self.states and TcpState.LISTEN not in self.states):
            return ""
        if any(row.state is TcpState.LISTEN for row in taken.rows):
            return ""
        counts: dict[str, int] = {}
        for row in taken.rows:
            counts[row.state.ss_name] = counts.get(row.state.ss_name, 0) + 1
        states = ", ".join(f"{count} {name}" for name, count in counts.items())
        count = len(taken.rows)
        rows = "the row shown is a connection" if count == 1 else f"the {count} rows shown are connections"
        return f"no server is listening {self._where()}: {rows} only ({states})"

    def watch(self, interval: float) -> None:
        """Refresh every `interval` seconds until Ctrl-C (then end the line and return)."""
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
            # Ctrl-C is the normal way out of --watch: end the line, exit 0
            sys.stderr.write("\n")
            sys.stderr.flush()

    def _console(self) -> Console | None:
        """A rich console for a terminal (or --color always); None means plain text."""
        if self.color is ColorChoice.never:
            return None
        from rich.console import Console

        console = Console(force_terminal=True if self.color is ColorChoice.always else None, highlight=False)
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
