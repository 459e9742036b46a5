"""`hex`: a hex dump per turn, like Wireshark's Follow window in "Hex Dump" mode (pure, incremental).

Offsets count each direction's bytes; server→client lines are indented by four spaces.
"""

from __future__ import annotations

from netlab.render.base import RenderOptions
from netlab.render.text import TextRenderer, gap_text
from netlab.stream.events import Data, Direction, Event, Gap


def hexdump_lines(data: bytes, offset: int, indent: str = "") -> str:
    """Wireshark-style dump lines: offset, 16 hex bytes (split 8+8), then the printable characters."""
    lines = []
    for i in range(0, len(data), 16):
        row = data[i : i + 16]
        hex_part = " ".join(f"{b:02x}" for b in row[:8])
        if len(row) > 8:
            hex_part += "  " + " ".join(f"{b:02x}" for b in row[8:])
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in row)
        lines.append(f"{indent}{offset + i:08X}  {hex_part:<48}  {text[:8]} {text[8:]}".rstrip() + "\n")
    return "".join(lines)


class HexRenderer(TextRenderer):
    """Incremental hex dump renderer: the text renderer's headers, hex lines for the bytes."""

    def __init__(self, options: RenderOptions) -> None:
        super().__init__(options)
        self._offsets: dict[tuple[int, Direction], int] = {}

    def on_event(self, event: Event) -> str:
        if isinstance(event, Data | Gap):
            if self._direction is not None and event.direction is not self._direction:
                return ""
            out = ""
            turn = self._turn_key(event)
            if self._turn != turn:
                out = self._close_line() + self._label(event)
                self._turn = turn
            key = (event.stream, event.direction)
            indent = "    " if event.direction is Direction.S2C else ""
            if isinstance(event, Data):
                offset = self._offsets.get(key, 0)
                self._offsets[key] = offset + len(event.data)
                body = hexdump_lines(event.data, offset, indent)
            else:
                body = indent + gap_text(event.size, event.reason) + "\n"
            return out + self._paint(body, event.direction)
        return super().on_event(event)
