"""What each scripted line should make the others receive (pure).

The lab waits for these deliveries before it plays the next step, so the conversation in the
capture follows the script's order (no sleeps: each step waits for its evidence). Lines are
classified by the chat protocol's own `parse_command`, so the lab and the server agree on what a
line means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from netlab.chat.protocol import Act, ChangeNick, Leave, Say, Whisper, parse_command
from netlab.chat.wire import Incoming, MessageKind


@dataclass(frozen=True, slots=True)
class Expect:
    """Participant `recipient` should receive a message of `kind` from `sender` with `text` in it.

    None / "" mean "anything".
    """

    recipient: int
    kind: MessageKind | None = None
    sender: str | None = None
    text: str = ""

    def met_by(self, message: Incoming) -> bool:
        """True when `message` is the awaited delivery."""
        if self.kind is not None and message.kind is not self.kind:
            return False
        if self.sender is not None and (message.sender or "").casefold() != self.sender.casefold():
            return False
        return self.text in message.text


def expectations(line: str, actor: int, nicks: Mapping[int, str], online: Iterable[int]) -> list[Expect]:
    """The deliveries that show `line`, sent by `actor`, was handled.

    Args:
        line: the line as sent.
        actor: the sender's participant index.
        nicks: current nickname of each participant index.
        online: participant indexes connected now (the actor included).
    """
    action = parse_command(line)
    if action is None:
        return []
    nick = nicks[actor]
    others = [p for p in online if p != actor]
    if isinstance(action, Say):
        return [Expect(p, MessageKind.CHAT, nick, action.text) for p in others]
    if isinstance(action, Act):
        return [Expect(p, MessageKind.ACTION, nick, action.text) for p in others]
    if isinstance(action, Whisper):
        target = next((p for p in others if nicks[p].casefold() == action.target.casefold()), None)
        if target is None:
            return [Expect(actor, MessageKind.ERROR)]
        return [Expect(target, MessageKind.PRIVATE, nick, action.text)]
    if isinstance(action, ChangeNick):
        return [Expect(actor, MessageKind.NOTICE, None, f"is now known as {action.nick}")]
    if isinstance(action, Leave):
        return [Expect(p, MessageKind.NOTICE, None, f"{nick} left the chat") for p in others]
    return [Expect(actor)]


def renamed_to(line: str) -> str | None:
    """The new nickname when `line` is a `/nick` change, else None."""
    action = parse_command(line)
    return action.nick if isinstance(action, ChangeNick) else None


def is_leave(line: str) -> bool:
    """True when `line` makes its sender leave (`/quit`, `/exit`)."""
    return isinstance(parse_command(line), Leave)


def is_plain(line: str) -> bool:
    """True for a chat message or a `/me`: lines that change no state, so several can be in flight."""
    return isinstance(parse_command(line), Say | Act)
