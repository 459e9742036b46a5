"""What every driver of `netlab check` shares (edge): the `Context` (target, learned profile, clock, fresh
nicknames and tags, rooms of probes, the server's health), the `Profile` learned before the checks, and a
driver's result, `Found`."""

from __future__ import annotations

import itertools
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from netlab.chat.client_session import Dialect
from netlab.chat.detect import Prefix
from netlab.check.probe import Pool, Probe, ProbeError
from netlab.check.target import Target
from netlab.check.verdicts import (
    Health,
    Outcome,
    payload_text,
)

JOIN_TIMEOUT = 2.0


@dataclass
class Profile:
    """What the grader learned about the server before the checks: its dialect, prefix, echo."""

    dialect: Dialect = Dialect.AUTO  # what the probes ask for (auto: each detects, as join does)
    name: str = "unknown"  # the dialect detected (netlab, tutorial, raw)
    detection: str = ""
    unrecognised: str = ""
    waits: tuple[float, float] | None = None  # auto's (greeting, reply) waits once the server's kind is known
    prefix: Prefix | None = None
    echo: bool | None = None


@dataclass
class Found:
    """A driver's result: the verdict, and what to quote (probes involved, measurements)."""

    outcome: Outcome
    probes: list[Probe] = field(default_factory=list)
    measurements: dict[str, float | int | str] = field(default_factory=dict)


class Context:
    """What every driver shares: the target, the learned profile, the run's clock, nicknames and tags."""

    def __init__(self, target: Target, profile: Profile, clients: int, clock: Callable[[], float]) -> None:
        self.target = target
        self.profile = profile
        self.clients = clients
        self.clock = clock
        self._names = (
            "".join(letters)
            for size in itertools.count(2)
            for letters in itertools.product(string.ascii_lowercase, repeat=size)
        )
        self._lock = threading.Lock()

    @property
    def understood(self) -> bool:
        """Whether the server's protocol was recognised."""
        return not self.profile.unrecognised

    def nick(self, base: str) -> str:
        """A fresh nickname: letters only, so no server mistakes it for a number."""
        with self._lock:
            return f"{base}{next(self._names)}"

    def tag(self) -> str:
        """A fresh tag for a line (letters, unique in the run)."""
        return "q" + self.nick("t")

    def probe(self, pool: Pool, base: str, *, dialect: Dialect | None = None) -> Probe:
        """A probe for this server (not connected yet)."""
        return Probe(
            pool,
            self.target.host,
            self.target.port,
            self.nick(base),
            dialect or self.profile.dialect,
            self.profile.waits,
        )

    def join(self, pool: Pool, base: str, *, timeout: float = JOIN_TIMEOUT, dialect: Dialect | None = None) -> Probe:
        """A probe connected and through the handshake.

        Raises:
            ProbeError: it could not.
        """
        probe = self.probe(pool, base, dialect=dialect)
        probe.connect()
        if self.understood:
            probe.handshake(timeout)
        else:
            probe.start_reading()
        self.registered()
        return probe

    def room(
        self, pool: Pool, count: int, base: str = "p", timeout: float = JOIN_TIMEOUT, at_least: int | None = None
    ) -> list[Probe]:
        """`count` probes that joined at the same time (in parallel threads).

        Raises:
            ProbeError: fewer than `at_least` (default: all) could join; with `at_least`, the ones that could
                not are closed and the others returned.
        """
        probes = [self.probe(pool, base) for _ in range(count)]
        errors: list[str] = []
        failed: list[Probe] = []

        def open_one(probe: Probe) -> None:
            try:
                probe.connect()
                if self.understood:
                    probe.handshake(timeout)
                else:
                    probe.start_reading()
            except ProbeError as error:
                errors.append(f"{probe.nick}: {error}")
                failed.append(probe)

        threads = [threading.Thread(target=open_one, args=(p,)) for p in probes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout + 3)
        if errors and (at_least is None or count - len(errors) < at_least):
            raise ProbeError("; ".join(errors[:3]) + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""))
        for probe in failed:
            probe.close()
        self.registered()
        return [probe for probe in probes if probe not in failed]

    def registered(self) -> None:
        """Give the server a moment to register clients whose handshake it does not confirm (a prompt, a
        token answered without a reply): a client's line must not race its peers' names."""
        if self.profile.name != Dialect.NETLAB.value:
            time.sleep(0.2)

    def health(self, pool: Pool, *, busy: list[Probe] | None = None) -> Health:
        """Whether the server still accepts a newcomer and serves a line between two live clients."""
        alive = self.target.alive()
        if alive is False:
            return Health(False, False, False, self._exit_detail())
        try:
            newcomer = self.join(pool, "h", timeout=3.0)
        except ProbeError as error:
            return Health(alive, False, False, str(error))
        if not self.understood:
            time.sleep(0.3)
            return Health(alive, not newcomer.closed, True)
        others = [p for p in busy or [] if not p.closed]
        try:
            listener = others[0] if others else self.join(pool, "h", timeout=3.0)
        except ProbeError as error:
            return Health(alive, True, False, str(error))
        tag = self.tag()
        payload = payload_text(tag, "still there?")
        try:
            newcomer.send(newcomer.line(payload))
        except OSError as error:
            return Health(alive, True, False, f"sending failed: {error.strerror}")
        ok = listener.wait_for(lambda: listener.delivery(payload, tag).copies > 0, 2.0)
        return Health(self.target.alive(), True, ok, "" if ok else "a line between two clients was not delivered")

    def _exit_detail(self) -> str:
        tail = self.target.stderr_tail()
        return tail[-1] if tail else ""

    def said(self, probe: Probe, body: str) -> tuple[str, str, float]:
        """Send one tagged line from `probe`; returns (payload, tag, time sent)."""
        tag = self.tag()
        payload = payload_text(tag, body)
        at = self.clock()
        probe.send(probe.line(payload))
        return payload, tag, at


# ---------------------------------------------------------------------------------- the drivers


def settle(seconds: float = 0.3) -> None:
    """Let late copies (duplicates) arrive before a verdict."""
    time.sleep(seconds)


def wait_all(probes: list[Probe], payload: str, tag: str, timeout: float) -> None:
    """Wait until every probe has the line intact (or `timeout`)."""
    if probes:
        probes[0].wait_for(lambda: all(p.delivery(payload, tag).copies > 0 for p in probes), timeout)


def arrives(probe: Probe, payload: str, tag: str, timeout: float) -> bool:
    return probe.wait_for(lambda: probe.delivery(payload, tag).copies > 0, timeout)
