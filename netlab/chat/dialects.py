"""The dialects `netlab join` speaks, as the `--dialect` choices (stdlib only: the CLI imports it at start-up).

See docs/protocol.md, "netlab join --dialect", and `netlab.chat.client_session` for what each one sends.
"""

from __future__ import annotations

import enum


class Dialect(enum.StrEnum):
    """How `netlab join` talks to a server: detect it, or netlab's lines, the tutorial's chunks, a raw relay."""

    AUTO = "auto"
    NETLAB = "netlab"
    TUTORIAL = "tutorial"
    RAW = "raw"

    @classmethod
    def _missing_(cls, value: object) -> Dialect | None:
        """``line`` (netlab's line protocol) is the library's old name for ``netlab``."""
        return cls.NETLAB if isinstance(value, str) and value.lower() == "line" else None


DIALECT_HELP = {
    Dialect.AUTO: "detect the server from its greeting and its answer to the nickname",
    Dialect.NETLAB: "netlab serve (lines)",
    Dialect.TUTORIAL: "the classic students' server (bare NICK, bare chunks)",
    Dialect.RAW: "a relay server with no handshake",
}
