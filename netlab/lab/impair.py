"""Loss, delay and reordering for the lab's userspace switch (pure, sans-IO).

The switch pushes each frame it must forward, with the current time, and asks which frames are
due. Decisions come from an injected `random.Random`, so a seed replays the same decisions.

* delay: every impaired frame is held `delay_ms`.
* reorder: as netem does it, a chosen frame skips the delay and goes out at once, overtaking the
  frames still held; this reorders within one round trip, so Wireshark labels the overtaken
  segments "Out-Of-Order". Without a delay there is nothing to overtake, so the chosen frame is
  held `reorder_gap_ms` instead and the frames after it overtake it.
* loss: a chosen frame is marked `dropped`. It is still released (and so still captured, the
  capture point sitting just before the lossy wire); the switch then does not deliver it. The
  capture therefore shows the lost segment and, later, the sender's retransmission.

Frames that are not impaired (ARP, for instance) go out after no delay and are never dropped.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Impairment:
    """What the wire does to impaired frames. Percentages are 0..100."""

    loss: float = 0.0
    delay_ms: float = 0.0
    reorder: float = 0.0
    reorder_gap_ms: float = 25.0

    def __post_init__(self) -> None:
        for name in ("loss", "reorder"):
            value = getattr(self, name)
            if not 0.0 <= value <= 100.0:
                raise ValueError(f"--{name} must be a percentage between 0 and 100 (got {value:g})")
        if not 0.0 <= self.delay_ms <= 10_000.0:
            raise ValueError(f"--delay must be between 0 and 10000 ms (got {self.delay_ms:g})")
        if self.reorder_gap_ms <= 0.0:
            raise ValueError(f"the reorder gap must be positive (got {self.reorder_gap_ms:g})")

    @property
    def active(self) -> bool:
        """True when the wire does anything at all."""
        return self.loss > 0 or self.delay_ms > 0 or self.reorder > 0

    def describe(self) -> str:
        """A short human description, e.g. 'loss 5%, delay 20 ms'."""
        parts = []
        if self.loss:
            parts.append(f"loss {self.loss:g}%")
        if self.delay_ms:
            parts.append(f"delay {self.delay_ms:g} ms")
        if self.reorder and self.delay_ms:
            parts.append(f"reorder {self.reorder:g}% (sent ahead of the delay)")
        elif self.reorder:
            parts.append(f"reorder {self.reorder:g}% (held {self.reorder_gap_ms:g} ms)")
        return ", ".join(parts) or "a perfect wire"


@dataclass(frozen=True, slots=True)
class Release:
    """A frame whose time has come: forward it to `ports` unless `dropped`."""

    due: float
    frame: bytes
    ports: tuple[int, ...]
    dropped: bool
    reordered: bool


@dataclass(frozen=True, slots=True)
class WireStats:
    """Counts of what the wire did."""

    frames: int = 0
    dropped: int = 0
    reordered: int = 0


@dataclass(slots=True)
class ImpairedWire:
    """A queue of frames in flight, released in due order (ties in push order).

    Not thread-safe: owned by the switch thread.
    """

    impairment: Impairment
    rng: random.Random
    _frames: int = 0
    _dropped: int = 0
    _reordered: int = 0
    _heap: list[tuple[float, int, Release]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def push(self, frame: bytes, ports: tuple[int, ...], now: float, *, impaired: bool = True) -> None:
        """Queue `frame` for `ports` at time `now` (seconds)."""
        imp = self.impairment
        dropped = reordered = False
        hold = 0.0
        if impaired:
            hold = imp.delay_ms / 1000.0
            if imp.reorder and self.rng.random() * 100.0 < imp.reorder:
                reordered = True
                hold = 0.0 if imp.delay_ms else imp.reorder_gap_ms / 1000.0
            if imp.loss and self.rng.random() * 100.0 < imp.loss:
                dropped = True
        self._frames += 1
        self._dropped += dropped
        self._reordered += reordered
        release = Release(now + hold, frame, ports, dropped, reordered)
        heapq.heappush(self._heap, (release.due, next(self._order), release))

    @property
    def stats(self) -> WireStats:
        """What the wire did so far."""
        return WireStats(self._frames, self._dropped, self._reordered)

    def next_due(self) -> float | None:
        """When the earliest queued frame is due, or None when nothing is queued."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[Release]:
        """Remove and return every frame due at or before `now`, earliest first."""
        out: list[Release] = []
        while self._heap and self._heap[0][0] <= now:
            out.append(heapq.heappop(self._heap)[2])
        return out

    def drain(self) -> list[Release]:
        """Remove and return everything still queued (shutdown), earliest first."""
        out = [item[2] for item in sorted(self._heap)]
        self._heap.clear()
        return out

    def __len__(self) -> int:
        return len(self._heap)
