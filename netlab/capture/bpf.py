"""Classic BPF programs for live capture: compiled by libpcap when it is there, hand-built when not.

Two things matter more than convenience here:

- **Snap length.** The program's accept instruction (`ret #N`) decides how many bytes of a frame
  the kernel keeps. Loopback frames reach 65 550 bytes, so compiling with the usual 65 535 silently
  cuts the end off large segments. Every program built here accepts `snaplen` bytes (>= 262 144 by
  default), which never truncates on any Linux interface.
- **Loopback's second copy.** Linux shows every loopback frame twice to an `AF_PACKET` socket: once
  as it leaves (`PACKET_OUTGOING`) and once as it arrives. `drop_outgoing` prefixes a program with
  a test of the packet-type metadata so the kernel discards the outgoing copy before it is queued.

libpcap is loaded with ctypes (`pcap_open_dead` + `pcap_compile`), so compiling needs no capture
rights. When libpcap is missing, `port_filter` builds the program for `tcp port P` by hand (the
same instructions `tcpdump -dd 'tcp port P'` prints for Ethernet framing).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from netlab.errors import FilterUnavailable

log = logging.getLogger(__name__)

DEFAULT_SNAPLEN = 262_144
LINKTYPE_ETHERNET = 1

# Opcode parts (linux/filter.h, pcap/bpf.h).
_LD, _LDX, _JMP, _RET = 0x00, 0x01, 0x05, 0x06
_W, _H, _B = 0x00, 0x08, 0x10
_ABS, _IND, _MSH = 0x20, 0x40, 0xA0
_JEQ, _JSET, _K = 0x10, 0x40, 0x00
_SKF_AD_OFF = -0x1000
_SKF_AD_PKTTYPE = 4
PACKET_OUTGOING = 4
_SO_ATTACH_FILTER = 26

#: Library names tried in order; tests replace this to simulate a machine without libpcap.
LIBPCAP_NAMES: tuple[str, ...] = ("libpcap.so.1", "libpcap.so.0.8", "libpcap.so")
_PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class BpfInsn:
    """One classic BPF instruction (`struct sock_filter`)."""

    code: int
    jt: int
    jf: int
    k: int


BpfProgram = tuple[BpfInsn, ...]


class _BpfInsnC(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint32),
    ]


class _BpfProgramC(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_BpfInsnC))]


def _load_libpcap() -> ctypes.CDLL | None:
    for name in LIBPCAP_NAMES:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    found = ctypes.util.find_library("pcap") if "libpcap.so" in LIBPCAP_NAMES else None
    if found:
        try:
            return ctypes.CDLL(found)
        except OSError:
            return None
    return None


def libpcap_available() -> bool:
    """True when libpcap can be loaded to compile filter expressions."""
    return _load_libpcap() is not None


def compile_filter(expression: str, linktype: int, snaplen: int = DEFAULT_SNAPLEN) -> BpfProgram:
    """Compile a tcpdump filter expression for `linktype` with libpcap, keeping `snaplen` bytes.

    Raises:
        FilterUnavailable: libpcap is not installed, or the expression does not compile
            (the message carries libpcap's own explanation).
    """
    lib = _load_libpcap()
    if lib is None:
        raise FilterUnavailable(
            "libpcap is not installed, so the filter expression cannot be compiled "
            "(apt-get install libpcap0.8, or use --port/--host without --filter)"
        )
    lib.pcap_open_dead.restype = ctypes.c_void_p
    lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.pcap_compile.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(_BpfProgramC),
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_uint32,
    ]
    lib.pcap_geterr.restype = ctypes.c_char_p
    lib.pcap_geterr.argtypes = [ctypes.c_void_p]
    lib.pcap_freecode.argtypes = [ctypes.POINTER(_BpfProgramC)]
    lib.pcap_close.argtypes = [ctypes.c_void_p]
    handle = lib.pcap_open_dead(linktype, snaplen)
    if not handle:
        raise FilterUnavailable(f"libpcap cannot compile filters for link type {linktype}")
    program = _BpfProgramC()
    try:
        if lib.pcap_compile(handle, ctypes.byref(program), expression.encode(), 1, _PCAP_NETMASK_UNKNOWN) != 0:
            reason = (lib.pcap_geterr(handle) or b"unknown error").decode(errors="replace")
            raise FilterUnavailable(f"bad capture filter {expression!r}: {reason}")
        insns = tuple(
            BpfInsn(
                program.bf_insns[i].code,
                program.bf_insns[i].jt,
                program.bf_insns[i].jf,
                program.bf_insns[i].k,
            )
            for i in range(program.bf_len)
        )
        lib.pcap_freecode(ctypes.byref(program))
    finally:
        lib.pcap_close(handle)
    return insns


def port_filter(port: int, snaplen: int = DEFAULT_SNAPLEN) -> BpfProgram:
    """The program for `tcp port PORT` on Ethernet framing (IPv4 and IPv6), built without libpcap.

    It is the program libpcap produces for that expression: IPv6 with TCP as the next header, or
    unfragmented IPv4 carrying TCP, with `port` as source or destination.
    """
    accept, reject = 18, 19

    def jump(at: int, code: int, k: int, true: int, false: int) -> BpfInsn:
        return BpfInsn(_JMP | code | _K, true - at - 1, false - at - 1, k)

    return (
        BpfInsn(_LD | _H | _ABS, 0, 0, 12),  # 0: ethertype
        jump(1, _JEQ, 0x86DD, 2, 8),
        BpfInsn(_LD | _B | _ABS, 0, 0, 20),  # 2: IPv6 next header
        jump(3, _JEQ, 6, 4, reject),
        BpfInsn(_LD | _H | _ABS, 0, 0, 54),  # 4: TCP source port
        jump(5, _JEQ, port, accept, 6),
        BpfInsn(_LD | _H | _ABS, 0, 0, 56),  # 6: TCP destination port
        jump(7, _JEQ, port, accept, reject),
        jump(8, _JEQ, 0x0800, 9, reject),  # 8: IPv4?
        BpfInsn(_LD | _B | _ABS, 0, 0, 23),  # 9: protocol
        jump(10, _JEQ, 6, 11, reject),
        BpfInsn(_LD | _H | _ABS, 0, 0, 20),  # 11: fragment offset
        jump(12, _JSET, 0x1FFF, reject, 13),
        BpfInsn(_LDX | _B | _MSH, 0, 0, 14),  # 13: X = IPv4 header length
        BpfInsn(_LD | _H | _IND, 0, 0, 14),  # 14: TCP source port
        jump(15, _JEQ, port, accept, 16),
        BpfInsn(_LD | _H | _IND, 0, 0, 16),  # 16: TCP destination port
        jump(17, _JEQ, port, accept, reject),
        BpfInsn(_RET | _K, 0, 0, snaplen),  # 18
        BpfInsn(_RET | _K, 0, 0, 0),  # 19
    )


def accept_all(snaplen: int = DEFAULT_SNAPLEN) -> BpfProgram:
    """A program that keeps every frame whole (used when no filter can be built)."""
    return (BpfInsn(_RET | _K, 0, 0, snaplen),)


def drop_outgoing(program: Sequence[BpfInsn]) -> BpfProgram:
    """`program`, preceded by a test that rejects frames the host is sending (`PACKET_OUTGOING`).

    Jumps in classic BPF are relative, so the original instructions keep working unchanged.
    """
    prefix = (
        BpfInsn(_LD | _W | _ABS, 0, 0, (_SKF_AD_OFF + _SKF_AD_PKTTYPE) & 0xFFFFFFFF),
        BpfInsn(_JMP | _JEQ | _K, 0, 1, PACKET_OUTGOING),
        BpfInsn(_RET | _K, 0, 0, 0),
    )
    return prefix + tuple(program)


def snaplen_of(program: Sequence[BpfInsn]) -> int:
    """The largest number of bytes any accept instruction of `program` keeps."""
    return max((insn.k for insn in program if insn.code == _RET | _K), default=0)


def attach(sock: socket.socket, program: Sequence[BpfInsn]) -> None:
    """Attach `program` to `sock` (SO_ATTACH_FILTER); the kernel copies it."""
    packed = b"".join(struct.pack("HBBI", i.code, i.jt, i.jf, i.k) for i in program)
    buffer = ctypes.create_string_buffer(packed, len(packed))
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
