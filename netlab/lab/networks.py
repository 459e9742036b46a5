"""Where the lab runs: on loopback, or on namespaced hosts behind the userspace switch.

Both give the lab runner the same verbs: where the server listens, a context for opening each
participant's socket (inside its host), starting and stopping the capture, a socket snapshot,
and cleanup. Cleanup is idempotent and safe to call after a partial start.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from netlab.capture.writer import PcapWriter
from netlab.errors import CaptureError, NetlabError
from netlab.lab.impair import Impairment
from netlab.lab.netns import Namespaces, Topology, inside
from netlab.lab.switch import Switch
from netlab.sockets.model import ServerStatus, SocketRow, TcpState
from netlab.sockets.snapshot import snapshot
from netlab.sockets.table import annotate

log = logging.getLogger(__name__)

LINKTYPE_ETHERNET = 1
CAPTURE_START_TIMEOUT = 10.0


class LoopbackNetwork:
    """Everything on 127.0.0.1; the capture is a live capture on the loopback interface."""

    kind = "loopback"

    def __init__(self, backend: str | None = None) -> None:
        self.server_ip = "127.0.0.1"
        self.capture_note = ""
        #: Why the capture could not start (no rights, ...), for the exit status; None when it ran.
        self.capture_error: CaptureError | None = None
        self.write_error: CaptureError | None = None  # the capture file could not be written; raised by close()
        self._backend = backend
        self._capture: object | None = None
        self._writer: PcapWriter | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Nothing to set up on loopback."""

    @contextlib.contextmanager
    def server_context(self) -> Iterator[None]:
        """Sockets opened in the body belong to the server's host."""
        yield

    @contextlib.contextmanager
    def client_context(self, index: int) -> Iterator[str]:
        """Sockets opened in the body belong to participant `index`'s host; yields the host's name."""
        yield "localhost"

    def client_host(self, index: int) -> str:
        """The name of participant `index`'s host."""
        return "localhost"

    def start_capture(self, port: int, pcap: Path) -> bool:
        """Capture TCP port `port` on loopback into `pcap`; False (with `capture_note`) when we may not."""
        from netlab.capture.sources import loopback_name, open_live

        try:
            capture = open_live(loopback_name(), port=port, backend=self._backend)
        except CaptureError as error:
            self.capture_note, self.capture_error = f"no capture: {error}", error
            return False
        try:
            writer = PcapWriter(pcap, capture.linktype, capture.snaplen)
        except CaptureError as error:
            capture.close()
            self.capture_note, self.capture_error = f"no capture: {error}", error
            return False
        self._capture, self._writer = capture, writer

        def pump() -> None:
            for frame in capture:  # after a write error, keep draining so the kernel's buffer does not fill
                if self.write_error is None:
                    try:
                        writer.write(frame.ts, frame.data, frame.orig_len)
                    except CaptureError as error:
                        self.write_error = error

        self._thread = threading.Thread(target=pump, name="lab-capture")
        self._thread.start()
        if not capture.started.wait(CAPTURE_START_TIMEOUT):
            self.stop_capture()
            self.capture_note = "no capture: the capture did not start within 10 s"
            self.capture_error = CaptureError("the capture did not start within 10 s")
            return False
        return True

    def stop_capture(self) -> int:
        """Stop capturing, drain, close the file; returns how many frames the kernel dropped."""
        from netlab.capture.sources import LiveCapture

        capture = self._capture
        if not isinstance(capture, LiveCapture):
            return 0
        capture.stop()
        if self._thread is not None:
            self._thread.join()
        drops = capture.stats().kernel_drops
        capture.close()
        _close_writer(self)
        self._capture = self._writer = self._thread = None
        return drops

    def sockets(self, port: int, server: ServerStatus | None) -> list[SocketRow]:
        """The sockets on `port` now: the listener and both ends of every connection."""
        rows = list(snapshot(port).rows)
        return annotate(rows, [server] if server else [], port)

    def close(self) -> None:
        """Stop the capture if it still runs.

        Raises:
            CaptureError: the capture file could not be written (after everything is stopped).
        """
        self.stop_capture()
        _raise_write_error(self)


