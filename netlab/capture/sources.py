"""Live capture sources: open an interface, yield whole raw frames, count what the kernel dropped.

The library API (used by `netlab follow` and by `netlab lab`)::

    with open_live("lo", ports=[55555]) as capture:   # backend chosen by the numbers (see BACKENDS)
        capture.started.wait()                      # the kernel filter is attached: start traffic now
        for frame in capture:                       # CapturedFrame(ts, data, orig_len)
            ...                                     # decode with netlab.capture.decode
        print(capture.stats())                      # frames, kernel drops, truncated frames

`stop()` may be called from any thread or a signal handler; iteration then drains what the kernel
already queued and ends. No per-packet dissection happens here: frames are bytes, decoded by the
same fast struct decoder `--read` uses.

Backends (all keep frames whole: snap length >= 262 144; loopback frames reach 65 550 bytes):

- ``afpacket`` (default; `live_afpacket.py`): an `AF_PACKET` socket in this process, the BPF filter
  compiled into the kernel (libpcap via ctypes, or a hand-built program when libpcap is missing),
  loopback's outgoing copy dropped in the kernel, a receive buffer of up to 512 MiB (used only
  while Python catches up after a burst), kernel time stamps. Needs nothing but Linux. Lost
  nothing in bench/capture_bench.py.
- ``tcpdump``: `tcpdump -U -w - --immediate-mode` piped into a streaming pcap reader. In immediate
  mode libpcap uses fixed ring slots of the snap length, so at 262 144 bytes a 64 MiB ring holds
  only ~250 frames and bursts overflow it (bench/capture_bench.py shows the kernel drops).
- ``scapy``: scapy's `L2ListenSocket` read with `recv_raw` (no dissection) and the same kernel
  filter; kept for comparison with what scapy itself offers.
"""

from __future__ import annotations

import abc
import ipaddress
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from netlab.capture import bpf
from netlab.errors import CaptureError, CapturePermissionError, FilterUnavailable
from netlab.invocation import no_permission_hint

log = logging.getLogger(__name__)

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_RCVBUFFORCE = 33
SO_TIMESTAMPNS = 35
DEFAULT_RCVBUF = 512 * 1024 * 1024
POLL_INTERVAL_S = 0.1
#: After stop(): read the backlog captured before it for at most this long, then count the rest as unread.
DRAIN_LIMIT_S = 60.0

#: ARPHRD types whose frames start with a 14-byte Ethernet header (Ethernet and Linux loopback).
_ETHERNET_LIKE = {1, 772}
_ARPHRD_LOOPBACK = 772


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    """One frame as captured: time stamp (s since the epoch), the bytes kept, the length on the wire."""

    ts: float
    data: bytes
    orig_len: int


@dataclass(frozen=True, slots=True)
class CaptureStats:
    """What a capture saw so far.

    Attributes:
        frames: frames delivered to the reader.
        kernel_drops: frames the kernel (or the capture helper) dropped for lack of buffer space.
        truncated: frames delivered shorter than on the wire (should stay 0: snap length >= 262 144).
        unread: frames captured but thrown away unread because the capture was stopped while
            traffic kept arriving faster than it was read (see `DRAIN_LIMIT_S`).
    """

    frames: int = 0
    kernel_drops: int = 0
    truncated: int = 0
    unread: int = 0


