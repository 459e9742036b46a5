"""The verdicts of `netlab check`, decided from observations (pure: values in, values out).

The drivers (`netlab.check.checks`) send tagged lines and record every byte each client receives, with
the time it arrived; `find_delivery` says how a tagged line arrived at one client (how many intact copies,
when, on a line of its own or not, cut, with U+FFFD); the `*_verdict` functions turn such facts into a
`Verdict` and a reason a student understands. No verdict depends on the server's wording: only on whether
bytes arrived, intact, once, in time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from netlab.chat.detect import Prefix, prefix_matches
from netlab.check.model import Verdict

REPLACEMENT = "\ufffd".encode()

Outcome = tuple[Verdict, str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes one client received in one `recv`, and when (seconds on the run's clock)."""

    at: float
    data: bytes


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one tagged line arrived at one client.

    Attributes:
        copies: intact copies received.
        tagged: copies of its start tag (intact or not): > copies means it arrived cut or altered.
        first_at: when the first intact copy was complete (None: never).
        replaced: U+FFFD on a line that holds its tag (a character was broken).
        befores: the text in front of each intact copy on its line (the server's prefix, or more).
        line_ends: whether each intact copy is followed by a newline or the end of what arrived.
    """

    copies: int
    tagged: int
    first_at: float | None
    replaced: bool
    befores: tuple[str, ...]
    line_ends: tuple[bool, ...]

    pieces: float = 0.0

    @property
    def lost(self) -> bool:
        """Nothing (or next to nothing) of it arrived: not even pieces of it."""
        return self.copies == 0 and self.tagged == 0 and self.pieces < 0.5


def payload_text(tag: str, body: str) -> str:
    """A tagged line: ``TAGa body TAGz`` (the tags find it, and tell a cut line from a lost one)."""
    return f"{tag}a {body} {tag}z"


def find_delivery(chunks: Sequence[Chunk], payload: str, tag: str) -> Delivery:
    """How the line `payload` (tagged `tag`) arrived in `chunks` (one client's received bytes, in order)."""
    wanted = payload.encode("utf-8")
    start = f"{tag}a".encode()
    stream = bytearray()
    first_at: float | None = None
    for chunk in chunks:
        stream += chunk.data
        if first_at is None and wanted in stream:
            first_at = chunk.at
    data = bytes(stream)
    befores: list[str] = []
    ends: list[bool] = []
    at = data.find(wanted)
    while at >= 0:
        line_start = max(data.rfind(b"\n", 0, at), data.rfind(b"\r", 0, at)) + 1
        befores.append(data[line_start:at].decode("utf-8", errors="replace"))
        after = data[at + len(wanted) : at + len(wanted) + 1]
        ends.append(after in (b"", b"\n", b"\r"))
        at = data.find(wanted, at + len(wanted))
    replaced = False
    at = data.find(start)
    while at >= 0:
        line_start = data.rfind(b"\n", 0, at) + 1
        line_end = data.find(b"\n", at)
        if REPLACEMENT in data[line_start : line_end if line_end >= 0 else len(data)]:
            replaced = True
        at = data.find(start, at + 1)
    return Delivery(
        len(befores), data.count(start), first_at, replaced, tuple(befores), tuple(ends), _pieces(data, wanted)
    )


def _pieces(data: bytes, wanted: bytes, samples: int = 32) -> float:
    """The share of `wanted` that arrived, in order, in pieces (a line relayed piece by piece, each with a
    prefix, or mixed with other bytes, still shows most of it)."""
    if not wanted:
        return 0.0
    if len(data) <= 20000 and len(wanted) <= 4096:
        import difflib

        blocks = difflib.SequenceMatcher(None, wanted, data, autojunk=False).get_matching_blocks()
        return sum(block.size for block in blocks if block.size >= 2) / len(wanted)
    starts = range(0, max(1, len(wanted) - 3), 4)
    step = max(1, len(starts) // samples)
    chosen = [wanted[i : i + 4] for i in starts[::step]]
    return sum(1 for piece in chosen if piece in data) / len(chosen) if chosen else 0.0


def _names(names: Sequence[str]) -> str:
    return ", ".join(names)


def delivery_problem(name: str, delivery: Delivery, *, sent_at: float, within: float) -> str | None:
    """Why one receiver's delivery is wrong (lost, cut, duplicated, late), or None."""
    if delivery.lost:
        return f"{name} never got the line"
    if delivery.replaced:
        return f"{name} got the line with broken characters (U+FFFD)"
    if delivery.copies == 0:
        return f"{name} got the line cut or altered"
    if delivery.copies > 1:
        return f"{name} got the line {delivery.copies} times"
    if delivery.first_at is not None and delivery.first_at - sent_at > within:
        return f"{name} got the line only after {delivery.first_at - sent_at:.1f} s"
    return None


def broadcast_verdict(deliveries: Mapping[str, Delivery], *, sent_at: float, within: float = 1.0) -> Outcome:
    """broadcast: every other client gets the line exactly once, intact, within `within` seconds."""
    problems = [p for n, d in deliveries.items() if (p := delivery_problem(n, d, sent_at=sent_at, within=within))]
    if problems:
        return Verdict.FAIL, "; ".join(problems), ()
    return Verdict.PASS, f"each of the {len(deliveries)} other clients got the line once, intact", ()


def echo_verdict(own: Delivery) -> Outcome:
    """sender-echo: warn when the sender gets its own line back."""
    if own.copies or own.tagged:
        return Verdict.WARN, "the sender gets its own line back (many assignments ask to exclude the sender)", ()
    return Verdict.PASS, "the sender does not get its own line back", ()


def whole_line_verdict(deliveries: Mapping[str, Delivery], *, what: str, sender_alive: bool = True) -> Outcome:
    """split-line / utf8-split: each receiver gets the line whole (not cut, not interleaved, no U+FFFD)."""
    problems: list[str] = []
    for name, delivery in deliveries.items():
        if delivery.lost:
            problems.append(f"{name} never got it")
        elif delivery.replaced:
            problems.append(f"{name} got broken characters (U+FFFD): the server decodes each recv() chunk")
        elif delivery.copies == 0:
            problems.append(f"{name} got it cut into pieces or mixed with another client's bytes")
        elif delivery.copies > 1:
            problems.append(f"{name} got it {delivery.copies} times")
    if not sender_alive:
        problems.append("the sender was disconnected")
    if problems:
        return Verdict.FAIL, f"{what}: " + "; ".join(problems), ()
    return Verdict.PASS, f"{what}: every receiver got it whole", ()


def coalesced_verdict(
    per_receiver: Mapping[str, Sequence[Delivery]], *, prefix: Prefix | None, sender: tuple[str, str, int]
) -> Outcome:
    """coalesced-lines: three lines in one segment arrive as three lines, each with the server's prefix."""
    nick, ip, port = sender
    problems: list[str] = []
    for name, deliveries in per_receiver.items():
        lost = [str(i + 1) for i, d in enumerate(deliveries) if d.copies == 0]
        if lost:
            problems.append(f"{name} did not get line(s) {', '.join(lost)} intact")
            continue
        if any(not all(d.line_ends) for d in deliveries):
            problems.append(f"{name} got the lines run together")
            continue
        if prefix is not None and prefix.raw:
            bare = [
                str(i + 1)
                for i, d in enumerate(deliveries)
                if not all(prefix_matches(prefix, before, nick=nick, ip=ip, port=port) for before in d.befores)
            ]
            if bare:
                problems.append(
                    f"{name} got them as one message: line(s) {', '.join(bare)} lack the server's prefix "
                    f"{prefix.pattern!r} (the server treats each recv() as one message)"
                )
    if problems:
        return Verdict.FAIL, "; ".join(problems), ()
    return Verdict.PASS, "three lines in one segment arrived as three lines", ()


@dataclass(frozen=True, slots=True)
class Health:
    """Whether the server still works after a check's hard part.

    Attributes:
        alive: its process still runs (None: not ours to see).
        accepting: a new client connected and completed the handshake.
        serving: a line between two live clients was delivered.
        detail: what went wrong, when something did.
    """

    alive: bool | None
    accepting: bool
    serving: bool
    detail: str = ""

    def problem(self) -> str | None:
        """What is broken, in one phrase, or None."""
        if self.alive is False:
            return "the server died" + (f" ({self.detail})" if self.detail else "")
        if not self.accepting:
            return "the server stopped accepting new clients" + (f" ({self.detail})" if self.detail else "")
        if not self.serving:
            return "the server stopped serving the other clients" + (f" ({self.detail})" if self.detail else "")
        return None


def health_verdict(health: Health, *, what: str, warn: str | None = None) -> Outcome:
    """A check whose only failure is hurting the server (connect-close, utf8-nick, ...); `warn`: a warning."""
    problem = health.problem()
    if problem:
        return Verdict.FAIL, f"after {what}, {problem}", ()
    if warn:
        return Verdict.WARN, warn, ()
    return Verdict.PASS, f"after {what}, the server still accepts and serves clients", ()


def long_line_verdict(delivery: Delivery, *, sender_refused: bool, health: Health) -> Outcome:
    """long-line: delivered intact, or refused (a message or a close of that sender only); fail if others suffer."""
    problem = health.problem()
    if problem:
        return Verdict.FAIL, f"after a 64 KiB line, {problem}", ()
    if delivery.copies == 1 and not delivery.replaced:
        return Verdict.PASS, "the 64 KiB line was delivered intact", ()
    if sender_refused:
        return (
            Verdict.PASS,
            "the 64 KiB line was refused (a message or a close of its sender) and the others are served",
            (),
        )
    if delivery.copies > 1:
        return Verdict.FAIL, f"the 64 KiB line was delivered {delivery.copies} times", ()
    if delivery.tagged:
        return Verdict.FAIL, "the 64 KiB line was delivered cut or altered, and its sender was not told", ()
    return Verdict.FAIL, "the 64 KiB line was lost silently: not delivered, its sender neither told nor closed", ()


def many_clients_verdict(
    *,
    clients: int,
    served: int,
    refused: int,
    hanging: int,
    cpu_percent: float | None,
    health: Health,
    others: int = 0,
) -> Outcome:
    """many-clients: every client served or explicitly refused; nobody left hanging; no busy wait.

    `others`: clients of the grader already connected besides the `clients` (they count towards a cap).
    """
    notes: list[str] = []
    if refused:
        cap = served + others
        notes.append(f"the server serves {cap} clients at once and refuses the others (cap {cap})")
    problem = health.problem()
    if problem:
        return Verdict.FAIL, f"with {clients} clients at once, {problem}", tuple(notes)
    if hanging:
        return (
            Verdict.FAIL,
            f"{hanging} of {clients} clients were left hanging (neither served nor refused)",
            tuple(notes),
        )
    if cpu_percent is not None and cpu_percent > 80:
        return Verdict.FAIL, f"the server burns a core ({cpu_percent:.0f}% CPU) while clients wait", tuple(notes)
    if refused:
        return Verdict.PASS, f"{served} of {clients} clients served, {refused} refused explicitly", tuple(notes)
    return Verdict.PASS, f"all {clients} clients were served", tuple(notes)


def silent_client_verdict(*, join_seconds: float | None, line_seconds: float | None, limit: float = 2.0) -> Outcome:
    """silent-client: a silent connection must not delay the others' joins or lines."""
    if join_seconds is None:
        return Verdict.FAIL, "while one client stays silent, no other client can join", ()
    if join_seconds > limit:
        return Verdict.FAIL, f"while one client stays silent, joining took {join_seconds:.1f} s", ()
    if line_seconds is None:
        return Verdict.FAIL, "while one client stays silent, the others' lines are not delivered", ()
    if line_seconds > 1.0:
        return Verdict.FAIL, f"while one client stays silent, a line took {line_seconds:.1f} s", ()
    return Verdict.PASS, "a silent client delays nobody", ()


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The `fraction` percentile (nearest rank) of `values`, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def slow_consumer_verdict(
    *, latencies: Sequence[float], longest_send: float, buffered: int, sent_bytes: int, throttled: bool
) -> Outcome:
    """slow-consumer: the others' delivery must not stall (p99 <= 500 ms), no sender's send may block."""
    p99 = percentile(latencies, 0.99)
    notes: list[str] = []
    if sent_bytes <= buffered:
        notes.append(
            f"the senders sent {sent_bytes} bytes, not more than the {buffered} bytes buffered for the slow client"
        )
    if throttled:
        notes.append("the server slowed some senders down (rate limiting): their lines were delayed, not lost")
    if p99 is None:
        return Verdict.FAIL, "while one client stopped reading, the others got nothing", tuple(notes)
    if p99 > 0.5 and not throttled:
        return (
            Verdict.FAIL,
            f"while one client stopped reading, delivery to the others stalled (p99 {p99 * 1000:.0f} ms)",
            tuple(notes),
        )
    if longest_send > 0.5 and not throttled:
        return (
            Verdict.FAIL,
            f"a sender's send() blocked for {longest_send:.1f} s: the server stopped reading it",
            tuple(notes),
        )
    return Verdict.PASS, f"a client that stops reading stalls nobody (p99 {p99 * 1000:.0f} ms)", tuple(notes)


def disconnect_verdict(*, what: str, health: Health, told: bool, cpu_percent: float | None = None) -> Outcome:
    """clean-disconnect / abrupt-disconnect: the server keeps serving; warn when nobody is told."""
    if cpu_percent is not None and cpu_percent > 50:
        return Verdict.FAIL, f"after {what}, the server burns CPU ({cpu_percent:.0f}%): a loop on an empty recv()?", ()
    problem = health.problem()
    if problem:
        return Verdict.FAIL, f"after {what}, {problem}", ()
    if not told:
        return Verdict.WARN, f"after {what}, no one is told the client left", ()
    return Verdict.PASS, f"after {what}, the others are told and still served", ()


def load_verdict(
    received: Mapping[str, Mapping[int, Sequence[int]]], *, lines: int, garbled: int, progressing: bool
) -> Outcome:
    """load: no line lost, duplicated or garbled; a server that delivers in order but slowly is throttled.

    `received[listener][sender]` is the list of line numbers the listener got from that sender, in order.
    """
    duplicated = lost = complete = 0
    for per_sender in received.values():
        for numbers in per_sender.values():
            if len(set(numbers)) != len(numbers):
                duplicated += 1
            seen = set(numbers)
            top = max(seen) if seen else -1
            if len(seen) < top + 1:
                lost += 1
            if len(seen) == lines:
                complete += 1
    if garbled:
        return Verdict.FAIL, f"{garbled} lines arrived garbled", ()
    if duplicated:
        return Verdict.FAIL, f"lines were duplicated ({duplicated} listener/sender pairs)", ()
    if lost:
        return Verdict.FAIL, f"lines were lost ({lost} listener/sender pairs have holes)", ()
    pairs = sum(len(v) for v in received.values())
    if complete == pairs:
        return Verdict.PASS, "every line reached every listener once, intact", ()
    if progressing:
        return (
            Verdict.PASS,
            "nothing lost, duplicated or garbled; the server delivered in order but slowly",
            ("the server slowed the senders down (rate limiting): not every line arrived within the time budget",),
        )
    return Verdict.FAIL, "the server stopped delivering before every line arrived", ()


def restart_verdict(*, exit_seconds: float | None, signal_used: str, rebound: bool, cause: str) -> Outcome:
    """restart: exits within 2 s of SIGINT (SIGTERM if needed), and a restart binds the same port at once."""
    if exit_seconds is None:
        return Verdict.FAIL, f"the server did not exit after SIGINT and SIGTERM ({cause})", ()
    if not rebound:
        return Verdict.FAIL, f"the restarted server could not bind the port ({cause})", ()
    how = "SIGINT" if signal_used == "SIGINT" else "SIGINT, then SIGTERM"
    notes = () if signal_used == "SIGINT" else ("it ignored SIGINT; SIGTERM stopped it",)
    return Verdict.PASS, f"exits {exit_seconds:.1f} s after {how}; the restart binds the port at once", notes
