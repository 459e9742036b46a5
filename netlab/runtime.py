"""Where a running `netlab serve` publishes its registry so `netlab sockets` can read it.

The status file is JSON written atomically (temporary file + rename) to
``status_path(port)``; see docs/protocol.md ("Status file").

Trust: what `netlab sockets` prints must not be forgeable by another local user, and the default
directory (``/tmp/netlab-<uid>``) sits in a world-writable place where anyone can create it first.
So the directory is created private (0700), and every use opens it with ``O_NOFOLLOW`` and checks
the opened descriptor (fstat): it must be a directory owned by a trusted user and writable by nobody
else. Writers trust only themselves and refuse anything else (`RuntimeDirError`); readers trust
themselves and root and ignore anything else with one warning. Files are then reached only
relative to the checked descriptor (``dir_fd``), so swapping the path afterwards changes nothing;
a status file is read only when it is a regular file owned by a trusted user, and written by
creating a fresh temporary file (``O_EXCL``) and renaming it over the old one.
Readers must still tolerate a missing file and one left behind by a dead server (check that
``pid`` is alive and holds the listener: `netlab.sockets.snapshot` does).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from netlab.errors import RuntimeDirError

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable
    from typing import Any

STATUS_SCHEMA_VERSION = 1
MAX_STATUS_BYTES = 16 << 20  # a registry of thousands of clients is a few MB; refuse anything bigger

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # NONBLOCK: a planted FIFO never hangs us
_warned: set[str] = set()


def status_dir() -> Path:
    """The runtime directory: $NETLAB_RUNTIME_DIR, else $XDG_RUNTIME_DIR/netlab, else /tmp/netlab-<uid>."""
    return Path(_status_dir_name())


def _status_dir_name() -> str:
    """`status_dir()` as a string."""
    override = os.environ.get("NETLAB_RUNTIME_DIR")
    if override:
        return override
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "netlab")
    return os.path.join(tempfile.gettempdir(), f"netlab-{os.getuid()}")


def status_path(port: int, directory: Path | None = None) -> Path:
    """The status file of the server listening on `port`."""
    return Path(os.path.join(_dir_name(directory), _file_name(port)))


def _dir_name(directory: Path | str | None) -> str:
    return os.fspath(directory) if directory else _status_dir_name()


def _file_name(port: int) -> str:
    return f"serve-{port}.json"


def reader_uids() -> frozenset[int]:
    """Whose directories and status files a reader trusts: its own (effective) uid and root's."""
    return frozenset((os.geteuid(), 0))


def open_dir(directory: Path | str | None, owners: Collection[int], create: bool = False) -> int:
    """A descriptor of the runtime directory, checked: a real directory (not a symlink), owned by one of
    `owners`, writable by no one else. The caller closes it.

    Args:
        directory: the directory (default: `status_dir()`).
        owners: the uids it may belong to.
        create: create it (mode 0700, parents as needed) when missing.

    Raises:
        RuntimeDirError: it exists but is unsafe (the message names it and says why).
        OSError: it is missing (and not `create`), or cannot be opened or created.
    """
    path = _dir_name(directory)
    if create:
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass  # checked below, like any existing directory
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            kind = "a symbolic link" if os.path.islink(path) else "not a directory"
            raise RuntimeDirError(path, f"is {kind}") from None
        raise
    try:
        problem = _unsafe(os.fstat(fd), owners)
    except OSError:
        os.close(fd)
        raise
    if problem:
        os.close(fd)
        raise RuntimeDirError(path, problem)
    return fd


def _unsafe(info: os.stat_result, owners: Collection[int]) -> str:
    """Why a directory or file with this fstat is not to be trusted ('' when it is)."""
    if info.st_uid not in owners:
        return f"belongs to uid {info.st_uid}, not to uid {' or '.join(str(uid) for uid in sorted(owners))}"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"is writable by other users (mode {stat.S_IMODE(info.st_mode):04o})"
    return ""


