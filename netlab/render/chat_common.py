"""What the chat view's stream decoders hand back (pure)."""

from __future__ import annotations

#: The frame a line is shown at: its capture time, then its frame number (capture order).
Key = tuple[float, int]
#: One line of the chat view: capture time, frame, text (without the clock and connection prefix).
Entry = tuple[float, int, str]
