"""Renderers: registry, JSON Lines schema, incremental text turns, raw, tshark records (pure)."""

from __future__ import annotations

import base64
import json

import pytest
from _segments import ACK, FIN, SYN, Builder

from netlab.render import RenderOptions, format_names, make_renderer
from netlab.render.text import printable
from netlab.stream import Reassembler
from netlab.stream.events import Direction, Event


def events() -> list[Event]:
    b = Builder()
    segs = [
        b.c(100, flags=SYN),
        b.s(900, flags=SYN | ACK, ack=101),
        b.c(101, b"hello ", ack=901),
        b.c(107, b"there\n", ack=901),
        b.s(901, b"hi\n", ack=113),
        b.c(117, b"after a hole\n", ack=904),  # 4 bytes lost...
        b.s(904, ack=130),  # ...but acknowledged
        b.c(130, flags=FIN | ACK, ack=904),
    ]
    return Reassembler().feed_all(segs)


def render(name: str, evs: list[Event], **options: object) -> str | bytes:
    renderer = make_renderer(name, RenderOptions(**options))  # type: ignore[arg-type]
    parts = [renderer.begin(), *(renderer.on_event(e) for e in evs), renderer.end()]
    return b"".join(parts) if renderer.binary else "".join(parts)  # type: ignore[arg-type]


def test_registry() -> None:
    assert {"text", "hex", "raw", "json", "tshark-ascii", "tshark-hex", "tshark-raw", "tshark-yaml"} <= set(
        format_names()
    )
    with pytest.raises(KeyError):
        make_renderer("nope")


def test_json_lines_every_event_is_one_object() -> None:
    out = render("json", events())
    assert isinstance(out, str)
    objs = [json.loads(line) for line in out.splitlines()]
    data = [o for o in objs if "data" in o]
    assert b"".join(base64.b64decode(o["data"]) for o in data if o["src"] == "10.0.0.1:40000") == (
        b"hello there\nafter a hole\n"
    )
    assert all("event" not in o for o in data)
    gap = next(o for o in objs if o.get("event") == "gap")
    assert (gap["size"], gap["offset"], gap["reason"], gap["direction"]) == (4, 12, "lost", "c2s")
    closed = next(o for o in objs if o.get("event") == "closed")
    assert closed["stats"]["gaps"] == 1 and closed["reason"] == "end"


def test_text_is_incremental_and_marks_gaps() -> None:
    renderer = make_renderer("text")
    chunks = [renderer.on_event(e) for e in events()]
    first_data = next(i for i, c in enumerate(chunks) if "hello" in c)
    assert "client 10.0.0.1:40000 → server 10.0.0.2:80" in chunks[first_data]  # label with the first turn
    assert "client" not in chunks[first_data + 1] and chunks[first_data + 1] == "there\n"  # same turn
    text = "".join(chunks) + renderer.end()
    assert "hello there\n" in text
    assert "[4 bytes missing in capture file]\nafter a hole" in text


def test_text_colors_only_when_asked() -> None:
    assert "\x1b[" not in render("text", events())
    colored = render("text", events(), color=True)
    assert "\x1b[31mhello " in colored and "\x1b[34mhi\n" in colored


def test_printable_escapes_control_bytes_but_keeps_utf8() -> None:
    assert printable(b"h\xc3\xa9\x00\xff\r\n") == "hé\\x00\\xff\n"


def test_raw_by_direction() -> None:
    evs = events()
    assert render("raw", evs, direction=Direction.S2C) == b"hi\n"
    assert render("raw", evs) == b"hello there\nhi\nafter a hole\n"


def test_tshark_ascii_marks_gaps_like_tshark() -> None:
    out = render("tshark-ascii", events())
    assert isinstance(out, str)
    assert out.startswith("\n" + "=" * 67 + "\nFollow: tcp,ascii\nFilter: tcp.stream eq 0\nNode 0: 10.0.0.1:40000\n")
    assert "34\n[4 bytes missing in capture file].\n13\nafter a hole\n\n" in out
    assert "\t3\nhi\n\n" in out
