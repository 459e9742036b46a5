"""Limits of the chat wire format (pure constants).

A module of their own so `netlab serve --help` can show the defaults without importing the
protocol; `netlab.chat.protocol` re-exports them.
"""

from __future__ import annotations

MAX_LINE_BYTES = 4096
