"""The drivers of `netlab check` (edge): each opens probes, does its one thing to the server, gathers what
the probes saw and hands it to its pure verdict in `netlab.check.verdicts`.

A driver is a function `(Context, Pool) -> Found`, registered under its check's id in `DRIVERS`. It uses
only the `Context`'s helpers (`room`, `health`, `tag`) and its `Pool`'s probes, so the runner can close
everything when the check's deadline passes. Adding a check: its `CheckSpec` in `netlab.check.model.CHECKS`
(in the order it should run), a verdict function, a driver here.
"""

from __future__ import annotations

import itertools
import signal
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from netlab.chat.client_session import Dialect
from netlab.chat.detect import Prefix
from netlab.check.model import Verdict
from netlab.check.probe import Pool, Probe, ProbeError
from netlab.check.target import DidNotStart, ExecTarget, Target
from netlab.check.verdicts import (
    Chunk,
    Health,
    Outcome,
    broadcast_verdict,
    coalesced_verdict,
    disconnect_verdict,
    echo_verdict,
    health_verdict,
    load_verdict,
    long_line_verdict,
    many_clients_verdict,
    payload_text,
    percentile,
    restart_verdict,
    silent_client_verdict,
    slow_consumer_verdict,
    whole_line_verdict,
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


def _arrives(probe: Probe, payload: str, tag: str, timeout: float) -> bool:
    return probe.wait_for(lambda: probe.delivery(payload, tag).copies > 0, timeout)


def check_connect(ctx: Context, pool: Pool) -> Found:
    try:
        probes = ctx.room(pool, 3, "c", timeout=JOIN_TIMEOUT)
    except ProbeError as error:
        return Found(
            (Verdict.FAIL, f"3 clients could not all complete the handshake within 2 s: {error}", ()), pool.probes
        )
    slowest = max(p.handshake_seconds or 0.0 for p in probes)
    return Found(
        (Verdict.PASS, f"3 clients connected and completed the handshake ({slowest * 1000:.0f} ms at most)", ()),
        probes,
        {"slowest_handshake_s": round(slowest, 3)},
    )


def check_broadcast(ctx: Context, pool: Pool) -> Found:
    sender, *others = ctx.room(pool, 3, "b")
    payload, tag, at = ctx.said(sender, "hello from the grader")
    wait_all(others, payload, tag, 1.5)
    settle()
    deliveries = {p.nick: p.delivery(payload, tag) for p in others}
    return Found(broadcast_verdict(deliveries, sent_at=at), [sender, *others])


def check_sender_echo(ctx: Context, pool: Pool) -> Found:
    sender, other = ctx.room(pool, 2, "e")
    payload, tag, _ = ctx.said(sender, "do I hear myself?")
    wait_all([other], payload, tag, 1.5)
    settle(0.5)
    return Found(echo_verdict(sender.delivery(payload, tag)), [sender, other])


def check_split_line(ctx: Context, pool: Pool) -> Found:
    sender, talker, reader = ctx.room(pool, 3, "s")
    tag = ctx.tag()
    payload = payload_text(tag, "this line travels in many small segments")
    data = sender.line(payload)
    cuts = list(range(4, len(data), 5))
    other_tag = ctx.tag()
    other = payload_text(other_tag, "meanwhile another client talks")

    def interrupt() -> None:
        time.sleep(0.12)
        talker.send(talker.line(other))

    thread = threading.Thread(target=interrupt)
    thread.start()
    sender.send_pieces(data, cuts, 0.02)
    thread.join()
    wait_all([talker, reader], payload, tag, 1.5)
    settle()
    deliveries = {p.nick: p.delivery(payload, tag) for p in (talker, reader)}
    return Found(whole_line_verdict(deliveries, what="a line sent in small segments"), [sender, talker, reader])


def check_coalesced_lines(ctx: Context, pool: Pool) -> Found:
    sender, *others = ctx.room(pool, 3, "m")
    tags = [ctx.tag() for _ in range(3)]
    payloads = [payload_text(t, f"line {i + 1} of 3 in one segment") for i, t in enumerate(tags)]
    sender.send(b"".join(sender.line(p) for p in payloads))
    others[0].wait_for(lambda: all(p.delivery(payloads[2], tags[2]).copies for p in others), 1.5)
    settle()
    per = {p.nick: [p.delivery(payload, t) for payload, t in zip(payloads, tags, strict=True)] for p in others}
    outcome = coalesced_verdict(per, prefix=ctx.profile.prefix, sender=(sender.nick, "127.0.0.1", sender.local_port))
    return Found(outcome, [sender, *others])


UTF8_TEXT = "Привет, мир! 你好世界 👋🏽🎉 ёжик"


def check_utf8_split(ctx: Context, pool: Pool) -> Found:
    sender, *others = ctx.room(pool, 3, "u")
    tag = ctx.tag()
    payload = payload_text(tag, UTF8_TEXT)
    data = sender.line(payload)
    start = data.find(UTF8_TEXT.encode())
    cuts = [start + 1, start + 3, start + 19, start + 21, start + 31, start + 35, start + 37, start + 42]
    try:
        sender.send_pieces(data, cuts, 0.03)
    except OSError:
        pass
    wait_all(others, payload, tag, 1.5)
    settle()
    deliveries = {p.nick: p.delivery(payload, tag) for p in others}
    return Found(
        whole_line_verdict(deliveries, what="UTF-8 cut mid-character", sender_alive=not sender.closed),
        [sender, *others],
    )


def check_silent_client(ctx: Context, pool: Pool) -> Found:
    silent = ctx.probe(pool, "z")
    silent.connect()
    silent.start_reading()  # it reads what comes, says nothing
    time.sleep(0.3)
    start = ctx.clock()
    try:
        first = ctx.join(pool, "w", timeout=3.0)
        second = ctx.join(pool, "w", timeout=3.0)
    except ProbeError:
        return Found((silent_client_verdict(join_seconds=None, line_seconds=None)), pool.probes)
    joined = ctx.clock() - start
    if not ctx.understood:
        return Found(silent_client_verdict(join_seconds=joined, line_seconds=0.0), [silent, first, second])
    payload, tag, at = ctx.said(first, "is anybody waiting for the silent one?")
    second.wait_for(lambda: second.delivery(payload, tag).copies > 0, 2.0)  # the limit is 1 s
    got = second.delivery(payload, tag).first_at
    line = None if got is None else got - at
    return Found(
        silent_client_verdict(join_seconds=joined / 2, line_seconds=line),
        [silent, first, second],
        {"join_s": round(joined / 2, 3), "line_s": round(line, 3) if line is not None else -1},
    )


LOAD_SENDERS, LOAD_LINES, LOAD_LISTENERS, LOAD_BUDGET = 5, 1000, 20, 10.0


def check_load(ctx: Context, pool: Pool) -> Found:
    probes = ctx.room(pool, LOAD_SENDERS + LOAD_LISTENERS, "l", timeout=5.0, at_least=LOAD_SENDERS + 1)
    senders, listeners = probes[:LOAD_SENDERS], probes[LOAD_SENDERS:]
    capped = len(listeners) < LOAD_LISTENERS
    tags = [ctx.tag() for _ in senders]
    sent_at: dict[tuple[int, int], float] = {}

    def blast(index: int) -> None:
        sender = senders[index]
        for block in range(0, LOAD_LINES, 100):
            data = b"".join(
                sender.line(f"{tags[index]}-{n:04d}-load-line-{'x' * 16}") for n in range(block, block + 100)
            )
            now = ctx.clock()
            for n in range(block, block + 100):
                sent_at[(index, n)] = now
            try:
                sender.send(data, timeout=LOAD_BUDGET)
            except OSError:
                return

    start = ctx.clock()
    threads = [threading.Thread(target=blast, args=(i,)) for i in range(LOAD_SENDERS)]
    for thread in threads:
        thread.start()
    total = LOAD_SENDERS * LOAD_LINES
    counts: list[int] = []

    def delivered() -> int:
        return sum(p.received_bytes().count(b"-load-line-") for p in listeners)

    end = time.monotonic() + LOAD_BUDGET
    while time.monotonic() < end:
        counts.append(delivered())
        if counts[-1] >= total * len(listeners) or pool.cancelled.is_set():
            break
        time.sleep(0.25)
    elapsed = ctx.clock() - start
    counts.append(delivered())
    progressing = len(counts) > 8 and counts[-1] > counts[-8]
    received, garbled, latencies = _load_tally(listeners, tags, sent_at)
    for sender in senders:  # a throttled server still holds their lines: a reset discards them
        sender.abort()
    for thread in threads:
        thread.join(5)
    verdict, reason, notes = load_verdict(received, lines=LOAD_LINES, garbled=garbled, progressing=progressing)
    if capped:
        notes += (
            f"the server let only {len(probes)} clients join: {len(listeners)} listeners instead of {LOAD_LISTENERS}",
        )
    rate = counts[-1] / elapsed if elapsed else 0.0
    p99 = percentile(latencies, 0.99)
    throttled = any("rate limiting" in note for note in notes)
    latency = f", p99 {p99 * 1000:.0f} ms" if p99 is not None and not throttled else ""
    reason += f" ({rate:.0f} lines/s delivered{latency})"
    return Found(
        (verdict, reason, notes),
        [senders[0], listeners[0]],
        {
            "deliveries": counts[-1],
            "expected": total * len(listeners),
            "lines_per_s": round(rate),
            "p99_ms": round((p99 or 0) * 1000),
        },
    )


def _load_tally(
    listeners: list[Probe], tags: list[str], sent_at: dict[tuple[int, int], float]
) -> tuple[dict[str, dict[int, list[int]]], int, list[float]]:
    import re

    patterns = [re.compile(rf"{t}-(\d{{4}})-load-line-(x*)".encode()) for t in tags]
    received: dict[str, dict[int, list[int]]] = {}
    garbled = 0
    latencies: list[float] = []
    for listener in listeners:
        per: dict[int, list[int]] = {i: [] for i in range(len(tags))}
        stream = bytearray()
        for chunk in listener.received():
            before = len(stream)
            stream += chunk.data
            for index, pattern in enumerate(patterns):
                for match in pattern.finditer(stream, max(0, before - 64)):
                    if match.end() <= before:
                        continue
                    n = int(match.group(1))
                    if len(match.group(2)) != 16:
                        garbled += 1
                        continue
                    per[index].append(n)
                    if (index, n) in sent_at:
                        latencies.append(chunk.at - sent_at[(index, n)])
        received[listener.nick] = per
    return received, garbled, latencies


SLOW_SENDERS, SLOW_RATE, SLOW_LINE, SLOW_SECONDS = 40, 4.0, 3800, 8.0


def check_slow_consumer(ctx: Context, pool: Pool) -> Found:
    stuck = ctx.probe(pool, "k")
    stuck.connect(rcvbuf=4096)
    stuck.handshake(JOIN_TIMEOUT, read=False)  # it joined, and from now on never reads
    reader, *senders = ctx.room(pool, 1 + SLOW_SENDERS, "r", timeout=5.0, at_least=3)
    latencies: list[float] = []
    longest = [0.0]
    sent_bytes = [0]
    pending: dict[str, float] = {}
    order: dict[str, list[str]] = {s.nick: [] for s in senders}
    lock = threading.Lock()
    stop = threading.Event()

    def talk(sender: Probe) -> None:
        while not stop.is_set():
            tag = ctx.tag()
            payload = payload_text(tag, "y" * SLOW_LINE)
            with lock:
                pending[tag] = ctx.clock()
                order[sender.nick].append(tag)
            try:
                took = sender.send(sender.line(payload), timeout=SLOW_SECONDS)
            except OSError:
                return
            with lock:
                longest[0] = max(longest[0], took)
                sent_bytes[0] += len(payload)
            stop.wait(1.0 / SLOW_RATE)

    threads = [threading.Thread(target=talk, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    buffered = 0
    end = time.monotonic() + SLOW_SECONDS
    while time.monotonic() < end and not pool.cancelled.is_set():
        time.sleep(0.5)
        buffered = max(buffered, _queued(ctx.target.port, stuck.local_port))
    stop.set()
    for thread in threads:
        thread.join(SLOW_SECONDS + 2)
    time.sleep(0.5)
    stream = reader.received()
    with lock:
        tags = dict(pending)
    arrived = _arrival_times(stream, tags)
    for sequence in order.values():  # a line whose tag arrived cut is there no later than the next one
        later: float | None = None
        for tag in reversed(sequence):
            if tag in arrived:
                later = arrived[tag] if later is None else min(arrived[tag], later)
                arrived[tag] = later
            elif later is not None:
                arrived[tag] = later
    for tag, sent in tags.items():
        if tag in arrived:
            latencies.append(arrived[tag] - sent)
        elif sent < ctx.clock() - 1.0:
            latencies.append(ctx.clock() - sent)  # never arrived: at least this late
    outcome = slow_consumer_verdict(
        latencies=latencies, longest_send=longest[0], buffered=buffered, sent_bytes=sent_bytes[0], throttled=False
    )
    stuck.abort()
    p99 = percentile(latencies, 0.99)
    return Found(
        outcome,
        [senders[0], reader],
        {
            "p99_ms": round((p99 or 0) * 1000),
            "longest_send_s": round(longest[0], 3),
            "bytes_sent_per_receiver": sent_bytes[0],
            "bytes_buffered_for_slow_client": buffered,
        },
    )


def _queued(server_port: int, client_port: int) -> int:
    """Bytes the kernel holds for one connection: the client end's Recv-Q plus the server end's Send-Q."""
    from netlab.sockets.diag import query

    try:
        rows = query(server_port)
    except OSError:
        return 0
    total = 0
    for row in rows:
        if row.local.port == client_port and row.remote.port == server_port:
            total += row.recv_q or 0
        elif row.remote.port == client_port and row.local.port == server_port:
            total += row.send_q or 0
    return total


def _arrival_times(chunks: list[Chunk], tags: dict[str, float]) -> dict[str, float]:
    """When each tag's end mark (``TAGz``) first arrived in `chunks`."""
    ends = {f"{tag}z".encode(): tag for tag in tags}
    sizes = sorted({len(end) for end in ends})
    found: dict[str, float] = {}
    stream = bytearray()
    for chunk in chunks:
        before = len(stream)
        stream += chunk.data
        at = stream.find(b"q", max(0, before - 64))
        while at >= 0:
            for size in sizes:
                tag = ends.get(bytes(stream[at : at + size]))
                if tag is not None and tag not in found:
                    found[tag] = chunk.at
            at = stream.find(b"q", at + 1)
    return found


def check_many_clients(ctx: Context, pool: Pool) -> Found:
    count = ctx.clients
    listener = ctx.join(pool, "n", timeout=3.0) if ctx.understood else None
    probes = [ctx.probe(pool, "n") for _ in range(count)]
    results: dict[str, str] = {}
    payloads: dict[str, tuple[str, str]] = {}

    def one(probe: Probe) -> None:
        try:
            probe.connect(timeout=5.0)
            if not ctx.understood:
                probe.start_reading()
                results[probe.nick] = "connected"
                return
            probe.handshake(5.0)
            tag = ctx.tag()
            payload = payload_text(tag, "one of many")
            probe.send(probe.line(payload))
            payloads[probe.nick] = (payload, tag)
            results[probe.nick] = "joined"
        except ProbeError as error:
            results[probe.nick] = f"hanging: {error}" if error.timed_out else f"closed: {error}"
        except OSError as error:
            results[probe.nick] = f"closed: {error.strerror}"

    threads = [threading.Thread(target=one, args=(p,)) for p in probes]
    for thread in threads:
        thread.start()
    cpu = ctx.target.cpu_percent(2.0)
    for thread in threads:
        thread.join(10)
    served = refused = hanging = 0
    if listener is not None:
        listener.wait_for(lambda: all(listener.delivery(*v).copies for v in payloads.values()), 5.0)
    for probe in probes:
        state = results.get(probe.nick, "hanging: no answer")
        if state == "joined":
            ok = listener is None or listener.delivery(*payloads[probe.nick]).copies > 0
            if ok:
                served += 1
            elif probe.closed:
                refused += 1
            else:
                hanging += 1
        elif state == "connected":
            if probe.closed:
                refused += 1
            else:
                served += 1
        elif state.startswith("closed"):
            refused += 1
        else:
            hanging += 1
    for probe in probes:
        probe.close()
    health = ctx.health(pool)
    outcome = many_clients_verdict(
        clients=count,
        served=served,
        refused=refused,
        hanging=hanging,
        cpu_percent=cpu,
        health=health,
        others=1 if listener is not None else 0,
    )
    measured: dict[str, float | int | str] = {
        "clients": count,
        "served": served,
        "refused": refused,
        "hanging": hanging,
    }
    if cpu is not None:
        measured["server_cpu_percent"] = round(cpu)
    return Found(outcome, [p for p in probes[:2]] + ([listener] if listener else []), measured)


def check_utf8_nick(ctx: Context, pool: Pool) -> Found:
    first = ctx.join(pool, "o")
    odd = ctx.probe(pool, "o")
    odd.nick = "Вася_🙂"
    odd.session.nick = odd.nick
    try:
        odd.connect()
        odd.handshake(JOIN_TIMEOUT)
    except ProbeError:
        pass  # a refusal is fine: only the others matter
    settle()
    health = ctx.health(pool, busy=[first])
    return Found(health_verdict(health, what="a Cyrillic/emoji nickname"), [odd, first])


def check_clean_disconnect(ctx: Context, pool: Pool) -> Found:
    stay, talker, leaver = ctx.room(pool, 3, "d")
    settle(0.2)
    mark = ctx.clock()
    leaver.finish(1.0)
    cpu = ctx.target.cpu_percent(1.0)
    told = bool(stay.received_bytes(since=mark) or talker.received_bytes(since=mark))
    if not ctx.understood:
        health = ctx.health(pool)
        return Found(
            disconnect_verdict(what="a clean close", health=health, told=True, cpu_percent=cpu), [leaver, stay]
        )
    problems = []
    for attempt in range(2):
        try:
            payload, tag, _ = ctx.said(talker, f"are you still there? ({attempt + 1})")
        except OSError as error:
            problems.append(f"a live client's send failed ({error.strerror})")
            break
        if not _arrives(stay, payload, tag, 1.2):
            problems.append("a live client's line after the close was not delivered")
            break
    health = ctx.health(pool, busy=[stay])
    if problems:
        health = Health(
            health.alive, health.accepting, False, problems[0] + " (a dead socket left in the client list?)"
        )
    measured: dict[str, float | int | str] = {}
    if cpu is not None:
        measured["server_cpu_percent_after_close"] = round(cpu)
    return Found(
        disconnect_verdict(what="a clean close", health=health, told=told, cpu_percent=cpu),
        [leaver, talker, stay],
        measured,
    )


LONG_LINE = 64 * 1024


def check_long_line(ctx: Context, pool: Pool) -> Found:
    sender, *others = ctx.room(pool, 3, "g")
    tag = ctx.tag()
    payload = payload_text(tag, "L" * (LONG_LINE - 20))
    data = sender.line(payload)
    try:
        sender.send(data, timeout=5.0)
    except OSError:
        pass
    wait_all(others, payload, tag, 3.0)
    settle(0.5)
    delivery = others[0].delivery(payload, tag)
    before_send = sender.sent[0][0] if sender.sent else 0.0
    refused = sender.closed or bool(sender.received_bytes(since=before_send + 1e-9).replace(data, b"").strip())
    health = ctx.health(pool, busy=others)
    return Found(long_line_verdict(delivery, sender_refused=refused, health=health), [sender, *others])


def check_abrupt_disconnect(ctx: Context, pool: Pool) -> Found:
    stay, talker, leaver = ctx.room(pool, 3, "a")
    ctx.said(leaver, "about to vanish")
    settle(0.3)
    mark = ctx.clock()
    leaver.abort()
    settle(1.0)
    told = bool(stay.received_bytes(since=mark) or talker.received_bytes(since=mark))
    health = ctx.health(pool, busy=[stay])
    return Found(disconnect_verdict(what="a reset (RST)", health=health, told=told), [leaver, talker, stay])


BAD_LINES = (b"nul\x00byte", b"bad \xff\xfe utf-8 \xc3(", b"\x1b[2J\x1b[31mred\x1b]0;pwned\x07 escape")


def check_bad_bytes(ctx: Context, pool: Pool) -> Found:
    sender, *others = ctx.room(pool, 3, "x")
    mark = ctx.clock()
    prefix = b""
    terminator = b"\n"
    for raw in BAD_LINES:
        try:
            sender.send(prefix + raw + terminator)
        except OSError:
            break
        time.sleep(0.05)
    settle(0.8)
    escapes = any(b"\x1b[" in p.received_bytes(since=mark) or b"\x1b]" in p.received_bytes(since=mark) for p in others)
    health = ctx.health(pool, busy=others)
    warn = "ANSI escape sequences reach other clients unchanged (terminal injection)" if escapes else None
    return Found(health_verdict(health, what="NUL, invalid UTF-8 and ANSI escapes", warn=warn), [sender, *others])


def check_connect_close(ctx: Context, pool: Pool) -> Found:
    for _ in range(3):
        probe = ctx.probe(pool, "y")
        try:
            probe.connect()
        except ProbeError:
            break
        probe.close()
        time.sleep(0.05)
    settle(0.5)
    health = ctx.health(pool)
    return Found(health_verdict(health, what="connections closed at once"), pool.probes[-2:])


def check_restart(ctx: Context, pool: Pool) -> Found:
    target = ctx.target
    if not isinstance(target, ExecTarget):
        return Found((Verdict.SKIP, "needs --exec (the grader must start the server to restart it)", ()))
    try:
        talker = ctx.join(pool, "v")
        if ctx.understood:
            ctx.said(talker, "before the restart")
    except (ProbeError, OSError):
        pass
    settle(0.3)
    waited = target.signal_and_wait(signal.SIGINT, 2.0)
    used = "SIGINT"
    if waited is None:
        used = "SIGTERM"
        waited = target.signal_and_wait(signal.SIGTERM, 2.0)
        if waited is not None:
            waited += 2.0
    pool.close_all()
    if waited is None:
        target.stop()
        return Found(
            restart_verdict(
                exit_seconds=None,
                signal_used=used,
                rebound=False,
                cause="threads not daemon or a blocking call that ignores signals?",
            ),
            pool.probes,
        )
    saved = target.start_timeout
    target.start_timeout = 2.0
    try:
        target.start()
        rebound, cause = True, ""
    except DidNotStart as error:
        tail = target.stderr_tail()
        rebound = False
        cause = "no SO_REUSEADDR?" if any("in use" in line for line in tail) else str(error)
    finally:
        target.start_timeout = saved
    return Found(restart_verdict(exit_seconds=waited, signal_used=used, rebound=rebound, cause=cause), pool.probes)


DRIVERS: dict[str, Callable[[Context, Pool], Found]] = {
    "connect": check_connect,
    "broadcast": check_broadcast,
    "sender-echo": check_sender_echo,
    "split-line": check_split_line,
    "coalesced-lines": check_coalesced_lines,
    "utf8-split": check_utf8_split,
    "silent-client": check_silent_client,
    "load": check_load,
    "slow-consumer": check_slow_consumer,
    "many-clients": check_many_clients,
    "utf8-nick": check_utf8_nick,
    "clean-disconnect": check_clean_disconnect,
    "long-line": check_long_line,
    "abrupt-disconnect": check_abrupt_disconnect,
    "bad-bytes": check_bad_bytes,
    "connect-close": check_connect_close,
    "restart": check_restart,
}
