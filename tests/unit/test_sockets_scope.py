"""`table.within`: the sockets of one server's run among everything on its port (pure core)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from netlab.packets import Endpoint
from netlab.sockets.model import ServerScope, SocketRow, TcpState
from netlab.sockets.table import within

PORT = 55555
LO = "127.0.0.1"
SERVER = Endpoint(LO, PORT)


def _row(local: Endpoint, remote: Endpoint, state: TcpState, inode: int = 0) -> SocketRow:
    return SocketRow(4, local, remote, state, 0, 0, inode)


def _both_ends(client_port: int, state: TcpState, inode: int) -> list[SocketRow]:
    client = Endpoint(LO, client_port)
    inodes = (inode, inode + 1) if state is TcpState.ESTABLISHED else (0, 0)
    return [_row(SERVER, client, state, inodes[0]), _row(client, SERVER, state, inodes[1])]


def test_an_earlier_chats_time_wait_and_another_listener_are_left_out() -> None:
    ours = _both_ends(40000, TcpState.ESTABLISHED, 100) + _both_ends(40001, TcpState.TIME_WAIT, 0)
    earlier = _both_ends(39000, TcpState.TIME_WAIT, 0)
    listener = _row(SERVER, Endpoint("0.0.0.0", 0), TcpState.LISTEN, 7)
    elsewhere = _row(SERVER, Endpoint("0.0.0.0", 0), TcpState.LISTEN, 8)  # same address, another namespace
    scope = ServerScope((SERVER,), 7, frozenset({(SERVER, Endpoint(LO, 40000)), (SERVER, Endpoint(LO, 40001))}))
    assert within([listener, elsewhere, *earlier, *ours], scope) == [listener, *ours]


def test_without_an_inode_the_listener_is_known_by_its_address() -> None:
    listener = _row(SERVER, Endpoint("0.0.0.0", 0), TcpState.LISTEN, 0)
    other = _row(Endpoint(LO, PORT + 1), Endpoint("0.0.0.0", 0), TcpState.LISTEN, 0)
    assert within([listener, other], ServerScope((SERVER,), None, frozenset())) == [listener]


def test_ipv4_mapped_addresses_match_their_ipv4_form() -> None:
    mapped = _row(Endpoint("::ffff:127.0.0.1", PORT), Endpoint("::ffff:127.0.0.1", 40000), TcpState.ESTABLISHED, 5)
    scope = ServerScope((SERVER,), None, frozenset({(SERVER, Endpoint(LO, 40000))}))
    assert within([mapped], scope) == [mapped]


states = st.sampled_from([s for s in TcpState if s is not TcpState.LISTEN])


@given(
    st.lists(st.tuples(st.integers(32768, 60999), states), max_size=12),
    st.sets(st.integers(32768, 60999), max_size=12),
)
def test_a_connection_is_kept_exactly_when_the_server_accepted_it(
    connections: list[tuple[int, TcpState]], accepted: set[int]
) -> None:
    rows = [row for index, (port, state) in enumerate(connections) for row in _both_ends(port, state, 10 * index + 10)]
    scope = ServerScope((SERVER,), 1, frozenset((SERVER, Endpoint(LO, port)) for port in accepted))
    kept = within(rows, scope)
    assert kept == [row for row in rows if (row.remote if row.local == SERVER else row.local).port in accepted]
    assert within(kept, scope) == kept
