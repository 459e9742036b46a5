"""A pre-read of a capture file's first connections, for deciding roles (`netlab.stream.roles`).

When a connection's handshake is not in the capture, who is the server can be told from the other
connections of the same file: an end that answered a SYN elsewhere, or an end shared by many
connections (fan-in). The reassembler meets connections one at a time, so `connection_ends` reads
ahead once, lazily (only when such a connection turns up), and at most `limit` segments.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from netlab.capture.pcapfile import read_segments
from netlab.errors import PcapReadError, UnsupportedLinkType
from netlab.packets import ACK, QUOTED, SYN, Endpoint

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 200_000  # segments read ahead at most (a fraction of a second)
_SYN_ACK = SYN | ACK


def connection_ends(path: Path, limit: int = DEFAULT_LIMIT) -> Iterator[tuple[Endpoint, Endpoint, bool]]:
    """The ends of each connection among the first `limit` segments of `path`.

    Yields `(sender, receiver, syn_ack)` once per direction of a 4-tuple, and again for each
    SYN-ACK (then the sender is a server). A damaged file just ends the read-ahead early (the
    main read reports it).
    """
    seen: set[tuple[Endpoint, Endpoint]] = set()
    count = 0
    try:
        for batch in read_segments(path, verify=False).field_batches():
            for fields in batch:
                src, dst, flags = fields[2], fields[3], fields[6]
                if flags & QUOTED:  # a header quoted in an ICMP error: not a connection
                    continue
                syn_ack = flags & _SYN_ACK == _SYN_ACK
                if syn_ack or (src, dst) not in seen:
                    seen.add((src, dst))
                    yield src, dst, syn_ack
            count += len(batch)
            if count >= limit:
                return
    except (PcapReadError, UnsupportedLinkType) as error:
        log.debug("read-ahead for roles stopped: %s", error)
