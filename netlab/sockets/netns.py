"""Opening a sock_diag socket inside another network namespace (Linux, root).

A socket belongs to the network namespace of the thread that created it, and setns(CLONE_NEWNET)
moves only the calling thread. So a short-lived helper thread enters the target namespace,
creates the netlink socket, goes back, and ends; the rest of the process never leaves its own
namespace, and the socket answers for the target namespace from any thread.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import threading
from pathlib import Path

from netlab.errors import SocketsError, SocketsPermissionError
from netlab.invocation import as_root
from netlab.sockets import diag

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = Path("/run/netns")


def netns_path(name: str) -> Path:
    """The file of a named namespace (``ip netns add NAME``), or `name` itself when it is a path.

    Raises:
        SocketsError: when there is no such namespace.
        SocketsPermissionError: when we may not even look at it.
    """
    path = Path(name) if "/" in name else NETNS_RUN_DIR / name
    try:
        path.stat()
    except PermissionError:
        raise SocketsPermissionError(
            f"no permission to look at network namespace {name!r}: run it as root ({as_root('sockets')})"
        ) from None
    except OSError:
        known = sorted(p.name for p in NETNS_RUN_DIR.iterdir()) if NETNS_RUN_DIR.is_dir() else []
        hint = f" (known: {', '.join(known)})" if known else " (`ip netns list` shows none)"
        raise SocketsError(f"no network namespace {name!r}{hint}") from None
    return path


def _setns(fd: int) -> None:
    setns = getattr(os, "setns", None)  # Python 3.12+
    if setns is not None:
        setns(fd, CLONE_NEWNET)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def open_diag_socket_in(path: Path | str) -> socket.socket:
    """A NETLINK_SOCK_DIAG socket that reports on the network namespace at `path`.

    Raises:
        SocketsError: when the namespace cannot be entered (needs root / CAP_SYS_ADMIN).
    """
    outcome: dict[str, socket.socket | OSError] = {}

    def enter_and_open() -> None:
        try:
            home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        except OSError as error:
            outcome["error"] = error
            return
        try:
            target = os.open(path, os.O_RDONLY)
            try:
                _setns(target)
                try:
                    outcome["socket"] = diag.open_diag_socket()
                finally:
                    _setns(home)  # if this failed the thread would end in the target namespace, harmless
            finally:
                os.close(target)
        except OSError as error:
            outcome["error"] = error
        finally:
            os.close(home)

    helper = threading.Thread(target=enter_and_open, name="netlab-netns")
    helper.start()
    helper.join()
    opened = outcome.get("socket")
    if isinstance(opened, socket.socket):
        return opened
    error = outcome.get("error")
    if isinstance(error, OSError) and error.errno in (errno.EPERM, errno.EACCES):
        raise SocketsPermissionError(
            f"no permission to enter network namespace {str(path)!r}: run it as root ({as_root('sockets')})"
        )
    raise SocketsError(f"cannot enter network namespace {str(path)!r}: {error}")
