"""`Endpoint`, one end of a TCP connection: shared by the packet pipeline and `netlab sockets` (pure).

Its own module, so that `netlab sockets` can use it without importing the rest of
`netlab.capture.model` (the `Segment` dataclass, the `TcpFlag` enum) at start-up;
`netlab.capture.model` re-exports it.
"""

from __future__ import annotations

from netlab.records import Record


class Endpoint(Record):
    """One end of a TCP connection: an IP address (text form) and a port.

    A `Record` (a named tuple): immutable, hashed and compared by value in C, which the
    reassembler's and the decoder's dict lookups use on every segment.
    """

    ip: str
    port: int

    def __str__(self) -> str:
        if ":" in self.ip:
            return f"[{self.ip}]:{self.port}"
        return f"{self.ip}:{self.port}"
