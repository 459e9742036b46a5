"""Linux /proc: which processes hold which socket inodes, process names, children, /proc/net/tcp.

Attributing a pid to a socket means finding a ``/proc/PID/fd/N -> socket:[INODE]`` link, and
``ss -p``/``netstat -p``/psutil read every fd of every process to do it. Here the scan stops as
soon as every wanted inode has an owner, and looks first where owners are likely: the pids the
caller names (the chat server and its children), then the other processes ordered by how many
fds they hold, preferring the uids the kernel reported for the sockets. A process hoarding 10 000
unrelated sockets is then read last, if at all. The count is what stat() of /proc/PID/fd says
(Linux 6.2 and later: one cheap call per process, and kernel threads show 0); older kernels say 0
there for everyone, so the table size ``FDSize`` from /proc/PID/status stands in.

The price of stopping early: a socket shared by two processes (inherited over fork) lists only
the holders met before the scan stopped. The named pids and their children are always read whole.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from typing import TYPE_CHECKING

from netlab.packets import Endpoint
from netlab.sockets.model import SocketRow, TcpState

if TYPE_CHECKING:
    from collections.abc import Iterable

log = logging.getLogger(__name__)

PROC = "/proc"


class Attribution:
    """Owners found for socket inodes, and what the scan could not see.

    Attributes:
        owners: socket inode -> the pids holding it.
        denied: pids whose fds we were not allowed to read.
        scanned: how many processes were read.
    """

    __slots__ = ("owners", "denied", "scanned")

    def __init__(self) -> None:
        self.owners: dict[int, list[int]] = {}
        self.denied: set[int] = set()
        self.scanned = 0


def socket_inodes(pid: int) -> list[int]:
    """The socket inodes among the open fds of `pid`.

    Raises:
        PermissionError: when the process belongs to another user and we are not root.
        FileNotFoundError / ProcessLookupError: when the process is gone.
    """
    base = f"{PROC}/{pid}/fd"
    found: list[int] = []
    for name in os.listdir(base):
        try:
            target = os.readlink(f"{base}/{name}")
        except FileNotFoundError:
            continue  # closed between listdir and readlink
        if target.startswith("socket:["):
            found.append(int(target[8:-1]))
    return found


def attribute(wanted: Iterable[int], first: Iterable[int] = (), prefer_uids: Iterable[int] = ()) -> Attribution:
    """Find the processes holding the socket inodes in `wanted`.

    Args:
        wanted: socket inodes (0 is ignored: nobody owns TIME-WAIT sockets).
        first: pids to read whole before anything else (e.g. the chat server and its children).
        prefer_uids: after those, read processes of these uids first.

    Returns:
        An Attribution: inode -> owning pids (sorted), the pids whose fds we may not read, and how
        many processes were read.
    """
    targets = {inode for inode in wanted if inode}
    missing = set(targets)
    result = Attribution()
    first_pids = list(dict.fromkeys(first))
    for pid in first_pids:
        _scan_into(pid, targets, missing, result)
    if missing:
        for pid in candidates(exclude=set(first_pids), prefer_uids=set(prefer_uids)):
            _scan_into(pid, targets, missing, result)
            if not missing:
                break
    for owners in result.owners.values():
        owners.sort()
    return result


def _scan_into(pid: int, targets: set[int], missing: set[int], result: Attribution) -> None:
    """Read the fds of `pid` and record it as an owner of each target inode it holds."""
    try:
        inodes = socket_inodes(pid)
    except PermissionError:
        result.denied.add(pid)
        return
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        log.debug("process %d went away during the scan", pid)
        return
    result.scanned += 1
    for inode in inodes:
        if inode in targets:
            missing.discard(inode)
            owners = result.owners.setdefault(inode, [])
            if pid not in owners:
                owners.append(pid)


def candidates(exclude: set[int], prefer_uids: set[int]) -> list[int]:
    """Every pid with fds not in `exclude`, preferred uids first, then by number of fds (fewest first)."""
    uid_and_fds = _uid_and_fd_count if _stat_counts_fds() else _uid_and_fd_size
    ranked: list[tuple[bool, int, int]] = []
    for name in os.listdir(PROC):
        if not name.isdigit() or int(name) in exclude:
            continue
        pid = int(name)
        uid, fds = uid_and_fds(pid)
        if fds == 0:
            continue  # kernel thread or zombie: no fds
        ranked.append((uid not in prefer_uids, fds, pid))
    ranked.sort()
    return [pid for _, _, pid in ranked]


def _stat_counts_fds() -> bool:
    """Whether stat() of /proc/PID/fd gives the number of open fds (Linux 6.2 and later; 0 before)."""
    try:
        return os.stat(f"{PROC}/self/fd").st_size > 0
    except OSError:
        return False


def _uid_and_fd_count(pid: int) -> tuple[int, int]:
    """The owner of /proc/PID (the process's effective uid) and how many fds it has open."""
    try:
        return os.stat(f"{PROC}/{pid}").st_uid, os.stat(f"{PROC}/{pid}/fd").st_size
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return -1, 0


def _uid_and_fd_size(pid: int) -> tuple[int, int]:
    """The real uid and the fd-table size (``FDSize``) from /proc/PID/status."""
    uid, fd_size = -1, 0
    try:
        with open(f"{PROC}/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"Uid:"):
                    uid = int(line.split()[1])
                elif line.startswith(b"FDSize:"):
                    fd_size = int(line.split()[1])
                    break
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return uid, 0
    return uid, fd_size


def process_name(pid: int) -> str | None:
    """The short command name of `pid` (``/proc/PID/comm``), or None when it is gone."""
    try:
        with open(f"{PROC}/{pid}/comm", encoding="utf-8", errors="replace") as handle:
            return handle.read().rstrip("\n")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def descendants(pid: int) -> list[int]:
    """Children of `pid`, recursively, from ``/proc/PID/task/*/children`` (psutil when that is absent)."""
    found: list[int] = []
    queue = [pid]
    while queue:
        parent = queue.pop()
        kids = _children(parent)
        found.extend(kids)
        queue.extend(kids)
    return found


def _children(pid: int) -> list[int]:
    try:
        tasks = os.listdir(f"{PROC}/{pid}/task")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    kids: list[int] = []
    for task in tasks:
        try:
            with open(f"{PROC}/{pid}/task/{task}/children", "rb") as handle:
                kids.extend(int(word) for word in handle.read().split())
        except FileNotFoundError:
            return _children_psutil(pid)  # kernel without CONFIG_PROC_CHILDREN, or the task ended
        except (ProcessLookupError, PermissionError):
            continue
    return kids


def _children_psutil(pid: int) -> list[int]:
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children()]
    except psutil.Error:
        return []


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (and is not a zombie)."""
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] != b"Z"


def netns_id(pid: int | str) -> int | None:
    """The inode of the network namespace of `pid` ("self" for ours), or None when unreadable."""
    try:
        return os.stat(f"{PROC}/{pid}/ns/net").st_ino
    except OSError:
        return None


# --- /proc/net/tcp{,6}: the fallback when sock_diag is unavailable -------------------------------


def read_proc_net_tcp(root: str = PROC) -> list[SocketRow]:
    """Every TCP socket listed in /proc/net/tcp and /proc/net/tcp6 (the current namespace)."""
    rows: list[SocketRow] = []
    for name, family in (("tcp", 4), ("tcp6", 6)):
        try:
            with open(f"{root}/net/{name}", encoding="ascii") as handle:
                rows.extend(parse_proc_net_tcp(handle.read(), family))
        except FileNotFoundError:
            log.debug("%s/net/%s is missing (no IPv%d?)", root, name, family)
    return rows


def parse_proc_net_tcp(text: str, family: int) -> list[SocketRow]:
    """Parse the body of /proc/net/tcp (`family` 4) or /proc/net/tcp6 (6); the header line is skipped."""
    rows: list[SocketRow] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        tx_queue, rx_queue = fields[4].split(":")
        rows.append(
            SocketRow(
                family=family,
                local=_hex_endpoint(fields[1], family),
                remote=_hex_endpoint(fields[2], family),
                state=TcpState(int(fields[3], 16)),
                recv_q=int(rx_queue, 16),
                send_q=int(tx_queue, 16),
                inode=int(fields[9]),
                uid=int(fields[7]),
            )
        )
    return rows


def _hex_endpoint(text: str, family: int) -> Endpoint:
    address, port = text.split(":")
    words = [int(address[i : i + 8], 16) for i in range(0, len(address), 8)]
    packed = b"".join(struct.pack("=I", word) for word in words)  # each 32-bit word is in host order
    kind = socket.AF_INET6 if family == 6 else socket.AF_INET
    return Endpoint(socket.inet_ntop(kind, packed), int(port, 16))
