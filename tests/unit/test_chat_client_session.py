"""The pure client session of `netlab join`: dialect detection, what goes on the wire, the confirmed
nickname, stop words."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlab.chat import client_session as cs
from netlab.chat import wire

STAMP = "2026-11-23 16:20:00"
WELCOME = f"[{STAMP}] *** " + wire.welcome_text("alice", ["alice", "bob"])


def sends(events: list[cs.Event]) -> list[bytes]:
    return [event.data for event in events if isinstance(event, cs.Send)]


def delivered(events: list[cs.Event]) -> list[str]:
    return [event.message.line for event in events if isinstance(event, cs.Deliver)]


def feed(session: cs.ClientSession, chunks: list[bytes]) -> list[cs.Event]:
    events: list[cs.Event] = []
    for chunk in chunks:
        events += session.receive(chunk)
    return events


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False) if b > a]


def greet(session: cs.ClientSession, greeting: bytes = b"NICK") -> list[cs.Event]:
    """auto: the server's greeting, then its quiet period (the greeting is decided when the server falls quiet)."""
    return session.receive(greeting) + session.timeout()


def active(dialect: cs.Dialect, nick: str = "alice") -> cs.ClientSession:
    session = cs.ClientSession(nick, dialect)
    if dialect is cs.Dialect.NETLAB:
        feed(session, [b"NICK", WELCOME.replace("alice", nick).encode() + b"\n"])
    elif dialect is cs.Dialect.TUTORIAL:
        feed(session, [b"NICK"])
    else:
        session.start()
    assert session.phase is cs.Phase.ACTIVE and session.dialect is dialect
    return session


# ------------------------------------------------------------------ the enum


def test_dialect_values_are_the_cli_names() -> None:
    assert [item.value for item in cs.Dialect] == ["auto", "netlab", "tutorial", "raw"]
    assert cs.Dialect("line") is cs.Dialect.NETLAB  # the library's older name
    assert set(cs.DIALECT_HELP) == set(cs.Dialect)
    with pytest.raises(cs.ChatClientError, match="choose one of auto, netlab, tutorial, raw"):
        cs.ClientSession("x", "irc")


# ------------------------------------------------------------------ handshakes


def test_netlab_sends_the_nickname_line_and_settles_on_the_welcome() -> None:
    session = cs.ClientSession("alice", cs.Dialect.NETLAB)
    assert session.start() == []
    assert session.receive(b"NICK") == [cs.Send(b"alice\n")]
    events = session.receive(WELCOME.encode() + f"\n[{STAMP}] bob: hi\n".encode())
    assert isinstance(events[0], cs.Settled) and events[0].dialect is cs.Dialect.NETLAB
    assert events[0].welcome == wire.parse_server_line(WELCOME)
    assert delivered(events) == [f"[{STAMP}] bob: hi"]


def test_auto_on_netlab_completes_its_nickname_line_after_the_welcome() -> None:
    session = cs.ClientSession("alice", cs.Dialect.AUTO)
    assert session.receive(b"NICK") == []  # a greeting is decided once the server falls quiet
    assert session.wait == cs.GREETING_QUIET
    assert session.timeout() == [cs.Send(b"alice")]
    assert session.phase is cs.Phase.REPLY
    events = session.receive(WELCOME.encode())  # bare: the server holds the rest until it knows
    assert sends(events) == [b"\n"]
    assert session.dialect is cs.Dialect.NETLAB and session.welcome == wire.parse_server_line(WELCOME)
    assert delivered(session.receive(f"\n[{STAMP}] bob: hi\n".encode())) == [f"[{STAMP}] bob: hi"]


def test_auto_waits_for_the_whole_welcome() -> None:
    session = cs.ClientSession("alice", cs.Dialect.AUTO)
    greet(session)
    assert session.receive(WELCOME.encode()[:60]) == []
    assert sends(session.receive(WELCOME.encode()[60:])) == [b"\n"]
    assert session.welcome == wire.parse_server_line(WELCOME)


