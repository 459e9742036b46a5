"""Value types of `netlab sockets`: one socket row, TCP states, roles, a server's published registry (pure).

Nothing here does IO: the snapshot edge (`snapshot.py`) fills these in, `table.py` groups and renders them.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from netlab.packets import Endpoint

if TYPE_CHECKING:
    from typing import Any

SCHEMA_VERSION = 1


class TcpState(enum.Enum):
    """Linux TCP states by kernel number (include/net/tcp_states.h), with the names ss and netstat print."""

    ESTABLISHED = 1
    SYN_SENT = 2
    SYN_RECV = 3
    FIN_WAIT1 = 4
    FIN_WAIT2 = 5
    TIME_WAIT = 6
    CLOSE = 7
    CLOSE_WAIT = 8
    LAST_ACK = 9
    LISTEN = 10
    CLOSING = 11
    NEW_SYN_RECV = 12

    @property
    def ss_name(self) -> str:
        """The state as `ss` prints it (ESTAB, TIME-WAIT, UNCONN, ...)."""
        return _SS_NAMES[self]

    @property
    def netstat_name(self) -> str:
        """The state as `netstat` prints it (ESTABLISHED, TIME_WAIT, ...)."""
        return _NETSTAT_NAMES.get(self, self.name)

    @classmethod
    def from_name(cls, text: str) -> TcpState:
        """Parse a state in kernel, ss or netstat spelling, case-insensitive ("estab", "time-wait", "LISTEN").

        Raises:
            ValueError: when `text` names no TCP state.
        """
        key = text.strip().upper().replace("-", "_")
        for state in cls:
            if key in (state.name, state.ss_name.upper().replace("-", "_"), state.netstat_name):
                return state
        raise ValueError(f"unknown TCP state {text!r}")


_SS_NAMES = {
    TcpState.ESTABLISHED: "ESTAB",
    TcpState.SYN_SENT: "SYN-SENT",
    TcpState.SYN_RECV: "SYN-RECV",
    TcpState.FIN_WAIT1: "FIN-WAIT-1",
    TcpState.FIN_WAIT2: "FIN-WAIT-2",
    TcpState.TIME_WAIT: "TIME-WAIT",
    TcpState.CLOSE: "UNCONN",
    TcpState.CLOSE_WAIT: "CLOSE-WAIT",
    TcpState.LAST_ACK: "LAST-ACK",
    TcpState.LISTEN: "LISTEN",
    TcpState.CLOSING: "CLOSING",
    TcpState.NEW_SYN_RECV: "SYN-RECV",
}
_NETSTAT_NAMES = {TcpState.CLOSE: "CLOSE", TcpState.NEW_SYN_RECV: "SYN_RECV"}


class Role(enum.Enum):
    """What a socket is to a chat server on the port being looked at."""

    LISTENER = "listener"
    SERVER_SIDE = "server"
    CLIENT_SIDE = "client"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class SocketRow:
    """One TCP socket as the kernel reports it, plus who owns it (immutable; copy with `dataclasses.replace`).

    Attributes:
        family: 4 or 6 (the socket's address family; an IPv4 client of a dual-stack server shows as 6).
        local, remote: the two ends; a listener's remote is the wildcard with port 0 (printed ``*``).
        state: the TCP state.
        recv_q, send_q: bytes queued, as ss prints them (for a listener: the accept queue and its
            limit); None when the platform backend cannot tell (psutil).
        inode: the socket inode (0 for TIME-WAIT and embryonic sockets, which no process owns).
        uid: the owning user id, when known.
        pids: every process holding the socket, lowest first; empty when unknown or hidden.
        process: the name of the first of those processes.
        nickname: the chat nickname on this connection, when a running `netlab serve` publishes it.
        role: what the socket is to that server.
        v6only: for an IPv6 socket, whether it refuses IPv4 (IPV6_V6ONLY); a wildcard-bound dual-stack
            listener prints as ``*:port`` like ss does. None when unknown.
        queued: on the server end of a named connection, the bytes the chat server holds in its own
            outbox for that client beyond the kernel's Send-Q (from the status file, which the server
            refreshes about once a second); None elsewhere.
    """

    family: int
    local: Endpoint
    remote: Endpoint
    state: TcpState
    recv_q: int | None
    send_q: int | None
    inode: int = 0
    uid: int | None = None
    pids: tuple[int, ...] = ()
    process: str | None = None
    nickname: str | None = None
    role: Role = Role.OTHER
    queued: int | None = None
    v6only: bool | None = None

    @property
    def pid(self) -> int | None:
        """The first owning pid, or None when unknown or hidden."""
        return self.pids[0] if self.pids else None

    @property
    def proto(self) -> str:
        """``tcp`` or ``tcp6``, as netstat names it."""
        return "tcp6" if self.family == 6 else "tcp"

    @property
    def key(self) -> tuple[Endpoint, Endpoint, int]:
        """Identity across refreshes: both ends and the inode."""
        return (self.local, self.remote, self.inode)

    def with_owner(self, pids: tuple[int, ...], process: str | None) -> SocketRow:
        """A copy with owning processes filled in."""
        return replace(self, pids=pids, process=process)


@dataclass(frozen=True, slots=True)
class ChatClient:
    """One client in a server's published registry (addresses as the server sees them)."""

    nick: str
    remote: Endpoint
    local: Endpoint
    joined: float | None = None
    queued_bytes: int | None = None
    dialect: str | None = None


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """What a running `netlab serve` publishes (see `netlab.runtime`).

    `owner` is the uid owning the status file it was read from (None when it came from elsewhere,
    e.g. the server's own registry in the same process).
    """

    pid: int
    port: int
    listen: tuple[Endpoint, ...]
    clients: tuple[ChatClient, ...]
    updated: float | None = None
    owner: int | None = None


