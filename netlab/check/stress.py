"""The drivers that put many clients or much traffic on the server (edge): load, slow-consumer, many-clients.

Each follows `netlab.check.checks`' contract: `(Context, Pool) -> Found`, every wait bounded.
"""

from __future__ import annotations

import threading
import time

from netlab.check.context import JOIN_TIMEOUT, Context, Found
from netlab.check.probe import Pool, Probe, ProbeError
from netlab.check.verdicts import (
    Chunk,
    load_verdict,
    many_clients_verdict,
    payload_text,
    percentile,
    slow_consumer_verdict,
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
