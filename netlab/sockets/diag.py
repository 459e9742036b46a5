"""Linux NETLINK_SOCK_DIAG (inet_diag) for TCP: one kernel-filtered dump of both address families.

The request carries, when a port is given, a bytecode filter ``sport == P or dport == P`` so the
kernel walks its hash tables and sends back only the chat's sockets: a small part of what
``ss -tanp`` spends among 10 000 sockets, mostly attributing pids (bench/sockets_bench.py times
both). Each reply carries the queues (``idiag_rqueue``/``idiag_wqueue``, what ss prints as
Recv-Q/Send-Q), the owner uid and the socket inode, which `procfs` maps to pids.

The request is the original ``inet_diag_req`` (message type TCPDIAG_GETSOCK, linux/inet_diag.h),
which the kernel answers for IPv4 and IPv6 in one walk of its tables (``AF_UNSPEC``). Its
successor ``inet_diag_req_v2`` (SOCK_DIAG_BY_FAMILY, what ss sends) names one family, so both
families take two walks, which takes longer with many sockets open (bench/README.md). Every
kernel with sock_diag still takes the old request; where one would not, `query` falls back to a v2
request per family. Either way IPv4 rows come first, then IPv6, each in the kernel's table order.

Bytecode: each op is ``(code u8, yes u8, no u16)``; true jumps `yes` bytes, false jumps `no`
bytes; running off the end exactly accepts, jumping 4 bytes past it rejects. The kernel audits
that every `no` target lies on the chain of `yes` jumps, hence the JMP op between the two halves.
Port comparisons use GE+LE (every kernel since 2.6) rather than EQ (4.x+).

Building requests and parsing replies is pure; only `query` touches a socket.
"""

from __future__ import annotations

import errno
import socket
import struct

from netlab.packets import Endpoint
from netlab.sockets.model import SocketRow, TcpState

AF_INET = socket.AF_INET
AF_INET6 = socket.AF_INET6
IPPROTO_TCP = socket.IPPROTO_TCP

NETLINK_SOCK_DIAG = 4
TCPDIAG_GETSOCK = 18
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x01
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
INET_DIAG_REQ_BYTECODE = 1
INET_DIAG_SKV6ONLY = 11

BC_JMP = 1
BC_S_GE = 2
BC_S_LE = 3
BC_D_GE = 4
BC_D_LE = 5

ALL_TCP_STATES = sum(1 << state.value for state in TcpState)

_NLMSGHDR = struct.Struct("=IHHII")
_REQ_V2 = struct.Struct("=BBBxI")  # family, protocol, ext, pad, states; the sockid (48 zero bytes) follows
_SOCKID_LEN = 48
_REQ_V1_TAIL = struct.Struct("=II")  # inet_diag_req after family, src_len, dst_len, ext and the sockid: states, dbs
_MSG = struct.Struct("=BBBB" + "HH16s16sI8s" + "IIIII")  # inet_diag_msg; ports are big-endian, fixed below
_OP = struct.Struct("=BBH")
_NLATTR = struct.Struct("=HH")


def port_filter(port: int) -> bytes:
    """Bytecode accepting sockets whose source or destination port is `port`."""
    ops = [
        (BC_S_GE, 8, 20),
        (0, 0, port),  # off 0: sport >= P ? next : try dport (off 20)
        (BC_S_LE, 8, 12),
        (0, 0, port),  # off 8: sport <= P ? next : try dport (off 20)
        (BC_JMP, 4, 20),  # off 16: sport == P: jump to the end (accept)
        (BC_D_GE, 8, 20),
        (0, 0, port),  # off 20: dport >= P ? next : reject
        (BC_D_LE, 8, 12),
        (0, 0, port),  # off 28: dport <= P ? accept : reject
    ]
    return b"".join(_OP.pack(*op) for op in ops)


def build_request(family: int, port: int | None, states: int = ALL_TCP_STATES, seq: int = 1) -> bytes:
    """One SOCK_DIAG_BY_FAMILY dump request for TCP over `family`, filtered to `port` when given."""
    body = _REQ_V2.pack(family, IPPROTO_TCP, 0, states) + bytes(_SOCKID_LEN)
    return _dump_message(SOCK_DIAG_BY_FAMILY, body, port, seq)


def build_request_both(port: int | None, states: int = ALL_TCP_STATES, seq: int = 1) -> bytes:
    """One TCPDIAG_GETSOCK dump request: TCP over IPv4 and IPv6 at once, filtered to `port` when given."""
    body = bytes(4 + _SOCKID_LEN) + _REQ_V1_TAIL.pack(states, 0)  # family 0 (AF_UNSPEC), no lengths, no ext
    return _dump_message(TCPDIAG_GETSOCK, body, port, seq)


