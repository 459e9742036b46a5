"""Helpers that build `Segment`s for reassembler tests (not a test module)."""

from __future__ import annotations

from netlab.packets import Endpoint, Segment
from netlab.stream.events import Data, Direction, Event, Gap

CLIENT = Endpoint("10.0.0.1", 40000)
SERVER = Endpoint("10.0.0.2", 80)
SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08
M = 0xFFFFFFFF


class Builder:
    """Numbers frames and time stamps; `c()` / `s()` make client / server segments."""

    def __init__(self, client: Endpoint = CLIENT, server: Endpoint = SERVER, vlan: tuple[int, ...] = ()) -> None:
        self.client, self.server, self.vlan = client, server, vlan
        self.frame = 0

    def seg(
        self,
        src: Endpoint,
        dst: Endpoint,
        seq: int,
        data: bytes = b"",
        flags: int = ACK,
        ack: int = 0,
        **kw: object,
    ) -> Segment:
        self.frame += 1
        wire = int(kw.pop("wire_len", len(data)))  # type: ignore[call-overload]
        return Segment(
            self.frame,
            1000.0 + self.frame,
            src,
            dst,
            seq & M,
            ack & M,
            flags,
            65535,
            data,
            wire,
            kw.pop("checksum_ok", None),
            self.vlan,  # type: ignore[arg-type]
        )

    def c(self, seq: int, data: bytes = b"", flags: int = ACK, ack: int = 0, **kw: object) -> Segment:
        return self.seg(self.client, self.server, seq, data, flags, ack, **kw)

    def s(self, seq: int, data: bytes = b"", flags: int = ACK, ack: int = 0, **kw: object) -> Segment:
        return self.seg(self.server, self.client, seq, data, flags, ack, **kw)


def stream_bytes(events: list[Event], direction: Direction = Direction.C2S, stream: int = 0) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, Data) and e.direction is direction and e.stream == stream)


def with_markers(events: list[Event], direction: Direction = Direction.C2S) -> bytes:
    """The direction's bytes with tshark-style gap markers, to compare with Wireshark's output."""
    out = b""
    for e in events:
        if isinstance(e, Data) and e.direction is direction:
            out += e.data
        elif isinstance(e, Gap) and e.direction is direction:
            out += f"[{e.size} bytes missing in capture file]".encode() + b"\0"
    return out


def gaps(events: list[Event], direction: Direction = Direction.C2S) -> list[tuple[int, int]]:
    return [(e.offset, e.size) for e in events if isinstance(e, Gap) and e.direction is direction]
