"""Taking a snapshot of the chat's sockets: the IO edge of `netlab sockets`.

On Linux: one kernel-filtered sock_diag query per address family (`diag`; /proc/net/tcp when
sock_diag is missing), pids from /proc scanning the chat server and its children first (`procfs`),
nicknames from the status file a running `netlab serve` publishes (`netlab.runtime`). Elsewhere:
psutil, with its per-process fallback when the system-wide call is denied (macOS without root).

Library use (e.g. a lab report)::

    from netlab.sockets.snapshot import take_snapshot
    from netlab.sockets.table import group_rows, render_text
    rows = take_snapshot(55555)
    print(render_text(group_rows(rows)))
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from netlab import runtime
from netlab.errors import SocketsError, SocketsPermissionError
from netlab.sockets import diag, procfs
from netlab.sockets.model import ServerStatus, Snapshot, SocketRow, TcpState, parse_status
from netlab.sockets.table import annotate, select

if TYPE_CHECKING:
    from collections.abc import Iterable

log = logging.getLogger(__name__)

DEFAULT_PORT = 55555
IS_LINUX = sys.platform.startswith("linux")


def take_snapshot(
    port: int | None = DEFAULT_PORT,
    *,
    pid: int | None = None,
    netns: str | None = None,
    states: Iterable[TcpState] = (),
    status_dir: Path | None = None,
) -> list[SocketRow]:
    """The sockets on `port` (every port when None), with owners, nicknames and roles.

    The rows of `snapshot` with the same arguments; group and render them with `netlab.sockets.table`.
    """
    return list(snapshot(port, pid=pid, netns=netns, states=states, status_dir=status_dir).rows)


def snapshot(
    port: int | None = DEFAULT_PORT,
    *,
    pid: int | None = None,
    netns: str | None = None,
    states: Iterable[TcpState] = (),
    status_dir: Path | None = None,
    backend: str = "auto",
) -> Snapshot:
    """Look at the TCP sockets now.

    Args:
        port: keep sockets with this local or remote port; None keeps every port.
        pid: keep sockets held by this process or its children (looks into its network namespace
            when it lives in another one).
        netns: a network namespace name (``ip netns``) or path to look into instead of ours.
        states: keep only these states (all when empty).
        status_dir: where running servers publish their status (default: `runtime.status_dir()`).
        backend: "auto", "sock_diag", "proc" or "psutil".

    Raises:
        SocketsError: unknown pid or namespace, no right to enter it, or an unusable backend.

    Thread-safe: each call opens its own netlink socket (for `netns`, through a helper thread that
    is joined before the call returns).
    """
    taken = time.time()
    family = _family_of(pid)
    ns_path = _namespace_of(netns, pid)
    chosen = _choose_backend(backend)
    note: str | None = None
    if chosen == "psutil":
        from netlab.sockets.portable import psutil_rows  # macOS, BSD or --backend psutil only

        seen, note = psutil_rows(port)
        rows = [row for row in select(seen, states) if not family or set(row.pids) & set(family)]
    else:
        seen, chosen = _linux_rows(port, ns_path, chosen, pid)
        rows = select(seen, states)
        if family:
            held = _inodes_of(family)
            rows = [row for row in rows if row.inode in held]
    # the listeners, whatever the filters: a status file counts only when its pid holds one
    listeners = [row for row in seen if row.state is TcpState.LISTEN]
    private: list[str] = []
    servers, elsewhere = _servers_in(ns_path, _find_servers(port, status_dir, seen, private))
    if chosen != "psutil":
        rows, note, listeners = _attribute(rows, servers, family, listeners)
    servers = [server for server in servers if _holds_its_listener(server, listeners)]
    rows = annotate(rows, servers, port)
    hidden = sum(1 for row in rows if row.inode and not row.pids)
    notes = [note.format(hidden=hidden, total=len(rows))] if note and (hidden or chosen == "psutil") else []
    notes.extend(
        f"no nicknames: the status file of the server on port {port} would be in {where}, which is private to "
        "its owner; run with sudo to see them"
        for where in private
    )
    notes.extend(
        f"the chat server on port {server.port} (pid {server.pid}) runs in another network namespace: "
        f"add --netns /proc/{server.pid}/ns/net to look there"
        for server in elsewhere
    )
    return Snapshot(
        rows=tuple(rows),
        taken=taken,
        port=port,
        backend=chosen,
        servers=tuple(servers),
        hidden=hidden,
        notes=tuple(notes),
        netns=str(ns_path) if ns_path else None,
    )


def _holds_its_listener(server: ServerStatus, listeners: list[SocketRow]) -> bool:
    """Whether the server's pid is the process listening on its port, so its status file may name
    the port's connections; False (with a warning) for a file whose pid does not listen there (a
    stale file whose pid was reused, or a forgery), or whose owner is neither us, root, nor the
    user of that listener.

    When the listener's owner is hidden from us (another user's server, and we are not root), the
    pid must at least run as the user the kernel reports for the listening socket.
    """
    mine = [row for row in listeners if row.local.port == server.port]
    held = [row for row in mine if server.pid in row.pids]
    uids = {row.uid for row in (held or mine)}
    why = ""
    if not mine:
        why = "nothing listens on that port"
    elif not held and any(row.pids for row in mine):
        owners = sorted({pid for row in mine for pid in row.pids})
        why = f"pid {server.pid} does not listen on it (pid {', '.join(str(p) for p in owners)} does)"
    elif not held and (len(uids) != 1 or not _runs_as(server.pid, uids)):
        why = f"pid {server.pid} does not run as the user who listens on it"
    elif server.owner is not None and server.owner not in runtime.reader_uids() and server.owner not in uids:
        why = f"the file belongs to uid {server.owner}, who does not listen on it"
    if why:
        runtime.warn_once(f"ignoring the status file of port {server.port} (pid {server.pid}): {why}")
        return False
    return True


def _runs_as(pid: int, uids: set[int | None]) -> bool:
    """Whether process `pid` runs as one of `uids` (the owner of /proc/PID; Linux), False when unknown."""
    if not IS_LINUX or None in uids:
        return False
    try:
        return os.stat(f"{procfs.PROC}/{pid}").st_uid in uids
    except OSError:
        return False


def _servers_in(ns_path: Path | None, servers: list[ServerStatus]) -> tuple[list[ServerStatus], list[ServerStatus]]:
    """Split servers into those in the namespace we look at and those elsewhere (Linux; else all here).

    A registry only names sockets of its own namespace: the same addresses can mean other
    connections in another one (a namespaced lab runs several chats on 10.0.0.1:55555).
    """
    if not IS_LINUX or not servers:
        return servers, []
    try:
        target = os.stat(ns_path).st_ino if ns_path is not None else procfs.netns_id("self")
    except OSError:
        return servers, []
    here = [server for server in servers if procfs.netns_id(server.pid) in (target, None)]
    return here, [server for server in servers if server not in here]


def _find_servers(
    port: int | None, directory: Path | None, rows: list[SocketRow], private: list[str]
) -> list[ServerStatus]:
    """The servers' registries from `directory` (default: ours); failing that, from the default
    directory of the user who owns the port's sockets — so `sudo netlab sockets` still finds the
    registry of a server a student started. A directory and file found that way must belong to that
    user (or root), which the kernel names as the owner of the port's sockets. Such a directory we
    may not read is added to `private`.
    """
    servers = load_servers(port, directory)
    owners = sorted(
        {row.uid for row in rows if row.state is TcpState.LISTEN and row.local.port == port and row.uid is not None}
    )
    if servers or directory is not None or port is None or not owners:
        return servers
    ours = os.path.realpath(runtime.status_dir())
    for uid in owners:
        for candidate in (f"/run/user/{uid}/netlab", os.path.join(tempfile.gettempdir(), f"netlab-{uid}")):
            if os.path.realpath(candidate) == ours or not os.path.isdir(candidate):
                continue
            if not os.access(candidate, os.R_OK | os.X_OK):
                private.append(candidate)
                continue
            if found := load_servers(port, candidate, owners=(uid, 0)):
                log.info("using the status file in %s (the port's owner, uid %d)", candidate, uid)
                return found
    return servers


def load_servers(
    port: int | None, directory: Path | str | None = None, owners: Iterable[int] | None = None
) -> list[ServerStatus]:
    """The registries of running servers: the one on `port`, or every one when `port` is None.

    Only trusted files are read (see `runtime.read_statuses`; `owners` defaults to us and root).
    Status files of servers that are gone (dead pid) or of an unknown schema are ignored.
    """
    found = runtime.read_statuses(None if port is None else [port], directory, None if owners is None else set(owners))
    servers: list[ServerStatus] = []
    for document, owner in found:
        status = parse_status(document)
        if status is None:
            continue
        status = replace(status, owner=owner)
        if not _alive(status.pid):
            log.info("ignoring the status file of port %d: server pid %d is gone", status.port, status.pid)
            continue
        servers.append(status)
    return servers


def _alive(pid: int) -> bool:
    if IS_LINUX:
        return procfs.pid_alive(pid)
    import psutil

    return bool(psutil.pid_exists(pid))


def _family_of(pid: int | None) -> list[int]:
    """`pid` and its descendants, or [] when no pid was asked for."""
    if pid is None:
        return []
    if not _alive(pid):
        raise SocketsError(f"no process with pid {pid}")
    if IS_LINUX:
        return [pid, *procfs.descendants(pid)]
    import psutil

    try:
        return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
    except psutil.Error as error:
        raise SocketsError(f"cannot look at process {pid}: {error}") from error


def _inodes_of(pids: list[int]) -> set[int]:
    """The socket inodes held by `pids` (Linux)."""
    held: set[int] = set()
    for pid in pids:
        try:
            held.update(procfs.socket_inodes(pid))
        except PermissionError as error:
            from netlab.invocation import as_root

            raise SocketsPermissionError(
                f"no permission to read the sockets of pid {pid}: run it as root ({as_root('sockets')})"
            ) from error
        except (FileNotFoundError, ProcessLookupError):
            continue  # a child that just ended
    return held


def _namespace_of(netns: str | None, pid: int | None) -> Path | None:
    """The namespace file to look into, or None for our own namespace."""
    if netns is not None:
        if not IS_LINUX:
            raise SocketsError("--netns needs Linux network namespaces")
        from netlab.sockets.netns import netns_path

        return netns_path(netns)
    if pid is not None and IS_LINUX:
        theirs = procfs.netns_id(pid)
        if theirs is not None and theirs != procfs.netns_id("self"):
            return Path(f"/proc/{pid}/ns/net")
    return None


def _choose_backend(backend: str) -> str:
    if backend not in ("auto", "sock_diag", "proc", "psutil"):
        raise SocketsError(f"unknown backend {backend!r}: use auto, sock_diag, proc or psutil")
    if backend == "auto":
        return "sock_diag" if IS_LINUX else "psutil"
    if backend != "psutil" and not IS_LINUX:
        raise SocketsError(f"the {backend} backend needs Linux")
    return backend


def _linux_rows(port: int | None, ns_path: Path | None, backend: str, pid: int | None) -> tuple[list[SocketRow], str]:
    """Rows from sock_diag (falling back to /proc/net/tcp when auto-chosen sock_diag is unavailable)."""
    if backend == "sock_diag":
        try:
            if ns_path is None:
                return diag.query(port), "sock_diag"
            from netlab.sockets.netns import open_diag_socket_in

            with open_diag_socket_in(ns_path) as sock:
                return diag.query(port, sock), "sock_diag"
        except SocketsError:
            raise
        except OSError as error:
            log.info("sock_diag unavailable (%s); reading /proc/net/tcp instead", error)
    root = procfs.PROC if ns_path is None else _proc_root_in(ns_path, pid)
    rows = procfs.read_proc_net_tcp(root)
    if port is not None:
        rows = [row for row in rows if port in (row.local.port, row.remote.port)]
    return rows, "proc"


def _proc_root_in(ns_path: Path, pid: int | None) -> str:
    """A /proc/PID whose net/ shows the namespace at `ns_path`."""
    if pid is not None:
        return f"{procfs.PROC}/{pid}"
    target = os.stat(ns_path).st_ino
    for name in os.listdir(procfs.PROC):
        if name.isdigit() and procfs.netns_id(name) == target:
            return f"{procfs.PROC}/{name}"
    raise SocketsError(f"no process lives in network namespace {str(ns_path)!r}, so /proc cannot show it")


_HIDDEN_NOTE = (
    "pids of {hidden} of {total} sockets are hidden (shown as -): they belong to other users' processes, "
    "whose file descriptors only root can read; run with sudo to see them"
)

_UNSEEN_NOTE = (
    "no visible process holds {hidden} of {total} sockets (pid shown as -): their owner lives in another "
    "PID namespace (a container) or has just exited"
)


def _attribute(
    rows: list[SocketRow], servers: list[ServerStatus], family: list[int], listeners: list[SocketRow]
) -> tuple[list[SocketRow], str | None, list[SocketRow]]:
    """Fill in owners from /proc, reading the servers, their children and `family` first; `listeners`
    (the port's listening sockets, shown or not) get theirs too."""
    first: list[int] = list(family)
    for server in servers:
        first.extend([server.pid, *procfs.descendants(server.pid)])
    every = [*rows, *listeners]
    found = procfs.attribute(
        (row.inode for row in every), first=first, prefer_uids={row.uid for row in rows if row.uid is not None}
    )
    names: dict[int, str | None] = {}

    def owned(row: SocketRow) -> SocketRow:
        pids = tuple(found.owners.get(row.inode, ()))
        if pids and pids[0] not in names:
            names[pids[0]] = procfs.process_name(pids[0])
        return row.with_owner(pids, names[pids[0]]) if pids else row

    log.debug("pid attribution read %d processes; %d denied", found.scanned, len(found.denied))
    shown = [owned(row) for row in rows]
    listening = [owned(row) for row in listeners]
    if os.geteuid() != 0:
        return shown, (_HIDDEN_NOTE if found.denied else None), listening
    return shown, _UNSEEN_NOTE, listening
