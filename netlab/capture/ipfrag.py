"""IP fragment reassembly (IPv4, RFC 791; IPv6 fragment headers, RFC 8200): pure, bounded.

Wireshark reassembles fragmented IP datagrams before TCP sees them, so its Follow TCP Stream
shows the bytes of fragmented segments; so does netlab. The decoder hands every fragment of a
protocol it decodes to a `Defragmenter` (one per capture); when the last missing piece arrives,
`add` returns the whole datagram's payload (a TCP segment, a UDP datagram, a tunnel's inner
packet) and it is decoded from there, numbered and stamped with the frame that completed it, as
in Wireshark.

Rules: overlapping fragments keep the bytes that arrived first (Wireshark differs: it keeps the
lower-offset fragment's bytes whatever the arrival order); a fragment that would make the
datagram longer than 65535 bytes, or that contradicts the known end (a second "last fragment"
elsewhere, data past it) drops the datagram; datagrams still incomplete `timeout` seconds
(capture time) after their first fragment, or beyond `max_datagrams` / `max_bytes` held, are
dropped oldest first. Fragments cut short by the snap length still count for their full wire
length: the datagram comes back with the bytes that were captured, up to the first missing one,
and its wire length, so the reassembler reports the rest as not captured.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

MAX_DATAGRAM = 65535


@dataclass(frozen=True, slots=True)
class Reassembled:
    """A whole datagram's payload: the captured bytes (a prefix) and the length on the wire."""

    data: bytes
    wire_len: int


class _Pending:
    __slots__ = ("first_ts", "parts", "end", "held")

    def __init__(self, ts: float) -> None:
        self.first_ts = ts
        self.parts: list[tuple[int, int, bytes]] = []  # (offset, wire length, captured bytes), arrival order
        self.end: int | None = None  # the datagram's length, once its last fragment is seen
        self.held = 0

    def complete(self) -> bool:
        if self.end is None:
            return False
        reach = 0
        for offset, length, _ in sorted(self.parts):
            if offset > reach:
                return False
            reach = max(reach, offset + length)
        return reach >= self.end

    def assemble(self) -> Reassembled:
        assert self.end is not None
        out = bytearray(self.end)
        have = bytearray(self.end)  # 1 where a captured byte was written
        for offset, _, data in reversed(self.parts):  # earlier arrivals overwrite later ones
            out[offset : offset + len(data)] = data
            have[offset : offset + len(data)] = b"\1" * len(data)
        captured = have.find(0)
        captured = self.end if captured < 0 else captured
        return Reassembled(bytes(out[:captured]), self.end)


class Defragmenter:
    """Collects fragments per datagram key and returns each datagram once it is whole.

    Args:
        timeout: seconds of capture time a datagram may stay incomplete (Linux uses 30).
        max_datagrams: incomplete datagrams held at most.
        max_bytes: captured fragment bytes held at most.
    """

    def __init__(self, *, timeout: float = 60.0, max_datagrams: int = 4096, max_bytes: int = 64 << 20) -> None:
        self.timeout = timeout
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self._pending: OrderedDict[tuple[object, ...], _Pending] = OrderedDict()
        self._held = 0
        self.completed = 0  # datagrams returned whole
        self.dropped = 0  # datagrams given up (timeout, limits, contradictions)
        self.taken = 0  # fragments accepted (held, or completing a datagram)

    @property
    def pending(self) -> int:
        """Datagrams waiting for fragments."""
        return len(self._pending)

    def add(
        self, key: tuple[object, ...], ts: float, offset: int, more: bool, data: bytes, wire_len: int | None = None
    ) -> Reassembled | None:
        """Take one fragment; return the whole datagram when this fragment completes it.

        Args:
            key: what identifies the datagram (addresses, protocol, identification).
            ts: the fragment's capture time.
            offset: its offset in the datagram's payload, in bytes.
            more: the More Fragments flag.
            data: the captured bytes of the fragment's payload.
            wire_len: its payload length on the wire (default: all of `data`).
        """
        length = len(data) if wire_len is None else wire_len
        self._expire(ts)
        if offset + length > MAX_DATAGRAM:
            self._drop(key)
            return None
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(ts)
        end = offset + length
        if not more:
            if pending.end is not None and pending.end != end:
                self._drop(key)
                return None
            pending.end = end
        if pending.end is not None and end > pending.end:
            self._drop(key)
            return None
        pending.parts.append((offset, length, data))
        self.taken += 1
        pending.held += len(data)
        self._held += len(data)
        if pending.complete():
            del self._pending[key]
            self._held -= pending.held
            self.completed += 1
            return pending.assemble()
        while len(self._pending) > self.max_datagrams or self._held > self.max_bytes:
            self._drop(next(iter(self._pending)))
        return None

    def _expire(self, now: float) -> None:
        while self._pending:
            key, oldest = next(iter(self._pending.items()))
            if now - oldest.first_ts <= self.timeout:
                return
            self._drop(key)

    def _drop(self, key: tuple[object, ...]) -> None:
        pending = self._pending.pop(key, None)
        if pending is not None:
            self._held -= pending.held
            self.dropped += 1
