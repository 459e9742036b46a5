"""Where a running `netlab serve` publishes its registry so `netlab sockets` can read it.

The status file is JSON written atomically (temporary file + rename) to
``status_path(port)``; see docs/protocol.md ("Status file"). Readers must tolerate a
missing file and a file left behind by a dead server (check that ``pid`` is alive).
"""

from __future__ import annotations

import os

from netlab import jsontext

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, a start-up cost of `netlab sockets`
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

STATUS_SCHEMA_VERSION = 1


def status_dir() -> Path:
    """The runtime directory: $NETLAB_RUNTIME_DIR, else $XDG_RUNTIME_DIR/netlab, else /tmp/netlab-<uid>."""
    from pathlib import Path

    return Path(_status_dir_name())


def _status_dir_name() -> str:
    """`status_dir()` as a string (`read_status` does without pathlib, a start-up cost of `netlab sockets`)."""
    override = os.environ.get("NETLAB_RUNTIME_DIR")
    if override:
        return override
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "netlab")
    import tempfile  # here, not at the top: it costs `netlab sockets` several ms at start-up

    return os.path.join(tempfile.gettempdir(), f"netlab-{os.getuid()}")


def status_path(port: int, directory: Path | None = None) -> Path:
    """The status file of the server listening on `port`."""
    from pathlib import Path

    return Path(_status_file_name(port, directory))


def _status_file_name(port: int, directory: Path | None) -> str:
    return os.path.join(directory or _status_dir_name(), f"serve-{port}.json")


def write_status(port: int, status: dict[str, Any], directory: Path | None = None) -> Path:
    """Atomically replace the status file for `port` with `status` (adds schema_version)."""
    import json
    import tempfile
    from pathlib import Path

    path = status_path(port, directory)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)

    body = json.dumps({"schema_version": STATUS_SCHEMA_VERSION, **status}, ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_status(port: int, directory: Path | None = None) -> dict[str, Any] | None:
    """The published status for `port`, or None when there is none or it is unreadable."""
    try:
        with open(_status_file_name(port, directory), encoding="utf-8") as handle:
            data = jsontext.loads(handle.read())  # json.loads without importing json (start-up time)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def remove_status(port: int, directory: Path | None = None) -> None:
    """Remove the status file for `port` (server shutdown)."""
    status_path(port, directory).unlink(missing_ok=True)
