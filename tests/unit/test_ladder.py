"""The SVG ladder diagram: one arrow per captured segment, in frame order, marked as Wireshark marks it.

The oracle for frame order and marks on real captures is tshark (tests/integration/test_ladder_tshark.py);
these tests cover the rules on hand-built segments and stream events.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from netlab.packets import Endpoint, Segment
from netlab.render.ladder import ladder_rows, render_ladder
from netlab.stream.events import Event, Opened, Packet
from netlab.stream.reassembly import Reassembler
from netlab.stream.roles import RoleReason

C = Endpoint("10.0.0.2", 40000)
S = Endpoint("10.0.0.1", 55555)
SVG = "{http://www.w3.org/2000/svg}"
SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08


class Wire:
    """Numbers frames; `c()` / `s()` make client / server segments at 1 ms steps."""

    def __init__(self) -> None:
        self.frame = 0

    def _seg(self, src: Endpoint, dst: Endpoint, seq: int, flags: int, ack: int, data: bytes) -> Segment:
        self.frame += 1
        return Segment(self.frame, 100.0 + self.frame / 1000, src, dst, seq, ack, flags, 65535, data, len(data))

    def c(self, seq: int, flags: int = ACK, ack: int = 0, data: bytes = b"") -> Segment:
        return self._seg(C, S, seq, flags, ack, data)

    def s(self, seq: int, flags: int = ACK, ack: int = 0, data: bytes = b"") -> Segment:
        return self._seg(S, C, seq, flags, ack, data)


def _events(segments: list[Segment]) -> list[Event]:
    return Reassembler(packets=True).feed_all(segments)


def _handshake_and_chat() -> list[Segment]:
    w = Wire()
    return [
        w.c(1000, SYN),  # 1
        w.s(5000, SYN | ACK, 1001),  # 2
        w.c(1001, ACK, 5001),  # 3: the handshake's ACK, captured before the server's first data
        w.s(5001, PSH | ACK, 1001, b"NICK"),  # 4
        w.c(1001, PSH | ACK, 5005, b"alice\n"),  # 5
        w.s(5005, ACK, 1007),  # 6: a pure ACK
        w.c(1001, PSH | ACK, 5005, b"alice\n"),  # 7: the same bytes again, after their ACK
        w.c(1007, FIN | ACK, 5005),  # 8
        w.s(5005, FIN | ACK, 1008),  # 9
        w.c(1008, ACK, 5006),  # 10
    ]


def test_every_captured_segment_is_one_arrow_in_frame_order_with_its_frame_number() -> None:
    rows = ladder_rows(_events(_handshake_and_chat()))
    assert [r.frames for r in rows] == [(n,) for n in range(1, 11)]
    assert [r.label for r in rows[:6]] == [
        "[SYN]",
        "[SYN, ACK]",
        "[ACK]",
        "[PSH, ACK] len=4",
        "[PSH, ACK] len=6",
        "[ACK]",
    ]
    assert rows[2].kind == "ack"  # the handshake's ACK is drawn where it was captured, not inferred
    assert rows[6].kind == "flagged"  # already ACKed in frame 6: Wireshark calls it spurious
    assert rows[6].label == "[TCP Spurious Retransmission] [PSH, ACK] len=6"
    assert not any(r.kind == "missing" for r in rows)


def test_a_retransmitted_syn_ack_is_marked_as_one() -> None:
    w = Wire()
    rows = ladder_rows(
        _events([w.c(1000, SYN), w.s(5000, SYN | ACK, 1001), w.s(5000, SYN | ACK, 1001), w.c(1001, ACK, 5001)])
    )
    assert [r.label for r in rows] == ["[SYN]", "[SYN, ACK]", "[TCP Retransmission] [SYN, ACK]", "[ACK]"]


def test_only_what_was_not_captured_is_dashed_and_comes_before_what_depends_on_it() -> None:
    w = Wire()
    segs = [
        w.s(5000, SYN | ACK, 1001),  # 1: its SYN is missing
        w.c(1001, ACK, 5001),  # 2
        w.c(1001, PSH | ACK, 5001, b"one\n"),  # 3
        w.c(1009, PSH | ACK, 5001, b"three\n"),  # 4: bytes 1005..1008 never captured
        w.s(5001, ACK, 1015),  # 5
    ]
    rows = ladder_rows(_events(segs))
    kinds = [(r.kind, r.frames) for r in rows]
    assert kinds == [
        ("missing", ()),
        ("control", (1,)),
        ("ack", (2,)),
        ("data", (3,)),
        ("missing", ()),
        ("flagged", (4,)),
        ("flagged", (5,)),
    ]
    assert rows[0].label == "[SYN] not captured"
    assert rows[4].label == "4 bytes not captured"
    assert "[TCP Previous segment not captured]" in rows[5].label
    assert "[TCP ACKed unseen segment]" in rows[6].label
    svg = render_ladder(_events(segs))
    dashed = [g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.find(f"{SVG}line").get("stroke-dasharray")]  # type: ignore[union-attr]
    assert len(dashed) == 2 and all("missing" in (g.get("class") or "") for g in dashed)


def test_a_capture_that_starts_mid_stream_says_the_handshake_was_not_captured() -> None:
    w = Wire()
    rows = ladder_rows(_events([w.s(5000, PSH | ACK, 1000, b"hi\n"), w.c(1000, ACK, 5003)]))
    assert rows[0].kind == "missing" and rows[0].label == "handshake not captured"
    assert [r.frames for r in rows[1:]] == [(1,), (2,)]


def test_svg_is_well_formed_escaped_and_coloured_by_direction() -> None:
    w = Wire()
    segs = [w.c(1000, SYN), w.s(5000, SYN | ACK, 1001), w.c(1001, PSH | ACK, 5001, b"hello <b>&\n")]
    events = _events(segs)
    svg = render_ladder(events, client_label="alice <x>", title="t & t")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("class") == "ladder" and root.get("data-stream") == "0"
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert "alice <x>" in texts
    assert any("hello <b>&" in t for t in texts)
    assert "<b>" not in svg and "hello &lt;b&gt;&amp;" in svg
    assert "#3" in texts  # frame numbers beside the arrows
    colours = {g.get("class"): g.find(f"{SVG}line").get("stroke") for g in root.iter(f"{SVG}g")}  # type: ignore[union-attr]
    assert colours["row control c2s"] == "#c0392b"
    assert colours["row control s2c"] == "#1f4fbf"
    assert any("closed: end" in t for t in texts)


def test_a_long_connection_is_capped_and_says_so() -> None:
    w = Wire()
    segs = [w.c(1000 + i, PSH | ACK, 0, b"x") for i in range(300)]
    events: list[Event] = [e for e in _events(segs) if not isinstance(e, Opened)]
    events.insert(0, Opened(0, 100.0, 1, C, S, RoleReason.LOWER_PORT))
    svg = render_ladder(events, max_rows=50)
    root = ET.fromstring(svg)
    assert len([g for g in root.iter(f"{SVG}g")]) == 50
    assert "251 more rows not drawn" in svg  # 300 segments and the "handshake not captured" row
    assert "roles inferred: lower-port" in svg


@given(st.lists(st.tuples(st.booleans(), st.binary(min_size=0, max_size=20)), max_size=40))
def test_any_exchange_gives_one_arrow_per_packet_event_in_frame_order(chunks: list[tuple[bool, bytes]]) -> None:
    w = Wire()
    seqs = {True: 1000, False: 5000}
    segs = [w.c(999, SYN), w.s(4999, SYN | ACK, 1000)]
    for c2s, payload in chunks:
        seq = seqs[c2s]
        segs.append(w.c(seq, PSH | ACK, seqs[False], payload) if c2s else w.s(seq, PSH | ACK, seqs[True], payload))
        seqs[c2s] += len(payload)
    events = _events(segs)
    packets = [e for e in events if isinstance(e, Packet)]
    rows = ladder_rows(events)
    assert (
        [r.frames for r in rows if r.frames] == [(p.frame,) for p in packets] == [(n,) for n in range(1, len(segs) + 1)]
    )
    assert not any(r.kind == "missing" for r in rows)
    ET.fromstring(render_ladder(events))
