"""Conversation scripts for `netlab lab`: the file format, the default conversation (pure).

Format (UTF-8 text, one step per line)::

    # a comment; blank lines are ignored too
    alice>                      alice joins (connects and registers her nickname), says nothing
    alice> Привет всем! 👋      alice says this; she joins first if she has not yet
    bob> /me waves              any chat line or command is sent as it is
    bob> /msg alice psst        a private message
    bob> /nick boris            from the next line on this participant is called boris
    boris> /quit                leaves (participants still connected at the end leave then)
    @snapshot                   take the socket snapshot here

The name before ``>`` is the participant's current nickname. Without ``@snapshot`` the socket
snapshot is taken when the most participants are connected, just before the first one leaves.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from netlab.errors import LabError

CAST = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar")
QUIT_COMMANDS = ("/quit", "/exit")


class StepKind(enum.Enum):
    """What a step does."""

    JOIN = "join"
    SEND = "send"
    SNAPSHOT = "snapshot"


@dataclass(frozen=True, slots=True)
class Step:
    """One step: participant `actor` (index into `Script.participants`) joins or sends `line`."""

    kind: StepKind
    actor: int = -1
    line: str = ""
    source_line: int = 0


@dataclass(frozen=True, slots=True)
class Script:
    """A parsed conversation: the participants' first nicknames and the steps in order."""

    participants: tuple[str, ...]
    steps: tuple[Step, ...]

    def lines_of(self, actor: int) -> list[str]:
        """Every line participant `actor` sends, in order."""
        return [s.line for s in self.steps if s.kind is StepKind.SEND and s.actor == actor]


def _command(line: str) -> tuple[str, str]:
    name, _, rest = line.strip().partition(" ")
    return name.lower(), rest.strip()


def parse_script(text: str, *, source: str = "script") -> Script:
    """Parse a conversation script (format in the module docstring).

    Raises:
        LabError: naming the file and line of the first malformed step.
    """
    nicks: list[str] = []
    current: dict[str, int] = {}
    joined: set[int] = set()
    left: set[int] = set()
    steps: list[Step] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.lower() == "@snapshot":
            steps.append(Step(StepKind.SNAPSHOT, source_line=number))
            continue
        nick, sep, line = raw.partition(">")
        nick = nick.strip()
        if not sep or not nick or " " in nick:
            raise LabError(f"{source}:{number}: expected `NICK> LINE` (or `@snapshot`), got {stripped[:40]!r}")
        line = line.removeprefix(" ").rstrip("\r\n")
        if "\n" in line:
            raise LabError(f"{source}:{number}: one line per step")
        actor = current.get(nick)
        if actor is None:
            if nick in nicks and nicks.index(nick) in left:
                raise LabError(f"{source}:{number}: {nick} already left; use a new name for a new participant")
            actor = len(nicks)
            nicks.append(nick)
            current[nick] = actor
        if actor in left:
            raise LabError(f"{source}:{number}: {nick} already left the chat")
        if actor not in joined:
            steps.append(Step(StepKind.JOIN, actor, source_line=number))
            joined.add(actor)
        if not line.strip():
            continue
        steps.append(Step(StepKind.SEND, actor, line, number))
        name, rest = _command(line)
        if name == "/nick" and rest and " " not in rest:
            taken = next((n for n in current if n.casefold() == rest.casefold() and current[n] != actor), None)
            if taken is not None:
                raise LabError(f"{source}:{number}: {nick} cannot become {rest}: {taken} is in the chat already")
            del current[nick]
            current[rest] = actor
        elif name in QUIT_COMMANDS:
            left.add(actor)
            del current[nick]
    if not nicks:
        raise LabError(f"{source}: the script has no participants")
    return Script(tuple(nicks), _with_snapshot(steps))


def _with_snapshot(steps: list[Step]) -> tuple[Step, ...]:
    """Insert a snapshot where the most participants are connected, unless the script has one."""
    if any(s.kind is StepKind.SNAPSHOT for s in steps):
        return tuple(steps)
    online = best = 0
    best_at = len(steps)
    for index, step in enumerate(steps):
        if step.kind is StepKind.JOIN:
            online += 1
        elif step.kind is StepKind.SEND and _command(step.line)[0] in QUIT_COMMANDS:
            if online > best:
                best, best_at = online, index
            online -= 1
    if online > best:
        best_at = len(steps)
    return (*steps[:best_at], Step(StepKind.SNAPSHOT), *steps[best_at:])


def cast(count: int) -> list[str]:
    """`count` distinct nicknames: alice, bob, carol, ... then user13, user14, ..."""
    return [CAST[i] if i < len(CAST) else f"user{i + 1}" for i in range(count)]


_CHATTER = (
    "Сообщение номер {n} от {who} ✉️",
    "Message {n} from {who}: the quick brown fox 🦊",
    "{who} · {n}: Grüße, 你好, مرحبا 🌍",
    "{who} пишет ещё раз ({n}) 🚀",
)


def default_script(clients: int = 3, messages: int = 2) -> str:
    """The default conversation as script text, for `clients` participants (at least 2).

    It has a late join, Cyrillic and emoji, a private message, a nickname change, a `/me`,
    `messages` ordinary lines from each participant (in a row, so the lab sends them as a burst
    and several segments are in flight at once), and a leave.
    """
    if clients < 2:
        raise LabError(f"the lab needs at least 2 clients (got {clients})")
    if messages < 0:
        raise LabError(f"--messages must not be negative (got {messages})")
    names = cast(clients)
    first, second = names[0], names[1]
    renamed = "boris" if second == "bob" else f"{second}2"
    late = names[-1] if clients > 2 else renamed
    lines = ["# netlab lab: the default conversation", *(f"{n}>" for n in (names[:-1] if clients > 2 else names))]
    lines += [
        f"{first}> Привет всем! 👋 Hi everyone!",
        f"{second}> Здравствуй, {first}! Как дела? 😊",
        f"{first}> /me машет рукой 🙋",
        f"{second}> /msg {first} Это личное сообщение, только для тебя 🤫",
        f"{second}> /nick {renamed}",
        f"{renamed}> Теперь меня зовут {renamed.capitalize()} 😎",
    ]
    if clients > 2:
        lines.append(f"{late}> Hello from {late}, I just joined! 你好 🌍")
    now = [first, renamed, *names[2:]]
    counter = 0
    for who in now:  # each participant's lines in a row: the lab sends them as one burst
        for round_ in range(messages):
            lines.append(f"{who}> " + _CHATTER[counter % len(_CHATTER)].format(n=round_ + 1, who=who))
            counter += 1
    lines += [f"{late}> Пока! Bye 👋", f"{late}> /quit", f"{first}> Всем спасибо, до встречи! 🎉"]
    return "\n".join(lines) + "\n"
