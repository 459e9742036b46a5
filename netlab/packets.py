"""Packet-level value types (pure): `Endpoint`, `Segment` and its tuple form `SegmentFields`, `Datagram`,
TCP flag bits.

Shared by the decoder and capture sources (`netlab.capture`), the reassembler and analyser
(`netlab.stream`) and `netlab sockets`; wire-neutral, so they live beside those packages, not in one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple


class Endpoint(NamedTuple):
    """One end of a TCP connection: an IP address (text form) and a port.

    A `typing.NamedTuple`, not a dataclass, because it is a measured hot path: the reassembler and
    the decoder look connections up by endpoints in dicts on every segment, and a tuple hashes and
    compares in C (a frozen dataclass's generated `__hash__`/`__eq__` run Python code per lookup).
    Being a tuple, it also equals a plain ``(ip, port)`` tuple and any other 2-tuple of the same
    values; netlab never relies on that: build an `Endpoint` to compare with one.
    """

    ip: str
    port: int

    def __str__(self) -> str:
        if ":" in self.ip:
            return f"[{self.ip}]:{self.port}"
        return f"{self.ip}:{self.port}"


# TCP header flag bits, the one definition netlab has: plain ints, so hot paths test `flags & SYN`
# at int speed; `TcpFlag` names the same bits for display and typing.
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80


class TcpFlag(enum.IntFlag):
    """TCP header flag bits (the plain-int constants `FIN`, `SYN`... of this module, named)."""

    FIN = FIN
    SYN = SYN
    RST = RST
    PSH = PSH
    ACK = ACK
    URG = URG
    ECE = ECE
    CWR = CWR


QUOTED = 0x10000
"""Not a TCP header bit: set in `Segment.flags` by the decoder for a TCP header quoted inside an
ICMP or ICMPv6 error. Such a "segment" is not part of a connection (no payload, no analysis); it
only names a 4-tuple, which Wireshark numbers as a ``tcp.stream`` when the 4-tuple is new, so the
reassembler reserves that number to keep the numbers of real connections equal to Wireshark's."""

SackBlocks = tuple[tuple[int, int], ...]
"""`Segment.sack`: SACK blocks as raw 32-bit ``(left edge, right edge)`` sequence numbers."""

NO_WINDOW_SCALE = -1
"""`Segment.wscale` of a SYN that carried no window-scale option."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One captured TCP segment, decoded from a frame.

    Attributes:
        frame: 1-based frame number in the capture.
        ts: capture time stamp, seconds since the epoch.
        src, dst: sender and receiver.
        seq, ack: raw 32-bit sequence and acknowledgement numbers.
        flags: TCP flag bits (see `TcpFlag`).
        window: the advertised window (unscaled).
        payload: the TCP payload bytes that were captured.
        wire_len: the payload length on the wire, from the IP header; larger than
            `len(payload)` when the capture's snap length cut the frame short.
        checksum_ok: True/False when the TCP checksum could be verified, None when it could not
            (frame truncated) or was not checked.
        vlan: the 802.1Q tags the frame carried, outermost first (keeps VLANs apart).
        wscale: on a SYN, the window-scale shift its options announced (RFC 7323),
            `NO_WINDOW_SCALE` (-1) when it announced none; None when not known (not a SYN, or
            its options were not captured).
        sack: the SACK blocks (RFC 2018) its options carried, as raw 32-bit ``(left, right)``
            sequence numbers in option order; empty when it carried none (or its options were not
            all captured).
    """

    frame: int
    ts: float
    src: Endpoint
    dst: Endpoint
    seq: int
    ack: int
    flags: int
    window: int
    payload: bytes
    wire_len: int
    checksum_ok: bool | None = None
    vlan: tuple[int, ...] = ()
    wscale: int | None = None
    sack: SackBlocks = ()

    @property
    def missing(self) -> int:
        """Payload bytes the capture did not keep (snap length)."""
        return self.wire_len - len(self.payload)


@dataclass(frozen=True, slots=True)
class Datagram:
    """One captured UDP datagram, decoded from a frame (or from the IP fragments it completed).

    Attributes:
        frame: 1-based frame number in the capture (the frame that completed it, when fragmented).
        ts: capture time stamp, seconds since the epoch.
        src, dst: sender and receiver.
        payload: the UDP payload bytes that were captured.
        wire_len: the payload length on the wire (from the UDP and IP headers); larger than
            `len(payload)` when the capture's snap length cut the frame short.
        checksum_ok: True/False when the UDP checksum could be verified, None when it could not
            (frame truncated), was not checked, or the sender sent none (0 over IPv4).
        vlan: the 802.1Q tags the frame carried, outermost first.
    """

    frame: int
    ts: float
    src: Endpoint
    dst: Endpoint
    payload: bytes
    wire_len: int
    checksum_ok: bool | None = None
    vlan: tuple[int, ...] = ()

    @property
    def missing(self) -> int:
        """Payload bytes the capture did not keep (snap length)."""
        return self.wire_len - len(self.payload)


SegmentFields = tuple[
    int,
    float,
    Endpoint,
    Endpoint,
    int,
    int,
    int,
    int,
    bytes,
    int,
    bool | None,
    tuple[int, ...],
    int | None,
    SackBlocks,
]
"""A `Segment`'s fields as a plain tuple, in declaration order: `Segment(*fields)` is the segment.

The file reader hands these to `Reassembler.feed_batch` in batches: on the hot path a tuple is
far cheaper to build than the frozen dataclass, which is made only when a segment needs the
reassembler's general path. Built by `segment_fields`, and written out in the one hot path
that makes most of them (`netlab.capture.decode.ethernet_ipv4_tcp`; a test compares the two).
"""


def segment_fields(
    frame: int,
    ts: float,
    src: Endpoint,
    dst: Endpoint,
    seq: int,
    ack: int,
    flags: int,
    window: int,
    payload: bytes,
    wire_len: int,
    checksum_ok: bool | None,
    vlan: tuple[int, ...],
    wscale: int | None,
    sack: SackBlocks = (),
) -> SegmentFields:
    """The `SegmentFields` of a segment (the arguments are `Segment`'s fields, in its order)."""
    return (frame, ts, src, dst, seq, ack, flags, window, payload, wire_len, checksum_ok, vlan, wscale, sack)
