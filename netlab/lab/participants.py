"""Scripted chat participants: a `ChatClient` each, and one shared inbox the lab waits on.

Each participant owns one pump thread that moves what its `ChatClient` receives into the shared
`Inbox` (a list per participant under one condition variable); `close()` closes the client, which
ends the pump, and joins it. The lab's main thread waits on the inbox for the deliveries a step
should cause (`conversation.expectations`), with a deadline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from netlab.chat.client import ChatClient
from netlab.chat.wire import Incoming, MessageKind
from netlab.lab.conversation import Expect
from netlab.packets import Endpoint

log = logging.getLogger(__name__)


class Inbox:
    """What every participant received, in order; thread-safe."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._messages: dict[int, list[Incoming]] = {}
        self._used: dict[int, int] = {}  # per participant: messages before this index are accounted for

    def put(self, participant: int, message: Incoming) -> None:
        """Record a message (called by pump threads)."""
        with self._cond:
            self._messages.setdefault(participant, []).append(message)
            self._cond.notify_all()

    def received(self, participant: int) -> list[Incoming]:
        """A copy of everything `participant` received so far."""
        with self._cond:
            return list(self._messages.get(participant, []))

    def await_all(
        self, expects: Iterable[Expect], timeout: float, actor: int | None = None
    ) -> tuple[list[Expect], str | None]:
        """Wait until every expectation is met (each by its own message).

        Returns the unmet expectations, and the server's error text when `actor` received an
        error meanwhile (the step failed; waiting stops there).
        """
        pending = list(expects)
        deadline = time.monotonic() + timeout
        error: str | None = None
        with self._cond:
            while pending:
                pending = [e for e in pending if not self._consume(e)]
                if actor is not None:
                    error = self._error_for(actor)
                remaining = deadline - time.monotonic()
                if not pending or error is not None or remaining <= 0:
                    break
                self._cond.wait(remaining)
        return pending, error

    def _consume(self, expect: Expect) -> bool:
        messages = self._messages.get(expect.recipient, [])
        start = self._used.get(expect.recipient, 0)
        for index in range(start, len(messages)):
            if expect.met_by(messages[index]):
                self._used[expect.recipient] = index + 1
                return True
        return False

    def _error_for(self, actor: int) -> str | None:
        messages = self._messages.get(actor, [])
        for message in messages[self._used.get(actor, 0) :]:
            if message.kind is MessageKind.ERROR:
                self._used[actor] = len(messages)
                return message.text
        return None


class Participant:
    """One scripted chat user: a connected `ChatClient` whose messages flow into an `Inbox`."""

    def __init__(self, index: int, client: ChatClient, inbox: Inbox, host: str = "") -> None:
        self.index = index
        self.client = client
        self.host = host
        self.nicks = [client.nick]
        self.sent: list[str] = []
        self.left = False
        name = client.sock.getsockname()
        self.local = Endpoint(str(name[0]), int(name[1]))
        self._inbox = inbox
        self._pump = threading.Thread(target=self._run, name=f"lab-pump-{client.nick}")
        self._pump.start()

    @property
    def nick(self) -> str:
        """The current nickname."""
        return self.nicks[-1]

    @property
    def label(self) -> str:
        """The first name, and the last one after a change, e.g. 'bob (now boris)'."""
        return self.nicks[0] if len(self.nicks) == 1 else f"{self.nicks[0]} (now {self.nicks[-1]})"

    def _run(self) -> None:
        for message in self.client:
            self._inbox.put(self.index, message)

    def send(self, line: str) -> None:
        """Send one line (a message or a command)."""
        self.client.send(line)
        self.sent.append(line)

    def close(self, farewell: bool = True) -> None:
        """Leave (with ``/quit`` when `farewell`), close the socket, join the pump thread."""
        self.client.close(farewell=farewell and not self.left)
        self._pump.join()
