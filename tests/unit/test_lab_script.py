"""Conversation scripts: the format, renames, leaves, the snapshot point, the default conversation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netlab.errors import LabError
from netlab.lab.script import Step, StepKind, default_script, parse_script


def _kinds(steps: tuple[Step, ...]) -> list[tuple[str, int, str]]:
    return [(s.kind.value, s.actor, s.line) for s in steps]


def test_first_line_joins_then_sends_and_rename_follows_the_participant() -> None:
    script = parse_script("# hi\nalice> Привет 👋\nbob>\nbob> /nick boris\n\nboris> hi\nalice> /quit\n")
    assert script.participants == ("alice", "bob")
    assert _kinds(script.steps) == [
        ("join", 0, ""),
        ("send", 0, "Привет 👋"),
        ("join", 1, ""),
        ("send", 1, "/nick boris"),
        ("send", 1, "hi"),
        ("snapshot", -1, ""),
        ("send", 0, "/quit"),
    ]
    assert script.lines_of(1) == ["/nick boris", "hi"]


def test_explicit_snapshot_is_kept_where_written() -> None:
    script = parse_script("alice> a\n@snapshot\nbob> b\n")
    assert [s.kind for s in script.steps] == [
        StepKind.JOIN,
        StepKind.SEND,
        StepKind.SNAPSHOT,
        StepKind.JOIN,
        StepKind.SEND,
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no participants"),
        ("just text\n", ":1: expected `NICK> LINE`"),
        ("alice> hi\nbad nick> x\n", ":2: expected"),
        ("alice> /quit\nalice> again\n", ":2: alice already left"),
    ],
)
def test_malformed_scripts_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(LabError, match=message):
        parse_script(text, source="conv.txt")


@given(clients=st.integers(2, 20), messages=st.integers(0, 5))
def test_default_script_has_every_feature_and_parses(clients: int, messages: int) -> None:
    text = default_script(clients, messages)
    script = parse_script(text)
    assert len(script.participants) == clients
    sent = [s.line for s in script.steps if s.kind is StepKind.SEND]
    for command in ("/me ", "/msg ", "/nick ", "/quit"):
        assert any(line.startswith(command) for line in sent), command
    assert any(any("\u0400" <= ch <= "\u04ff" for ch in line) for line in sent)
    assert any(any(ord(ch) > 0xFFFF for ch in line) for line in sent)
    assert sum(1 for s in script.steps if s.kind is StepKind.SNAPSHOT) == 1
    snapshot_at = next(i for i, s in enumerate(script.steps) if s.kind is StepKind.SNAPSHOT)
    joins_before = sum(1 for s in script.steps[:snapshot_at] if s.kind is StepKind.JOIN)
    assert joins_before == clients
    assert len(sent) >= 7 + clients * messages


def test_default_script_refuses_a_single_client() -> None:
    with pytest.raises(LabError, match="at least 2"):
        default_script(1)


def test_a_rename_onto_someone_present_is_refused_at_parse_time() -> None:
    with pytest.raises(LabError, match=r"conv.txt:2: bob cannot become Alice: alice is in the chat already"):
        parse_script("alice> hi\nbob> /nick Alice\n", source="conv.txt")
    assert parse_script("alice> /quit\nbob> /nick alice\n").participants == ("alice", "bob")
