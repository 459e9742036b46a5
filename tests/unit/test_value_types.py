"""The value types of `Endpoint` and `netlab sockets` behave as frozen value objects.

`Endpoint` is a `typing.NamedTuple` (a hot path); the others are frozen, slotted dataclasses.
"""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from netlab.packets import Endpoint
from netlab.packets import Endpoint as ModelEndpoint
from netlab.sockets.model import ChatClient, ServerScope, ServerStatus, Snapshot, SocketRow, TcpState
from netlab.sockets.table import Group, Refresh


def _row() -> SocketRow:
    return SocketRow(4, Endpoint("127.0.0.1", 1), Endpoint("0.0.0.0", 0), TcpState.LISTEN, 0, 128)


def test_fields_defaults_and_keywords() -> None:
    row = _row()
    assert SocketRow(family=4, local=row.local, remote=row.remote, state=TcpState.LISTEN, recv_q=0, send_q=128) == row
    assert dataclasses.replace(row, inode=5) == SocketRow(*dataclasses.astuple(row)[:6], 5)
    assert repr(Endpoint("::1", 80)) == "Endpoint(ip='::1', port=80)"


@pytest.mark.parametrize("kind", [SocketRow, ChatClient, ServerStatus, ServerScope, Snapshot, Group, Refresh])
def test_sockets_value_types_are_frozen_slotted_dataclasses(kind: type) -> None:
    params = kind.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen and "__slots__" in vars(kind) and not issubclass(kind, tuple)


def test_immutable_slotted_hashable_and_picklable() -> None:
    row = _row()
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.inode = 3  # type: ignore[misc]
    assert not hasattr(row, "__dict__")
    assert hash(row) == hash(_row()) and {row: 1}[_row()] == 1
    restored = pickle.loads(pickle.dumps(row))
    assert restored == row and type(restored) is SocketRow


def test_two_value_types_with_equal_fields_differ() -> None:
    client = ChatClient("a", Endpoint("10.0.0.1", 1), Endpoint("10.0.0.2", 2))
    assert client != ("a", Endpoint("10.0.0.1", 1), Endpoint("10.0.0.2", 2), None, None, None)


def test_endpoint_keeps_its_text_forms_and_one_class() -> None:
    assert ModelEndpoint is Endpoint
    assert str(Endpoint("10.0.0.1", 80)) == "10.0.0.1:80"
    assert str(Endpoint("::1", 80)) == "[::1]:80"
    assert repr(Endpoint("::1", 80)) == "Endpoint(ip='::1', port=80)"
    assert {Endpoint("10.0.0.1", 80): 1}[Endpoint("10.0.0.1", 80)] == 1


def test_socket_row_defaults_and_replace() -> None:
    row = _row()
    assert (row.inode, row.pids, row.pid, row.process, row.proto) == (0, (), None, None, "tcp")
    owned = row.with_owner((7, 9), "srv")
    assert (owned.pid, owned.process, row.pids) == (7, "srv", ())
