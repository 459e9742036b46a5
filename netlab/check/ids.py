"""The ids of `netlab check`'s checks, in the order they run (stdlib only: the CLI's help lists them at start-up).

`netlab.check.model.CHECKS` describes each one; a test keeps the two in step.
"""

from __future__ import annotations

CHECK_IDS: tuple[str, ...] = (
    "connect",
    "broadcast",
    "sender-echo",
    "split-line",
    "coalesced-lines",
    "utf8-split",
    "silent-client",
    "load",
    "slow-consumer",
    "many-clients",
    "utf8-nick",
    "clean-disconnect",
    "long-line",
    "abrupt-disconnect",
    "bad-bytes",
    "connect-close",
    "restart",
)
