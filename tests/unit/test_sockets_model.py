"""Addresses, states and the status-file schema of `netlab sockets`; the /proc/net/tcp parser."""

from __future__ import annotations

import ipaddress
import socket
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netlab.packets import Endpoint
from netlab.sockets.model import TcpState, canonical_ip, parse_endpoint, parse_status, unmapped
from netlab.sockets.procfs import parse_proc_net_tcp
from netlab.sockets.table import format_endpoint

addresses = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda ip: socket.inet_ntop(socket.AF_INET6, ip.packed)),
)


@given(
    ip=st.one_of(
        st.ip_addresses(v=6),
        st.integers(0, 2**32 - 1).map(lambda v: ipaddress.IPv6Address((0xFFFF << 32) | v)),
        st.integers(0, 2**32 - 1).map(ipaddress.IPv6Address),
        st.ip_addresses(v=4),
    )
)
def test_canonical_ip_is_what_inet_ntop_writes(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    kind = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    expected = socket.inet_ntop(kind, ip.packed)  # the form ss, the kernel tools and getpeername() use
    assert canonical_ip(str(ip)) == expected
    assert canonical_ip(ip.exploded) == expected
    assert parse_endpoint(f"[{ip}]:1" if ip.version == 6 else f"{ip}:1").ip == expected


@given(ip=addresses, port=st.integers(1, 65535))
def test_endpoints_round_trip_through_text(ip: str, port: int) -> None:
    endpoint = Endpoint(ip, port)
    assert parse_endpoint(format_endpoint(endpoint)) == endpoint
    assert parse_endpoint(str(endpoint)) == endpoint


def test_wildcard_port_and_bad_addresses() -> None:
    assert parse_endpoint("0.0.0.0:*") == Endpoint("0.0.0.0", 0)
    assert format_endpoint(Endpoint("::", 0)) == "[::]:*"
    for bad in ("127.0.0.1", "::1:80", "[::1]80", "host:80", "1.2.3.4:70000", ""):
        with pytest.raises(ValueError):
            parse_endpoint(bad)


def test_unmapped() -> None:
    assert unmapped(Endpoint("::ffff:127.0.0.1", 5)) == Endpoint("127.0.0.1", 5)
    assert unmapped(Endpoint("::1", 5)) == Endpoint("::1", 5)


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("estab", TcpState.ESTABLISHED),
        ("ESTABLISHED", TcpState.ESTABLISHED),
        ("time-wait", TcpState.TIME_WAIT),
        ("TIME_WAIT", TcpState.TIME_WAIT),
        ("listen", TcpState.LISTEN),
        ("fin-wait-1", TcpState.FIN_WAIT1),
        ("close-wait", TcpState.CLOSE_WAIT),
    ],
)
def test_states_parse_in_every_spelling(text: str, state: TcpState) -> None:
    assert TcpState.from_name(text) is state


def test_unknown_state() -> None:
    with pytest.raises(ValueError, match="unknown TCP state"):
        TcpState.from_name("sleepy")


def test_status_schema_1_parses_and_anything_else_is_ignored() -> None:
    document = {
        "schema_version": 1,
        "pid": 42,
        "host": "::1",
        "port": 55555,
        "started": 1.0,
        "updated": 2.0,
        "listen": "[::1]:55555",
        "clients": [
            {
                "nick": "ünï",
                "remote": "[::1]:40000",
                "local": "[::1]:55555",
                "joined": 3.0,
                "queued_bytes": 7,
            },
        ],
    }
    status = parse_status(document)
    assert status is not None
    assert status.listen == (Endpoint("::1", 55555),)
    assert status.clients[0].nick == "ünï" and status.clients[0].remote == Endpoint("::1", 40000)
    assert status.clients[0].queued_bytes == 7 and status.clients[0].dialect is None
    assert parse_status({**document, "listen": None}).listen == (Endpoint("::1", 55555),)  # type: ignore[union-attr]
    assert parse_status({**document, "schema_version": 2}) is None
    assert parse_status({**document, "clients": [{"nick": "x"}]}) is None
    assert parse_status({**document, "pid": "abc"}) is None


PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:D903 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 70 1 0 100 0 0 10 0
   1: 0100007F:9C40 0100007F:D903 01 00000010:00000020 00:00000000 00000000  1000        0 4242 1 0 20 4 30 10 -1
"""

PROC_NET_TCP6 = (  # /proc/net/tcp6 as the kernel writes it, each line in two pieces
    "  sl  local_address                         remote_address           "
    "             st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000001000000:D903"
    " 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000"
    "     0        0 71 1 0 100 0 0 10 0\n"
)


@pytest.mark.skipif(sys.byteorder != "little", reason="the sample was taken on a little-endian machine")
def test_proc_net_tcp_parses_addresses_states_and_queues() -> None:
    listen, conn = parse_proc_net_tcp(PROC_NET_TCP, 4)
    assert (listen.local, listen.remote, listen.state) == (
        Endpoint("127.0.0.1", 55555),
        Endpoint("0.0.0.0", 0),
        TcpState.LISTEN,
    )
    assert (listen.recv_q, listen.send_q, listen.inode, listen.uid) == (2, 0, 70, 0)
    assert (conn.local, conn.remote, conn.state) == (
        Endpoint("127.0.0.1", 40000),
        Endpoint("127.0.0.1", 55555),
        TcpState.ESTABLISHED,
    )
    assert (conn.recv_q, conn.send_q, conn.inode, conn.uid) == (0x20, 0x10, 4242, 1000)
    (v6,) = parse_proc_net_tcp(PROC_NET_TCP6, 6)
    assert (v6.family, v6.local, v6.state) == (6, Endpoint("::1", 55555), TcpState.LISTEN)


@pytest.mark.skipif(sys.byteorder != "little", reason="/proc/net/tcp words are in host order")
@given(
    family=st.sampled_from([4, 6]),
    local_port=st.integers(0, 65535),
    remote_port=st.integers(0, 65535),
    state=st.sampled_from(list(TcpState)),
    queues=st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
    inode=st.integers(0, 2**40),
    data=st.data(),
)
def test_proc_net_tcp_lines_written_like_the_kernel_parse_back(
    family: int,
    local_port: int,
    remote_port: int,
    state: TcpState,
    queues: tuple[int, int],
    inode: int,
    data: st.DataObject,
) -> None:
    strategy = st.ip_addresses(v=family)
    local_ip, remote_ip = data.draw(strategy), data.draw(strategy)

    def hex_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
        raw = ip.packed  # the kernel prints each 32-bit word in host (little-endian) order
        return "".join(f"{int.from_bytes(raw[i : i + 4], 'little'):08X}" for i in range(0, len(raw), 4))

    line = (
        f"   0: {hex_address(local_ip)}:{local_port:04X} {hex_address(remote_ip)}:{remote_port:04X} "
        f"{state.value:02X} {queues[0]:08X}:{queues[1]:08X} 00:00000000 00000000  1000        0 {inode} 1 0 20 4"
    )
    (row,) = parse_proc_net_tcp("header\n" + line + "\n", family)
    kind = socket.AF_INET6 if family == 6 else socket.AF_INET
    assert row.local == Endpoint(socket.inet_ntop(kind, local_ip.packed), local_port)
    assert row.remote == Endpoint(socket.inet_ntop(kind, remote_ip.packed), remote_port)
    assert (row.state, row.send_q, row.recv_q, row.inode, row.uid) == (
        state,
        queues[0],
        queues[1],
        inode,
        1000,
    )
