"""What kind of chat server is on the other end, from its first bytes and its replies (pure, sans-IO).

One detector serves `netlab join --dialect auto` (through `netlab.chat.client_session.ClientSession`) and
`netlab check` (`netlab.check`). It is fed bytes and returns values; it never touches sockets or clocks.

What students' servers send first, and how each is answered (docs/protocol.md, "How auto detects"):

* a bare all-caps token alone (the tutorial's ``NICK``; ``NAME``, ``USERNAME``, ``LOGIN``, ...), with or
  without a newline: a **token** handshake, answered with the bare nickname (with a newline when the
  token came with one);
* a short text asking for a name ("Enter your name:", "Submit Username: ", "Now, type your name and
  press enter", "Ваше имя?"): a **prompt**, answered with the nickname and a newline;
* nothing, or a banner that asks nothing ("Connected to the server\\n"): **no handshake**. The server is a
  raw relay, or one that silently takes the first line as the name; the nickname is sent as a first
  line (an introduction), which the second kind needs and the first relays as a line;
* a netlab error line (``!!! Room full``): an **error**, reported as such;
* JSON objects, binary (length-prefixed) frames or ``#command`` orders: **unrecognised**, reported with
  the first bytes seen.

The decision is a function of all the bytes received before the server fell quiet: feeding the same
bytes in any segmentation gives the same `Greeting` (the property tests check it). Only prefixes that
no continuation can change (JSON, binary, ``#command``, a complete netlab error line) are decided early.

`learn_prefix` reads, from the first delivery of a known line, what the server puts in front of relayed
lines (``nick: ``, ``[port]: ``, ``('127.0.0.1', 33256) >>> ``), as a pattern with the sender's nickname,
address and port replaced by placeholders.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from netlab.chat.wire import MessageKind, parse_server_line

MAX_PROMPT_CHARS = 120  # a longer last line is a banner or a message, not a question for a name
EXCERPT_BYTES = 48


class Handshake(enum.Enum):
    """How the server starts a conversation."""

    TOKEN = "token"  # a bare all-caps word (NICK, NAME, ...), answered with the bare nickname
    PROMPT = "prompt"  # a text asking for a name, answered with the nickname and a newline
    NONE = "none"  # nothing asked: a raw relay or a server that takes the first line as the name
    ERROR = "error"  # a netlab error line instead of a greeting (room full, ...)
    UNRECOGNISED = "unrecognised"  # JSON, binary frames, #command orders


@dataclass(frozen=True, slots=True)
class Greeting:
    """What the server's first bytes say.

    Attributes:
        handshake: the kind of handshake.
        token: the token or prompt text as sent (stripped); "" when none.
        newline: the server ended its greeting with a newline (it thinks in lines).
        evidence: the bytes the decision was made from.
        reason: one sentence saying why, for `join -v` and `netlab check`.
    """

    handshake: Handshake
    token: str
    newline: bool
    evidence: bytes
    reason: str

    def answer(self, nick: str) -> bytes:
        """What to send in reply: the bare nickname to a bare token, else the nickname and a newline;
        nothing to an error or an unrecognised protocol."""
        name = nick.encode("utf-8")
        if self.handshake is Handshake.TOKEN and not self.newline:
            return name
        if self.handshake in (Handshake.TOKEN, Handshake.PROMPT, Handshake.NONE):
            return name + b"\n"
        return b""

    def describe(self) -> str:
        """One line: what was detected and from which bytes."""
        return f"{self.reason} (first bytes: {excerpt(self.evidence)})" if self.evidence else self.reason


def excerpt(data: bytes, limit: int = EXCERPT_BYTES) -> str:
    """`data` as a short Python bytes literal (what the server sent, quoted exactly)."""
    text = repr(bytes(data[:limit]))
    return text + ("…" if len(data) > limit else "")


_TOKEN_RE = re.compile(r"[A-Z][A-Z0-9_]{1,15}[:?>]?\Z")
_NAME_WORDS = re.compile(
    r"name|nick|user|login|handle|alias|who are you|identify|"
    r"имя|ник|логин|пользовател|представь|"
    r"nom\b|pseudo|nombre|usuario|apodo|benutzer|spitzname|nome|utente|apelido|"
    r"imię|imie|nazw|jméno|jmeno|přezdív|ad[ıi]n|kullan[ıi]c|naam|gebruiker|navn|namn|nimi|"
    r"名|ユーザ|이름|닉네임|اسم|שם|नाम",
    re.IGNORECASE,
)
_COMMAND_RE = re.compile(rb"#[A-Za-z_]")


def unrecognised_framing(data: bytes) -> str | None:
    """What kind of protocol `data` belongs to when it is no text chat, else None.

    JSON objects or arrays, binary frames (a length prefix or other control bytes in the first bytes),
    ``#command`` orders. Decided from a prefix no continuation can change.
    """
    head = data.lstrip(b" \t\r\n")
    if not head:
        return None
    if head[:1] == b"{" or (head[:1] == b"[" and head[1:2] in (b"{", b'"', b"[")):
        return "JSON messages"
    if _COMMAND_RE.match(head[:2]):
        return "#command orders"
    control = [b for b in data[:8] if b < 0x20 and b not in (0x09, 0x0A, 0x0D, 0x1B)]
    if control:
        return "binary (length-prefixed) frames"
    return None


def classify_greeting(data: bytes, *, quiet: bool) -> Greeting | None:
    """The greeting in `data` (everything the server sent so far, before we said anything).

    Args:
        data: the server's bytes so far.
        quiet: the server fell silent (the edge's quiet period passed) or closed; then a decision is
            always returned. Before that, only decisions no later byte could change.

    Returns:
        The `Greeting`, or None when more bytes may still change it.
    """
    kind = unrecognised_framing(data)
    if kind is not None:
        return Greeting(Handshake.UNRECOGNISED, "", False, data, f"unrecognised protocol: {kind}")
    text = data.decode("utf-8", errors="replace")
    first, newline, _ = text.partition("\n")
    refusal = parse_server_line(first.rstrip("\r"))
    if newline and refusal.kind is MessageKind.ERROR:
        return Greeting(Handshake.ERROR, refusal.text, True, data, f"the server refused us: {refusal.text}")
    if not quiet:
        return None
    if not text.strip():  # nothing, or only whitespace (a no-break space too: nothing to answer)
        return Greeting(Handshake.NONE, "", False, data, "the server sent nothing: no handshake")
    if refusal.kind is MessageKind.ERROR:
        return Greeting(Handshake.ERROR, refusal.text, False, data, f"the server refused us: {refusal.text}")
    ends_line = text.endswith(("\n", "\r"))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1]
    if _TOKEN_RE.match(last):
        return Greeting(Handshake.TOKEN, last, ends_line, data, f"the server greets with the token {last!r}")
    if is_prompt(last, ends_line):
        return Greeting(Handshake.PROMPT, last, ends_line, data, f"the server asks for a name: {last!r}")
    return Greeting(Handshake.NONE, last, ends_line, data, "the server's greeting asks for nothing: no handshake")


def final_greeting(data: bytes) -> Greeting:
    """The greeting in `data` once the server fell quiet or closed (`classify_greeting` with ``quiet``)."""
    greeting = classify_greeting(data, quiet=True)
    assert greeting is not None  # quiet: always decided
    return greeting


def is_prompt(line: str, ends_line: bool) -> bool:
    """Whether `line` (the last line the server sent before waiting) asks for input.

    A short text that the server left without a newline (the cursor waits after it), that ends in ``:``,
    ``?`` or ``>``, or that names a name, a nickname or a user (in several languages).
    """
    if not line or len(line) > MAX_PROMPT_CHARS:
        return False
    if not ends_line or line.endswith((":", "?", ">", "：", "？")):
        return True
    return bool(_NAME_WORDS.search(line))


# ---------------------------------------------------------------------------------- relayed lines


@dataclass(frozen=True, slots=True)
class Prefix:
    """What a server puts in front of each relayed line, learned from one delivery.

    Attributes:
        raw: the prefix as received ("" when none).
        pattern: `raw` with the sender's nickname, address and port as ``{nick}``, ``{ip}``, ``{port}``.
    """

    raw: str
    pattern: str

    def describe(self) -> str:
        """How a report names it."""
        return f"relayed lines start with {self.pattern!r}" if self.raw else "relayed lines carry no prefix"


def learn_prefix(received: str, payload: str, *, nick: str = "", ip: str = "", port: int = 0) -> Prefix | None:
    """The prefix in front of `payload` in `received` (one delivery's text), or None if it is not there.

    Only the text since the last newline before the payload counts: what the server sends in front of
    the line on the same line.
    """
    at = received.find(payload)
    if at < 0:
        return None
    raw = received[:at].rsplit("\n", 1)[-1].lstrip("\r")
    pattern = raw
    for value, name in ((nick, "{nick}"), (ip, "{ip}"), (str(port) if port else "", "{port}")):
        if value:
            pattern = pattern.replace(value, name)
    return Prefix(raw, pattern)


def prefix_matches(prefix: Prefix, before: str, *, nick: str = "", ip: str = "", port: int = 0) -> bool:
    """Whether `before` (the text on a line in front of a payload) is the learned prefix for that sender.

    Time stamps and other digits may differ from one delivery to the next: digits count as equal.
    """
    expected = prefix.pattern.replace("{nick}", nick).replace("{ip}", ip).replace("{port}", str(port))
    return re.sub(r"\d", "0", expected) == re.sub(r"\d", "0", before) or (not prefix.raw and not before)
