"""`--format chat`: the chat read from the capture, one line per message, in capture-time order (pure).

Each line says when (the capture time of the frame that carried it), on which connection (stream
number and client address), and who said what::

    16:30:01.123 #0 127.0.0.1:41234 alice → everyone: привет 🙂
    16:30:01.456 #1 127.0.0.1:41240 bob → alice (private): hi
    16:30:02.001 #2 127.0.0.1:41250 server → client: [41234]: привет 🙂
    16:30:02.300 #3 127.0.0.1:41260 connection refused

Which rules apply is decided per stream, from the stream itself:

* **netlab's protocol** (`netlab.render.chat_netlab`): the server's first bytes are the bare
  ``NICK`` and its answer to the client's nickname is one of netlab's stamped lines (the
  ``*** Welcome to netlab chat, …`` notice or a ``!!!`` error), or its first line is such an
  error (room full), or — the capture started after ``NICK`` — the welcome itself. Messages,
  commands, joins, nickname changes and protocol breaks are decoded.
* **any other server** (`netlab.render.chat_plain`): tutorial-dialect servers, relays, a stream
  whose start was not captured (unless what was captured begins with netlab's welcome). Each line is shown with its
  direction and its sender's side (the
  client's address, or the nickname it gave in the tutorial's ``NICK`` exchange), unjudged.

Events are dated no earlier than the latest frame seen: the reassembler releases a segment that
arrived out of order (ahead of a lost one) only when the retransmission fills the hole, and what it
carries became readable then — so a line is shown at the capture time at which it was complete and
in order (the frame that carried its last byte, or that retransmission), and a stream the
reassembler closes only at the end of the capture is dated by its FINs or RST (the decoders).

Until a stream is decided its events wait. netlab's server greets at once and answers a nickname
at once, so a stream is not netlab's when its server's first bytes are neither ``NICK`` nor a
stamped line, when it is still undecided `NICK_REPLY_SECONDS` of capture time after it opened
(the server silent) or after the client answered ``NICK``, when a gap, RST or close comes first,
or past `MAX_UNDECIDED_EVENTS`. Lines are shown in the capture-time order of the frames that carried them,
across all streams: a line is written once no undecided stream can still produce an earlier one.
`--direction` does not apply: a chat line needs both directions to be told.
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from datetime import datetime

from netlab.chat.limits import NICK_REPLY_SECONDS
from netlab.chat.protocol import GREETING, decode_line
from netlab.chat.wire import WELCOME_RE, MessageKind, neutralise, parse_server_line
from netlab.packets import Endpoint
from netlab.render.base import RenderOptions
from netlab.render.chat_common import Entry, Key
from netlab.render.chat_netlab import NetlabRoom, NetlabStream
from netlab.render.chat_plain import PlainStream
from netlab.stream.events import (
    Closed,
    Control,
    ControlKind,
    Data,
    Direction,
    Event,
    Gap,
    Opened,
    Transport,
)

#: Events a stream may hold while undecided; past this it is not netlab's (a netlab handshake is a few).
MAX_UNDECIDED_EVENTS = 64
#: Bytes of a stamped netlab line up to its kind (``[YYYY-MM-DD HH:MM:SS] *** ``).
_STAMPED_PREFIX = len("[0000-00-00 00:00:00] *** ")

Decoder = NetlabStream | PlainStream


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S.%f")[:-3]


class _Stream:
    """One TCP stream: its events wait until it is known whether it speaks netlab's protocol."""

    def __init__(self, opened: Opened) -> None:
        self.stream = opened.stream
        self.client: Endpoint = opened.client
        self.decoder: Decoder | None = None
        self.backlog: list[Event] = [opened]
        self.server_head = bytearray()  # the server's first bytes, while undecided
        self.greeted = False  # the server's first bytes were the bare NICK
        self.deadline: float | None = opened.ts + NICK_REPLY_SECONDS  # undecided after this: not netlab's
        self.first: Key | None = None  # the first waiting event that can show a line
        self.fins: set[Direction] = set()
        self.prefix = f"#{self.stream} {self.client} "  # before each of its lines
        self.timer: float | None = None  # the renderer's current timer for this stream
        if opened.proto is Transport.UDP:  # netlab's protocol runs over TCP: a datagram chat is plain
            self.prefix = f"#{self.stream}/udp {self.client} "
            self.decoder = PlainStream(datagrams=True)
            self.backlog = []
            self.deadline = None

    def hold(self) -> Key | None:
        if self.decoder is None:
            return self.first
        return self.decoder.hold()

    def feed(self, event: Event, room: NetlabRoom) -> list[Entry]:
        if self.decoder is not None:
            return self.decoder.feed(event)
        self.backlog.append(event)
        verdict = self._judge(event)
        if verdict is None and len(self.backlog) <= MAX_UNDECIDED_EVENTS:
            return []
        return self.decide(room, netlab=bool(verdict))

    def due(self) -> float | None:
        """The capture time after which `tick` has something to do, or None."""
        if self.decoder is None:
            return self.deadline
        return self.decoder.due()

    def tick(self, now: float, room: NetlabRoom) -> list[Entry]:
        if self.decoder is not None:
            return self.decoder.tick(now)
        if self.deadline is not None and now > self.deadline:
            return self.decide(room, netlab=False)
        return []

    def decide(self, room: NetlabRoom, *, netlab: bool) -> list[Entry]:
        """Pick the decoder and replay what waited."""
        decoder: Decoder = NetlabStream(room) if netlab else PlainStream()
        self.decoder = decoder
        out: list[Entry] = []
        for event in self.backlog[1:]:
            out += decoder.feed(event)
        self.backlog.clear()
        return out

    def _judge(self, event: Event) -> bool | None:
        """True: netlab's protocol; False: not; None: not known yet."""
        if isinstance(event, Closed | Gap | Control):
            return self._judge_control(event)
        if not isinstance(event, Data):
            return None
        if self.first is None and not (
            event.direction is Direction.S2C and _only_greeting(self.server_head, event.data)
        ):
            self.first = (event.ts, event.frame)
        if event.direction is Direction.C2S:
            if self.greeted and self.deadline is None:
                self.deadline = event.ts + NICK_REPLY_SECONDS  # the answer to the nickname is due
            return None
        self.server_head += event.data
        return self._judge_server_head()

    def _judge_control(self, event: Closed | Gap | Control) -> bool | None:
        """An end, a gap or a RST: not netlab's; a FIN counts (both FINs: not netlab's)."""
        if isinstance(event, Control) and event.kind is not ControlKind.RST:
            if event.kind is ControlKind.FIN:
                self.fins.add(event.direction)
                return False if len(self.fins) == 2 else None
            return None
        return False

    def _judge_server_head(self) -> bool | None:
        """Judge from what the server sent so far: its bare NICK, then netlab's reply (or not)."""
        head = bytes(self.server_head)
        if not self.greeted:
            if GREETING.startswith(head):
                if len(head) < len(GREETING):
                    return None
            elif not head.startswith(GREETING):
                # netlab's "room full" instead of NICK, or a capture that started after NICK (its welcome)
                return head.startswith(b"[") and _netlab_first(head)
            self.greeted, self.deadline = True, None
        return _netlab_reply(head[len(GREETING) :])


