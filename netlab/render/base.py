"""The renderer protocol, its options, and the registry of formats by name (pure).

A renderer is a small object fed the reassembler's events one by one. `on_event` returns what
can be shown now (so a live capture prints each turn as soon as it is in order); formats that
must see a whole stream first (the tshark-compatible ones) return it from `end`. Renderers
never write to a stream themselves: the caller writes what they return.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # annotations only: the registry stays cheap to import (`netlab follow --help`)
    from netlab.stream.events import Direction, Event


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """Choices shared by the renderers.

    Attributes:
        direction: only this direction (raw, text, hex); None = both.
        color: ANSI colors (client red, server blue, as Wireshark) for terminal output.
    """

    direction: Direction | None = None
    color: bool = False


class Renderer(Protocol):
    """Turns events into output. `binary` renderers return bytes, the others str.

    A renderer may also define `on_data(event: Data)`, returning what `on_event` returns for a
    `Data` event; `follow` then calls it for each data chunk (`json` does: it is the hot path).
    When TCP and UDP are followed together (`--proto all`), each protocol's events go to a renderer
    of their own (each numbers its streams from 0); a format whose output is one document defines
    `companion()`, returning the renderer for the UDP events that adds them to its own output (`html`).
    """

    binary: bool

    def begin(self) -> str | bytes:
        """Output before the first event."""
        ...

    def on_event(self, event: Event) -> str | bytes:
        """Output for one event ('' / b'' when there is nothing to show yet)."""
        ...

    def end(self) -> str | bytes:
        """Output after the last event."""
        ...


@dataclass(frozen=True, slots=True)
class FormatInfo:
    """A registered format: where its renderer class lives, a one-line description, and which of the
    `RenderOptions` it honours.

    Attributes:
        directions: it shows one direction alone when `RenderOptions.direction` asks for it.
        colour: "ansi" (honours `RenderOptions.color`), "none" (never coloured) or "always" (always
            coloured by direction, as HTML is).
    """

    name: str
    module: str
    attr: str
    description: str
    directions: bool = False
    colour: str = "none"


_FORMATS: dict[str, FormatInfo] = {}


def register_format(
    name: str, module: str, attr: str, description: str, *, directions: bool = False, colour: str = "none"
) -> None:
    """Register a renderer class `module.attr` (constructed with a `RenderOptions`) as `name`."""
    if colour not in ("ansi", "none", "always"):
        raise ValueError(f"colour must be ansi, none or always, not {colour!r}")
    _FORMATS[name] = FormatInfo(name, module, attr, description, directions, colour)


def option_conflict(name: str, direction: str, color: str) -> tuple[str, str] | None:
    """Why `--format name` cannot honour `--direction direction` / `--color color`, or None when it can.

    `direction` is "both", "c2s" or "s2c"; `color` is "auto", "always" or "never". Returns the option
    at fault and a one-line reason (a usage error: an option a format would silently ignore).
    Raises KeyError for an unknown format.
    """
    info = _FORMATS[name]
    if direction != "both" and not info.directions:
        return (
            "--direction",
            f"--format {name} always shows both directions; --direction {direction} works with "
            + ", ".join(f for f, i in _FORMATS.items() if i.directions),
        )
    if color == "always" and info.colour == "none":
        return "--color", f"--format {name} has no colours; --color always works with " + ", ".join(
            f for f, i in _FORMATS.items() if i.colour == "ansi"
        )
    if color == "never" and info.colour == "always":
        return "--color", f"--format {name} is always coloured by direction; --color never works with " + ", ".join(
            f for f, i in _FORMATS.items() if i.colour != "always"
        )
    return None


def format_names() -> list[str]:
    """The registered format names, in registration order."""
    return list(_FORMATS)


def format_info(name: str) -> FormatInfo:
    """The registration of `name`; KeyError when unknown."""
    return _FORMATS[name]


def make_renderer(name: str, options: RenderOptions | None = None) -> Renderer:
    """Build the renderer registered as `name`. Raises KeyError for an unknown name."""
    info = _FORMATS[name]
    cls = getattr(importlib.import_module(info.module), info.attr)
    renderer: Renderer = cls(options or RenderOptions())
    return renderer


register_format(
    "text",
    "netlab.render.text",
    "TextRenderer",
    "readable dialogue: a header per stream, turns labelled with direction and time, gaps in place",
    directions=True,
    colour="ansi",
)
register_format(
    "hex",
    "netlab.render.hexdump",
    "HexRenderer",
    "hex dump per turn, like Wireshark's Follow window in Hex Dump mode",
    directions=True,
    colour="ansi",
)
register_format(
    "raw",
    "netlab.render.raw",
    "RawRenderer",
    "the bytes themselves (both directions, or --direction c2s|s2c), to stdout",
    directions=True,
)
register_format(
    "json",
    "netlab.render.jsonl",
    "JsonLinesRenderer",
    "JSON Lines: one object per event; data chunks carry stream, src, dst, ts and base64 data",
    directions=True,
)
register_format(
    "tshark-ascii",
    "netlab.render.tshark",
    "TsharkAscii",
    "identical to `tshark -q -z follow,tcp,ascii,N` (with --udp: follow,udp)",
)
register_format(
    "tshark-hex",
    "netlab.render.tshark",
    "TsharkHex",
    "identical to `tshark -q -z follow,tcp,hex,N` (with --udp: follow,udp)",
)
register_format(
    "tshark-raw",
    "netlab.render.tshark",
    "TsharkRaw",
    "identical to `tshark -q -z follow,tcp,raw,N` (with --udp: follow,udp)",
)
register_format(
    "tshark-yaml",
    "netlab.render.tshark",
    "TsharkYaml",
    "identical to `tshark -q -z follow,tcp,yaml,N` (with --udp: follow,udp)",
)
register_format(
    "chat",
    "netlab.render.chat",
    "ChatRenderer",
    "the chat, one line per message in capture-time order: netlab's protocol decoded where a stream speaks it, "
    "any other chat server's lines shown as they went",
)
register_format(
    "html",
    "netlab.render.html",
    "HtmlRenderer",
    "one self-contained HTML page: each stream's dialogue coloured by direction, with its SVG ladder diagram",
    colour="always",
)
