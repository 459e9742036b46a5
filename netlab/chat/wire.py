"""What a netlab chat server sends, as text: neutralising, nickname rules, rendering and parsing (pure).

`render_*` build the lines a server sends (docs/protocol.md, "Lines from the server") and
`parse_server_line` reads them back; `neutralise` makes any text safe for someone else's
terminal; `nick_problem` says why a nickname is not acceptable.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

MAX_NICK_CHARS = 24
RESERVED_NICKS = frozenset(
    {
        "server",
        "admin",
        "administrator",
        "root",
        "system",
        "operator",
        "op",
        "netlab",
        "nickserv",
        "chanserv",
        "everyone",
        "all",
        "you",
        "moderator",
        "sysop",
        "console",
    }
)
STAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
STAMP_RE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
_NICK_RE = re.compile(r"[^\W\d][\w.\-]*\Z")


class MessageKind(enum.Enum):
    """The kinds of line a netlab server sends (see `render_*` and `parse_server_line`)."""

    CHAT = "chat"
    ACTION = "action"
    PRIVATE = "private"
    NOTICE = "notice"
    ERROR = "error"
    RAW = "raw"


# ---------------------------------------------------------------------------------- text rules

_BIDI = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C))


def neutralise(text: str) -> str:
    """Make `text` safe to print on someone else's terminal.

    C0 controls, DEL and ESC become caret notation (``^[``, ``^M``, ``^@``), tabs become a
    space, C1 controls and bidirectional overrides become ``<U+XXXX>``. Nothing can move the
    cursor, clear the screen, retitle a window or split a line.
    """
    if text.isprintable():
        return text
    out: list[str] = []
    for char in text:
        code = ord(char)
        if char == "\t":
            out.append(" ")
        elif code < 0x20 or code == 0x7F:
            out.append("^" + chr(code ^ 0x40))
        elif 0x80 <= code < 0xA0 or char in _BIDI or unicodedata.category(char) in ("Zl", "Zp"):
            out.append(f"<U+{code:04X}>")
        else:
            out.append(char)
    return "".join(out)


def nick_problem(nick: str) -> str | None:
    """Why `nick` is not an acceptable nickname, or None when it is (uniqueness is the registry's job).

    The reason states the fact only; what the client can do next (try another on this connection,
    or reconnect) depends on its dialect and is added once by `ChatSession`.
    """
    if not nick:
        return "Nickname is empty"
    if len(nick) > MAX_NICK_CHARS:
        return f"Nickname too long ({len(nick)} characters, at most {MAX_NICK_CHARS})"
    if not _NICK_RE.match(nick):
        return (
            f"Nickname {shorten(neutralise(nick))!r} is not allowed: use letters, digits, '_', '-' and '.', "
            "starting with a letter or '_'"
        )
    if nick.casefold() in RESERVED_NICKS:
        return f"Nickname {nick!r} is reserved"
    return None


def shorten(text: str, limit: int = 40) -> str:
    """`text` cut to `limit` characters with an ellipsis (for echoing user input in errors)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------------- rendering


def render_chat(stamp: str, sender: str, text: str) -> str:
    """A chat line as the server sends it: ``[stamp] sender: text`` (tutorial-compatible)."""
    return f"[{stamp}] {sender}: {text}"


def render_action(stamp: str, sender: str, text: str) -> str:
    """A `/me` line: ``[stamp] * sender text``."""
    return f"[{stamp}] * {sender} {text}"


def render_private(stamp: str, sender: str, text: str) -> str:
    """A private message: ``[stamp] sender (private): text``."""
    return f"[{stamp}] {sender} (private): {text}"


def render_notice(stamp: str, text: str) -> str:
    """A server notice: ``[stamp] *** text``."""
    return f"[{stamp}] *** {text}"


def render_error(stamp: str, text: str) -> str:
    """A server error for one client: ``[stamp] !!! text``."""
    return f"[{stamp}] !!! {text}"


def welcome_text(nick: str, online: Iterable[str]) -> str:
    """The notice a client gets once its nickname is accepted (clients detect netlab by it)."""
    names = sorted(online, key=str.casefold)
    shown = ", ".join(names[:WELCOME_NAMES]) + (
        f" and {len(names) - WELCOME_NAMES} more" if len(names) > WELCOME_NAMES else ""
    )
    return f"Welcome to netlab chat, {nick}! {len(names)} online: {shown}. {WELCOME_TAIL}"


WELCOME_TAIL = "Commands: /who /nick /me /msg /quit /help"  # how the welcome line ends


#: How the answer to ``/who`` starts (``Online (N): a, b``).
WHO_PREFIX = "Online ("


def who_text(names: list[str]) -> str:
    """The answer to ``/who``: the online nicknames, sorted."""
    return f"{WHO_PREFIX}{len(names)}): {', '.join(names)}"


def rename_text(old: str, new: str) -> str:
    """The notice everyone (the renamed client included) gets when `old` becomes `new`."""
    return f"{old} is now known as {new}"


_RENAME_RE = re.compile(r"^(?P<old>\S+) is now known as (?P<new>\S+)\Z")


def parse_rename(notice_text: str) -> tuple[str, str] | None:
    """``(old, new)`` when a notice's text is a `rename_text`, else None (nicknames contain no spaces)."""
    match = _RENAME_RE.match(notice_text)
    return (match["old"], match["new"]) if match else None


QUIT_COMMAND = "/quit"  # what a line client sends to leave (the server also accepts /exit)
LEAVE_SUFFIX = " has left the chat."  # the farewell chunk some tutorial clients send on /exit


WELCOME_NAMES = 30  # names listed in the welcome line; /who lists everyone
WELCOME_RE = re.compile(rf"^\[{STAMP_RE}\] \*\*\* Welcome to netlab chat, (?P<nick>\S+)! ")
HELP_TEXT = (
    "Commands: /who (who is online), /nick NEW, /me ACTION, /msg NICK TEXT (private), "
    "/quit or /exit (leave), /help. Start a message with // to send a literal '/'."
)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One line received from a netlab server, parsed (`kind` RAW when it follows no known form)."""

    kind: MessageKind
    text: str
    sender: str | None = None
    stamp: str | None = None
    line: str = ""


_LINE_RE = re.compile(rf"^\[(?P<stamp>{STAMP_RE})\] (?P<body>.*)\Z", re.DOTALL)
_PRIVATE_RE = re.compile(r"^(?P<sender>[^\s:()]+) \(private\): (?P<text>.*)\Z", re.DOTALL)
_CHAT_RE = re.compile(r"^(?P<sender>[^\s:()*!]+): (?P<text>.*)\Z", re.DOTALL)
_ACTION_RE = re.compile(r"^\* (?P<sender>\S+) (?P<text>.*)\Z", re.DOTALL)


def parse_server_line(line: str) -> Incoming:
    """Parse one line from a netlab server into an `Incoming` (never raises)."""
    match = _LINE_RE.match(line)
    if not match:
        return Incoming(MessageKind.RAW, line, line=line)
    stamp, body = match["stamp"], match["body"]
    if body.startswith("*** "):
        return Incoming(MessageKind.NOTICE, body[4:], None, stamp, line)
    if body.startswith("!!! "):
        return Incoming(MessageKind.ERROR, body[4:], None, stamp, line)
    for kind, pattern in (
        (MessageKind.ACTION, _ACTION_RE),
        (MessageKind.PRIVATE, _PRIVATE_RE),
        (MessageKind.CHAT, _CHAT_RE),
    ):
        found = pattern.match(body)
        if found:
            return Incoming(kind, found["text"], found["sender"], stamp, line)
    return Incoming(MessageKind.RAW, body, None, stamp, line)