@dataclass(frozen=True, slots=True)
class ServerScope:
    """What belongs to one server's run, to tell its sockets from others on the same port.

    Attributes:
        listen: the addresses it listens on.
        listener_inode: its listening socket's inode, when known (a listener of another process or
            namespace on the same address then does not count).
        connections: every connection it accepted, as (server end, client end).
    """

    listen: tuple[Endpoint, ...]
    listener_inode: int | None
    connections: frozenset[tuple[Endpoint, Endpoint]]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The sockets seen at one moment, and how they were seen.

    Attributes:
        rows: the sockets, annotated with owners, nicknames and roles (kernel order; see
            `table.group_rows` for display order).
        taken: when (seconds since the epoch).
        port: the port looked at, or None for every port.
        backend: "sock_diag", "proc" (/proc/net/tcp) or "psutil".
        servers: the running `netlab serve` registries that were used for nicknames.
        hidden: rows with an owner we were not allowed to see (pid shown as ``-``).
        notes: one-line remarks for the user (stderr), e.g. why pids are hidden.
        netns: the network namespace looked into, when not our own.
    """

    rows: tuple[SocketRow, ...]
    taken: float
    port: int | None
    backend: str
    servers: tuple[ServerStatus, ...] = ()
    hidden: int = 0
    notes: tuple[str, ...] = ()
    netns: str | None = None


def parse_endpoint(text: str) -> Endpoint:
    """Parse ``ip:port`` or ``[ipv6]:port`` into an Endpoint.

    Raises:
        ValueError: when `text` is not an address with a port.
    """
    text = text.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"not an address:port: {text!r}")
    else:
        host, sep, port = text.rpartition(":")
        if not sep or ":" in host:
            raise ValueError(f"not an address:port: {text!r}")
    number = 0 if port == "*" else int(port)
    if not 0 <= number <= 65535:
        raise ValueError(f"port out of range in {text!r}")
    return Endpoint(canonical_ip(host.split("%", 1)[0]), number)


def canonical_ip(text: str) -> str:
    """An IP address in the text form the kernel tools print (``inet_ntop``), so addresses compare equal.

    Python's `ipaddress` writes IPv4-mapped addresses in hex before 3.13 (``::ffff:7f00:1``), where
    inet_ntop, ss and `socket.getpeername()` write ``::ffff:127.0.0.1``.

    Raises:
        ValueError: when `text` is not an IP address.
    """
    ip = ipaddress.ip_address(text)
    if ip.version == 4:
        return str(ip)
    value = int(ip)
    if value >> 32 == 0xFFFF:  # ::ffff:a.b.c.d (IPv4-mapped)
        return f"::ffff:{ipaddress.IPv4Address(value & 0xFFFFFFFF)}"
    if value >> 32 == 0 and (value >> 16) & 0xFFFF:  # ::a.b.c.d (the deprecated IPv4-compatible form)
        return f"::{ipaddress.IPv4Address(value)}"
    return str(ip)


def parse_status(data: dict[str, Any]) -> ServerStatus | None:
    """Turn a status file's JSON into a ServerStatus; None when it is not schema 1 or is malformed."""
    if data.get("schema_version") != SCHEMA_VERSION:
        return None
    try:
        pid = int(data["pid"])
        port = int(data["port"])
        listen_raw = data.get("listen") or []
        listen = tuple(parse_endpoint(item) for item in ([listen_raw] if isinstance(listen_raw, str) else listen_raw))
        if not listen and data.get("host"):
            host = str(data["host"])
            listen = (parse_endpoint(f"[{host}]:{port}" if ":" in host else f"{host}:{port}"),)
        clients = tuple(
            ChatClient(
                nick=str(item["nick"]),
                remote=parse_endpoint(str(item["remote"])),
                local=parse_endpoint(str(item["local"])),
                joined=_optional_float(item.get("joined")),
                queued_bytes=_optional_int(item.get("queued_bytes")),
                dialect=None if item.get("dialect") is None else str(item["dialect"]),
            )
            for item in data.get("clients") or []
        )
    except (KeyError, TypeError, ValueError):
        return None
    return ServerStatus(
        pid=pid, port=port, listen=listen, clients=clients, updated=_optional_float(data.get("updated"))
    )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def unmapped(endpoint: Endpoint) -> Endpoint:
    """The endpoint with an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) written as plain IPv4."""
    if endpoint.ip.startswith("::ffff:") and "." in endpoint.ip:
        return Endpoint(endpoint.ip[7:], endpoint.port)
    return endpoint
