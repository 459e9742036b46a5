"""tshark-compatible renderers: output identical to `tshark -q -z follow,tcp,MODE,N` (pure), and for
UDP conversations to `tshark -q -z follow,udp,MODE,N`.

One block per stream, in stream order, written at the end (tshark too prints after reading the
whole capture). "Node 0" is the sender of the stream's first packet, as in tshark. Missing bytes
the receiver acknowledged become tshark's record `[N bytes missing in capture file]` + NUL;
unlike tshark, data after a hole nothing acknowledged is still shown, after such a marker.
Bytes cut by the snap length are left out silently, as tshark does.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from netlab.packets import Endpoint
from netlab.render.base import RenderOptions
from netlab.stream.events import Data, Direction, Event, Gap, GapReason, Opened, Transport

SEPARATOR = "=" * 67 + "\n"
_TABS = ("", "\t")


@dataclass(slots=True)
class _Record:
    peer: int
    data: bytes
    frame: int
    ts: float


@dataclass(slots=True)
class _Stream:
    number: int
    node0: Endpoint
    node1: Endpoint
    first: Direction
    records: list[_Record] = field(default_factory=list)
    proto: Transport = Transport.TCP


def _node(endpoint: Endpoint) -> str:
    return str(endpoint)  # "[v6]:port" for IPv6, as tshark prints it


def _printable(data: bytes) -> str:
    return "".join(chr(b) if (0x20 <= b < 0x7F or b in (0x0A, 0x0D)) else "." for b in data)


class _TsharkBase:
    """Collects records per stream; subclasses format one stream."""

    binary = False
    mode = ""

    def __init__(self, options: RenderOptions) -> None:
        self._streams: dict[int, _Stream] = {}

    def begin(self) -> str:
        return ""

    def on_event(self, event: Event) -> str:
        if isinstance(event, Opened):
            first = event.first_sender
            node0, node1 = (event.client, event.server) if first is Direction.C2S else (event.server, event.client)
            self._streams[event.stream] = _Stream(event.stream, node0, node1, first, proto=event.proto)
            return ""
        if isinstance(event, Data | Gap):
            stream = self._streams.get(event.stream)
            if stream is None:
                return ""
            peer = 0 if event.direction is stream.first else 1
            if isinstance(event, Data):
                stream.records.append(_Record(peer, event.data, event.frame, event.ts))
            elif event.reason is not GapReason.NOT_CAPTURED and event.offset > 0:
                # (tshark starts a SYN-less stream at the first segment it sees: no leading marker)
                marker = f"[{event.size} bytes missing in capture file]".encode() + b"\0"
                stream.records.append(_Record(peer, marker, event.frame, 0.0))  # tshark: no time stamp
        return ""

    def end(self) -> str:
        return "".join(self.block(stream) for _, stream in sorted(self._streams.items()))

    def header(self, stream: _Stream) -> str:
        return (
            f"\n{SEPARATOR}Follow: {stream.proto.value},{self.mode}\n"
            f"Filter: {stream.proto.value}.stream eq {stream.number}\n"
            f"Node 0: {_node(stream.node0)}\nNode 1: {_node(stream.node1)}\n"
        )

    def block(self, stream: _Stream) -> str:
        raise NotImplementedError


class TsharkAscii(_TsharkBase):
    """`-z follow,tcp,ascii,N`: each record's length, then its text (non-printables as '.')."""

    mode = "ascii"

    def block(self, stream: _Stream) -> str:
        parts = [self.header(stream)]
        for rec in stream.records:
            parts.append(f"{_TABS[rec.peer]}{len(rec.data)}\n{_printable(rec.data)}\n")
        parts.append(SEPARATOR)
        return "".join(parts)


class TsharkHex(_TsharkBase):
    """`-z follow,tcp,hex,N`: hex dump lines, offsets counted per node, node 1 indented by a tab."""

    mode = "hex"

    def block(self, stream: _Stream) -> str:
        parts = [self.header(stream)]
        offsets = [0, 0]
        for rec in stream.records:
            prefix = "\t" if rec.peer else ""
            data = rec.data
            for i in range(0, len(data), 16):
                row = data[i : i + 16]
                hex_part = "".join(f"{b:02x} " + (" " if j == 7 else "") for j, b in enumerate(row))
                text = "".join(
                    (chr(b) if 0x20 <= b < 0x7F else ".") + (" " if j == 7 else "") for j, b in enumerate(row)
                )
                if text.endswith(" "):  # tshark drops one trailing space from the text column
                    text = text[:-1]
                parts.append(f"{prefix}{offsets[rec.peer] + i:08X}  {hex_part:<49} {text}\n")
            offsets[rec.peer] += len(data)
        parts.append(SEPARATOR)
        return "".join(parts)


class TsharkRaw(_TsharkBase):
    """`-z follow,tcp,raw,N`: each record as one line of lowercase hex, node 1 indented by a tab."""

    mode = "raw"

    def block(self, stream: _Stream) -> str:
        parts = [self.header(stream)]
        for rec in stream.records:
            parts.append(f"{_TABS[rec.peer]}{rec.data.hex()}\n")
        parts.append(SEPARATOR)
        return "".join(parts)


class TsharkYaml(_TsharkBase):
    """`-z follow,tcp,yaml,N`: peers, then packets with frame number, peer, time stamp, base64 data.

    Time stamps are printed as tshark does: the double `secs + nsecs / 1e9` with 9 decimals.
    """

    mode = "yaml"

    def block(self, stream: _Stream) -> str:
        parts = ["peers:\n"]
        for i, node in enumerate((stream.node0, stream.node1)):
            parts.append(f"  - peer: {i}\n    host: {node.ip}\n    port: {node.port}\n")
        parts.append("packets:\n")
        for rec in stream.records:
            encoded = base64.encodebytes(rec.data).decode("ascii")
            body = "".join(f"      {line}\n" for line in encoded.splitlines())
            parts.append(
                f"  - packet: {rec.frame}\n    peer: {rec.peer}\n    timestamp: {rec.ts:.9f}\n"
                f"    data: !!binary |\n{body}"
            )
        return "".join(parts)
