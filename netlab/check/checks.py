"""The drivers of `netlab check` (edge): each opens probes, does its one thing to the server, gathers what
the probes saw and hands it to its pure verdict in `netlab.check.verdicts`.

A driver is a function `(Context, Pool) -> Found`, registered under its check's id in `DRIVERS`. It uses
only the `Context`'s helpers (`room`, `health`, `tag`) and its `Pool`'s probes, so the runner can close
everything when the check's deadline passes. Adding a check: its `CheckSpec` in
`netlab.check.model.CHECKS` (in the order it should run), a verdict function, a driver here (or in
`netlab.check.stress` for the ones that put many clients or much traffic on the server).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

from netlab.check.context import JOIN_TIMEOUT, Context, Found, arrives, settle, wait_all
from netlab.check.model import Verdict
from netlab.check.probe import Pool, ProbeError
from netlab.check.stress import check_load, check_many_clients, check_slow_consumer
from netlab.check.target import DidNotStart, ExecTarget
from netlab.check.verdicts import (
    Health,
    broadcast_verdict,
    coalesced_verdict,
    disconnect_verdict,
    echo_verdict,
    health_verdict,
    long_line_verdict,
    payload_text,
    restart_verdict,
    silent_client_verdict,
    whole_line_verdict,
)


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
        if not arrives(stay, payload, tag, 1.2):
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
    # a server that closed the sender has refused the line: whatever the others got, that verdict is settled
    others[0].wait_for(lambda: sender.closed or all(p.delivery(payload, tag).copies > 0 for p in others), 3.0)
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