def write_status(port: int, status: dict[str, Any], directory: Path | None = None) -> Path:
    """Atomically replace the status file for `port` with `status` (adds schema_version).

    Raises:
        RuntimeDirError: the runtime directory is not ours alone (see the module docstring).
        OSError: it cannot be created or written.
    """
    body = json.dumps({"schema_version": STATUS_SCHEMA_VERSION, **status}, ensure_ascii=False).encode("utf-8")
    name = _file_name(port)
    fd = open_dir(directory, (os.geteuid(),), create=True)
    try:
        temporary = _write_temporary(fd, name, body)
        try:
            os.replace(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)
        except OSError:
            os.unlink(temporary, dir_fd=fd)
            raise
    finally:
        os.close(fd)
    return status_path(port, directory)


def _write_temporary(dir_fd: int, name: str, body: bytes) -> str:
    """A new file in `dir_fd` holding `body` (never an existing one: O_EXCL); returns its name."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _attempt in range(100):
        temporary = f"{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            fd = os.open(temporary, flags, 0o644, dir_fd=dir_fd)
        except FileExistsError:
            continue
        try:
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            os.close(fd)
            os.unlink(temporary, dir_fd=dir_fd)
            raise
        os.close(fd)
        return temporary
    raise FileExistsError(f"no free temporary name for {name}")


def read_status(port: int, directory: Path | None = None) -> dict[str, Any] | None:
    """The published status for `port`, or None when there is none, it is unreadable or untrusted."""
    found = read_statuses([port], directory)
    return found[0][0] if found else None


def read_statuses(
    ports: Iterable[int] | None, directory: Path | str | None = None, owners: Collection[int] | None = None
) -> list[tuple[dict[str, Any], int]]:
    """The published statuses for `ports` (every one in the directory when None), with each file's owner.

    Only a checked directory (see `open_dir`) is read, and in it only regular files owned by one of
    `owners` (default: `reader_uids()`); anything else is skipped with one warning per run (logging).
    A missing or unreadable directory, missing files and malformed JSON give nothing.
    """
    trusted = reader_uids() if owners is None else frozenset(owners)
    try:
        fd = open_dir(directory, trusted)
    except RuntimeDirError as error:
        warn_once(f"ignoring the status files in {error.path}: it {error.reason}")
        return []
    except OSError:
        return []  # missing, or private to someone else: nothing published for us
    try:
        if ports is None:
            ports = sorted(
                int(n[6:-5])
                for n in os.listdir(fd)
                if n.startswith("serve-") and n.endswith(".json") and n[6:-5].isdigit()
            )
        found: list[tuple[dict[str, Any], int]] = []
        for port in ports:
            document = _read_file(fd, _file_name(port), trusted, directory)
            if document is not None:
                found.append(document)
        return found
    finally:
        os.close(fd)


def _read_file(
    dir_fd: int, name: str, owners: frozenset[int], directory: Path | str | None
) -> tuple[dict[str, Any], int] | None:
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None  # missing (the usual case), or a symlink, which no netlab writes
    try:
        info = os.fstat(fd)
        problem = "is not a regular file" if not stat.S_ISREG(info.st_mode) else _unsafe(info, owners)
        if not problem and info.st_size > MAX_STATUS_BYTES:
            problem = f"is larger than {MAX_STATUS_BYTES} bytes"
        if problem:
            warn_once(f"ignoring the status file {os.path.join(_dir_name(directory), name)}: it {problem}")
            return None
        with os.fdopen(os.dup(fd), "rb") as handle:
            body = handle.read(MAX_STATUS_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return (data, info.st_uid) if isinstance(data, dict) else None


def remove_status(port: int, directory: Path | None = None) -> None:
    """Remove the status file for `port` (server shutdown); nothing happens in a directory not ours."""
    try:
        fd = open_dir(directory, (os.geteuid(),))
    except (RuntimeDirError, OSError):
        return
    try:
        os.unlink(_file_name(port), dir_fd=fd)
    except FileNotFoundError:
        pass  # already gone
    finally:
        os.close(fd)


def warn_once(message: str) -> None:
    """Log `message` as a warning of `netlab.runtime`, once per process (a --watch refresh repeats it)."""
    if message in _warned:
        return
    _warned.add(message)
    logging.getLogger(__name__).warning("%s", message)