def _only_greeting(head: bytearray, data: bytes) -> bool:
    """`data`, the server's next bytes after `head`, add nothing a chat line could show but the bare NICK."""
    return not head and data.startswith(GREETING) and not data[len(GREETING) :].strip()


def _first_line(data: bytes) -> tuple[str, bool]:
    """The first non-empty line of `data` and whether it is complete (or long enough to judge)."""
    data = data.lstrip(b"\r\n")
    newline = data.find(b"\n")
    whole = newline >= 0 or len(data) >= _STAMPED_PREFIX
    return decode_line(data if newline < 0 else data[:newline]), whole


def _netlab_reply(data: bytes) -> bool | None:
    """Is the server's answer after NICK one of netlab's stamped notices or errors? None: too few bytes yet."""
    line, whole = _first_line(data)
    if not whole:
        return None
    return parse_server_line(line).kind in (MessageKind.NOTICE, MessageKind.ERROR)


def _netlab_first(data: bytes) -> bool | None:
    """Are the server's first bytes (no NICK before them) netlab's welcome or one of its errors?"""
    line, whole = _first_line(data)
    if not whole:
        return None
    return parse_server_line(line).kind is MessageKind.ERROR or WELCOME_RE.match(line) is not None


class ChatRenderer:
    """Incremental chat renderer (see the module docstring). Not thread-safe.

    Lines wait in a heap ordered by capture time; `_holds` has, for each stream that may still show
    an earlier line, the earliest frame it may show one at, and `_timers` the capture times at which
    waiting streams must be looked at again (lazily: a stream's `timer` says which entry is current).
    """

    binary = False

    def __init__(self, options: RenderOptions) -> None:
        self._streams: dict[int, _Stream] = {}
        self._room = NetlabRoom()
        self._holds: dict[int, Key] = {}
        self._timers: list[tuple[float, int]] = []  # a heap: capture time, stream
        self._lines: list[tuple[float, int, int, str]] = []  # a heap: capture time, frame, arrival, text
        self._arrival = 0
        self._now: Key = (0.0, 0)  # the latest capture time seen, and its frame

    def begin(self) -> str:
        return ""

    def end(self) -> str:
        for stream in list(self._streams.values()):  # the reassembler closed them all; anything left over
            if stream.decoder is None:
                self._add(stream, stream.decide(self._room, netlab=False))
        self._holds.clear()
        return self._release()

    def on_event(self, event: Event) -> str:
        event = self._in_order(event)
        if isinstance(event, Opened):
            stream = self._streams[event.stream] = _Stream(event)
            self._track(stream)
        else:
            found = self._streams.get(event.stream)
            if found is not None:
                self._add(found, found.feed(event, self._room))
                if isinstance(event, Closed):
                    del self._streams[event.stream]
                    self._holds.pop(event.stream, None)
                else:
                    self._track(found)
        self._run_timers(event.ts)
        return self._release() if self._lines else ""

    def _in_order(self, event: Event) -> Event:
        """`event`, dated no earlier than the latest frame seen (see the module docstring)."""
        if (event.ts, event.frame) >= self._now:
            self._now = (event.ts, event.frame)
            return event
        ts, frame = self._now
        if isinstance(event, Data):
            return event._replace(ts=ts, frame=frame)
        return replace(event, ts=ts, frame=frame)

    def _track(self, stream: _Stream) -> None:
        """Note what `stream` now holds back and when it must be looked at again."""
        hold = stream.hold()
        if hold is None:
            self._holds.pop(stream.stream, None)
        else:
            self._holds[stream.stream] = hold
        due = stream.due()
        if due is not None and due != stream.timer:
            stream.timer = due
            heapq.heappush(self._timers, (due, stream.stream))

    def _run_timers(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] < now:
            due, number = heapq.heappop(timers)
            stream = self._streams.get(number)
            if stream is None or stream.timer != due:
                continue  # closed, or a later timer replaced this one
            stream.timer = None
            self._add(stream, stream.tick(now, self._room))
            self._track(stream)

    def _add(self, stream: _Stream, entries: list[Entry]) -> None:
        for ts, frame, text in entries:
            self._arrival += 1
            heapq.heappush(self._lines, (ts, frame, self._arrival, stream.prefix + neutralise(text)))

    def _release(self) -> str:
        limit = min(self._holds.values()) if self._holds else None
        out: list[str] = []
        lines = self._lines
        while lines and (limit is None or lines[0][:2] < limit):
            ts, _, _, text = heapq.heappop(lines)
            out.append(f"{_clock(ts)} {text}\n")
        return "".join(out)
