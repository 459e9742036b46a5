"""Where a running `netlab serve` publishes its registry so `netlab sockets` can read it.

The status file is JSON written atomically (temporary file + rename) to
``status_path(port)``; see docs/protocol.md ("Status file"). Readers must tolerate a
missing file and a file left behind by a dead server (check that ``pid`` is alive).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, a start-up cost of `netlab sockets`
if TYPE_CHECKING:
    from typing import Any

STATUS_SCHEMA_VERSION = 1


def status_dir() -> Path:
    """The runtime directory: $NETLAB_RUNTIME_DIR, else $XDG_RUNTIME_DIR/netlab, else /tmp/netlab-<uid>."""
    override = os.environ.get("NETLAB_RUNTIME_DIR")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / "netlab"
    import tempfile  # here, not at the top: it costs `netlab sockets` several ms at start-up

    return Path(tempfile.gettempdir()) / f"netlab-{os.getuid()}"


def status_path(port: int, directory: Path | None = None) -> Path:
    """The status file of the server listening on `port`."""
    return (directory or status_dir()) / f"serve-{port}.json"


def write_status(port: int, status: dict[str, Any], directory: Path | None = None) -> Path:
    """Atomically replace the status file for `port` with `status` (adds schema_version)."""
    path = status_path(port, directory)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    import tempfile

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
    path = status_path(port, directory)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def remove_status(port: int, directory: Path | None = None) -> None:
    """Remove the status file for `port` (server shutdown)."""
    status_path(port, directory).unlink(missing_ok=True)
