"""`netlab check`'s pure parts: how a tagged line arrived, the verdicts from observations, the JSON document."""

from __future__ import annotations

import ast
import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlab.chat.detect import learn_prefix
from netlab.check import model, verdicts
from netlab.check.model import CheckResult, Evidence, Exchange, RunInfo, Verdict
from netlab.check.verdicts import Chunk, Health, find_delivery, payload_text

TAG = "qtab"
LINE = payload_text(TAG, "hello there")


def chunks(*parts: bytes, at: float = 1.0) -> list[Chunk]:
    return [Chunk(at + i * 0.01, part) for i, part in enumerate(parts)]


def test_a_line_delivered_once_with_a_prefix() -> None:
    got = find_delivery(chunks(b"[4000]: " + LINE.encode() + b"\n"), LINE, TAG)
    assert (got.copies, got.tagged, got.befores, got.line_ends, got.replaced) == (1, 1, ("[4000]: ",), (True,), False)


@given(cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=8))
@settings(max_examples=100)
def test_delivery_does_not_depend_on_how_the_bytes_were_received(cuts: list[int]) -> None:
    data = b"bob: " + LINE.encode() + b"\nbob: other\n"
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    pieces = [data[a:b] for a, b in zip(points, points[1:], strict=False)]
    whole = find_delivery(chunks(data), LINE, TAG)
    split = find_delivery(chunks(*pieces), LINE, TAG)
    assert (split.copies, split.tagged, split.befores, split.line_ends) == (
        whole.copies,
        whole.tagged,
        whole.befores,
        whole.line_ends,
    )


def test_lost_cut_duplicated_broken_late() -> None:
    at = 1.0
    assert find_delivery(chunks(b"nothing"), LINE, TAG).lost
    cut = find_delivery(chunks(b"[1]: " + LINE.encode()[:9] + b"\n[1]: " + LINE.encode()[9:] + b"\n"), LINE, TAG)
    assert cut.copies == 0 and not cut.lost
    pieces = find_delivery(chunks(*[b"[1]: " + LINE.encode()[i : i + 5] for i in range(0, len(LINE), 5)]), LINE, TAG)
    assert pieces.copies == 0 and not pieces.lost  # relayed piece by piece, each with a prefix: not "lost"
    twice = find_delivery(chunks(LINE.encode() + b"\n" + LINE.encode() + b"\n"), LINE, TAG)
    broken = find_delivery(chunks(f"{TAG}a \ufffd\ufffd {TAG}z\n".encode()), LINE, TAG)
    late = find_delivery(chunks(LINE.encode() + b"\n", at=at + 1.5), LINE, TAG)
    deliveries = {"cut": cut, "twice": twice, "broken": broken, "late": late}
    verdict, reason, _ = verdicts.broadcast_verdict(deliveries, sent_at=at)
    assert verdict is Verdict.FAIL
    for phrase in (
        "cut got the line cut",
        "twice got the line 2 times",
        "broken got the line with broken",
        "late got the line only after 1.5 s",
    ):
        assert phrase in reason
    good = find_delivery(chunks(LINE.encode() + b"\n", at=at + 0.1), LINE, TAG)
    assert verdicts.broadcast_verdict({"a": good, "b": good}, sent_at=at)[0] is Verdict.PASS


def test_echo_is_a_warning() -> None:
    assert verdicts.echo_verdict(find_delivery(chunks(LINE.encode()), LINE, TAG))[0] is Verdict.WARN
    assert verdicts.echo_verdict(find_delivery(chunks(b""), LINE, TAG))[0] is Verdict.PASS