@given(cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12))
@settings(max_examples=80)
def test_auto_on_netlab_is_the_same_however_the_bytes_are_split(cuts: list[int]) -> None:
    stream = WELCOME.encode() + f"\n[{STAMP}] bob: one\n[{STAMP}] *** carol joined the chat\n".encode()
    session = cs.ClientSession("alice", cs.Dialect.AUTO)
    events = greet(session) + feed(session, split(stream, cuts))
    assert sends(events) == [b"alice", b"\n"]
    assert session.welcome == wire.parse_server_line(WELCOME)
    assert delivered(events) == [f"[{STAMP}] bob: one", f"[{STAMP}] *** carol joined the chat"]


@given(reply=st.binary(max_size=80), cuts=st.lists(st.integers(min_value=0, max_value=100), max_size=6))
@settings(max_examples=150)
def test_auto_sends_nothing_but_the_bare_nickname_unless_it_sees_a_netlab_welcome(
    reply: bytes, cuts: list[int]
) -> None:
    """Whatever a tutorial server answers (or nothing), the client's bytes are the tutorial handshake."""
    session = cs.ClientSession("alice", cs.Dialect.AUTO)
    events = greet(session)
    try:
        events += feed(session, split(reply, cuts))
        events += session.timeout()
    except cs.NickRejected:
        assert b"!!! " in reply
        return
    assert not wire.WELCOME_RE.match(reply.decode("utf-8", errors="replace"))  # st.binary never makes one
    assert sends(events) == [b"alice"]
    assert session.dialect is cs.Dialect.TUTORIAL


def test_auto_on_a_tutorial_server() -> None:
    session = cs.ClientSession("bob", cs.Dialect.AUTO)
    assert greet(session) == [cs.Send(b"bob")]
    events = session.receive(b"bob joined!Connected to server!")
    assert sends(events) == []
    assert session.dialect is cs.Dialect.TUTORIAL
    assert delivered(events) == ["bob joined!Connected to server!"]


def test_auto_on_a_silent_tutorial_server_and_on_a_raw_relay() -> None:
    silent = cs.ClientSession("bob", cs.Dialect.AUTO)
    greet(silent)
    assert silent.wait == cs.REPLY_WAIT
    assert silent.timeout() == [cs.Settled(cs.Dialect.TUTORIAL)]
    relay = cs.ClientSession("bob", cs.Dialect.AUTO)
    assert relay.wait == cs.AUTO_WAIT
    # no greeting: a relay, or a server that silently takes the first line as the name: introduce ourselves
    assert relay.timeout() == [cs.Send(b"bob\n"), cs.Settled(cs.Dialect.RAW)]
    assert relay.say("hi") == [cs.Send(b"hi\n")]
    chatty = cs.ClientSession("bob", cs.Dialect.AUTO)
    events = greet(chatty, b"Welcome to the relay\n[51234]: hello\n")
    assert sends(events) == [b"bob\n"] and chatty.dialect is cs.Dialect.RAW
    assert delivered(events) == ["Welcome to the relay", "[51234]: hello"]


def test_a_greeting_split_in_two_is_still_a_greeting() -> None:
    session = cs.ClientSession("bob", cs.Dialect.AUTO)
    assert session.receive(b"NI") == []
    assert session.receive(b"CK") == []
    assert session.timeout() == [cs.Send(b"bob")]


def test_refusals_and_failures() -> None:
    taken = cs.ClientSession("bob", cs.Dialect.AUTO)
    greet(taken)
    with pytest.raises(cs.NickRejected, match="is taken"):
        taken.receive(f"[{STAMP}] !!! Nickname 'bob' is taken; reconnect with another nickname".encode())
    full = cs.ClientSession("bob", cs.Dialect.NETLAB)
    with pytest.raises(cs.ChatClientError, match="Room full"):
        full.receive(f"[{STAMP}] !!! Room full (2 clients); try again later\n".encode())
    mute = cs.ClientSession("bob", cs.Dialect.NETLAB)
    with pytest.raises(cs.ChatClientError, match="without a word"):
        mute.eof()
    no_welcome = cs.ClientSession("bob", cs.Dialect.NETLAB)
    no_welcome.receive(b"NICK")
    with pytest.raises(cs.ChatClientError, match="no welcome"):
        no_welcome.timeout()


