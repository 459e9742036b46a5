"""Who is the server of a connection whose handshake was not captured (pure).

A capture that starts mid-conversation has no SYN to say who connected to whom. `RoleJudge`
decides from evidence, strongest first, and says which rule decided (`RoleReason`):

1. ``syn``: this connection's SYN or SYN-ACK was captured (decided by the reassembler itself);
2. ``port-option``: exactly one end has a port the user named (``--port``);
3. ``listening``: exactly one end matches a socket that was listening on this host when the
   capture ran (live capture asks `netlab.sockets`);
4. ``server-record``: exactly one end is a server netlab itself ran (the lab, a status file);
5. ``handshake-seen``: exactly one end answered a SYN (sent a SYN-ACK) on another connection
   of the same capture;
6. ``fan-in``: one end is an end of more connections with distinct peers than the other (a chat
   server is exactly this: one address:port, many clients);
7. ``port-range``: one port is a well-known port (below 1024) and the other is not, or one port
   lies outside the ephemeral ranges (the kernel's ``ip_local_port_range``, Linux's default
   32768–60999, and IANA's 49152–65535) while the other lies inside;
8. ``lower-port``: only then, the end with the lower port.

Rules 5 and 6 need to know the other connections of the capture, including ones that come later:
the judge learns from every connection the reassembler opens (`observe`), and a capture file can
be pre-read (`netlab.capture.prescan`) so that the first connections are judged with what the
file holds. What a rule could not tell apart (both ends match, or neither) falls to the next.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from netlab.packets import Endpoint

LINUX_EPHEMERAL = (32768, 60999)  # /proc/sys/net/ipv4/ip_local_port_range's default
IANA_EPHEMERAL = (49152, 65535)  # RFC 6335's dynamic ports
WILDCARDS = frozenset({"0.0.0.0", "::"})
MAX_TRACKED_ENDPOINTS = 200_000  # fan-in memory bound: endpoints beyond it are not tracked


class RoleReason(enum.Enum):
    """Which rule decided who is the server (see the module docstring)."""

    SYN = "syn"
    PORT_OPTION = "port-option"
    LISTENING = "listening"
    SERVER_RECORD = "server-record"
    HANDSHAKE_SEEN = "handshake-seen"
    FAN_IN = "fan-in"
    PORT_RANGE = "port-range"
    LOWER_PORT = "lower-port"
    FIRST_SENDER = "first-sender"  # a UDP conversation: no handshake, the first sender is the client

    @property
    def guessed(self) -> bool:
        """True unless the connection's own handshake was seen (or, for UDP, by definition)."""
        return self is not RoleReason.SYN and self is not RoleReason.FIRST_SENDER


ROLE_EXPLANATIONS: dict[RoleReason, str] = {
    RoleReason.SYN: "the handshake was captured",
    RoleReason.PORT_OPTION: "no SYN seen: the server is the end with the port given by --port",
    RoleReason.LISTENING: "no SYN seen: the server is the end that was listening on this host",
    RoleReason.SERVER_RECORD: "no SYN seen: the server is the end netlab's own server listened on",
    RoleReason.HANDSHAKE_SEEN: "no SYN seen: the server is the end that accepted other connections in this capture",
    RoleReason.FAN_IN: "no SYN seen: the server is the end shared by several connections (fan-in)",
    RoleReason.PORT_RANGE: "no SYN seen: the server is the end whose port is not an ephemeral (client) port",
    RoleReason.LOWER_PORT: "no SYN seen and no other evidence: roles guessed, lower port taken as server",
    RoleReason.FIRST_SENDER: "UDP: the client is the end that sent the first datagram, as in Wireshark",
}


def explain_roles(reason: RoleReason) -> str:
    """One phrase saying how the roles were decided (for headers and reports)."""
    return ROLE_EXPLANATIONS[reason]


@dataclass(frozen=True, slots=True)
class RoleHints:
    """What is known about servers before (or outside) the capture.

    Attributes:
        ports: ports the user named (``--port``).
        listening: sockets listening on this host when the capture ran; the address may be a
            wildcard (``0.0.0.0``, ``::``) that matches any address with that port.
        recorded: servers netlab ran itself (the lab's server, a server's status file).
        ephemeral: the kernel's ephemeral port range, when known (``ip_local_port_range``).
    """

    ports: frozenset[int] = frozenset()
    listening: frozenset[Endpoint] = frozenset()
    recorded: frozenset[Endpoint] = frozenset()
    ephemeral: tuple[int, int] | None = None