def test_coalesced_lines_need_their_own_line_and_the_learned_prefix() -> None:
    lines = [payload_text(f"qt{c}", f"line {i}") for i, c in enumerate("xyz")]
    prefix = learn_prefix("[40000]: hello", "hello", port=40000)
    assert prefix is not None and prefix.pattern == "[{port}]: "
    good = b"".join(b"[40000]: " + line.encode() + b"\n" for line in lines)
    per = {"r": [find_delivery(chunks(good), line, f"qt{c}") for line, c in zip(lines, "xyz", strict=True)]}
    assert verdicts.coalesced_verdict(per, prefix=prefix, sender=("s", "127.0.0.1", 40000))[0] is Verdict.PASS
    one_message = b"[40000]: " + b"\n".join(line.encode() for line in lines) + b"\n"
    per = {"r": [find_delivery(chunks(one_message), line, f"qt{c}") for line, c in zip(lines, "xyz", strict=True)]}
    verdict, reason, _ = verdicts.coalesced_verdict(per, prefix=prefix, sender=("s", "127.0.0.1", 40000))
    assert verdict is Verdict.FAIL and "line(s) 2, 3 lack the server's prefix" in reason
    run_together = b"".join(line.encode() for line in lines)
    per = {"r": [find_delivery(chunks(run_together), line, f"qt{c}") for line, c in zip(lines, "xyz", strict=True)]}
    assert "run together" in verdicts.coalesced_verdict(per, prefix=None, sender=("s", "", 0))[1]


def test_health_and_disconnects() -> None:
    fine = Health(True, True, True)
    assert verdicts.health_verdict(fine, what="x")[0] is Verdict.PASS
    assert (
        verdicts.health_verdict(Health(False, False, False, "SIGSEGV"), what="x")[1]
        == "after x, the server died (SIGSEGV)"
    )
    assert "stopped accepting" in verdicts.health_verdict(Health(True, False, False), what="x")[1]
    assert verdicts.disconnect_verdict(what="x", health=fine, told=False)[0] is Verdict.WARN
    assert verdicts.disconnect_verdict(what="x", health=fine, told=True, cpu_percent=97)[0] is Verdict.FAIL
    assert verdicts.disconnect_verdict(what="x", health=Health(True, True, False), told=True)[0] is Verdict.FAIL
    assert verdicts.health_verdict(fine, what="x", warn="escapes")[0] is Verdict.WARN


def test_load_tells_loss_from_throttling() -> None:
    complete = {"l": {0: list(range(10)), 1: list(range(10))}}
    assert verdicts.load_verdict(complete, lines=10, garbled=0, progressing=False)[0] is Verdict.PASS
    slow = {"l": {0: list(range(4)), 1: list(range(3))}}
    verdict, _, notes = verdicts.load_verdict(slow, lines=10, garbled=0, progressing=True)
    assert verdict is Verdict.PASS and "rate limiting" in notes[0]
    assert verdicts.load_verdict(slow, lines=10, garbled=0, progressing=False)[0] is Verdict.FAIL
    holes = {"l": {0: [0, 1, 3]}}
    assert "lost" in verdicts.load_verdict(holes, lines=10, garbled=0, progressing=True)[1]
    assert "duplicated" in verdicts.load_verdict({"l": {0: [0, 0, 1]}}, lines=3, garbled=0, progressing=True)[1]
    assert "garbled" in verdicts.load_verdict(complete, lines=10, garbled=2, progressing=True)[1]


