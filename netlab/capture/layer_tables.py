"""The dispatch tables: which layer function decodes what a header says comes next, by number.

The layers call one another in a circle (Ethernet → IPv4 → GRE → Ethernet), so the tables are
declared here, empty, where every layer module can look them up without importing the modules
above it; `netlab.capture.decode`, the one module that imports every layer, fills them in one
place (read the entries there). They are complete once `netlab.capture.decode` is imported, which
every way into the decoder does.

A module that looks a table up binds it by assignment (`ETHERTYPES = layer_tables.ETHERTYPES`), not
with `from netlab.capture.layer_tables import ETHERTYPES`: CPython 3.11 compiles a method call on a
name bound by an import (`ETHERTYPES.get(t)`) as an attribute load and a bound-method call instead
of its fast method call, and that measured 5-10% of the per-packet cost. Bound that way, the same
dict objects are module globals of each layer module, and a lookup costs what it cost when the
layers shared one module.

The layer functions keep their leading underscore: nothing outside the decoder calls them; they
are reached through these tables, and the layer modules import them from one another.
"""

from __future__ import annotations

from collections.abc import Callable

from netlab.capture.frame_context import FrameContext
from netlab.packets import SegmentFields

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_BRIDGED = 0x6558  # transparent Ethernet bridging: an Ethernet frame follows
IPPROTO_TCP = 6
IPPROTO_UDP = 17

Layer = Callable[[bytes, int, int, FrameContext], SegmentFields | None]
"""One layer's decoder: `(buf, off, end, ctx)`, the layer's header at `buf[off]`, its bytes on the
wire ending at `end`; returns the TCP segment found inside, or None."""

LINK_LAYERS: dict[int, Layer] = {}
"""The decoder of each link-layer header type (pcap's LINKTYPE_* / DLT_* number)."""

ETHERTYPES: dict[int, Layer] = {}
"""What Ethernet, VLAN tags and Linux cooked captures carry, by ethertype."""

PPP_PROTOCOLS: dict[int, Layer] = {}
"""What a PPP frame (link types 9, 50, 51, 204, and inside PPPoE) carries, by PPP protocol number."""

ARCNET_PROTOCOLS: dict[int, Layer] = {}
"""What an ARCNET frame carries, by system code (RFC 1201 IP, RFC 1051 IP, IPv6)."""

JUNIPER_PROTOCOLS: dict[int, Layer] = {}
"""What a Juniper capture without its layer 2 header carries, by JUNOS protocol number."""

GRE_PROTOCOLS: dict[int, Layer] = {}
"""What GRE carries, by its protocol type (an ethertype)."""

IP_PROTOCOLS: dict[int, Layer] = {}
"""What IPv4 and IPv6 carry, by protocol / next-header number. (IPv6 walks its own extension
headers; these entries serve IPv4 and the payload of reassembled IPv6 fragments.)"""

UDP_PORTS: dict[int, Layer] = {}
"""Encapsulations carried in UDP, by registered port (looked up on either side, the lower first)."""
