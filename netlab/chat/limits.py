"""Limits of the chat wire format (pure constants).

A module of their own so `netlab serve --help` can show the defaults without importing the
protocol; `netlab.chat.protocol` re-exports them.
"""

from __future__ import annotations

MAX_LINE_BYTES = 4096
QUIET_SECONDS = 0.2  # silence after bytes without a newline that makes them a bare chunk (the tutorial dialect)
NICK_REPLY_SECONDS = 2.0  # a server answers a nickname within this long, or is not netlab's
DIALECT_WINDOW_SECONDS = 1.0  # after a bare nickname's welcome: time for a line client to complete its line
