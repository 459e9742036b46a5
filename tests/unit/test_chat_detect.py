"""The dialect detector (`netlab.chat.detect`): what students' servers send first, and what they relay."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlab.chat import client_session as cs
from netlab.chat import detect
from netlab.chat.detect import Handshake

STAMP = "2026-11-23 16:20:00"


@pytest.mark.parametrize(
    ("first", "handshake", "answer"),
    [
        (b"NICK", Handshake.TOKEN, b"alice"),
        (b"NAME", Handshake.TOKEN, b"alice"),
        (b"USERNAME", Handshake.TOKEN, b"alice"),
        (b"NICK\n", Handshake.TOKEN, b"alice\n"),
        (b"LOGIN:", Handshake.TOKEN, b"alice"),
        (b"Welcome!\r\nNAME\r\n", Handshake.TOKEN, b"alice\n"),
        (b"Enter your name:", Handshake.PROMPT, b"alice\n"),
        (b"Submit Username: ", Handshake.PROMPT, b"alice\n"),
        (b"Now, type your name and press enter\n", Handshake.PROMPT, b"alice\n"),
        (b"Welcome to the chat!\nWhat should we call you?\n", Handshake.PROMPT, b"alice\n"),
        ("Введите ваше имя\n".encode(), Handshake.PROMPT, b"alice\n"),
        (b"Entrez votre pseudo\n", Handshake.PROMPT, b"alice\n"),
        (b"> ", Handshake.PROMPT, b"alice\n"),
        (b"", Handshake.NONE, b"alice\n"),
        ("\u00a0\r\n".encode(), Handshake.NONE, b"alice\n"),  # only whitespace, if Unicode's
        (b"Connected to the server.\n", Handshake.NONE, b"alice\n"),
        (f"[{STAMP}] !!! Room full (2 clients); try again later\n".encode(), Handshake.ERROR, b""),
        (b'{"type": "hello"}\n', Handshake.UNRECOGNISED, b""),
        (b"\x00\x00\x00\x05hello", Handshake.UNRECOGNISED, b""),
        (b"\x00\x05hello", Handshake.UNRECOGNISED, b""),
        (b"#NICK?\n", Handshake.UNRECOGNISED, b""),
    ],
)
def test_greetings_students_write(first: bytes, handshake: Handshake, answer: bytes) -> None:
    greeting = detect.classify_greeting(first, quiet=True)
    assert greeting is not None
    assert greeting.handshake is handshake, greeting
    assert greeting.answer("alice") == answer
    assert greeting.reason and (not first or repr(first[:10])[2:-1] in greeting.describe())


def test_only_final_prefixes_are_decided_before_the_server_falls_quiet() -> None:
    assert detect.classify_greeting(b"NICK", quiet=False) is None
    assert detect.classify_greeting(b"Enter your name:", quiet=False) is None
    json = detect.classify_greeting(b'{"ty', quiet=False)
    assert json is not None and json.handshake is Handshake.UNRECOGNISED and "JSON" in json.reason


@given(data=st.binary(max_size=120), cuts=st.lists(st.integers(min_value=0, max_value=130), max_size=8))
@settings(max_examples=300)
def test_the_decision_never_raises_and_does_not_depend_on_segmentation(data: bytes, cuts: list[int]) -> None:
    whole = detect.classify_greeting(data, quiet=True)
    assert whole is not None
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    seen = b""
    for a, b in zip(points, points[1:], strict=False):
        seen += data[a:b]
        early = detect.classify_greeting(seen, quiet=False)
        if early is not None:  # decided before the end: no later byte may change the decision
            assert (early.handshake, early.token, early.newline) == (whole.handshake, whole.token, whole.newline)
            break


@given(
    text=st.text(max_size=60),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
@settings(max_examples=200)
def test_the_session_sends_the_same_however_the_greeting_is_split(text: str, cuts: list[int]) -> None:
    data = text.encode("utf-8")
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    reference = cs.ClientSession("alice", cs.Dialect.AUTO)
    try:
        expected = (reference.receive(data) if data else []) + (
            reference.timeout() if reference.phase is cs.Phase.GREETING else []
        )
    except cs.ChatClientError:
        expected = None
    session = cs.ClientSession("alice", cs.Dialect.AUTO)
    try:
        got: list[cs.Event] = []
        for a, b in zip(points, points[1:], strict=False):
            got += session.receive(data[a:b])
        if session.phase is cs.Phase.GREETING:
            got += session.timeout()
    except cs.ChatClientError:
        got = None  # type: ignore[assignment]
    sends = [e for e in got if isinstance(e, cs.Send)] if got is not None else None
    assert sends == ([e for e in expected if isinstance(e, cs.Send)] if expected is not None else None)


@pytest.mark.parametrize(
    ("received", "payload", "pattern"),
    [
        ("alice: hello there", "hello there", "{nick}: "),
        ("[40000]: hello there\n", "hello there", "[{port}]: "),
        ("<127.0.0.1> hello there", "hello there", "<{ip}> "),
        ("('127.0.0.1', 40000) >>> hello there", "hello there", "('{ip}', {port}) >>> "),
        ("\n[40000]: hello there", "hello there", "[{port}]: "),
        ("hello there", "hello there", ""),
        (f"[{STAMP}] alice: hello there\n", "hello there", f"[{STAMP}] {{nick}}: "),
    ],
)
def test_prefixes_are_learned_from_the_first_delivery(received: str, payload: str, pattern: str) -> None:
    prefix = detect.learn_prefix(received, payload, nick="alice", ip="127.0.0.1", port=40000)
    assert prefix is not None and prefix.pattern == pattern
    other = received.replace("alice", "bob").replace("40000", "40002").replace(STAMP, "2026-11-23 16:20:09")
    before = other[: other.find(payload)].rsplit("\n", 1)[-1]
    assert detect.prefix_matches(prefix, before, nick="bob", ip="127.0.0.1", port=40002)
    assert detect.learn_prefix("nothing here", payload) is None


def test_the_detector_is_pure() -> None:
    tree = ast.parse(Path(detect.__file__).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {name.split(".")[0] for name in imported} <= {"__future__", "enum", "re", "dataclasses", "netlab"}
    assert {name for name in imported if name.startswith("netlab")} <= {"netlab.chat.wire"}