class NamespaceNetwork:
    """Hosts h1..hN in network namespaces; h1 runs the server; the switch captures and impairs."""

    kind = "namespaces"

    def __init__(self, hosts: int, impairment: Impairment, seed: int | None = None) -> None:
        self.topology = Topology.plan(hosts)
        self.impairment = impairment
        self.seed = seed
        self.server_ip = self.topology.hosts[0].ip
        self.capture_note = ""
        self.capture_error: CaptureError | None = None
        self.write_error: CaptureError | None = None  # the capture file could not be written; raised by close()
        self._namespaces = Namespaces(self.topology)
        self._switch: Switch | None = None
        self._writer: PcapWriter | None = None
        self._pcap: Path | None = None
        self._started = False
        self.wire_by = "the netlab switch (this kernel has no netem)"

    def start(self) -> None:
        """Create the namespaces and links (root needed) and start the switch without capture yet."""
        self._namespaces.__enter__()
        self._started = True

    @contextlib.contextmanager
    def server_context(self) -> Iterator[None]:
        """Sockets opened in the body belong to h1."""
        with inside(self.topology.hosts[0].netns):
            yield

    def client_host(self, index: int) -> str:
        """Participant `index` sits on h2, h3, ... (round robin when there are more participants than hosts)."""
        clients = self.topology.hosts[1:]
        return clients[index % len(clients)].name

    @contextlib.contextmanager
    def client_context(self, index: int) -> Iterator[str]:
        """Sockets opened in the body belong to participant `index`'s host."""
        clients = self.topology.hosts[1:]
        host = clients[index % len(clients)]
        with inside(host.netns):
            yield host.name

    def start_capture(self, port: int, pcap: Path) -> bool:
        """Start the switch, recording every frame it forwards into `pcap`.

        Where the kernel has netem, loss and delay are netem's (on each switch port, after the
        capture point); reordering stays in the switch so that the capture shows it.
        """
        self._writer = PcapWriter(pcap, LINKTYPE_ETHERNET)
        self._pcap = pcap
        topo = self.topology
        wire = self.impairment
        if (wire.loss or wire.delay_ms) and netem_available(topo.switch_netns, topo.hosts[0].port_ifname):
            for host in topo.hosts:
                _tc(topo.switch_netns, "qdisc", "add", "dev", host.port_ifname, "root", *netem_args(wire))
            self.wire_by = "netem (loss, delay) and the netlab switch (reordering)"
            wire = Impairment(reorder=wire.reorder, reorder_gap_ms=wire.reorder_gap_ms)
        self._switch = Switch(
            topo.switch_netns,
            [h.port_ifname for h in topo.hosts],
            wire,
            seed=self.seed,
            capture=self._record,
        )
        self._switch.start()
        return True

    def stop_capture(self) -> int:
        """Stop the switch (frames in flight are flushed first) and close the capture."""
        if self._switch is not None:
            self._switch.stop()
        _close_writer(self)
        self._writer = None
        return 0

    def _record(self, ts: float, frame: bytes) -> None:
        """The switch's capture point (switch thread): write the frame, until the first write error."""
        if self.write_error is None and self._writer is not None:
            try:
                self._writer.write(ts, frame)
            except CaptureError as error:
                self.write_error = error

    @property
    def wire_stats(self) -> tuple[int, int, int]:
        """Frames forwarded, dropped and reordered by the switch."""
        if self._switch is None:
            return (0, 0, 0)
        stats = self._switch.stats
        return (stats.frames, stats.dropped, stats.reordered)

    def sockets(self, port: int, server: ServerStatus | None) -> list[SocketRow]:
        """The sockets on `port` in every host: the listener on h1, both ends of each connection."""
        rows: list[SocketRow] = []
        for host in self.topology.hosts:
            try:
                rows.extend(snapshot(port, netns=host.netns).rows)
            except NetlabError as error:
                log.warning("no socket snapshot in %s: %s", host.name, error)
        return annotate(rows, [server] if server else [], port)

    def busy_connections(self, port: int) -> int:
        """Connections on `port`, in any host, that have not finished closing (TIME-WAIT counts as done)."""
        done = {TcpState.TIME_WAIT, TcpState.CLOSE, TcpState.LISTEN}
        return sum(1 for row in self.sockets(port, None) if row.state not in done)

    def close(self) -> None:
        """Stop the switch and delete every namespace (idempotent)."""
        self.stop_capture()
        if self._started:
            self._namespaces.close()
            self._started = False
        _raise_write_error(self)


Network = LoopbackNetwork | NamespaceNetwork


def _close_writer(net: Network) -> None:
    """Close `net`'s capture file; a failed last write is kept as its `write_error`."""
    if net._writer is not None:
        try:
            net._writer.close()
        except CaptureError as error:
            net.write_error = net.write_error or error


def _raise_write_error(net: Network) -> None:
    if net.write_error is not None:
        error, net.write_error = net.write_error, None
        raise error


def netem_args(impairment: Impairment) -> list[str]:
    """The `tc ... netem` arguments for the loss and delay of `impairment` (pure)."""
    args = ["netem"]
    if impairment.delay_ms:
        args += ["delay", f"{impairment.delay_ms:g}ms"]
    if impairment.loss:
        args += ["loss", f"{impairment.loss:g}%"]
    return args


def _tc(netns: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", netns, "tc", *args], capture_output=True, text=True, timeout=30, check=False
    )


def netem_available(netns: str, ifname: str) -> bool:
    """True when a netem qdisc can be added here (tried on `ifname` in `netns`, then removed)."""
    if shutil.which("tc") is None:
        return False
    added = _tc(netns, "qdisc", "add", "dev", ifname, "root", "netem", "delay", "0ms")
    if added.returncode != 0:
        log.info("no netem (%s): the switch impairs the wire itself", added.stderr.strip())
        return False
    _tc(netns, "qdisc", "del", "dev", ifname, "root")
    return True
