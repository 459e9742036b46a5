"""The reassembler's two state machines, declared as transition tables (pure; h11's ``_state.py``).

A direction of a connection (`netlab.stream.flow.Flow`) is in a `FlowState`: where its byte
stream starts may be known (a SYN) or only guessed (capture started mid-stream), and a first
empty segment may have been a keep-alive one byte before the real next byte. A connection
(`netlab.stream.connection.Connection`) is in a `ConnState`: whether the handshake was seen and
whether a RST ended it. Every change of state goes through `advance`, which looks the pair
(state, event) up in the table; a pair that is not there is a bug in netlab, and raises
`IllegalTransition` naming both.

Flow (``start`` events are the first segment of the direction)::

    IDLE --START_SYN--------------------------------------> SETTLED
    IDLE --START_DATA--> UNSETTLED ------SETTLE-----------> SETTLED
    IDLE --START_EMPTY-> UNSETTLED_EMPTY --DATA-> UNSETTLED
                         UNSETTLED_EMPTY --SETTLE-> SETTLED_EMPTY --DATA-> SETTLED

Connection (only a SYN-ACK and a RST change it)::

    UNCONFIRMED --SYN_ACK--> ESTABLISHED --RST--> RESET
    UNCONFIRMED --RST------> REFUSED --SYN_ACK--> ESTABLISHED
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeVar

from netlab.stream.events import ControlKind

__all__ = [
    "CONN_TRANSITIONS",
    "FLOW_TRANSITIONS",
    "ConnState",
    "FlowEvent",
    "FlowState",
    "IllegalTransition",
    "advance",
]

S = TypeVar("S", bound=enum.Enum)
E = TypeVar("E", bound=enum.Enum)


class FlowState(enum.Enum):
    """Where one direction's byte stream starts, as far as the capture tells."""

    IDLE = "idle"  # nothing seen in this direction yet
    UNSETTLED = "unsettled"  # started without a SYN: its start may still move back (data from before)
    UNSETTLED_EMPTY = "unsettled-empty"  # ...and by an empty segment, which may have been a keep-alive
    SETTLED_EMPTY = "settled-empty"  # the start is settled, but the first segment may have been a keep-alive
    SETTLED = "settled"  # the start is known (a SYN, or settled) and data has come: the common state

    @property
    def provisional(self) -> bool:
        """True while the start of the stream is not settled yet."""
        return self is FlowState.UNSETTLED or self is FlowState.UNSETTLED_EMPTY

    @property
    def empty_start(self) -> bool:
        """True while the first segment was empty and no data followed (maybe a keep-alive)."""
        return self is FlowState.UNSETTLED_EMPTY or self is FlowState.SETTLED_EMPTY


class FlowEvent(enum.Enum):
    """What changes a `FlowState`."""

    START_SYN = "start-syn"  # the first segment is a SYN
    START_DATA = "start-data"  # the first segment carries data, no SYN
    START_EMPTY = "start-empty"  # the first segment is empty, no SYN
    DATA = "data"  # the first data after an empty start
    SETTLE = "settle"  # the peer acknowledged, or enough segments wait: the start is fixed


class ConnState(enum.Enum):
    """What the control packets said about a connection."""

    UNCONFIRMED = "unconfirmed"  # no SYN-ACK seen (yet, or ever: capture started mid-stream)
    REFUSED = "refused"  # a RST came before any SYN-ACK
    ESTABLISHED = "established"  # a SYN-ACK was seen
    RESET = "reset"  # a RST came after the SYN-ACK

    @property
    def handshake(self) -> bool:
        """True when a SYN-ACK was seen."""
        return self is ConnState.ESTABLISHED or self is ConnState.RESET


FLOW_TRANSITIONS: dict[tuple[FlowState, FlowEvent], FlowState] = {
    (FlowState.IDLE, FlowEvent.START_SYN): FlowState.SETTLED,
    (FlowState.IDLE, FlowEvent.START_DATA): FlowState.UNSETTLED,
    (FlowState.IDLE, FlowEvent.START_EMPTY): FlowState.UNSETTLED_EMPTY,
    (FlowState.UNSETTLED_EMPTY, FlowEvent.DATA): FlowState.UNSETTLED,
    (FlowState.SETTLED_EMPTY, FlowEvent.DATA): FlowState.SETTLED,
    (FlowState.UNSETTLED, FlowEvent.SETTLE): FlowState.SETTLED,
    (FlowState.UNSETTLED_EMPTY, FlowEvent.SETTLE): FlowState.SETTLED_EMPTY,
}

CONN_TRANSITIONS: dict[tuple[ConnState, ControlKind], ConnState] = {
    (ConnState.UNCONFIRMED, ControlKind.SYN_ACK): ConnState.ESTABLISHED,
    (ConnState.UNCONFIRMED, ControlKind.RST): ConnState.REFUSED,
    (ConnState.REFUSED, ControlKind.SYN_ACK): ConnState.ESTABLISHED,
    (ConnState.REFUSED, ControlKind.RST): ConnState.REFUSED,
    (ConnState.ESTABLISHED, ControlKind.SYN_ACK): ConnState.ESTABLISHED,
    (ConnState.ESTABLISHED, ControlKind.RST): ConnState.RESET,
    (ConnState.RESET, ControlKind.SYN_ACK): ConnState.RESET,
    (ConnState.RESET, ControlKind.RST): ConnState.RESET,
}


class IllegalTransition(RuntimeError):
    """A state machine was given an event its state has no transition for.

    This is a bug in netlab, not a property of the capture (which is why it is not a
    `netlab.errors.NetlabError`, whose messages tell the user what to do).
    """

    def __init__(self, machine: str, state: enum.Enum, event: enum.Enum) -> None:
        super().__init__(f"{machine}: no transition for event {event.name} in state {state.name}")
        self.state = state
        self.event = event


def advance(table: Mapping[tuple[S, E], S], machine: str, state: S, event: E) -> S:
    """The state after `event` in `state`, from `table` (`machine` names it in the error).

    Raises:
        IllegalTransition: the table has no entry for the pair.
    """
    try:
        return table[(state, event)]
    except KeyError:
        raise IllegalTransition(machine, state, event) from None
