"""Interned endpoints: the same raw address and port give the same `Endpoint` object, which keeps
the per-packet cost low and makes dictionary lookups cheap. Each cache is cleared when it reaches
about a million entries, so memory stays bounded on a capture of many hosts.
"""

from __future__ import annotations

import socket

from netlab.packets import Endpoint

_endpoints: dict[bytes, Endpoint] = {}
interned_pairs: dict[bytes, tuple[Endpoint, Endpoint]] = {}
"""`endpoint_pair`'s cache: a hot loop binds it to a name of its own (`_pairs = endpoints.interned_pairs`,
see netlab/capture/layer_tables.py) and calls `_pairs.get(key) or endpoint_pair(key)`."""
_ENDPOINT_CACHE_MAX = 1 << 20


def intern_endpoint(raw_ip: bytes, port: int) -> Endpoint:
    """The interned `Endpoint` of a raw IPv4 (4 bytes) or IPv6 (16 bytes) address and a port."""
    key = raw_ip + port.to_bytes(2, "big")
    ep = _endpoints.get(key)
    if ep is None:
        if len(_endpoints) >= _ENDPOINT_CACHE_MAX:
            _endpoints.clear()
        family = socket.AF_INET if len(raw_ip) == 4 else socket.AF_INET6
        ep = Endpoint(socket.inet_ntop(family, raw_ip), port)
        _endpoints[key] = ep
    return ep


def endpoint_pair(key: bytes) -> tuple[Endpoint, Endpoint]:
    """Interned (src, dst) for the 12 bytes src ip, dst ip, src port, dst port of an IPv4/TCP packet."""
    pair = interned_pairs.get(key)
    if pair is None:
        if len(interned_pairs) >= _ENDPOINT_CACHE_MAX:
            interned_pairs.clear()
        pair = interned_pairs[key] = (
            intern_endpoint(key[0:4], int.from_bytes(key[8:10], "big")),
            intern_endpoint(key[4:8], int.from_bytes(key[10:12], "big")),
        )
    return pair
