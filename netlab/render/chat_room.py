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
        #: Recent notices: for each stamped line, how many copies each connection got (`notice_is_new`).
        self.notices: dict[str, dict[int, int]] = {}
        self.notice_order: deque[str] = deque()
        self.connections = 0  # connections numbered so far (`number`)
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

    def number(self) -> int:
        """A number for a new connection, unique in this capture."""
        self.connections += 1
        return self.connections

    def notice_is_new(self, whole: str, connection: int) -> bool:
        """Whether `whole`, a stamped notice on `connection`, is one not shown yet rather than a copy.

        The server sends each notice once to each recipient, so the n-th copy of a line on a connection
        is a new notice only when no connection has had n copies of it yet (the same notice twice in one
        second: a join, a leave and a join again).
        """
        counts = self.notices.get(whole)
        if counts is None:
            if len(self.notice_order) == RECENT_MESSAGES:
                del self.notices[self.notice_order.popleft()]
            self.notice_order.append(whole)
            counts = self.notices[whole] = {}
        seen = counts.get(connection, 0) + 1
        counts[connection] = seen
        return seen > max((count for other, count in counts.items() if other != connection), default=0)

    def rename(self, old: str, new: str) -> None:
        """The server announced that `old` is now known as `new`."""
        self.nicks.add(new)
        stream = self.speakers.pop(old.casefold(), None)
        if stream is not None:
            stream.nick = new
            stream.session.renamed(new)
            self.speakers[new.casefold()] = stream
