"""Reports from segments: the collected connections, Markdown and self-contained HTML (no IO)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from netlab.packets import Endpoint, Segment, TcpFlag
from netlab.report.build import build_report, collect, guess_nickname
from netlab.report.markdown import fence, render_markdown
from netlab.report.model import Command, RunInfo
from netlab.report.page import render_html
from netlab.sockets.model import Role, SocketRow, TcpState

C = Endpoint("127.0.0.1", 40000)
S = Endpoint("127.0.0.1", 55555)
SYN, ACK, PSH, FIN = TcpFlag.SYN, TcpFlag.ACK, TcpFlag.PSH, TcpFlag.FIN


class _Wire:
    """Builds the segments of one connection with correct sequence numbers."""

    def __init__(self, client: Endpoint = C) -> None:
        self.client = client
        self.seq = {client: 1000, S: 5000}
        self.frames: list[Segment] = []

    def send(self, src: Endpoint, flags: int, payload: bytes = b"", *, again: bool = False) -> None:
        dst = S if src == self.client else self.client
        seq = self.seq[src] - (len(payload) if again else 0)
        number = len(self.frames) + 1
        self.frames.append(
            Segment(number, 100.0 + number / 1000, src, dst, seq, self.seq[dst], flags, 65535, payload, len(payload))
        )
        if not again:
            self.seq[src] = (seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) % 2**32


def _chat(client: Endpoint = C, retransmit: bool = False) -> list[Segment]:
    w = _Wire(client)
    w.send(client, SYN)
    w.send(S, SYN | ACK)
    w.send(client, ACK)
    w.send(S, PSH | ACK, b"NICK")
    w.send(client, PSH | ACK, b"alice\n")
    w.send(client, PSH | ACK, "Привет <script>alert(1)</script> 👋\n".encode())
    if retransmit:
        w.send(client, PSH | ACK, "Привет <script>alert(1)</script> 👋\n".encode(), again=True)
    w.send(S, PSH | ACK, b"[stamp] bob: hi | there ```\n")
    w.send(client, FIN | ACK)
    w.send(S, FIN | ACK)
    w.send(client, ACK)
    return w.frames


def _run(**kwargs: object) -> RunInfo:
    return RunInfo(
        title="netlab lab report: test",
        kind="loopback",
        started=100.0,
        settings=(("server", "127.0.0.1:55555"),),
        commands=(Command("start the server", "netlab serve --port 55555"),),
        **kwargs,  # type: ignore[arg-type]
    )


def test_collect_keeps_each_connection_with_its_stats_and_nickname_from_the_handshake() -> None:
    other = Endpoint("127.0.0.1", 40001)
    collected = collect(_chat(retransmit=True) + _chat(other))
    assert [c.stream for c in collected.connections] == [0, 1]
    first = collected.connections[0]
    assert first.client == C and first.server == S
    assert first.client_label == "alice"
    assert first.stats.retransmissions == 1
    assert first.stats.bytes_c2s == len(b"alice\n") + len("Привет <script>alert(1)</script> 👋\n".encode())
    assert first.dialogue is not None
    assert collected.tcp_segments == len(_chat(retransmit=True)) + len(_chat())


def test_given_nicknames_win_over_the_guess_and_events_are_capped() -> None:
    collected = collect(_chat(), nicknames={C: "bob → boris"}, cap=5)
    conn = collected.connections[0]
    assert conn.client_label == "bob → boris"
    assert conn.events_left_out > 0
    assert len(conn.events) <= 6  # the cap, plus the Closed event that is always kept
    assert any("more than 5 events" in note for note in collected.notes)


def test_dialogue_sink_receives_the_follow_transcript() -> None:
    pieces: list[str] = []
    collect(_chat(), dialogue_sink=pieces.append)
    text = "".join(pieces)
    assert "alice" in text and "Привет <script>" in text


@pytest.mark.parametrize(
    ("s2c", "c2s", "nick"),
    [(b"NICK", b"alice\n", "alice"), (b"NICK", b"not a nick with spaces\n", ""), (b"HTTP/1.1", b"GET /\n", "")],
)
def test_guess_nickname(s2c: bytes, c2s: bytes, nick: str) -> None:
    assert guess_nickname(s2c, c2s) == nick


def _sockets() -> list[SocketRow]:
    return [
        SocketRow(4, S, Endpoint("0.0.0.0", 0), TcpState.LISTEN, 0, 128, role=Role.LISTENER),
        SocketRow(4, S, C, TcpState.ESTABLISHED, 0, 0, nickname="alice", role=Role.SERVER_SIDE),
        SocketRow(4, C, S, TcpState.ESTABLISHED, 0, 0, nickname="alice", role=Role.CLIENT_SIDE),
    ]


def test_html_is_self_contained_escaped_and_has_every_section() -> None:
    report = build_report(_run(), collect(_chat()), capture_path="c.pcap", sockets=_sockets(), sockets_note="mid")
    html = render_html(report)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "@import" not in html and "url(" not in html
    assert html.count('<table class="sockets">') == 1
    assert html.count('<div class="dialogue">') == 1
    assert html.count('class="ladder"') == 1
    assert 'class="turn c2s"' in html and 'class="turn s2c"' in html
    assert "netlab serve --port 55555" in html
    for svg in re.findall(r"<svg.*?</svg>", html, re.S):
        ET.fromstring(svg)


def test_report_from_a_capture_alone_has_no_sockets_section() -> None:
    report = build_report(_run(), collect(_chat()), capture_path="c.pcap", sockets=None)
    assert 'class="sockets"' not in render_html(report)
    assert "## Sockets" not in render_markdown(report)


def test_markdown_has_tables_commands_and_a_fenced_dialogue() -> None:
    report = build_report(_run(), collect(_chat()), capture_path="c.pcap", sockets=_sockets())
    md = render_markdown(report)
    assert "## Sockets" in md and "| listener |" in md and "| server | alice |" in md
    assert "| 0 | alice (127.0.0.1:40000) |" in md
    assert "netlab serve --port 55555" in md
    assert "→ Привет <script>alert(1)</script> 👋" in md
    assert "← [stamp] bob: hi | there ```" in md
    assert "\n````\n" in md  # the fence grew past the backticks inside the dialogue


def test_no_connections_still_gives_a_report() -> None:
    report = build_report(_run(notes=("no capture: permission denied",)), None, sockets=[])
    html = render_html(report)
    assert "no capture: permission denied" in html
    assert "No sockets were found" in html
    assert "(no capture was made" in render_markdown(report)


def test_fence_is_longer_than_any_backtick_run_inside() -> None:
    assert fence("a ``` b").startswith("````\n")
    assert fence("plain", "sh") == "```sh\nplain\n```"


def test_follow_html_format_is_one_page_with_a_dialogue_and_ladder_per_stream() -> None:
    from netlab.render import make_renderer
    from netlab.stream import Reassembler

    renderer = make_renderer("html")
    events = Reassembler().feed_all(_chat() + _chat(Endpoint("127.0.0.1", 40001)))
    out = str(renderer.begin()) + "".join(str(renderer.on_event(e)) for e in events) + str(renderer.end())
    assert out.startswith("<!DOCTYPE html>")
    assert out.count('<div class="dialogue">') == 2 and out.count('class="ladder"') == 2
    assert "&lt;script&gt;" in out and "<script>" not in out


def test_many_connections_keep_events_only_for_those_drawn_and_the_table_is_capped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from netlab.report import tables
    from netlab.report.model import MAX_CONNECTIONS_DRAWN

    monkeypatch.setattr(tables, "MAX_STATS_ROWS", 10)
    segments = [seg for port in range(45) for seg in _chat(Endpoint("127.0.0.1", 41000 + port))]
    collected = collect(segments)
    assert len(collected.connections) == 45
    kept = [len(c.events) for c in collected.connections]
    assert all(n > 5 for n in kept[:MAX_CONNECTIONS_DRAWN])
    assert all(n == 2 for n in kept[MAX_CONNECTIONS_DRAWN:])  # Opened and Closed only
    assert all(c.stats.bytes_c2s > 0 for c in collected.connections)
    report = build_report(_run(), collected, capture_path="c.pcap")
    rows = tables.stats_rows(report)
    assert len(rows) == 12 and rows[10][1] == "35 more connections (in the total)" and rows[11][0] == "total"
    assert int(rows[11][4]) == sum(c.stats.bytes_c2s for c in collected.connections)
    html = render_html(report)
    assert html.count('class="ladder"') == MAX_CONNECTIONS_DRAWN
    assert "5 more connections appear in the statistics only" in html


def test_backticks_in_notes_become_code_and_stay_escaped() -> None:
    report = build_report(_run(), None, sockets=_sockets(), sockets_note="what `netlab sockets --port 1` <shows>")
    html = render_html(report)
    assert "what <code>netlab sockets --port 1</code> &lt;shows&gt;" in html


def test_a_nickname_the_server_refuses_is_not_the_label() -> None:
    assert guess_nickname(b"NICK", b"admin\n") == ""  # reserved: the server answered with an error
    assert guess_nickname(b"NICK", b"x" * 25 + b"\n") == ""
    assert guess_nickname(b"NICK", b"x" * 24 + b"\r\n") == "x" * 24


def test_collect_passes_ctrl_c_on_after_following_the_pipeline() -> None:
    def interrupted() -> Iterator[Segment]:
        yield from _chat()[:4]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        collect(interrupted())


def test_collect_counts_the_flags_and_keeps_the_segments_for_the_graphs_without_payload() -> None:
    from netlab.stream.analysis import AnalysisFlag

    collected = collect(_chat(retransmit=True))
    (conn,) = collected.connections
    assert dict(conn.flag_counts)[AnalysisFlag.RETRANSMISSION] == conn.stats.retransmissions == 1
    assert [s.frame for s in conn.segments] == list(range(1, 12))
    assert all(s.payload == b"" for s in conn.segments) and sum(s.wire_len for s in conn.segments) > 0
    assert conn.graphs == () and conn.rtt_samples  # graphs are drawn later (`add_graphs`)
    assert conn.story is not None and "retransmi" in conn.story and "(Zeek: " in conn.story  # analyze's story


def test_the_story_and_the_flag_counts_are_shown_escaped_and_nothing_without_a_story() -> None:
    from dataclasses import replace

    report = build_report(_run(), collect(_chat(retransmit=True)), capture_path="c.pcap")
    untold = replace(report, connections=(replace(report.connections[0], story=None),))
    assert 'class="story"' not in render_html(untold)
    html, md = render_html(report), render_markdown(report)
    assert '<p class="story">' in html
    assert "tcp.analysis.retransmission" in html and "| tcp.analysis.retransmission | [TCP Retransmission] | 1 |" in md
    told = replace(report, connections=(replace(report.connections[0], story="1 segment <was> lost at 0.8 s."),))
    assert '<p class="story">1 segment &lt;was&gt; lost at 0.8 s.</p>' in render_html(told)
    assert "1 segment <was> lost at 0.8 s." in render_markdown(told)


def test_graphs_are_drawn_into_the_directory_inlined_as_valid_svg_and_linked(tmp_path: object) -> None:
    from pathlib import Path

    from netlab.report.figures import add_graphs
    from netlab.report.model import GraphPolicy

    directory = Path(str(tmp_path))
    report = build_report(_run(), collect(_chat(retransmit=True)), capture_path="c.pcap")
    assert add_graphs(report, directory, GraphPolicy.NONE).connections[0].graphs == ()
    drawn = add_graphs(report, directory, GraphPolicy.AUTO)
    graphs = drawn.connections[0].graphs
    assert [g.kind for g in graphs] == ["seq", "throughput", "window", "rtt"]  # rtt: analyze's ack_rtt samples
    assert sorted(p.name for p in directory.glob("*.svg")) == sorted(g.file for g in graphs)
    html = render_html(drawn)
    for svg in re.findall(r'<svg class="graph.*?</svg>', html, re.S):
        ET.fromstring(svg)
    assert "![Time-sequence graph (tcptrace), stream 0](stream-0-seq.svg)" in render_markdown(drawn)
    # RTT samples (the analysis's per-frame ack_rtt, filled in by whoever has them) add the RTT graph
    from dataclasses import replace

    conn = report.connections[0]
    timed = replace(report, connections=(replace(conn, rtt_samples=((conn.segments[2].ts, 0.001),)),))
    assert [g.kind for g in add_graphs(timed, directory).connections[0].graphs][-1] == "rtt"
