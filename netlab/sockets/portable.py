"""The portable backend of `netlab sockets`: psutil (macOS, BSD, Windows; `--backend psutil` on Linux).

psutil gives no queues and no inodes, so Recv-Q/Send-Q are unknown (None). Where the system-wide
`net_connections` is denied (macOS without root), each process is asked in turn and the ones that
refuse are counted for the note on stderr.
"""

from __future__ import annotations

import socket

from netlab.packets import Endpoint
from netlab.sockets.model import SocketRow, TcpState


def psutil_rows(port: int | None) -> tuple[list[SocketRow], str | None]:
    """Rows from psutil (no queues, no inodes); per-process fallback when the global call is denied."""
    import psutil

    try:
        connections = [(conn, conn.pid) for conn in psutil.net_connections("tcp")]
        denied = 0
    except psutil.AccessDenied:
        connections, denied = _per_process_connections()
    rows: list[SocketRow] = []
    names: dict[int, str | None] = {}
    for conn, owner in connections:
        row = _psutil_row(conn, owner, names)
        if row is not None and (port is None or port in (row.local.port, row.remote.port)):
            rows.append(row)
    note = None
    if denied:
        note = f"sockets of {denied} processes could not be read (access denied); run with sudo to see them"
    return rows, note


def _per_process_connections() -> tuple[list[tuple[object, int]], int]:
    import psutil

    found: list[tuple[object, int]] = []
    denied = 0
    for proc in psutil.process_iter():
        try:
            found.extend((conn, proc.pid) for conn in proc.net_connections("tcp"))
        except (psutil.AccessDenied, psutil.ZombieProcess):
            denied += 1
        except psutil.NoSuchProcess:
            continue
    return found, denied


def _psutil_row(conn: object, owner: int | None, names: dict[int, str | None]) -> SocketRow | None:
    import psutil

    status = str(getattr(conn, "status", "NONE"))
    if status == "NONE":
        return None
    laddr, raddr = getattr(conn, "laddr", ()), getattr(conn, "raddr", ())
    family = 6 if getattr(conn, "family", None) == socket.AF_INET6 or ":" in (laddr[0] if laddr else "") else 4
    wildcard = "::" if family == 6 else "0.0.0.0"
    if owner is not None and owner not in names:
        try:
            names[owner] = psutil.Process(owner).name()
        except psutil.Error:
            names[owner] = None
    return SocketRow(
        family=family,
        local=Endpoint(laddr[0], laddr[1]) if laddr else Endpoint(wildcard, 0),
        remote=Endpoint(raddr[0], raddr[1]) if raddr else Endpoint(wildcard, 0),
        state=TcpState.from_name(status),
        recv_q=None,
        send_q=None,
        pids=(owner,) if owner is not None else (),
        process=names.get(owner) if owner is not None else None,
    )