class LiveCapture(abc.ABC):
    """A running capture on one interface; iterate for `CapturedFrame`s.

    Attributes:
        iface: the interface name.
        linktype: the pcap link type of the frames (1 Ethernet, 101 raw IP).
        snaplen: the most bytes kept of any frame.
        backend: the backend's name.
        started: set once frames matching the filter will be captured (start traffic after it).
    """

    backend = "?"

    def __init__(self, iface: str, linktype: int, snaplen: int) -> None:
        self.iface = iface
        self.linktype = linktype
        self.snaplen = snaplen
        self.started = threading.Event()
        self._stopping = threading.Event()
        self._frames = 0
        self._truncated = 0
        self._unread = 0
        self.stopped_at = float("inf")  # wall-clock time of stop(), comparable with frame time stamps
        #: Called (in the iterating thread) when no frame is waiting, before blocking: flush output here.
        self.on_idle: Callable[[], object] | None = None

    def stop(self) -> None:
        """Ask the capture to end: iteration reads every frame captured before this call, then stops.

        Thread-safe and signal-safe. The backlog is read until the kernel's queue is empty, for at
        most `DRAIN_LIMIT_S`; what is still queued then is counted as `unread`, never dropped
        silently. The memory-mapped ring also stops at frames stamped after the call; the socket
        backends cannot (the kernel may stamp a queued frame only when it is read), so they may
        also read frames that arrived while they drained.
        """
        if not self._stopping.is_set():
            self.stopped_at = time.time()
            self._stopping.set()

    @property
    def stopping(self) -> bool:
        """True once `stop()` was called."""
        return self._stopping.is_set()

    @abc.abstractmethod
    def __iter__(self) -> Iterator[CapturedFrame]:
        """Frames in capture order until `stop()`; ends after draining the kernel's queue."""

    @abc.abstractmethod
    def kernel_drops(self) -> int:
        """Frames dropped so far by the kernel or the helper."""

    def stats(self) -> CaptureStats:
        """Counters so far (thread-safe enough to poll: plain integer reads)."""
        return CaptureStats(self._frames, self.kernel_drops(), self._truncated, self._unread)

    @abc.abstractmethod
    def close(self) -> None:
        """Release the socket or helper process. Idempotent."""

    def __enter__(self) -> LiveCapture:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _drain(self, sock: socket.socket, read_one: Callable[[], CapturedFrame | None]) -> Iterator[CapturedFrame]:
        """The socket backends' read loop: `read_one()` (non-blocking; None skips a datagram) until stopped.

        Waits in `POLL_INTERVAL_S` steps (calling `on_idle` first) while nothing is queued. Once
        `stop()` was seen it reads on until the kernel's queue is empty, for at most `DRAIN_LIMIT_S`,
        then discards and counts the rest. No cut-off by time stamp: right after a capture socket
        switches time stamps on, the kernel may stamp a frame queued before stop() only when it is
        read, so the queue is drained instead.
        """
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        give_up = 0.0  # set once stop() was seen
        while True:
            if not give_up and self.stopping:
                give_up = time.monotonic() + DRAIN_LIMIT_S
            if not give_up and not poller.poll(0):
                if self.on_idle is not None:
                    self.on_idle()
                poller.poll(POLL_INTERVAL_S * 1000)
            for _ in range(4096):
                try:
                    frame = read_one()
                except BlockingIOError:
                    if give_up:
                        return  # stopped, and the kernel's queue is empty
                    break
                if frame is not None:
                    yield frame
            if give_up and time.monotonic() >= give_up:
                self._discard_queue(sock)  # traffic keeps coming faster than we read: stop anyway
                return

    def _discard_queue(self, sock: socket.socket) -> None:
        """Throw away (and count as unread) what the kernel still holds: stop() under endless traffic."""
        sink = bytearray(64)
        for _ in range(10_000_000):
            try:
                sock.recv_into(sink, 0, socket.MSG_TRUNC)
            except BlockingIOError:
                break
            self._unread += 1
        if self._unread:
            log.warning("stopped while traffic kept coming: %d captured frame(s) were left unread", self._unread)

    def _count(self, data_len: int, orig_len: int) -> None:
        self._frames += 1
        if orig_len > data_len:
            self._truncated += 1


# ---------------------------------------------------------------------------------------- interfaces


def arphrd_type(iface: str) -> int:
    """The interface's ARPHRD hardware type from sysfs (772 loopback, 1 Ethernet).

    Raises:
        CaptureError: no such interface.
    """
    if iface == "any":
        return 0
    try:
        return int(Path(f"/sys/class/net/{iface}/type").read_text().strip())
    except (OSError, ValueError):
        names = ", ".join(sorted(name for _, name in socket.if_nameindex()))
        raise CaptureError(f"no network interface named {iface!r} (have: {names})") from None