def test_many_clients_slow_consumer_silent_long_restart() -> None:
    fine = Health(True, True, True)
    refused = verdicts.many_clients_verdict(clients=20, served=10, refused=10, hanging=0, cpu_percent=3.0, health=fine)
    assert refused[0] is Verdict.PASS and "cap 10" in refused[2][0]
    assert (
        verdicts.many_clients_verdict(clients=20, served=10, refused=0, hanging=10, cpu_percent=3.0, health=fine)[0]
        is Verdict.FAIL
    )
    assert (
        "burns a core"
        in verdicts.many_clients_verdict(clients=20, served=10, refused=10, hanging=0, cpu_percent=99.0, health=fine)[1]
    )
    assert (
        verdicts.slow_consumer_verdict(
            latencies=[0.01] * 99 + [0.02], longest_send=0.01, buffered=10, sent_bytes=100, throttled=False
        )[0]
        is Verdict.PASS
    )
    assert (
        "stalled"
        in verdicts.slow_consumer_verdict(
            latencies=[0.01] * 90 + [2.0] * 10, longest_send=0.01, buffered=10, sent_bytes=100, throttled=False
        )[1]
    )
    assert (
        "blocked"
        in verdicts.slow_consumer_verdict(
            latencies=[0.01], longest_send=3.0, buffered=10, sent_bytes=100, throttled=False
        )[1]
    )
    assert verdicts.silent_client_verdict(join_seconds=3.0, line_seconds=0.1)[0] is Verdict.FAIL
    assert verdicts.silent_client_verdict(join_seconds=0.1, line_seconds=0.1)[0] is Verdict.PASS
    nothing = find_delivery(chunks(b""), LINE, TAG)
    assert verdicts.long_line_verdict(nothing, sender_refused=True, health=fine)[0] is Verdict.PASS
    assert "lost silently" in verdicts.long_line_verdict(nothing, sender_refused=False, health=fine)[1]
    assert (
        verdicts.long_line_verdict(nothing, sender_refused=True, health=Health(False, False, False))[0] is Verdict.FAIL
    )
    assert (
        verdicts.restart_verdict(exit_seconds=None, signal_used="SIGTERM", rebound=False, cause="c")[0] is Verdict.FAIL
    )
    assert (
        verdicts.restart_verdict(exit_seconds=0.2, signal_used="SIGINT", rebound=False, cause="no SO_REUSEADDR?")[0]
        is Verdict.FAIL
    )
    assert verdicts.restart_verdict(exit_seconds=0.2, signal_used="SIGINT", rebound=True, cause="")[0] is Verdict.PASS


def test_the_json_document_and_the_summary_line() -> None:
    results = [
        CheckResult("connect", Verdict.PASS, "ok"),
        CheckResult(
            "broadcast",
            Verdict.FAIL,
            "lost",
            Evidence((Exchange("a (port 1)", "sent", b"hi\x1b\n", 1),), frames=(4, 5), ports=(1,)),
        ),
        CheckResult("sender-echo", Verdict.WARN, "echo"),
        CheckResult("restart", Verdict.SKIP, "needs --exec"),
    ]
    document = model.to_document(RunInfo(target="127.0.0.1:5", dialect="raw"), results)
    assert json.loads(json.dumps(document)) == document
    assert {"schema_version", "target", "dialect", "checks", "summary"} <= set(document)
    assert document["summary"] == {"pass": 1, "fail": 1, "warn": 1, "skip": 1}
    check = document["checks"][1]
    assert {"id", "verdict", "reason", "evidence"} <= set(check)
    sent = check["evidence"]["sent"][0]
    assert base64.b64decode(sent["data"]) == b"hi\x1b\n" and sent["text"] == "hi\\x1b\n"
    assert check["evidence"]["frames"] == [4, 5]
    assert model.summary_line(results) == "1 passed, 1 failed, 1 warning, 1 skipped"
    text = model.render_text(RunInfo(target="t", dialect="raw"), results)
    assert "\x1b" not in text and text.endswith("1 passed, 1 failed, 1 warning, 1 skipped\n")


def test_check_ids_are_stable_and_destructive_ones_run_last() -> None:
    assert model.CHECK_IDS == (
        "connect",
        "broadcast",
        "sender-echo",
        "split-line",
        "coalesced-lines",
        "utf8-split",
        "silent-client",
        "load",
        "slow-consumer",
        "many-clients",
        "utf8-nick",
        "clean-disconnect",
        "long-line",
        "abrupt-disconnect",
        "bad-bytes",
        "connect-close",
        "restart",
    )
    from netlab.check.checks import DRIVERS

    assert set(DRIVERS) == set(model.CHECK_IDS)
    assert [v.value for v in Verdict] == ["pass", "fail", "warn", "skip"]


@pytest.mark.parametrize("module", [model, verdicts])
def test_pure_modules(module: object) -> None:
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {"socket", "threading", "subprocess", "psutil", "time"} & {name.split(".")[0] for name in imported}
