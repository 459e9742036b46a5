"""The sock_diag request/reply codec: the port-filter bytecode under a model of the kernel's checker and VM."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netlab.packets import Endpoint
from netlab.sockets import diag
from netlab.sockets.model import TcpState

ports = st.integers(min_value=0, max_value=65535)


def _ops(code: bytes) -> list[tuple[int, int, int]]:
    return [struct.unpack_from("=BBH", code, offset) for offset in range(0, len(code), 4)]


def audit(code: bytes) -> bool:
    """A transcription of inet_diag_bc_audit() (net/ipv4/inet_diag.c) for the ops we emit."""

    def valid_cc(length: int, cc: int) -> bool:
        offset = 0
        while length >= 0:
            if cc > length:
                return False
            if cc == length:
                return True
            _code, yes, _no = struct.unpack_from("=BBH", code, offset)
            if yes < 4 or yes & 3:
                return False
            length -= yes
            offset += yes
        return False

    offset, length = 0, len(code)
    while length > 0:
        op, yes, no = struct.unpack_from("=BBH", code, offset)
        min_len = 4
        if op in (diag.BC_S_GE, diag.BC_S_LE, diag.BC_D_GE, diag.BC_D_LE):
            min_len += 4
            if length < min_len:
                return False
        elif op != diag.BC_JMP:
            return False
        if no < min_len or no > length + 4 or no & 3:
            return False
        if no < length and not valid_cc(len(code), length - no):
            return False
        if yes < min_len or yes > length + 4 or yes & 3:
            return False
        offset += yes
        length -= yes
    return length == 0


def run(code: bytes, sport: int, dport: int) -> bool:
    """A transcription of inet_diag_bc_run(): True when the socket is accepted."""
    offset, length = 0, len(code)
    while length > 0:
        op, yes_jump, no_jump = struct.unpack_from("=BBH", code, offset)
        operand = struct.unpack_from("=BBH", code, offset + 4)[2] if op != diag.BC_JMP else 0
        verdict = {
            diag.BC_JMP: False,
            diag.BC_S_GE: sport >= operand,
            diag.BC_S_LE: sport <= operand,
            diag.BC_D_GE: dport >= operand,
            diag.BC_D_LE: dport <= operand,
        }[op]
        jump = yes_jump if verdict else no_jump
        offset += jump
        length -= jump
    return length == 0


@given(port=ports)
def test_port_filter_passes_the_kernel_audit(port: int) -> None:
    assert audit(diag.port_filter(port))


@given(port=ports, sport=ports, dport=ports)
def test_port_filter_accepts_exactly_the_sockets_on_the_port(port: int, sport: int, dport: int) -> None:
    assert run(diag.port_filter(port), sport, dport) == (port in (sport, dport))


@given(port=ports, other=ports)
def test_port_filter_on_near_misses(port: int, other: int) -> None:
    code = diag.port_filter(port)
    for near in (port - 1, port + 1):
        if 0 <= near <= 65535 and near != port:
            assert run(code, near, near) is False
    assert run(code, port, other) and run(code, other, port)


def test_request_layout() -> None:
    request = diag.build_request(socket.AF_INET6, 55555, seq=7)
    length, kind, flags, seq, pid = struct.unpack_from("=IHHII", request)
    assert (length, kind, flags, seq, pid) == (len(request), 20, 0x301, 7, 0)
    family, protocol, ext, states = struct.unpack_from("=BBBxI", request, 16)
    assert (family, protocol, ext) == (socket.AF_INET6, socket.IPPROTO_TCP, 0)
    assert states == sum(1 << state.value for state in TcpState)
    assert request[24:72] == bytes(48)
    attr_len, attr_type = struct.unpack_from("=HH", request, 72)
    assert attr_type == diag.INET_DIAG_REQ_BYTECODE and attr_len == 4 + 36 == len(request) - 72
    assert _ops(request[76:])[1] == (0, 0, 55555)
    assert len(diag.build_request(socket.AF_INET, None)) == 16 + 56


def test_one_request_for_both_families_layout() -> None:
    request = diag.build_request_both(55555, seq=3)
    length, kind, flags, seq, pid = struct.unpack_from("=IHHII", request)
    assert (length, kind, flags, seq, pid) == (len(request), diag.TCPDIAG_GETSOCK, 0x301, 3, 0)
    assert request[16:20] == bytes(4)  # AF_UNSPEC: IPv4 and IPv6; no address lengths, no extensions
    assert request[20:68] == bytes(48)
    states, dbs = struct.unpack_from("=II", request, 68)
    assert (states, dbs) == (sum(1 << state.value for state in TcpState), 0)
    attr_len, attr_type = struct.unpack_from("=HH", request, 76)
    assert attr_type == diag.INET_DIAG_REQ_BYTECODE and attr_len == 4 + 36 == len(request) - 76
    assert _ops(request[80:])[1] == (0, 0, 55555)
    assert len(diag.build_request_both(None)) == 16 + 60


class _FakeDiagSocket:
    """Answers requests with canned replies; refuses TCPDIAG_GETSOCK when `old_refused`."""

    def __init__(self, old_refused: bool) -> None:
        self.old_refused = old_refused
        self.kinds: list[int] = []
        self.pending: list[bytes] = []

    def settimeout(self, timeout: float) -> None:
        pass

    def sendto(self, request: bytes, address: tuple[int, int]) -> None:
        _length, kind, _flags, seq, _pid = struct.unpack_from("=IHHII", request)
        self.kinds.append(kind)
        done = struct.pack("=IHHII", 20, diag.NLMSG_DONE, 2, seq, 0) + bytes(4)
        if kind == diag.TCPDIAG_GETSOCK and self.old_refused:
            self.pending.append(struct.pack("=IHHII", 36, diag.NLMSG_ERROR, 0, seq, 0) + struct.pack("=i", -22))
            return
        v4 = _message(socket.AF_INET, Endpoint("127.0.0.1", 55555), Endpoint("127.0.0.1", 40000), 1, 0, 0, 9)
        v6 = _message(socket.AF_INET6, Endpoint("::1", 55555), Endpoint("::", 0), 10, 0, 128, 8)
        family = struct.unpack_from("=B", request, 16)[0]
        if family == 0:  # both families, in the kernel's table order; replies repeat the request's type
            v6, v4 = (bytearray(message) for message in (v6, v4))
            for message in (v6, v4):
                struct.pack_into("=H", message, 4, diag.TCPDIAG_GETSOCK)
            self.pending.append(bytes(v6 + v4) + done)
        else:
            self.pending.append((v4 if family == socket.AF_INET else v6) + done)

    def recv(self, size: int) -> bytes:
        return self.pending.pop(0)


@pytest.mark.parametrize("old_refused", [False, True])
def test_query_takes_both_families_at_once_or_one_by_one(old_refused: bool) -> None:
    fake = _FakeDiagSocket(old_refused)
    rows = diag.query(55555, fake)  # type: ignore[arg-type]
    assert [row.family for row in rows] == [4, 6]  # IPv4 first either way
    expected = [diag.TCPDIAG_GETSOCK, 20, 20] if old_refused else [diag.TCPDIAG_GETSOCK]
    assert fake.kinds == expected


def _message(family: int, local: Endpoint, remote: Endpoint, state: int, rq: int, wq: int, inode: int) -> bytes:
    size = 4 if family == socket.AF_INET else 16
    src = socket.inet_pton(family, local.ip).ljust(16, b"\0")
    dst = socket.inet_pton(family, remote.ip).ljust(16, b"\0")
    assert len(src) == 16 and size in (4, 16)
    body = struct.pack("=BBBB", family, state, 0, 0)
    body += struct.pack("!HH", local.port, remote.port) + src + dst + struct.pack("=I8s", 1, bytes(8))
    body += struct.pack("=IIIII", 0, rq, wq, 1000, inode)
    return struct.pack("=IHHII", 16 + len(body), 20, 2, 1, 0) + body


def test_replies_decode_to_rows_until_done() -> None:
    v4 = _message(socket.AF_INET, Endpoint("127.0.0.1", 55555), Endpoint("127.0.0.1", 40000), 1, 5, 7, 99)
    v6 = _message(socket.AF_INET6, Endpoint("::1", 55555), Endpoint("::", 0), 10, 0, 128, 100)
    done = struct.pack("=IHHII", 20, diag.NLMSG_DONE, 2, 1, 0) + bytes(4)
    rows, finished = diag.parse_replies(v4 + v6)
    assert not finished and len(rows) == 2
    rows, finished = diag.parse_replies(v4 + v6 + done)
    assert finished
    first, second = rows
    assert (first.family, first.local, first.remote, first.state) == (
        4,
        Endpoint("127.0.0.1", 55555),
        Endpoint("127.0.0.1", 40000),
        TcpState.ESTABLISHED,
    )
    assert (first.recv_q, first.send_q, first.uid, first.inode) == (5, 7, 1000, 99)
    assert (second.family, second.local.ip, second.remote.port, second.state) == (
        6,
        "::1",
        0,
        TcpState.LISTEN,
    )


def test_kernel_error_reply_raises() -> None:
    error = struct.pack("=IHHII", 36, diag.NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", -22) + bytes(16)
    with pytest.raises(OSError, match="EINVAL"):
        diag.parse_replies(error)


@pytest.mark.parametrize(("flag", "expected"), [(b"\x00", False), (b"\x01", True)])
def test_ipv6_only_attribute_is_read(flag: bytes, expected: bool) -> None:
    message = _message(socket.AF_INET6, Endpoint("::", 55555), Endpoint("::", 0), 10, 0, 128, 7)
    attrs = struct.pack("=HH", 5, 8) + b"\x00" + bytes(3)  # INET_DIAG_SHUTDOWN first, padded
    attrs += struct.pack("=HH", 5, diag.INET_DIAG_SKV6ONLY) + flag + bytes(3)
    length = len(message) + len(attrs)
    message = struct.pack("=I", length) + message[4:] + attrs
    rows, _done = diag.parse_replies(message)
    assert rows[0].v6only is expected
    v4 = _message(socket.AF_INET, Endpoint("0.0.0.0", 1), Endpoint("0.0.0.0", 0), 10, 0, 1, 8)
    assert diag.parse_replies(v4)[0][0].v6only is None
