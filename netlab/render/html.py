"""HTML output: a connection's dialogue coloured by direction, and self-contained pages (pure).

Client→server text is red and server→client text is blue, as in Wireshark's Follow TCP Stream;
so that the direction survives a black-and-white print (and readers who do not tell red from
blue), each turn also starts with a "C→S" / "S→C" marker and has a solid / double bar on its left.
Everything taken from a capture is escaped; control characters other than newline and tab are
shown as ``.`` (Wireshark's ASCII view does the same). Pages carry their CSS inline and use no
external fonts, scripts or images.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from netlab.render.ladder import render_ladder
from netlab.stream.dialogue import Dialogue, DialogueItem, Turn, build_dialogues
from netlab.stream.events import Direction, Event, Gap, Transport
from netlab.stream.roles import explain_roles

C2S_COLOUR = "#c0392b"
S2C_COLOUR = "#1f4fbf"
DIRECTION_MARKER = {Direction.C2S: "C→S", Direction.S2C: "S→C"}
DIRECTION_WORDS = {Direction.C2S: "client to server", Direction.S2C: "server to client"}

CSS = f"""
:root {{ color-scheme: light; }}
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
  max-width: 1100px; padding: 1.5rem; color: #222; background: #fff; line-height: 1.45; }}
h1 {{ margin-top: 0; }} h2 {{ border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }}
code, pre, .mono {{ font-family: ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace; }}
pre.commands {{ background: #f6f8fa; border: 1px solid #e1e4e8; padding: .75rem; overflow-x: auto; }}
table {{ border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }}
th, td {{ border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left; vertical-align: top; }}
th {{ background: #f6f8fa; }} td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.group-start td {{ border-top: 2px solid #8c959f; }}
.dialogue {{ font-family: ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: .85rem;
  white-space: pre-wrap; word-break: break-word; border: 1px solid #d0d7de; padding: .5rem;
  background: #fff; max-height: 32rem; overflow-y: auto; margin: .5rem 0; }}
.dialogue > span {{ display: block; position: relative; padding-left: 3.4em; margin: 2px 0; }}
.dialogue .c2s {{ color: {C2S_COLOUR}; border-left: 3px solid; }}
.dialogue .s2c {{ color: {S2C_COLOUR}; border-left: 4px double; }}
.dialogue .dir {{ position: absolute; left: .4em; font-weight: bold; font-style: normal;
  user-select: none; -webkit-user-select: none; }}
.dialogue .gap {{ color: #555; background: #eee; font-style: italic; }}
.legend .c2s {{ color: {C2S_COLOUR}; }} .legend .s2c {{ color: {S2C_COLOUR}; }}
.legend .bar {{ display: inline-block; width: 0; height: 1em; vertical-align: -.15em; margin-right: .3em; }}
.legend .c2s .bar {{ border-left: 3px solid; }} .legend .s2c .bar {{ border-left: 4px double; }}
@media print {{ .dialogue {{ max-height: none; overflow: visible; }} }}
.note {{ color: #555; font-style: italic; }}
.warn {{ color: #8a4b00; }}
figure.ladder-figure {{ margin: .5rem 0 1.5rem; overflow-x: auto; }}
figure.graph-figure {{ margin: .5rem 0 1.5rem; }}
figure.graph-figure svg {{ max-width: 100%; height: auto; }}
p.story {{ border-left: 3px solid #8c959f; padding-left: .6rem; }}
article.connection, article.conversation {{ margin-bottom: 2rem; }}
nav ul {{ columns: 2; }}
"""


def _printable(text: str) -> str:
    """Control characters (C0 but newline and tab, DEL, C1) and XML's non-characters shown as '.'."""
    return "".join(ch if ch in "\n\t" or not _control(ch) else "." for ch in text)


def _control(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code < 0xA0 or code in (0xFFFE, 0xFFFF)


def dialogue_html(items: Iterable[DialogueItem], *, max_bytes: int | None = None) -> str:
    """A stream's dialogue (`Dialogue.items`) as a `<div class="dialogue">` of coloured turns.

    Each turn is one `<span>` (class ``c2s`` red, solid bar, or ``s2c`` blue, double bar) that starts
    with its direction marker (`DIRECTION_MARKER`, not selectable, so a copied dialogue holds only
    the bytes); a gap is shown in place, with its direction, as "[N bytes missing in capture]";
    control packets are not part of a transcript. With
    `max_bytes`, turns stop once that many payload bytes were shown and a note says how many
    bytes were left out.
    """
    spans: list[str] = []
    shown = left_out = 0
    for item in items:
        if isinstance(item, Turn):
            if max_bytes is not None and shown + len(item.data) > max_bytes:
                left_out += len(item.data)
                continue
            shown += len(item.data)
            text = _printable(item.data.decode("utf-8", errors="replace")).removesuffix("\n")
            spans.append(f'<span class="turn {item.direction.value}">{_marker(item.direction)}{escape(text)}</span>')
        elif isinstance(item, Gap) and not left_out:
            spans.append(
                f'<span class="gap {item.direction.value}">{_marker(item.direction)}'
                f"[{item.size} bytes missing in capture]</span>"
            )
    if left_out:
        spans.append(f'<span class="gap">[… {left_out} more bytes not shown here; see dialogue.txt]</span>')
    if not spans:
        spans.append('<span class="note">(no payload)</span>')
    return '<div class="dialogue">' + "".join(spans) + "</div>"


def _marker(direction: Direction) -> str:
    return f'<span class="dir" aria-label="{DIRECTION_WORDS[direction]}">{DIRECTION_MARKER[direction]}</span>'


def legend_html(client_label: str = "", server_label: str = "") -> str:
    """The legend: each direction once, with its marker, colour and bar, and who the ends are.

    Args:
        client_label, server_label: who each end is (a nickname), shown after its role; "" for none.
    """
    client = "client" + (f" ({client_label})" if client_label else "")
    server = "server" + (f" ({server_label})" if server_label else "")
    entries = (
        (Direction.C2S, f"{client} → {server}", "red text, solid bar"),
        (Direction.S2C, f"{server} → {client}", "blue text, double bar"),
    )
    parts = [
        f'<span class="{d.value}"><span class="bar"></span><b>{DIRECTION_MARKER[d]}</b> {escape(ends)}: {look}</span>'
        for d, ends, look in entries
    ]
    return f'<p class="legend">{" · ".join(parts)}</p>'


def table_html(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    css_class: str,
    numeric: Iterable[str] = (),
    group_starts: Iterable[int] = (),
) -> str:
    """A `<table>` with escaped cells; columns named in `numeric` are right-aligned."""
    numeric_set = set(numeric)
    starts = set(group_starts)
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for index, row in enumerate(rows):
        cells = "".join(
            f'<td class="num">{escape(c)}</td>' if h in numeric_set else f"<td>{escape(c)}</td>"
            for h, c in zip(headers, row, strict=True)
        )
        attr = ' class="group-start"' if index in starts and index else ""
        body.append(f"<tr{attr}>{cells}</tr>")
    return f'<table class="{escape(css_class)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def page(title: str, body: str) -> str:
    """A complete, self-contained HTML document (inline CSS; no external resources)."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


UDP_NOTE = (
    "UDP conversation (Wireshark's Follow UDP Stream): the client is the end that sent the first datagram; "
    "each datagram is one turn; datagrams are not sequenced, so loss and reordering cannot be seen."
)


def render_dialogues(
    dialogues: Sequence[Dialogue],
    events: Sequence[Event],
    title: str = "Follow TCP Stream",
    conversations: Sequence[Dialogue] = (),
) -> str:
    """A page with each stream's dialogue and ladder diagram (`events`: the same events, all streams),
    then each UDP conversation's dialogue (`conversations`, if any: no ladder, datagrams have no sequence)."""
    parts = [f"<h1>{escape(title)}</h1>", legend_html()]
    for dialogue in dialogues:
        if dialogue.proto is Transport.UDP:
            parts.append(conversation_html(dialogue))
            continue
        mine = [e for e in events if e.stream == dialogue.stream]
        parts.append(f'<article class="connection" id="stream-{dialogue.stream}">')
        parts.append(
            f"<h2>stream {dialogue.stream}: {escape(str(dialogue.client))} → {escape(str(dialogue.server))}</h2>"
        )
        if dialogue.roles_guessed:
            parts.append(f'<p class="note roles">Roles: {escape(explain_roles(dialogue.roles_reason))}.</p>')
        parts.append(dialogue_html(dialogue.items))
        parts.append(f'<figure class="ladder-figure">{render_ladder(mine)}</figure>')
        parts.append("</article>")
    parts.extend(conversation_html(dialogue) for dialogue in conversations)
    return page(title, "\n".join(parts))


def conversation_html(dialogue: Dialogue, *, max_bytes: int | None = None, level: int = 2) -> str:
    """One UDP conversation as an `<article>`: heading (`<h2>`, or the `level` given), the UDP note,
    its datagrams as turns."""
    return (
        f'<article class="conversation" id="udp-stream-{dialogue.stream}"><h{level}>'
        f"udp stream {dialogue.stream}: {escape(str(dialogue.client))} → {escape(str(dialogue.server))}</h{level}>"
        f'<p class="note roles">{escape(UDP_NOTE)}</p>'
        f"{dialogue_html(dialogue.items, max_bytes=max_bytes)}</article>"
    )


class HtmlRenderer:
    """The `html` format of `netlab follow`: one self-contained page, written at the end.

    It must see every event before it can lay the page out, so it keeps them (memory grows with the
    capture; use `netlab report` for large captures, which caps what it draws).
    """

    binary = False
    wants_packets = True  # its ladder diagrams draw every captured segment

    def __init__(self, options: object = None) -> None:
        self._events: list[Event] = []
        self._second: HtmlRenderer | None = None

    def companion(self) -> HtmlRenderer:
        """The renderer for the other protocol's events when both are followed: its streams go on this
        page (after this one's), and its own `end` gives nothing."""
        self._second = HtmlRenderer()
        self._second._second = self._second  # marks it as a part of another page
        return self._second

    def begin(self) -> str:
        """Nothing before the page."""
        return ""

    def on_event(self, event: Event) -> str:
        """Keep the event for the page."""
        self._events.append(event)
        return ""

    def end(self) -> str:
        """The whole page."""
        if self._second is self:
            return ""
        second = [] if self._second is None else build_dialogues(self._second._events)
        return render_dialogues(build_dialogues(self._events), self._events, conversations=second)
