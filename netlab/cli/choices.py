"""Option values shared by several commands (stdlib only: the fast start-up paths import this)."""

from __future__ import annotations

import enum


class ColorChoice(enum.StrEnum):
    """--color values: colour on a terminal only (auto), always, or never."""

    auto = "auto"
    always = "always"
    never = "never"
