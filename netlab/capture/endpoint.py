"""`Endpoint`, one end of a TCP connection: shared by the packet pipeline and `netlab sockets` (pure).

Its own module, so that `netlab sockets` can use it without importing the rest of
`netlab.capture.model` (the `Segment` dataclass, the `TcpFlag` enum) at start-up;
`netlab.capture.model` re-exports it.
"""

from __future__ import annotations

from typing import NamedTuple


class Endpoint(NamedTuple):
    """One end of a TCP connection: an IP address (text form) and a port.

    A `typing.NamedTuple`, not a dataclass, because it is a measured hot path: the reassembler and
    the decoder look connections up by endpoints in dicts on every segment, and a tuple hashes and
    compares in C (a frozen dataclass's generated `__hash__`/`__eq__` run Python code per lookup).
    Being a tuple, it also equals a plain ``(ip, port)`` tuple and any other 2-tuple of the same
    values; netlab never relies on that: build an `Endpoint` to compare with one.
    """

    ip: str
    port: int

    def __str__(self) -> str:
        if ":" in self.ip:
            return f"[{self.ip}]:{self.port}"
        return f"{self.ip}:{self.port}"