def _dump_message(kind: int, body: bytes, port: int | None, seq: int) -> bytes:
    if port is not None:
        code = port_filter(port)
        body += _NLATTR.pack(_NLATTR.size + len(code), INET_DIAG_REQ_BYTECODE) + code
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def parse_replies(buffer: bytes) -> tuple[list[SocketRow], bool]:
    """The socket rows in one netlink read, and whether it held the end-of-dump message.

    Raises:
        OSError: when the kernel answered with an error.
    """
    rows: list[SocketRow] = []
    offset = 0
    while offset + _NLMSGHDR.size <= len(buffer):
        length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(buffer, offset)
        if length < _NLMSGHDR.size:
            break
        payload = offset + _NLMSGHDR.size
        if kind == NLMSG_DONE:
            return rows, True
        if kind == NLMSG_ERROR:
            (code,) = struct.unpack_from("=i", buffer, payload)
            if code:
                raise OSError(-code, f"sock_diag: {errno.errorcode.get(-code, -code)}")
        elif kind in (SOCK_DIAG_BY_FAMILY, TCPDIAG_GETSOCK):
            rows.append(decode_message(buffer, payload, offset + length))
        offset += (length + 3) & ~3
    return rows, False


def decode_message(buffer: bytes, offset: int = 0, end: int | None = None) -> SocketRow:
    """Decode one ``inet_diag_msg`` (and its attributes up to `end`) into a row (no owner yet)."""
    (
        family,
        state,
        _timer,
        _retrans,
        sport,
        dport,
        src,
        dst,
        _ifindex,
        _cookie,
        _expires,
        rqueue,
        wqueue,
        uid,
        inode,
    ) = _MSG.unpack_from(buffer, offset)
    size = 4 if family == AF_INET else 16
    local_ip = socket.inet_ntop(family, src[:size])
    remote_ip = socket.inet_ntop(family, dst[:size])
    return SocketRow(
        family=6 if family == AF_INET6 else 4,
        local=Endpoint(local_ip, socket.ntohs(sport)),
        remote=Endpoint(remote_ip, socket.ntohs(dport)),
        state=TcpState(state),
        recv_q=rqueue,
        send_q=wqueue,
        inode=inode,
        uid=uid,
        v6only=_v6only(buffer, offset + _MSG.size, len(buffer) if end is None else end) if family == AF_INET6 else None,
    )


def _v6only(buffer: bytes, offset: int, end: int) -> bool | None:
    """The INET_DIAG_SKV6ONLY attribute among those after the message, if the kernel sent it."""
    while offset + _NLATTR.size <= end:
        length, kind = _NLATTR.unpack_from(buffer, offset)
        if length < _NLATTR.size:
            break
        if kind == INET_DIAG_SKV6ONLY and length >= _NLATTR.size + 1:
            return bool(buffer[offset + _NLATTR.size])
        offset += (length + 3) & ~3
    return None


def open_diag_socket() -> socket.socket:
    """A NETLINK_SOCK_DIAG socket in the calling thread's network namespace.

    Raises:
        OSError: when the kernel has no sock_diag (not Linux, or the module is missing).
    """
    return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)


def query(port: int | None, sock: socket.socket | None = None, timeout: float = 5.0) -> list[SocketRow]:
    """Every TCP socket (IPv4 and IPv6) on `port`, or all of them when `port` is None.

    Args:
        port: keep sockets whose local or remote port is this one.
        sock: a diag socket to use (e.g. one opened inside another network namespace); it is
            left open. By default a fresh one is opened in the current namespace and closed.
        timeout: seconds to wait for each kernel reply.

    Raises:
        OSError: when sock_diag is unavailable or the kernel rejects the request.
    """
    own = sock is None
    diag = open_diag_socket() if sock is None else sock
    try:
        diag.settimeout(timeout)
        try:
            diag.sendto(build_request_both(port), (0, 0))
            rows = _read_dump(diag)
        except OSError as error:
            if error.errno not in _OLD_REQUEST_REFUSED:
                raise
            rows = []
            for seq, family in enumerate((AF_INET, AF_INET6), start=2):
                diag.sendto(build_request(family, port, seq=seq), (0, 0))
                rows.extend(_read_dump(diag))
        rows.sort(key=_ipv4_first)  # stable: each family keeps the kernel's order, as with a dump per family
        return rows
    finally:
        if own:
            diag.close()


_OLD_REQUEST_REFUSED = (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOENT)


def _ipv4_first(row: SocketRow) -> int:
    return row.family


def _read_dump(diag: socket.socket) -> list[SocketRow]:
    rows: list[SocketRow] = []
    while True:
        found, done = parse_replies(diag.recv(1 << 16))
        rows.extend(found)
        if done:
            return rows
