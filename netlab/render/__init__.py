"""Renderers: events to text or bytes, registered by name (pure).

from netlab.render import make_renderer
renderer = make_renderer("text")
"""

from __future__ import annotations

from netlab.render.base import (
    FormatInfo,
    Renderer,
    RenderOptions,
    format_info,
    format_names,
    make_renderer,
    register_format,
)

__all__ = [
    "FormatInfo",
    "RenderOptions",
    "Renderer",
    "format_info",
    "format_names",
    "make_renderer",
    "register_format",
]
