"""`netlab.records.Record`: the value types of `Endpoint` and `netlab sockets` behave as frozen value objects."""

from __future__ import annotations

import pickle

import pytest

from netlab.capture.endpoint import Endpoint
from netlab.capture.model import Endpoint as ModelEndpoint
from netlab.records import Record
from netlab.sockets.model import SocketRow, TcpState


class Pair(Record):
    """Two numbers."""

    left: int
    right: int = 0

    @property
    def total(self) -> int:
        return self.left + self.right


def test_fields_defaults_methods_and_docstring() -> None:
    pair = Pair(1)
    assert (pair.left, pair.right, pair.total) == (1, 0, 1)
    assert Pair(left=2, right=3) == Pair(2, 3)
    assert pair._replace(right=5) == Pair(1, 5)
    assert repr(Pair(1, 2)) == "Pair(left=1, right=2)"
    assert Pair.__doc__ == "Two numbers."
    assert Pair.__module__ == __name__


def test_immutable_slotted_hashable_and_picklable() -> None:
    pair = Pair(1, 2)
    with pytest.raises(AttributeError):
        pair.left = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        pair.other = 3  # type: ignore[attr-defined]
    assert not hasattr(pair, "__dict__")
    assert hash(pair) == hash(Pair(1, 2)) and {pair: 1}[Pair(1, 2)] == 1
    restored = pickle.loads(pickle.dumps(pair))
    assert restored == pair and type(restored) is Pair


def test_defaults_must_come_last() -> None:
    with pytest.raises(TypeError, match="after those without"):

        class Bad(Record):
            first: int = 0
            second: int  # type: ignore[misc]


def test_endpoint_keeps_its_text_forms_and_one_class() -> None:
    assert ModelEndpoint is Endpoint
    assert str(Endpoint("10.0.0.1", 80)) == "10.0.0.1:80"
    assert str(Endpoint("::1", 80)) == "[::1]:80"
    assert repr(Endpoint("::1", 80)) == "Endpoint(ip='::1', port=80)"


def test_socket_row_defaults_and_replace() -> None:
    row = SocketRow(4, Endpoint("127.0.0.1", 1), Endpoint("0.0.0.0", 0), TcpState.LISTEN, 0, 128)
    assert (row.inode, row.pids, row.pid, row.process, row.proto) == (0, (), None, None, "tcp")
    owned = row.with_owner((7, 9), "srv")
    assert (owned.pid, owned.process, row.pids) == (7, "srv", ())
