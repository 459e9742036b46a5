"""Events grouped per stream into a `Dialogue` of turns, gaps and control packets (pure).

A *turn* is a run of in-order bytes in one direction; it makes no claim to be an application
message. In a UDP conversation each datagram is a turn of its own.
Dialogues, ladder diagrams and statistics are all drawn from the same event list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from netlab.packets import Endpoint
from netlab.stream.events import (
    Closed,
    CloseReason,
    Control,
    Data,
    Direction,
    Event,
    Gap,
    Notice,
    Opened,
    StreamStats,
    Transport,
)
from netlab.stream.roles import RoleReason


@dataclass(frozen=True, slots=True)
class Turn:
    """Consecutive bytes in one direction: `data`, from frame `first_frame` at `ts` to `last_frame`."""

    stream: int
    direction: Direction
    ts: float
    end_ts: float
    first_frame: int
    last_frame: int
    data: bytes
    chunks: int


DialogueItem = Turn | Gap | Control


@dataclass(frozen=True, slots=True)
class Dialogue:
    """One stream: its endpoints, its items in order, its anomalies and its statistics."""

    stream: int
    client: Endpoint
    server: Endpoint
    roles_reason: RoleReason
    ts: float
    items: tuple[DialogueItem, ...]
    notices: tuple[Notice, ...]
    stats: StreamStats
    close_reason: CloseReason
    vlan: tuple[int, ...] = ()
    proto: Transport = Transport.TCP

    @property
    def roles_guessed(self) -> bool:
        """True when the handshake was not captured and the roles were inferred."""
        return self.roles_reason.guessed

    @property
    def turns(self) -> tuple[Turn, ...]:
        """Only the turns."""
        return tuple(item for item in self.items if isinstance(item, Turn))

    def bytes(self, direction: Direction) -> bytes:
        """Every byte of one direction, in order (gaps left out)."""
        return b"".join(t.data for t in self.turns if t.direction is direction)


@dataclass(slots=True)
class _Builder:
    opened: Opened
    items: list[DialogueItem] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    pending: list[Data] = field(default_factory=list)

    def flush_turn(self) -> None:
        if not self.pending:
            return
        first, last = self.pending[0], self.pending[-1]
        data = b"".join(d.data for d in self.pending)
        self.items.append(
            Turn(
                first.stream,
                first.direction,
                first.ts,
                last.ts,
                first.frame,
                last.frame,
                data,
                len(self.pending),
            )
        )
        self.pending.clear()

    def add(self, event: Event) -> None:
        if isinstance(event, Data):
            if self.pending and (
                self.pending[-1].direction is not event.direction or self.opened.proto is Transport.UDP
            ):
                self.flush_turn()
            self.pending.append(event)
        elif isinstance(event, Gap | Control):
            self.flush_turn()
            self.items.append(event)
        elif isinstance(event, Notice):
            self.notices.append(event)

    def build(self, closed: Closed) -> Dialogue:
        self.flush_turn()
        o = self.opened
        return Dialogue(
            o.stream,
            o.client,
            o.server,
            o.roles_reason,
            o.ts,
            tuple(self.items),
            tuple(self.notices),
            closed.stats,
            closed.reason,
            o.vlan,
            o.proto,
        )


def build_dialogues(events: Iterable[Event]) -> list[Dialogue]:
    """Group a complete event list (ending with `flush`'s events) into dialogues, by stream number.

    Streams without a `Closed` event (a list cut before `flush`) are left out.
    """
    builders: dict[int, _Builder] = {}
    done: dict[int, Dialogue] = {}
    for event in events:
        if isinstance(event, Opened):
            builders[event.stream] = _Builder(event)
        elif isinstance(event, Closed):
            builder = builders.pop(event.stream, None)
            if builder is not None:
                done[event.stream] = builder.build(event)
        else:
            builder = builders.get(event.stream)
            if builder is not None:
                builder.add(event)
    return [done[n] for n in sorted(done)]
