"""Checking a lab capture against what the participants really sent (pure).

TCP delivers a byte stream exactly once and in order, whatever the wire does, so each client's
client→server bytes in the capture must equal what the participant wrote: its nickname line and
every scripted line. A difference means the capture (or the reassembly) lost or invented bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from netlab.packets import Endpoint
from netlab.stream.dialogue import Dialogue
from netlab.stream.events import Direction


def expected_bytes(nick: str, lines: Iterable[str]) -> bytes:
    """What a netlab client writes: its nickname, then each line, newline-terminated, UTF-8."""
    return (nick + "\n" + "".join(line + "\n" for line in lines)).encode("utf-8")


def check_sent(dialogues: Iterable[Dialogue], sent: Mapping[Endpoint, tuple[str, bytes]]) -> list[str]:
    """One message per participant whose client→server stream differs from `sent`.

    Args:
        dialogues: the capture's dialogues (`build_dialogues`).
        sent: per client endpoint, the participant's label and the bytes it wrote.
    """
    found = {d.client: d for d in dialogues}
    problems = []
    for endpoint, (label, wrote) in sent.items():
        dialogue = found.get(endpoint)
        if dialogue is None:
            problems.append(f"{label}: no connection from {endpoint} in the capture")
            continue
        captured = dialogue.bytes(Direction.C2S)
        if captured != wrote:
            at = next(
                (i for i, (a, b) in enumerate(zip(captured, wrote, strict=False)) if a != b),
                min(len(captured), len(wrote)),
            )
            problems.append(
                f"{label}: the capture holds {len(captured)} bytes client→server, the participant wrote "
                f"{len(wrote)}; they differ from byte {at}"
            )
    return problems
