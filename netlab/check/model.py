"""`netlab check`'s values: the checks' ids and order, verdicts, evidence, and the JSON and text forms (pure).

A check is one small unit with a stable id (`CHECKS`); its driver (`netlab.check.checks`) gathers
observations at the edge and its verdict is decided by pure code (`netlab.check.verdicts`). The results are
`CheckResult`s; `to_document` makes the JSON document of `--format json` and `render_text` the table.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from netlab.check import ids

SCHEMA_VERSION = 1
QUOTE_BYTES = 512  # bytes quoted per exchange in the evidence (base64 and readable)


class Verdict(enum.StrEnum):
    """What a check concluded."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """One check: its id, what it does, whether it needs the server's dialect understood, its deadline.

    Attributes:
        id: the stable id (`--only`, `--skip`, JSON).
        title: what it does, for `--help` and the report.
        needs_dialect: skipped when the protocol was not recognised.
        deadline: seconds after which the check reports "no answer in N s".
        exec_only: needs `--exec` (restart).
    """

    id: str
    title: str
    needs_dialect: bool = True
    deadline: float = 10.0
    exec_only: bool = False


#: Every check, in the order they run: the gentle ones first, the ones that kill fragile servers last.
CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("connect", "3 clients connect and complete the handshake within 2 s"),
    CheckSpec("broadcast", "a line from one client reaches every other client exactly once, intact, within 1 s"),
    CheckSpec("sender-echo", "does the sender get its own line back?"),
    CheckSpec("split-line", "one line sent in small segments while another client sends too"),
    CheckSpec("coalesced-lines", "three lines sent in one segment"),
    CheckSpec("utf8-split", "Cyrillic, CJK and emoji with characters cut across segments"),
    CheckSpec("silent-client", "a client connects and says nothing", needs_dialect=False, deadline=12.0),
    CheckSpec("load", "5 senders x 1000 lines to 20 listeners", deadline=25.0),
    CheckSpec("slow-consumer", "a client stops reading while the others chat", deadline=25.0),
    CheckSpec(
        "many-clients", "--clients clients connect at once, each sends a line", needs_dialect=False, deadline=25.0
    ),
    CheckSpec("utf8-nick", "a client joins with a Cyrillic/emoji nickname"),
    CheckSpec("clean-disconnect", "a client that has joined closes its connection (FIN)", needs_dialect=False),
    CheckSpec("long-line", "a 64 KiB line"),
    CheckSpec("abrupt-disconnect", "a client resets its connection mid-chat (RST)"),
    CheckSpec("bad-bytes", "NUL, invalid UTF-8 and ANSI escape sequences"),
    CheckSpec("connect-close", "a client connects and closes at once without reading", needs_dialect=False),
    CheckSpec(
        "restart", "SIGINT: exits within 2 s, and a restart binds the same port", needs_dialect=False, exec_only=True
    ),
)
CHECK_IDS: tuple[str, ...] = tuple(spec.id for spec in CHECKS)
assert CHECK_IDS == ids.CHECK_IDS, "netlab/check/ids.py lists the checks in the order of CHECKS"
SPECS: dict[str, CheckSpec] = {spec.id: spec for spec in CHECKS}


@dataclass(frozen=True, slots=True)
class Exchange:
    """Bytes one client sent or received, as evidence.

    Attributes:
        client: who (nickname and local port: "ann (port 40312)").
        direction: "sent" or "received".
        data: the bytes (cut to `QUOTE_BYTES` in the JSON).
        port: the client's local port (to find its connection in the capture).
    """

    client: str
    direction: str
    data: bytes
    port: int = 0


@dataclass(frozen=True, slots=True)
class Evidence:
    """What proves a verdict: the bytes exchanged, measurements, notes, the capture's frames."""

    exchanges: tuple[Exchange, ...] = ()
    measurements: tuple[tuple[str, float | int | str], ...] = ()
    notes: tuple[str, ...] = ()
    frames: tuple[int, ...] = ()
    ports: tuple[int, ...] = ()

    def to_json(self) -> dict[str, object]:
        """The `evidence` object of the JSON document."""
        quoted = [
            {
                "client": e.client,
                "direction": e.direction,
                "port": e.port,
                "bytes": len(e.data),
                "data": base64.b64encode(e.data[:QUOTE_BYTES]).decode("ascii"),
                "text": readable(e.data[:QUOTE_BYTES]),
            }
            for e in self.exchanges
        ]
        return {
            "sent": [q for q in quoted if q["direction"] == "sent"],
            "received": [q for q in quoted if q["direction"] == "received"],
            "measurements": dict(self.measurements),
            "notes": list(self.notes),
            "frames": list(self.frames),
            "ports": list(self.ports),
        }


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's outcome: its verdict, a reason a student understands, and the evidence."""

    id: str
    verdict: Verdict
    reason: str
    evidence: Evidence = field(default_factory=Evidence)
    seconds: float = 0.0


