"""This host's listening TCP sockets and ephemeral port range: evidence for who is a server."""

from __future__ import annotations

import logging
from pathlib import Path

from netlab.packets import Endpoint
from netlab.sockets.diag import query
from netlab.sockets.model import TcpState

log = logging.getLogger(__name__)

PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def listening_endpoints() -> frozenset[Endpoint]:
    """The local ends of every listening TCP socket (IPv4 and IPv6); empty when sock_diag is unavailable."""
    try:
        rows = query(None)
    except OSError as error:
        log.debug("no listening sockets for role evidence: %s", error)
        return frozenset()
    return frozenset(row.local for row in rows if row.state is TcpState.LISTEN)


def ephemeral_range(path: Path = PORT_RANGE_FILE) -> tuple[int, int] | None:
    """The kernel's ephemeral port range (`ip_local_port_range`), or None when it cannot be read."""
    try:
        low, high = path.read_text().split()[:2]
        return int(low), int(high)
    except (OSError, ValueError):
        return None