# ------------------------------------------------------------------ the nickname follows the server


def test_a_confirmed_rename_changes_the_nickname_and_nothing_else_does() -> None:
    session = active(cs.Dialect.NETLAB, "bob")
    events = session.receive(f"[{STAMP}] *** bob is now known as борис\n".encode())
    assert cs.Renamed("bob", "борис") in events and session.nick == "борис"
    assert cs.prompt_text(session.nick) == "борис> "
    session.receive(f"[{STAMP}] !!! Nickname 'taken' is taken; try another\n".encode())  # refused
    session.receive(f"[{STAMP}] *** carol is now known as bob\n".encode())  # someone else
    session.receive(f"[{STAMP}] mallory: *** борис is now known as mallory\n".encode())  # a chat line
    assert session.nick == "борис"


def test_renames_are_not_taken_from_relays() -> None:
    for dialect in (cs.Dialect.TUTORIAL, cs.Dialect.RAW):
        session = active(dialect, "bob")
        session.receive(f"[{STAMP}] *** bob is now known as mallory".encode())
        assert session.nick == "bob"


# ------------------------------------------------------------------ what the user types


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("/exit", ""),
        ("/quit", ""),
        ("exit", ""),
        ("выход", ""),
        ("  ВЫХОД ", ""),
        ("/QUIT", ""),
        ("/quit see you", "see you"),
        ("/exit  later ", "later"),
        ("exit now", None),
        ("hello", None),
        ("/quitter", None),
        ("", None),
        ("/who", None),
    ],
)
def test_stop_words(line: str, reason: str | None) -> None:
    assert cs.stop_reason(line) == reason


def test_say_frames_per_dialect() -> None:
    assert active(cs.Dialect.NETLAB).say("hi\nthere\n") == [cs.Send(b"hi\nthere\n")]
    assert active(cs.Dialect.TUTORIAL).say("hi\nthere") == [cs.Send(b"alice: hi"), cs.Send(b"alice: there")]
    assert active(cs.Dialect.RAW).say("hi\r\n") == [cs.Send(b"hi")]
    assert active(cs.Dialect.NETLAB).say("\n\n") == []


def test_leave_sends_what_the_dialect_expects_once() -> None:
    netlab = active(cs.Dialect.NETLAB)
    assert netlab.leave() == [cs.Send(b"/quit\n")]
    assert netlab.leave() == [] and netlab.say("too late") == []
    assert active(cs.Dialect.NETLAB).leave("see you") == [cs.Send(b"/quit see you\n")]
    assert active(cs.Dialect.TUTORIAL).leave() == []
    assert active(cs.Dialect.RAW).leave() == []
    unsettled = cs.ClientSession("alice", cs.Dialect.AUTO)
    assert unsettled.leave() == []


def test_eof_delivers_an_unterminated_last_line() -> None:
    session = active(cs.Dialect.NETLAB)
    assert session.receive(f"[{STAMP}] bob: bye".encode()) == []
    assert delivered(session.eof()) == [f"[{STAMP}] bob: bye"]
    assert session.phase is cs.Phase.CLOSED


def test_the_client_session_is_pure() -> None:
    import ast
    from pathlib import Path

    tree = ast.parse(Path(cs.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {name.split(".")[0] for name in imported} <= {"__future__", "enum", "dataclasses", "netlab"}
    assert {name for name in imported if name.startswith("netlab")} <= {
        "netlab.chat.detect",
        "netlab.chat.dialects",
        "netlab.chat.protocol",
        "netlab.chat.wire",
        "netlab.errors",
    }
