"""The HTML dialogue and legend say the direction in words and shapes, not by colour alone."""

from __future__ import annotations

import re
from html import unescape

import pytest
from _segments import ACK, FIN, SYN, Builder

from netlab.render.html import CSS, dialogue_html, legend_html, render_dialogues
from netlab.stream import Reassembler
from netlab.stream.dialogue import build_dialogues
from netlab.stream.events import Event


def _events() -> list[Event]:
    b = Builder()
    return Reassembler().feed_all(
        [
            b.c(100, flags=SYN),
            b.s(900, flags=SYN | ACK, ack=101),
            b.c(101, b"hello\nsecond line\n", ack=901),
            b.s(901, b"hi\n", ack=119),
            b.c(123, b"after a hole\n", ack=904),  # 4 bytes lost, but acknowledged
            b.s(904, ack=136),
            b.c(136, flags=FIN | ACK, ack=904),
        ]
    )


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))


@pytest.mark.parametrize(("client", "server"), [("", ""), ("alice", ""), ("alice", "netlab serve")])
def test_each_legend_entry_is_true_and_said_once(client: str, server: str) -> None:
    text = _text(legend_html(client, server))
    entries = [entry.strip() for entry in text.split("·")]
    assert len(entries) == 2 and entries[0] != entries[1]
    c2s, s2c = entries
    assert c2s.count("client") == 1 and c2s.count("server") == 1 and c2s.index("client") < c2s.index("server")
    assert s2c.count("client") == 1 and s2c.count("server") == 1 and s2c.index("server") < s2c.index("client")
    for entry in entries:  # no direction said twice in other words
        assert "client to server" not in entry and "server to client" not in entry
    if client:
        assert c2s.count(client) == 1 and s2c.count(client) == 1
    assert "C→S" in c2s and "S→C" in s2c  # the marker each dialogue turn carries
    assert "solid" in c2s and "double" in s2c  # the bar each turn carries, named


def test_every_turn_and_gap_carries_a_direction_marker_besides_its_colour() -> None:
    events = _events()
    (dialogue,) = build_dialogues(events)
    html = dialogue_html(dialogue.items)
    turns = re.findall(r'<span class="(turn|gap) (c2s|s2c)"><span class="dir"[^>]*>([^<]*)</span>', html)
    assert [(kind, direction) for kind, direction, _ in turns] == [
        ("turn", "c2s"),
        ("turn", "s2c"),
        ("gap", "c2s"),
        ("turn", "c2s"),
    ]
    for _, direction, marker in turns:
        assert marker == {"c2s": "C→S", "s2c": "S→C"}[direction]
    assert "hello\nsecond line" in _text(html)  # the payload itself is unchanged


def test_directions_differ_in_line_style_so_black_and_white_prints_keep_them() -> None:
    rules = {m.group(1): m.group(2) for m in re.finditer(r"\.dialogue \.(c2s|s2c) \{([^}]*)\}", CSS)}
    style = {d: re.search(r"border-left:\s*\S+\s+(\w+)", rules[d]) for d in ("c2s", "s2c")}
    assert style["c2s"] and style["s2c"] and style["c2s"].group(1) != style["s2c"].group(1)
    assert "user-select: none" in CSS  # copying a dialogue copies the bytes, not the markers
    assert "@media print" in CSS  # a printed dialogue is not cut at the scroll box


def test_the_page_stays_self_contained() -> None:
    events = _events()
    html = render_dialogues(build_dialogues(events), events)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "@import" not in html and "url(" not in html and "<script" not in html


def test_the_markdown_report_says_once_what_its_arrows_mean() -> None:
    from test_report import _chat, _run, _sockets  # type: ignore[import-not-found]

    from netlab.report.build import build_report, collect
    from netlab.report.markdown import render_markdown

    md = render_markdown(build_report(_run(), collect(_chat()), capture_path="c.pcap", sockets=_sockets()))
    legend = [line for line in md.splitlines() if "`→`" in line and "`←`" in line]
    assert len(legend) == 1
    assert "client sent to the server" in legend[0] and "server sent to the client" in legend[0]