def is_loopback(iface: str) -> bool:
    """True for the loopback interface."""
    return iface != "any" and arphrd_type(iface) == _ARPHRD_LOOPBACK


def linktype_of(iface: str) -> int:
    """The pcap link type a capture on `iface` produces (Ethernet framing or raw IP)."""
    return LINKTYPE_ETHERNET if arphrd_type(iface) in _ETHERNET_LIKE else LINKTYPE_RAW


def loopback_name() -> str:
    """The name of the loopback interface (`lo` on Linux)."""
    for _, name in socket.if_nameindex():
        if is_loopback(name):
            return name
    return "lo"


def choose_interface(host: str | None) -> tuple[str, str]:
    """Pick the interface to capture on for traffic to `host`; returns (name, reason).

    Loopback when `host` is unset, a loopback address or an address of this machine (the kernel
    routes traffic to its own addresses over loopback); otherwise the interface the kernel would
    route to `host` through.
    """
    if host is None:
        return loopback_name(), "the server is local"
    address = ipaddress.ip_address(sorted(resolve(host))[0])
    local = _local_addresses()
    if address.is_loopback or address in local:
        return loopback_name(), f"{host} is this machine"
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((str(address), 9))
        except OSError as error:
            raise CaptureError(f"no route to {host}: {error.strerror}; pick one with --iface") from None
        source = ipaddress.ip_address(probe.getsockname()[0].split("%")[0])
    name = local.get(source)
    if name is None:
        raise CaptureError(f"cannot tell which interface reaches {host}; pick one with --iface")
    return name, f"the route to {host} goes through it"


def resolve(host: str) -> set[str]:
    """The IP addresses (text form, as `Endpoint.ip`) a host name or address stands for.

    Raises:
        CaptureError: the name does not resolve.
    """
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise CaptureError(f"cannot resolve host {host!r}: {error.strerror}") from None
    return {str(ipaddress.ip_address(str(info[4][0]).split("%")[0])) for info in infos}


def _local_addresses() -> dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str]:
    import psutil

    found: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}
    for name, addresses in psutil.net_if_addrs().items():
        for entry in addresses:
            if entry.family in (socket.AF_INET, socket.AF_INET6):
                found[ipaddress.ip_address(entry.address.split("%")[0])] = name
    return found


# ------------------------------------------------------------------------------------------- filters


def filter_expression(
    ports: Sequence[int], hosts: Sequence[str], raw: str | None, protocols: Sequence[str] = ("tcp",)
) -> str:
    """The tcpdump expression for the options: `tcp port P and host H and (RAW)`; '' for everything.

    `protocols` ("tcp", "udp" or both) names what the ports belong to.
    """
    parts = []
    proto = protocols[0] if len(protocols) == 1 else "(" + " or ".join(protocols) + ")"
    if len(ports) == 1 and len(protocols) == 1:
        parts.append(f"{proto} port {ports[0]}")
    elif len(ports) == 1:
        parts.append(f"{proto} and port {ports[0]}")
    elif ports:
        parts.append(f"{proto} and (" + " or ".join(f"port {port}" for port in ports) + ")")
    if hosts:
        parts.append(
            " or ".join(f"host {host}" for host in hosts)
            if len(hosts) == 1
            else "(" + " or ".join(f"host {host}" for host in hosts) + ")"
        )
    if raw:
        parts.append(f"({raw})")
    return " and ".join(parts)


