"""What the netlab streams of one capture share in the chat view (pure): recent messages and
notices, who is called what (`netlab.render.chat_netlab`)."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netlab.render.chat_netlab import NetlabStream

#: How many recent messages and notices are remembered to recognise the server's copies of them.
RECENT_MESSAGES = 4096


class NetlabRoom:
    """What the netlab streams of one capture share: recent messages and notices, who is called what."""

    def __init__(self) -> None:
        self.recent: deque[tuple[str, str]] = deque(maxlen=RECENT_MESSAGES)
        self.recent_count: dict[tuple[str, str], int] = {}
        self.notices: deque[str] = deque(maxlen=RECENT_MESSAGES)
        #: Nicknames of captured connections: the server's copies of their messages are never repeated,
        #: even when the reassembler releases a copy before the original (the original is shown).
        self.nicks: set[str] = set()
        self.speakers: dict[str, NetlabStream] = {}  # casefolded nickname → its connection

    def remember(self, sender: str, text: str) -> None:
        """`sender` said `text`: the server's copies of it are not shown again."""
        if len(self.recent) == self.recent.maxlen:
            old = self.recent[0]
            self.recent_count[old] -= 1
            if not self.recent_count[old]:
                del self.recent_count[old]
        key = (sender, text)
        self.recent.append(key)
        self.recent_count[key] = self.recent_count.get(key, 0) + 1

    def rename(self, old: str, new: str) -> None:
        """The server announced that `old` is now known as `new`."""
        self.nicks.add(new)
        stream = self.speakers.pop(old.casefold(), None)
        if stream is not None:
            stream.nick = new
            stream.session.renamed(new)
            self.speakers[new.casefold()] = stream
