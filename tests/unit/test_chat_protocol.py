"""The pure chat core: framing, text rules, nick rules, the session state machine, parsing."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlab.chat import limits, wire
from netlab.chat import protocol as p
from netlab.errors import LocalProtocolError, RemoteProtocolError

# ------------------------------------------------------------------ helpers


def feed_whole(data: bytes, max_line: int = limits.MAX_LINE_BYTES) -> list[str]:
    return p.LineFramer(max_line).feed(data)


def feed_bytewise(data: bytes, max_line: int = limits.MAX_LINE_BYTES) -> list[str]:
    framer = p.LineFramer(max_line)
    out: list[str] = []
    for i in range(len(data)):
        out.extend(framer.feed(data[i : i + 1]))
    return out


def feed_split(data: bytes, cuts: list[int], max_line: int = limits.MAX_LINE_BYTES) -> list[str]:
    framer = p.LineFramer(max_line)
    out: list[str] = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in zip(points, points[1:], strict=False):
        out.extend(framer.feed(data[a:b]))
    return out


def session_events(chunks: list[bytes], grant: bool = True) -> list[p.Action]:
    """Drive a session with `chunks`, granting every nickname claim; return all actions but
    `DialectSettled` (tested on its own below)."""
    session = p.ChatSession()
    out: list[p.Action] = []
    pending: list[p.Action] = []
    for chunk in chunks:
        pending.extend(session.receive(chunk))
        while pending:
            action = pending.pop(0)
            if not isinstance(action, p.DialectSettled):
                out.append(action)
            if isinstance(action, p.ClaimNick) and grant:
                pending[:0] = session.nick_granted(action.nick)
    return out


lines_strategy = st.lists(
    st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=60), max_size=12
)


# ------------------------------------------------------------------ framing


@given(lines=lines_strategy, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20))
def test_framer_gives_identical_lines_whole_bytewise_and_split(lines: list[str], cuts: list[int]) -> None:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    whole = feed_whole(data)
    assert whole == feed_bytewise(data) == feed_split(data, cuts)
    assert whole == [line.removesuffix("\r") for line in lines]


@given(raw=st.binary(max_size=300), cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10))
def test_framer_never_fails_on_arbitrary_bytes_and_ignores_chunking(raw: bytes, cuts: list[int]) -> None:
    data = raw + b"\n"
    assert feed_whole(data) == feed_bytewise(data) == feed_split(data, cuts)


def test_multibyte_character_split_across_reads_is_whole() -> None:
    framer = p.LineFramer()
    word = "привет €".encode()
    assert framer.feed(word[:1]) == []
    assert framer.feed(word[1:7]) == []
    assert framer.feed(word[7:] + b"\n") == ["привет €"]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert feed_whole(b"ok \xff\xfe bad\n") == ["ok \ufffd\ufffd bad"]


def test_crlf_is_accepted_and_nul_and_bare_cr_do_not_split() -> None:
    assert feed_whole(b"one\r\ntwo\x00three\rfour\n") == ["one", "two\x00three\rfour"]


def test_line_of_exactly_max_is_fine_one_more_byte_raises() -> None:
    assert feed_whole(b"x" * 16 + b"\n", max_line=16) == ["x" * 16]
    with pytest.raises(RemoteProtocolError, match="line too long"):
        feed_whole(b"x" * 17 + b"\n", max_line=16)


def test_eof_mid_line_is_an_incomplete_line_error() -> None:
    framer = p.LineFramer()
    assert framer.feed(b"whole\nhalf") == ["whole"]
    with pytest.raises(RemoteProtocolError, match="incomplete line: 4 bytes"):
        framer.finish()
    framer.finish()  # nothing pending any more


def test_framer_memory_is_bounded_without_newline() -> None:
    framer = p.LineFramer(max_line=1024)
    with pytest.raises(RemoteProtocolError):
        for _ in range(10_000):
            framer.feed(b"y" * 1000)
            assert framer.pending <= 1024
    assert framer.pending == 0
    with pytest.raises(LocalProtocolError):
        framer.feed(b"more\n")


# ------------------------------------------------------------------ neutralising text


@given(st.text(max_size=200))
def test_neutralised_text_has_no_control_characters(text: str) -> None:
    safe = wire.neutralise(text)
    assert all(ord(c) >= 0x20 and c != "\x7f" and not 0x80 <= ord(c) < 0xA0 for c in safe)
    assert "\x1b" not in safe and "\r" not in safe and "\n" not in safe


def test_neutralise_escapes_ansi_osc_cr_nul_and_bidi() -> None:
    assert wire.neutralise("\x1b[2J\x1b]0;pwned\x07") == "^[[2J^[]0;pwned^G"
    assert wire.neutralise("a\rb\x00c\x7f") == "a^Mb^@c^?"
    assert wire.neutralise("x\u202ey\x9b") == "x<U+202E>y<U+009B>"
    assert wire.neutralise("tab\there") == "tab here"
    assert wire.neutralise("привет, мир") == "привет, мир"


# ------------------------------------------------------------------ nicknames


@pytest.mark.parametrize(
    ("nick", "problem"),
    [
        ("", "empty"),
        ("x" * 10_000, "too long"),
        ("\x1b[31mred", "not allowed"),
        ("two words", "not allowed"),
        ("1abc", "not allowed"),
        ("Server", "reserved"),
        ("ADMIN", "reserved"),
    ],
)
def test_bad_nicknames_are_explained(nick: str, problem: str) -> None:
    reason = wire.nick_problem(nick)
    assert reason is not None and problem in reason
    assert "\x1b" not in reason and len(reason) < 200


@pytest.mark.parametrize("nick", ["alice", "Bob_2", "вася", "a.b-c", "_x", "z" * wire.MAX_NICK_CHARS])
def test_good_nicknames_pass(nick: str) -> None:
    assert wire.nick_problem(nick) is None


# ------------------------------------------------------------------ session: line dialect


def test_line_handshake_claims_then_chats() -> None:
    events = session_events([b"alice\nhello\n/me waves\n"])
    assert events == [p.ClaimNick("alice", p.Dialect.LINE), p.Say("hello"), p.Act("waves")]


def test_lines_after_the_nickname_wait_for_the_verdict() -> None:
    session = p.ChatSession()
    assert session.receive(b"bob\nhi\n") == [p.ClaimNick("bob", p.Dialect.LINE)]
    assert session.nick_refused("Nickname 'bob' is taken") == [
        p.Reply("Nickname 'bob' is taken; try another", wire.MessageKind.ERROR),
        p.ClaimNick("hi", p.Dialect.LINE),
    ]
    assert session.nick_granted("hi") == [p.DialectSettled(p.Dialect.LINE)]  # a line client's dialect is known at once
    assert session.state is p.SessionState.ACTIVE and session.nick == "hi"


ADVICE = ("try another", "reconnect", "too many attempts", "type a nickname", "try a shorter")


def _advice_count(text: str) -> int:
    return sum(text.count(phrase) for phrase in ADVICE)


@pytest.mark.parametrize("nick", ["", "x" * 100, "two words", "admin"])
def test_a_refused_nickname_says_the_way_on_once_in_each_dialect(nick: str) -> None:
    line = p.ChatSession()
    (reply,) = line.receive(nick.encode() + b"\n")
    assert isinstance(reply, p.Reply) and reply.text.endswith("; try another") and _advice_count(reply.text) == 1
    tutorial = p.ChatSession()
    tutorial.receive(nick.encode() or b" ")
    (close,) = tutorial.quiet()
    assert isinstance(close, p.Close) and close.reason.endswith("; reconnect with another nickname")
    assert _advice_count(close.reason) == 1


def test_a_taken_nickname_says_the_way_on_once_in_each_dialect() -> None:
    tutorial = p.ChatSession()
    tutorial.receive(b"bob")
    assert tutorial.quiet() == [p.ClaimNick("bob", p.Dialect.TUTORIAL)]
    assert tutorial.nick_refused("Nickname 'bob' is taken") == [
        p.Close("Nickname 'bob' is taken; reconnect with another nickname")
    ]
    line = p.ChatSession()
    for _attempt in range(p.MAX_NICK_ATTEMPTS):
        assert line.receive(b"bob\n") == [p.ClaimNick("bob", p.Dialect.LINE)]
        (action,) = line.nick_refused("Nickname 'bob' is taken")
        text = action.text if isinstance(action, p.Reply) else action.reason  # type: ignore[union-attr]
        assert _advice_count(text) == 1, text
    assert isinstance(action, p.Close) and action.reason == "Nickname 'bob' is taken; too many attempts"


def test_bad_nick_gets_error_and_retry_then_closes_after_too_many() -> None:
    session = p.ChatSession()
    for _ in range(p.MAX_NICK_ATTEMPTS - 1):
        (reply,) = session.receive(b"\n")
        assert isinstance(reply, p.Reply) and reply.kind is wire.MessageKind.ERROR
    (close,) = session.receive(b"\n")
    assert isinstance(close, p.Close) and "too many" in close.reason
    assert session.state is p.SessionState.CLOSED


@given(cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=15))
@settings(max_examples=60)
def test_session_events_do_not_depend_on_chunking(cuts: list[int]) -> None:
    script = "carol\r\nhi there\n/who\n/msg bob psst\n/nick carla\n//not a command\nпока \x1b[1m!\n/bogus\n/quit bye\n"
    data = script.encode()
    whole = session_events([data])
    bytewise = session_events([data[i : i + 1] for i in range(len(data))])
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    split = session_events([data[a:b] for a, b in zip(points, points[1:], strict=False) if b > a])
    assert whole == bytewise == split
    assert whole[:4] == [
        p.ClaimNick("carol", p.Dialect.LINE),
        p.Say("hi there"),
        p.ListUsers(),
        p.Whisper("bob", "psst"),
    ]
    assert whole[4:7] == [p.ChangeNick("carla"), p.Say("/not a command"), p.Say("пока ^[[1m!")]
    assert isinstance(whole[7], p.Reply) and "Unknown command /bogus" in whole[7].text
    assert whole[8] == p.Leave("bye")


def test_too_long_line_closes_with_reason() -> None:
    session = p.ChatSession(max_line=100)
    session.receive(b"dave\n")
    session.nick_granted("dave")
    (close,) = session.receive(b"z" * 500)
    assert isinstance(close, p.Close) and "line too long" in close.reason
    assert session.state is p.SessionState.CLOSED


def test_eof_mid_line_drops_it_and_says_so() -> None:
    session = p.ChatSession()
    session.receive(b"eve\n")
    session.nick_granted("eve")
    assert session.receive(b"half a line") == []
    assert session.eof() == [p.Leave("connection closed, incomplete last line dropped")]


@pytest.mark.parametrize(
    ("line", "action"),
    [
        ("/who", p.ListUsers()),
        ("/exit", p.Leave("quit")),
        ("/me", p.Reply("Usage: /me ACTION", wire.MessageKind.ERROR)),
        ("/msg bob", p.Reply("Usage: /msg NICK TEXT", wire.MessageKind.ERROR)),
        ("/nick", p.Reply("Usage: /nick NEW", wire.MessageKind.ERROR)),
        ("   ", None),
        ("/help", p.Reply(wire.HELP_TEXT)),
    ],
)
def test_commands(line: str, action: p.Action | None) -> None:
    assert p.parse_command(line) == action


# ------------------------------------------------------------------ session: tutorial dialect


def tutorial_session(nick: str = "alice") -> p.ChatSession:
    session = p.ChatSession()
    assert session.receive(nick.encode()) == []
    assert session.quiet() == [p.ClaimNick(nick, p.Dialect.TUTORIAL)]
    assert session.nick_granted(nick) == []
    assert session.tentative
    assert session.quiet() == [p.DialectSettled(p.Dialect.TUTORIAL)]  # silent through its dialect window
    return session


def test_bare_nick_then_quiet_means_tutorial_dialect() -> None:
    session = tutorial_session()
    assert session.dialect is p.Dialect.TUTORIAL


def test_quiet_without_pending_bytes_does_nothing() -> None:
    session = p.ChatSession()
    assert session.quiet() == []
    assert session.state is p.SessionState.AWAIT_NICK


def test_tutorial_chunks_lose_their_nick_prefix_and_split_when_merged() -> None:
    session = tutorial_session()
    assert session.receive(b"alice: hi") == [p.Say("hi")]
    assert session.receive(b"[2024-01-02 03:04:05] alice: stamped") == [p.Say("stamped")]
    assert session.receive(b"alice: onealice: two") == [p.Say("one"), p.Say("two")]
    assert session.receive(b"no prefix here") == [p.Say("no prefix here")]
    assert session.receive(b"alice: /who") == [p.ListUsers()]


def test_tutorial_message_over_the_line_limit_closes() -> None:
    session = tutorial_session()
    (close,) = session.receive(b"alice: " + b"w" * (limits.MAX_LINE_BYTES + 1))
    assert isinstance(close, p.Close) and "line too long" in close.reason


def test_tutorial_farewell_is_a_leave() -> None:
    session = tutorial_session()
    assert session.receive(b"alice has left the chat.") == [p.Leave("left the chat")]
    assert session.state is p.SessionState.CLOSED


def test_tutorial_client_may_switch_to_lines() -> None:
    session = tutorial_session("zed")
    assert session.receive(b"/dialect line\nfirst\nsec") == [p.Say("first")]
    assert session.dialect is p.Dialect.LINE
    assert session.receive(b"ond\n") == [p.Say("second")]


def bare_nick_granted(nick: str = "alice") -> p.ChatSession:
    session = p.ChatSession()
    session.receive(nick.encode())
    assert session.quiet() == [p.ClaimNick(nick, p.Dialect.TUTORIAL)]
    assert session.nick_granted(nick) == []  # no verdict on the dialect yet
    assert session.tentative and session.dialect is p.Dialect.TUTORIAL
    return session


def test_a_bare_nickname_completed_by_its_newline_is_a_line_client() -> None:
    """`netlab join --dialect auto`: bare nickname, then the newline it left out, then lines."""
    session = bare_nick_granted()
    assert session.receive(b"\n") == [p.DialectSettled(p.Dialect.LINE)]
    assert not session.tentative and session.dialect is p.Dialect.LINE
    assert session.receive(b"alice: not a prefix\n") == [p.Say("alice: not a prefix")]
    merged = bare_nick_granted()
    assert merged.receive(b"\r\nhello\n/who\n") == [p.DialectSettled(p.Dialect.LINE), p.Say("hello"), p.ListUsers()]


def test_a_tentative_client_settles_as_tutorial_by_its_first_chunk_its_silence_or_its_eof() -> None:
    chunk = bare_nick_granted()
    assert chunk.receive(b"alice: hi") == [p.DialectSettled(p.Dialect.TUTORIAL), p.Say("hi")]
    assert chunk.receive(b"\n") == []  # later, a newline is no switch
    assert chunk.dialect is p.Dialect.TUTORIAL
    silent = bare_nick_granted()
    assert silent.quiet() == [p.DialectSettled(p.Dialect.TUTORIAL)]
    assert silent.receive(b"\n") == [] and silent.dialect is p.Dialect.TUTORIAL
    gone = bare_nick_granted()
    assert gone.eof() == [p.DialectSettled(p.Dialect.TUTORIAL), p.Leave("connection closed")]


def test_an_older_join_switching_with_dialect_line_settles_as_line() -> None:
    session = bare_nick_granted()
    assert session.receive(b"/dialect line\nhi\n") == [p.DialectSettled(p.Dialect.LINE), p.Say("hi")]


@given(cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=10))
@settings(max_examples=60)
def test_after_the_completing_newline_chunking_does_not_matter(cuts: list[int]) -> None:
    data = "\nпривет\n/me waves\n/nick борис\n".encode()
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    session = bare_nick_granted()
    actions = [a for x, y in zip(points, points[1:], strict=False) if y > x for a in session.receive(data[x:y])]
    assert actions == [p.DialectSettled(p.Dialect.LINE), p.Say("привет"), p.Act("waves"), p.ChangeNick("борис")]


def test_taken_nick_in_tutorial_dialect_closes() -> None:
    session = p.ChatSession()
    session.receive(b"bob")
    session.quiet()
    (close,) = session.nick_refused("Nickname 'bob' is taken")
    assert isinstance(close, p.Close) and "reconnect" in close.reason


def test_granting_without_claim_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="without a claim"):
        p.ChatSession().nick_granted("x")


# ------------------------------------------------------------------ rendering and parsing

nicks = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,10}", fullmatch=True)
texts = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=50)
stamp = "2026-01-02 03:04:05"


@given(nick=nicks, text=texts)
def test_render_and_parse_round_trip(nick: str, text: str) -> None:
    for render, kind in (
        (wire.render_chat, wire.MessageKind.CHAT),
        (wire.render_action, wire.MessageKind.ACTION),
        (wire.render_private, wire.MessageKind.PRIVATE),
    ):
        parsed = wire.parse_server_line(render(stamp, nick, text))
        assert (parsed.kind, parsed.sender, parsed.text, parsed.stamp) == (kind, nick, text, stamp)
    assert wire.parse_server_line(wire.render_notice(stamp, text)).kind is wire.MessageKind.NOTICE
    assert wire.parse_server_line(wire.render_error(stamp, text)).text == text


def test_welcome_is_recognisable() -> None:
    line = wire.render_notice(stamp, wire.welcome_text("bob", ["carol", "bob"]))
    match = wire.WELCOME_RE.match(line)
    assert match and match["nick"] == "bob" and "2 online: bob, carol" in line


def test_welcome_in_a_big_room_lists_the_first_names_only() -> None:
    text = wire.welcome_text("x", [f"u{i:04d}" for i in range(1000)])
    assert "1000 online: u0000, u0001" in text and "and 970 more." in text and len(text) < 400


def test_unknown_lines_parse_as_raw() -> None:
    assert wire.parse_server_line("[51234]: hello").kind is wire.MessageKind.RAW


def test_operator_commands() -> None:
    assert p.parse_operator_command("/kick bob spamming") == p.OperatorCommand("kick", "bob", "spamming")
    assert p.parse_operator_command("/say hi all") == p.OperatorCommand("say", text="hi all")
    assert p.parse_operator_command("who") == p.OperatorCommand("who")
    assert "Usage" in str(p.parse_operator_command("/kick"))
    assert "Unknown" in str(p.parse_operator_command("/reboot"))


@pytest.mark.parametrize("module", [p, wire, limits])
def test_protocol_modules_are_pure(module: object) -> None:
    tree = ast.parse(Path(getattr(module, "__file__", "")).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    roots = {name.split(".")[0] for name in imported}
    assert not roots & {"socket", "threading", "time", "select", "scapy", "psutil", "typer", "rich", "os"}
    assert roots <= {"__future__", "enum", "re", "unicodedata", "collections", "dataclasses", "netlab"}
    assert {name for name in imported if name.startswith("netlab")} <= {
        "netlab.chat.limits",
        "netlab.chat.wire",
        "netlab.errors",
    }


def test_random_garbage_never_raises_from_a_session() -> None:
    rng = random.Random(7)
    session = p.ChatSession(max_line=256)
    for _ in range(300):
        if session.state is p.SessionState.CLOSED:
            session = p.ChatSession(max_line=256)
        for action in session.receive(rng.randbytes(rng.randint(1, 64))):
            if isinstance(action, p.ClaimNick):
                session.nick_granted(action.nick)
