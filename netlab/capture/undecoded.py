"""Why a frame gave no TCP segment: the reasons the decoder names, and their summary lines.

The decoder (`netlab.capture.decode`) sets a reason on its `FrameContext` where it gives up: a
lookup in one of its tables that misses (an ethertype, an IP protocol, a link type), a header that
is cut short or malformed. A capture source counts the reasons in one `collections.Counter` per
capture (`FrameTally.undecoded`), and `netlab follow` / `netlab report` print `summary_lines` on
stderr, so that no frame is dropped silently.

A reason is a pair `(kind, what)`:

* `NOT_TCP`: the frame was decoded and carries another protocol ("ARP", "ICMP", "UDP");
* `NOT_DECODED`: it could not be decoded ("frame cut short", "malformed IPv4 header");
* `LINK_TYPE`: its link type has no decoder ("link type 127 (IEEE 802.11 plus radiotap header)").
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netlab.errors import PcapReadError

Reason = tuple[str, str]
"""(kind, what): one of the kinds below and a short human name."""

NOT_TCP = "not TCP"
NOT_DECODED = "not decoded"
LINK_TYPE = "link type"

CUT_SHORT: Reason = (NOT_DECODED, "frame cut short")
MALFORMED: Reason = (NOT_DECODED, "unrecognised contents")
"""What a frame is counted as when the layer that gave up named no reason."""
HELD: Reason = ("held", "IP fragment held for reassembly")
"""Not counted: a fragment kept until its datagram is whole (the segment comes out of a later frame)."""

ETHERTYPE_NAMES: dict[int, str] = {
    0x0806: "ARP",
    0x8035: "RARP",
    0x0842: "Wake-on-LAN",
    0x22F0: "AVTP",
    0x6003: "DECnet",
    0x809B: "AppleTalk",
    0x80F3: "AARP",
    0x8137: "IPX",
    0x8808: "Ethernet flow control",
    0x8809: "LACP (slow protocols)",
    0x8863: "PPPoE discovery",
    0x886D: "Intel ANS",
    0x888E: "EAPOL (802.1X)",
    0x8892: "PROFINET",
    0x889A: "HyperSCSI",
    0x88A4: "EtherCAT",
    0x88B8: "GOOSE",
    0x88CC: "LLDP",
    0x88E1: "HomePlug AV",
    0x88E5: "MACsec",
    0x88F7: "PTP",
    0x8902: "CFM (802.1ag)",
    0x8906: "FCoE",
    0x8914: "FCoE initialization",
    0x893A: "IEEE 1905.1",
    0x9000: "Ethernet loopback test",
}
"""Names of common ethertypes that carry no IP (for the undecoded summary)."""

IP_PROTOCOL_NAMES: dict[int, str] = {
    1: "ICMP",
    2: "IGMP",
    6: "TCP",
    17: "UDP",
    33: "DCCP",
    46: "RSVP",
    47: "GRE",
    50: "ESP (IPsec, encrypted)",
    51: "AH (IPsec)",
    58: "ICMPv6",
    59: "IPv6 no next header",
    88: "EIGRP",
    89: "OSPF",
    103: "PIM",
    112: "VRRP",
    115: "L2TP",
    132: "SCTP",
    136: "UDP-Lite",
}
"""Names of common IP protocol numbers (for the undecoded summary)."""

PPP_PROTOCOL_NAMES: dict[int, str] = {
    0xC021: "PPP LCP",
    0xC023: "PPP PAP",
    0xC223: "PPP CHAP",
    0x8021: "PPP IPCP",
    0x8057: "PPP IPv6CP",
    0x80FD: "PPP CCP",
}
"""Names of common PPP control protocols (for the undecoded summary)."""


def ethertype_reason(ethertype: int) -> Reason:
    """The reason for a frame whose ethertype no decoder takes."""
    if ethertype < 0x0600:  # IEEE 802.3: a length, an 802.2 LLC header follows
        return NOT_TCP, "802.3 LLC frame"
    name = ETHERTYPE_NAMES.get(ethertype)
    return NOT_TCP, name if name is not None else f"ethertype 0x{ethertype:04x}"


def ip_protocol_reason(proto: int) -> Reason:
    """The reason for an IP packet whose protocol no decoder takes."""
    name = IP_PROTOCOL_NAMES.get(proto)
    return NOT_TCP, name if name is not None else f"IP protocol {proto}"


def ppp_protocol_reason(proto: int) -> Reason:
    """The reason for a PPP frame whose protocol no decoder takes."""
    name = PPP_PROTOCOL_NAMES.get(proto)
    return NOT_TCP, name if name is not None else f"PPP protocol 0x{proto:04x}"


MOST_NAMED = 10
"""Reasons named per line; the rest are summed up as "others" (a junk capture has thousands)."""


def _frames(count: int) -> str:
    return f"{count} frame" if count == 1 else f"{count} frames"


def summary_lines(counts: Counter[Reason]) -> list[str]:
    """The stderr lines for the counted reasons, e.g. "30 frames not TCP: UDP 24, ARP 4, ICMP 2".

    One line per link type not decoded, one for the frames of other protocols, one for the frames
    that could not be decoded; most frequent first, at most `MOST_NAMED` reasons a line (then
    "others N"). No lines when nothing was counted.
    """
    lines = [
        f"{_frames(count)} of {what} not decoded"
        for (kind, what), count in sorted(counts.items())
        if kind == LINK_TYPE and count
    ]
    for kind, label in ((NOT_TCP, "not TCP"), (NOT_DECODED, "could not be decoded")):
        items = [(what, count) for (k, what), count in counts.items() if k == kind and count]
        if items:
            items.sort(key=lambda item: (-item[1], item[0]))
            total = sum(count for _what, count in items)
            named = [f"{what} {count}" for what, count in items[:MOST_NAMED]]
            if len(items) > MOST_NAMED:
                named.append(f"others {sum(count for _what, count in items[MOST_NAMED:])}")
            lines.append(f"{_frames(total)} {label}: " + ", ".join(named))
    return lines


class FrameTally:
    """What one capture source could not follow, filled in while it is read (one reader, no lock).

    Attributes:
        frames: the frames read so far (updated after each read block and at the end).
        undecoded: frames that gave no TCP segment, counted by `Reason`.
        linktypes: the link types the capture declared (a pcap's header, a pcapng's interfaces).
        damage: the error that ended the read early (a file cut short), after everything before it
            was read; None when the capture was read to its end.
    """

    __slots__ = ("frames", "undecoded", "linktypes", "damage")

    def __init__(self) -> None:
        self.frames = 0
        self.undecoded: Counter[Reason] = Counter()
        self.linktypes: set[int] = set()
        self.damage: PcapReadError | None = None

    def lines(self) -> list[str]:
        """`summary_lines` of the undecoded frames."""
        return summary_lines(self.undecoded)