def build_program(
    linktype: int,
    ports: Sequence[int],
    hosts: Sequence[str],
    raw: str | None,
    snaplen: int,
    protocols: Sequence[str] = ("tcp",),
) -> tuple[bpf.BpfProgram, str]:
    """The kernel filter for the options, and how it was built (for the user).

    With libpcap: the full expression. Without it: a hand-built `tcp port P` program (host checked
    in user space by `follow`), or no kernel filter at all when the link type is not Ethernet.

    Raises:
        FilterUnavailable: a raw `--filter` was given and libpcap is missing, or it does not compile.
    """
    expression = filter_expression(ports, hosts, raw, protocols)
    if not expression:
        return bpf.accept_all(snaplen), "no filter"
    if bpf.libpcap_available():
        return bpf.compile_filter(expression, linktype, snaplen), f"kernel filter '{expression}' (libpcap)"
    if raw:
        raise FilterUnavailable(
            "libpcap is not installed, so --filter cannot be compiled "
            "(apt-get install libpcap0.8, or use --port/--host instead)"
        )
    if linktype == LINKTYPE_ETHERNET and len(ports) == 1 and tuple(protocols) == ("tcp",):
        log.warning("libpcap is not installed: using a built-in kernel filter for 'tcp port %d'", ports[0])
        return bpf.port_filter(ports[0], snaplen), f"built-in kernel filter 'tcp port {ports[0]}' (no libpcap)"
    log.warning("libpcap is not installed: capturing everything on the interface and filtering in user space")
    return bpf.accept_all(snaplen), "no kernel filter (no libpcap); filtering in user space"


# ------------------------------------------------------------------------------------------ AF_PACKET


def capture_open_error(error: OSError, iface: str) -> CaptureError:
    if isinstance(error, PermissionError):
        return CapturePermissionError(
            f"no permission to capture on {iface} (needs CAP_NET_RAW): {no_permission_hint()}"
        )
    return CaptureError(f"cannot capture on {iface}: {error.strerror or error}")


# ---------------------------------------------------------------------------------------- the facade

#: Backend names, best first by bench/capture_bench.py (the figures are in bench/README.md).
BACKENDS = ("afpacket", "tcpdump", "scapy")


def default_backend() -> str:
    """`afpacket`: it lost nothing at every rate bench/capture_bench.py reached (bench/README.md)."""
    return "afpacket"


def open_live(
    iface: str,
    *,
    ports: Sequence[int] = (),
    hosts: Sequence[str] = (),
    port: int | None = None,
    host: str | None = None,
    raw_filter: str | None = None,
    snaplen: int = bpf.DEFAULT_SNAPLEN,
    backend: str | None = None,
    protocols: Sequence[str] = ("tcp",),
) -> LiveCapture:
    """Start capturing on `iface` the TCP frames of `ports` and `hosts` (`port`/`host`: one of each).

    `raw_filter` is a tcpdump expression and-ed to the rest; see the module docstring. `protocols`
    ("tcp", "udp" or both) says which protocol's `ports` are captured.

    Returns a `LiveCapture`; wait on its `started` event before sending traffic.

    Raises:
        CapturePermissionError: no capture rights.
        FilterUnavailable: the filter cannot be compiled, or the backend's helper is missing.
        CaptureError: no such interface, or the capture failed to start.
    """
    ports = (*ports, port) if port is not None else tuple(ports)
    hosts = (*hosts, host) if host is not None else tuple(hosts)
    name = backend or default_backend()
    linktype = linktype_of(iface)
    if name == "tcpdump":
        from netlab.capture.live_tcpdump import TcpdumpCapture

        expression = filter_expression(ports, hosts, raw_filter, protocols)
        return TcpdumpCapture(iface, linktype, expression, snaplen, inbound_only=is_loopback(iface))
    program, how = build_program(linktype, ports, hosts, raw_filter, snaplen, protocols)
    log.info("capture filter: %s", how)
    if name == "afpacket":
        from netlab.capture.live_afpacket import AfPacketCapture

        return AfPacketCapture(iface, program)
    if name == "scapy":
        from netlab.capture.live_scapy import ScapyCapture

        return ScapyCapture(iface, program)
    raise CaptureError(f"unknown capture backend {name!r} (choose from {', '.join(BACKENDS)})")
