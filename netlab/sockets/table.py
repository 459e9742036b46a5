"""Who is who among the sockets, grouped so the picture reads at a glance, and rendered (pure).

- `annotate` gives each row its role (listener / server side / client side) and the nickname a
  running server published for that connection.
- `group_rows` orders the picture: listeners first, then each connection with its server end
  and its client end next to each other.
- `render_text`, `render_netstat` and `to_document` turn rows into a plain table, netstat's own
  layout, or a JSON-able dict. `WatchTracker` compares refreshes for `--watch`.

Only the standard library and netlab value types are imported here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from netlab.packets import Endpoint
from netlab.sockets.model import (
    SCHEMA_VERSION,
    Role,
    ServerScope,
    ServerStatus,
    Snapshot,
    SocketRow,
    TcpState,
    unmapped,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

COLUMNS = ("ROLE", "NICK", "PROTO", "LOCAL", "REMOTE", "STATE", "RECV-Q", "SEND-Q", "PID", "PROCESS")
NUMERIC = frozenset({"RECV-Q", "SEND-Q", "PID"})

Pair = tuple[Endpoint, Endpoint]


def _pair(row: SocketRow) -> Pair:
    return (unmapped(row.local), unmapped(row.remote))


def annotate(
    rows: Iterable[SocketRow], servers: Sequence[ServerStatus] = (), port: int | None = None
) -> list[SocketRow]:
    """Fill in `role` and `nickname` on each row.

    A row is the listener when it listens on `port`, a server's published port, or any port that
    some row listens on; a connection is the server side when its local port is one of those
    listening ports and the client side when its remote port is. Nicknames come from the servers'
    registries, matched on both addresses (IPv4-mapped IPv6 addresses match their IPv4 form).
    """
    rows = list(rows)
    listening = {row.local.port for row in rows if row.state is TcpState.LISTEN}
    listening.update(server.port for server in servers)
    if port is not None:
        listening.add(port)
    nicks: dict[Pair, tuple[str, Role, int | None]] = {}
    for server in servers:
        for client in server.clients:
            server_end = (unmapped(client.local), unmapped(client.remote))
            nicks[server_end] = (client.nick, Role.SERVER_SIDE, client.queued_bytes)
            nicks[(server_end[1], server_end[0])] = (client.nick, Role.CLIENT_SIDE, None)
    return [_annotated(row, listening, nicks) for row in rows]


def _annotated(row: SocketRow, listening: set[int], nicks: dict[Pair, tuple[str, Role, int | None]]) -> SocketRow:
    if row.state is TcpState.LISTEN:
        role = Role.LISTENER if row.local.port in listening else Role.OTHER
        return replace(row, role=role, nickname=None)
    known = nicks.get(_pair(row))
    if known is not None:
        return replace(row, nickname=known[0], role=known[1], queued=known[2])
    if row.local.port in listening:
        role = Role.SERVER_SIDE
    elif row.remote.port in listening:
        role = Role.CLIENT_SIDE
    else:
        role = Role.OTHER
    return replace(row, role=role, nickname=None)


def within(rows: Iterable[SocketRow], scope: ServerScope) -> list[SocketRow]:
    """The rows that belong to one server's run: its listener, and both ends of every connection it
    accepted, in any state (TIME-WAIT included). Everything else on the port is left out: an earlier
    server's TIME-WAIT, another process listening there, connections it never accepted.

    The listener is recognised by its inode when both are known, else by its address; a connection
    by its two addresses (IPv4-mapped addresses match their IPv4 form).
    """
    listen = {unmapped(endpoint) for endpoint in scope.listen}
    ours: set[Pair] = set()
    for server_end, client_end in scope.connections:
        ours.add((unmapped(server_end), unmapped(client_end)))
        ours.add((unmapped(client_end), unmapped(server_end)))
    kept: list[SocketRow] = []
    for row in rows:
        if row.state is TcpState.LISTEN:
            if scope.listener_inode is not None and row.inode:
                mine = row.inode == scope.listener_inode
            else:
                mine = unmapped(row.local) in listen
        else:
            mine = _pair(row) in ours
        if mine:
            kept.append(row)
    return kept


def select(rows: Iterable[SocketRow], states: Iterable[TcpState] = ()) -> list[SocketRow]:
    """The rows in one of `states` (every row when `states` is empty)."""
    wanted = set(states)
    return [row for row in rows if not wanted or row.state in wanted]


class GroupKind(enum.Enum):
    """What a group of rows shows."""

    LISTENER = "listener"
    CONNECTION = "connection"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Group:
    """Rows shown together: one listener, or the two ends of one connection (server end first)."""

    kind: GroupKind
    rows: tuple[SocketRow, ...]

    @property
    def nickname(self) -> str | None:
        """The nickname on this connection, if any row carries one."""
        return next((row.nickname for row in self.rows if row.nickname), None)


_ROLE_ORDER = {Role.LISTENER: 0, Role.SERVER_SIDE: 1, Role.CLIENT_SIDE: 2, Role.OTHER: 3}


def group_rows(rows: Iterable[SocketRow]) -> list[Group]:
    """Listeners first, then each connection with both of its ends side by side.

    Connections that carry a nickname come first (by nickname), then the other connections of a
    listening port, then everything else; within a group the server end precedes the client end.
    Both ends pair up when one's local and remote addresses are the other's remote and local.
    """
    rows = list(rows)
    by_pair: dict[Pair, list[int]] = {}
    for index, row in enumerate(rows):
        by_pair.setdefault(_pair(row), []).append(index)
    used: set[int] = set()
    groups: list[Group] = []
    for index, row in enumerate(rows):
        if index in used:
            continue
        used.add(index)
        members = [row]
        if row.state is not TcpState.LISTEN:
            local, remote = _pair(row)
            peer = next((i for i in by_pair.get((remote, local), []) if i not in used), None)
            if peer is not None:
                used.add(peer)
                members.append(rows[peer])
        members.sort(key=lambda member: (_ROLE_ORDER[member.role], member.local.port))
        groups.append(Group(_kind(members), tuple(members)))
    groups.sort(key=_group_order)
    return groups


def _kind(members: list[SocketRow]) -> GroupKind:
    if members[0].role is Role.LISTENER:
        return GroupKind.LISTENER
    if any(member.role in (Role.SERVER_SIDE, Role.CLIENT_SIDE) for member in members):
        return GroupKind.CONNECTION
    return GroupKind.OTHER


def _group_order(group: Group) -> tuple[int, int, str, int, str, int, str, int]:
    first = group.rows[0]
    rank = {GroupKind.LISTENER: 0, GroupKind.CONNECTION: 2, GroupKind.OTHER: 3}[group.kind]
    if group.kind is GroupKind.CONNECTION and group.nickname:
        rank = 1
    server_end = next((row for row in group.rows if row.role is Role.SERVER_SIDE), first)
    return (
        rank,
        server_end.local.port,
        (group.nickname or "").casefold(),
        server_end.remote.port,
        server_end.remote.ip,
        first.local.port,
        first.local.ip,
        first.state.value,
    )


# --- cells and text ------------------------------------------------------------------------------


def format_endpoint(endpoint: Endpoint, brackets: bool = True) -> str:
    """``ip:port`` (``[ip6]:port`` with brackets), ``*`` for port 0 as ss and netstat print a wildcard."""
    port = "*" if endpoint.port == 0 else str(endpoint.port)
    if ":" in endpoint.ip and brackets:
        return f"[{endpoint.ip}]:{port}"
    return f"{endpoint.ip}:{port}"


def endpoint_text(row: SocketRow, endpoint: Endpoint) -> str:
    """One end of `row` as ss prints it: a dual-stack wildcard (``::`` without IPV6_V6ONLY) is ``*``."""
    if row.family == 6 and row.v6only is False and endpoint.ip == "::":
        return f"*:{endpoint.port or '*'}"
    return format_endpoint(endpoint)


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)


def row_cells(row: SocketRow) -> tuple[str, ...]:
    """The cells of one row, in `COLUMNS` order; unknown values are ``-``."""
    return (
        row.role.value if row.role is not Role.OTHER else "-",
        row.nickname or "-",
        row.proto,
        endpoint_text(row, row.local),
        endpoint_text(row, row.remote),
        row.state.ss_name,
        _number(row.recv_q),
        _number(row.send_q),
        _number(row.pid) + ("+" if len(row.pids) > 1 else ""),
        row.process or "-",
    )


def render_text(groups: Sequence[Group]) -> str:
    """A plain aligned table: a header, then the groups separated by blank lines; no colour."""
    body = [[row_cells(row) for row in group.rows] for group in groups]
    widths = [len(name) for name in COLUMNS]
    for group in body:
        for cells in group:
            widths = [max(width, len(cell)) for width, cell in zip(widths, cells, strict=True)]
    lines = [_line(COLUMNS, widths)]
    for index, group in enumerate(body):
        if index and (len(group) > 1 or len(body[index - 1]) > 1):
            lines.append("")
        lines.extend(_line(cells, widths) for cells in group)
    return "\n".join(lines) + "\n"


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    parts = [
        cell.rjust(width) if name in NUMERIC else cell.ljust(width)
        for name, cell, width in zip(COLUMNS, cells, widths, strict=True)
    ]
    return "  ".join(parts).rstrip()


def render_netstat(rows: Iterable[SocketRow]) -> str:
    """The rows in `netstat -tanp`'s own layout (net-tools), for hand-ins that ask for netstat output.

    As netstat reads /proc/net/tcp, a listener's Send-Q is 0 here (ss shows the backlog limit).
    """
    lines = [
        "Active Internet connections (servers and established)",
        "Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name    ",
    ]
    for row in rows:
        send_q = 0 if row.state is TcpState.LISTEN else row.send_q
        owner = f"{row.pid}/{row.process or '?'}" if row.pid is not None else "-"
        lines.append(
            f"{row.proto:<5} {_number(row.recv_q):>6} {_number(send_q):>6} "
            f"{format_endpoint(row.local, brackets=False):<23} {format_endpoint(row.remote, brackets=False):<23} "
            f"{row.state.netstat_name:<11} {owner:<20}"
        )
    return "\n".join(lines) + "\n"


def render_markdown(groups: Sequence[Group]) -> str:
    """A Markdown table of the groups (for reports): one row per socket, in display order."""
    aligns = ["---:" if name in NUMERIC else "---" for name in COLUMNS]
    lines = ["| " + " | ".join(COLUMNS) + " |", "| " + " | ".join(aligns) + " |"]
    for group in groups:
        for row in group.rows:
            lines.append("| " + " | ".join(_markdown_cell(cell) for cell in row_cells(row)) + " |")
    return "\n".join(lines) + "\n"


def _markdown_cell(cell: str) -> str:
    if ":" in cell and "`" not in cell and "|" not in cell:
        return f"`{cell}`"  # an address: keep it literal
    return "".join("\\" + char if char in "\\|*_`<>[]#" else char for char in cell)


# --- JSON ----------------------------------------------------------------------------------------


def row_to_dict(row: SocketRow) -> dict[str, Any]:
    """One row as JSON-able values (addresses as ss prints them, plus their parts)."""
    return {
        "proto": row.proto,
        "family": f"ipv{row.family}",
        "local": endpoint_text(row, row.local),
        "remote": endpoint_text(row, row.remote),
        "local_ip": row.local.ip,
        "local_port": row.local.port,
        "remote_ip": row.remote.ip,
        "remote_port": row.remote.port,
        "state": row.state.ss_name,
        "recv_q": row.recv_q,
        "send_q": row.send_q,
        "pid": row.pid,
        "pids": list(row.pids),
        "process": row.process,
        "nickname": row.nickname,
        "role": row.role.value,
        "queued_bytes": row.queued,
        "inode": row.inode,
        "uid": row.uid,
    }


def to_document(snapshot: Snapshot) -> dict[str, Any]:
    """The snapshot as one JSON-able document: rows in display order, each with its group number."""
    rows: list[dict[str, Any]] = []
    for number, group in enumerate(group_rows(snapshot.rows)):
        for row in group.rows:
            rows.append({**row_to_dict(row), "group": number, "group_kind": group.kind.value})
    return {
        "schema_version": SCHEMA_VERSION,
        "taken": snapshot.taken,
        "port": snapshot.port,
        "netns": snapshot.netns,
        "backend": snapshot.backend,
        "hidden_pids": snapshot.hidden,
        "notes": list(snapshot.notes),
        "servers": [
            {"pid": server.pid, "port": server.port, "clients": len(server.clients)} for server in snapshot.servers
        ],
        "rows": rows,
    }


# --- --watch -------------------------------------------------------------------------------------


class Mark(enum.Enum):
    """How a row changed since the previous refresh."""

    NEW = "new"
    CLOSED = "closed"
    GROWING = "growing"


RowKey = tuple[Endpoint, Endpoint, int]


def _backlog(row: SocketRow) -> int:
    """Bytes waiting to leave through this socket: the kernel's Send-Q plus the server's outbox."""
    return (row.send_q or 0) + (row.queued or 0)


@dataclass(frozen=True, slots=True)
class Refresh:
    """One refresh of the watch: the rows to show (closed ones included once) and their marks."""

    rows: tuple[SocketRow, ...]
    marks: dict[RowKey, Mark]
    number: int

    def mark(self, row: SocketRow) -> Mark | None:
        """The mark of `row`, if any."""
        return self.marks.get(row.key)


class WatchTracker:
    """Compares successive snapshots for `--watch` (pure; not thread-safe: one owner).

    A row is NEW when it was not there at the previous refresh (nothing is new at the first),
    CLOSED for one refresh after it disappeared, and GROWING once its Send-Q (plus what the chat
    server queues for it in its own outbox, once the kernel's buffer is full) has grown at
    `grow_after` consecutive refreshes: the slow consumer a chat server is about to drop.
    """

    def __init__(self, grow_after: int = 2) -> None:
        self._grow_after = grow_after
        self._previous: dict[RowKey, SocketRow] = {}
        self._streak: dict[RowKey, int] = {}
        self._number = 0

    def update(self, rows: Iterable[SocketRow]) -> Refresh:
        """Take the next snapshot's rows; return what to show and how to mark it."""
        current = {row.key: row for row in rows}
        marks: dict[RowKey, Mark] = {}
        streak: dict[RowKey, int] = {}
        for key, row in current.items():
            before = self._previous.get(key)
            if before is None:
                if self._number:
                    marks[key] = Mark.NEW
                continue
            grew = _backlog(row) > _backlog(before)
            streak[key] = self._streak.get(key, 0) + 1 if grew else 0
            if streak[key] >= self._grow_after:
                marks[key] = Mark.GROWING
        closed = [row for key, row in self._previous.items() if key not in current]
        for row in closed:
            marks[row.key] = Mark.CLOSED
        self._previous, self._streak = current, streak
        self._number += 1
        return Refresh(rows=tuple(current.values()) + tuple(closed), marks=marks, number=self._number)