def readable(data: bytes) -> str:
    """`data` as text a person can read: UTF-8 with replacement, control bytes (but newlines) as ``\\xNN``."""
    text = data.decode("utf-8", errors="replace")
    return "".join(ch if ch == "\n" or ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


def summary(results: Iterable[CheckResult]) -> dict[str, int]:
    """How many checks gave each verdict: the `summary` object of the JSON document."""
    counts = {verdict.value: 0 for verdict in Verdict}
    for result in results:
        counts[result.verdict.value] += 1
    return counts


def summary_line(results: Sequence[CheckResult]) -> str:
    """ "11 passed, 1 failed, 2 warnings" (and the skipped ones when there are any)."""
    counts = summary(results)
    parts = [f"{counts['pass']} passed", f"{counts['fail']} failed"]
    parts.append(f"{counts['warn']} warning" + ("" if counts["warn"] == 1 else "s"))
    if counts["skip"]:
        parts.append(f"{counts['skip']} skipped")
    return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What was graded, and what the grader learned about it."""

    target: str
    dialect: str
    detection: str = ""
    command: str = ""
    server_notes: tuple[str, ...] = ()
    stderr_tail: tuple[str, ...] = ()
    capture: str = ""
    seconds: float = 0.0
    prefix: str = ""
    echo: bool | None = None


def to_document(run: RunInfo, results: Sequence[CheckResult]) -> dict[str, object]:
    """The JSON document of `--format json` (docs: README, "netlab check")."""
    return {
        "schema_version": SCHEMA_VERSION,
        "target": run.target,
        "dialect": run.dialect,
        "detection": run.detection,
        "prefix": run.prefix,
        "command": run.command or None,
        "capture": run.capture or None,
        "server_notes": list(run.server_notes),
        "server_stderr": list(run.stderr_tail),
        "seconds": round(run.seconds, 2),
        "checks": [
            {
                "id": r.id,
                "verdict": r.verdict.value,
                "reason": r.reason,
                "seconds": round(r.seconds, 2),
                "evidence": r.evidence.to_json(),
            }
            for r in results
        ],
        "summary": summary(results),
    }


_COLOURS = {Verdict.PASS: "32", Verdict.FAIL: "31", Verdict.WARN: "33", Verdict.SKIP: "2"}


def render_text(run: RunInfo, results: Sequence[CheckResult], *, colour: bool = False) -> str:
    """The table (id, verdict, reason) and the summary line, for a terminal or a file."""
    width = max((len(r.id) for r in results), default=2)
    lines = [f"netlab check {run.target}" + (f" ({run.command})" if run.command else "")]
    if run.detection:
        lines.append(f"dialect: {run.dialect}: {run.detection}")
    lines += [f"note: {note}" for note in run.server_notes]
    lines.append("")
    lines.append(f"{'ID':<{width}}  VERDICT  REASON")
    for r in results:
        verdict = f"{r.verdict.value:<7}"
        if colour:
            verdict = f"\x1b[{_COLOURS[r.verdict]}m{verdict}\x1b[0m"
        lines.append(f"{r.id:<{width}}  {verdict}  {r.reason}")
        lines += [f"{'':<{width}}           note: {note}" for note in r.evidence.notes]
    lines.append("")
    lines.append(summary_line(results))
    return "\n".join(lines) + "\n"