def _matches(end: Endpoint, sockets: frozenset[Endpoint]) -> bool:
    if end in sockets:
        return True
    return any(s.port == end.port and s.ip in WILDCARDS for s in sockets)


@dataclass(slots=True)
class RoleJudge:
    """Decides who is the server of a connection seen without its handshake (not thread-safe).

    Args:
        hints: what is known about servers outside the capture.
        lookahead: called once, the first time rules 5–6 are needed, to learn the capture's
            connections in advance (each item: an end, the other end, and whether that packet was
            a SYN-ACK sent by the first end); a capture file passes a pre-read of its start.
    """

    hints: RoleHints = field(default_factory=RoleHints)
    lookahead: Callable[[], Iterable[tuple[Endpoint, Endpoint, bool]]] | None = None
    _peers: dict[Endpoint, set[Endpoint]] = field(default_factory=dict)
    _accepted: set[Endpoint] = field(default_factory=set)

    def observe(self, a: Endpoint, b: Endpoint, *, server: Endpoint | None = None) -> None:
        """Learn that `a` and `b` are the ends of a connection (`server`: known from its handshake)."""
        peers = self._peers
        for end, other in ((a, b), (b, a)):
            known = peers.get(end)
            if known is None:
                if len(peers) >= MAX_TRACKED_ENDPOINTS:
                    continue
                known = peers[end] = set()
            known.add(other)
        if server is not None:
            self._accepted.add(server)

    def decide(self, a: Endpoint, b: Endpoint) -> tuple[Endpoint, RoleReason]:
        """The server among `a` and `b` (the ends of a connection without a captured SYN), and why."""
        hints = self.hints
        for reason, test in (
            (RoleReason.PORT_OPTION, lambda e: e.port in hints.ports),
            (RoleReason.LISTENING, lambda e: _matches(e, hints.listening)),
            (RoleReason.SERVER_RECORD, lambda e: _matches(e, hints.recorded)),
        ):
            server = _one_of(a, b, test)
            if server is not None:
                return server, reason
        self._look_ahead()
        server = _one_of(a, b, lambda e: e in self._accepted)
        if server is not None:
            return server, RoleReason.HANDSHAKE_SEEN
        fan_a, fan_b = self._fan(a, b), self._fan(b, a)
        if fan_a != fan_b and max(fan_a, fan_b) >= 2:
            return (a if fan_a > fan_b else b), RoleReason.FAN_IN
        rank_a, rank_b = self._port_rank(a.port), self._port_rank(b.port)
        if rank_a != rank_b:
            return (a if rank_a < rank_b else b), RoleReason.PORT_RANGE
        return (b if b.port <= a.port else a), RoleReason.LOWER_PORT

    def _look_ahead(self) -> None:
        lookahead, self.lookahead = self.lookahead, None
        if lookahead is None:
            return
        for end, other, syn_ack in lookahead():
            self.observe(end, other, server=end if syn_ack else None)

    def _fan(self, end: Endpoint, other: Endpoint) -> int:
        """How many distinct peers `end` has, `other` included."""
        peers = self._peers.get(end, set())
        return len(peers | {other})

    def _port_rank(self, port: int) -> int:
        """0: a well-known port; 1: a port outside the ephemeral ranges; 2: an ephemeral port."""
        if 0 < port < 1024:
            return 0
        ranges = [LINUX_EPHEMERAL, IANA_EPHEMERAL]
        if self.hints.ephemeral is not None:
            ranges.append(self.hints.ephemeral)
        return 2 if any(lo <= port <= hi for lo, hi in ranges) else 1


def _one_of(a: Endpoint, b: Endpoint, test: Callable[[Endpoint], bool]) -> Endpoint | None:
    """`a` or `b` when exactly one of them passes `test`, else None."""
    in_a, in_b = test(a), test(b)
    if in_a == in_b:
        return None
    return a if in_a else b
