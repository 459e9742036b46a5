"""Network namespaces for the multi-host lab: create, enter, tear down, sweep leftovers.

Theory of operation:

* A lab run has a short random *run id*; every namespace it creates is called
  ``nl-<runid>-<role>`` (``sw`` for the switch, ``h1`` ... ``hN`` for the hosts), so that a
  run's leftovers can be recognised by name alone.
* Each host namespace has one interface, ``eth0``, the end of a veth pair whose other end
  (``nl-<runid>-pK``) lives in the switch namespace. Addresses exist only inside the host
  namespaces; the root namespace gains no interface, route or nft table, so ``ip link`` in
  the root namespace is unchanged by a run.
* Deleting a namespace destroys the veth ends inside it, and deleting one end of a veth pair
  destroys the other, so tearing down = deleting the namespaces.
* A run records its pid in ``/run/netlab/lab-<runid>.pid`` (machine-wide, like the namespaces
  themselves, so runs with different runtime directories never sweep each other). At start,
  namespaces whose run has no live pid (a killed run) are deleted.
* Threads of this process enter a namespace with ``setns(2)`` (per thread for network
  namespaces); a socket belongs for life to the namespace it was created in, so the lab opens
  the server's and each client's socket inside the right namespace and then returns.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import re
import secrets
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from netlab.errors import LabError, LabPermissionError
from netlab.invocation import program_text

log = logging.getLogger(__name__)

PREFIX = "nl-"
NETNS_DIR = Path("/run/netns")
LAB_STATE_DIR = Path("/run/netlab")
_NAME_RE = re.compile(r"^nl-([0-9a-f]{6})-(sw|h\d+)$")
_CLONE_NEWNET = 0x40000000
_SIOCETHTOOL = 0x8946
# Legacy ethtool "set" commands (linux/ethtool.h): tx checksum, scatter-gather, TSO, GSO, GRO.
_ETHTOOL_OFFLOAD_OFF = (0x17, 0x19, 0x1F, 0x24, 0x2C)


@dataclass(frozen=True, slots=True)
class Host:
    """One lab host: its namespace, its interface there, its address, and the switch port facing it."""

    name: str
    netns: str
    ip: str
    port_ifname: str
    ifname: str = "eth0"


@dataclass(frozen=True, slots=True)
class Topology:
    """The plan of a run: N hosts on one /24, each wired to a port of one switch (pure)."""

    run_id: str
    switch_netns: str
    hosts: tuple[Host, ...]
    subnet: str = "10.0.0.0/24"

    @classmethod
    def plan(cls, host_count: int, run_id: str | None = None) -> Topology:
        """A star of `host_count` hosts h1..hN at 10.0.0.1.. around switch `sw`."""
        if not 2 <= host_count <= 200:
            raise LabError(f"--hosts must be between 2 and 200 (got {host_count})")
        rid = run_id or secrets.token_hex(3)
        hosts = tuple(
            Host(name=f"h{i}", netns=f"{PREFIX}{rid}-h{i}", ip=f"10.0.0.{i}", port_ifname=f"{PREFIX}{rid}-p{i}")
            for i in range(1, host_count + 1)
        )
        return cls(run_id=rid, switch_netns=f"{PREFIX}{rid}-sw", hosts=hosts)

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Every namespace of the run, the switch first."""
        return (self.switch_netns, *(h.netns for h in self.hosts))


def require_root() -> None:
    """Raise `LabPermissionError` unless we can create namespaces (root) and `ip` exists."""
    if not sys.platform.startswith("linux"):
        raise LabError("--hosts needs Linux network namespaces; on this system use plain `netlab lab` (loopback)")
    if os.geteuid() != 0:
        raise LabPermissionError(
            "--hosts needs root to create network namespaces: run "
            f"`sudo {program_text(privileged=True)} lab --hosts N ...` "
            "(or plain `netlab lab`, which runs on 127.0.0.1 without namespaces)"
        )
    if shutil.which("ip") is None:
        raise LabError("netlab lab --hosts needs the `ip` command: apt-get install iproute2")


def namespaces_supported() -> bool:
    """True when this process may create network namespaces (Linux, root, `ip` and `unshare` work)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    if shutil.which("unshare") is None:
        return True
    done = subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=30, check=False)
    return done.returncode == 0


def _ip(*args: str) -> None:
    """Run one `ip` command; raise LabError with its message on failure."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        why = done.stderr.strip() or f"exit status {done.returncode}"
        if "Operation not permitted" in why:
            raise LabPermissionError(
                f"`ip {' '.join(args)}` was refused ({why}): --hosts needs root with CAP_SYS_ADMIN and "
                "CAP_NET_ADMIN (in a container: run it privileged)"
            )
        raise LabError(f"`ip {' '.join(args)}` failed: {why}")


def list_namespaces() -> list[str]:
    """Names of the named network namespaces (those under /run/netns)."""
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir())
    except FileNotFoundError:
        return []


def _pid_file(run_id: str) -> Path:
    return LAB_STATE_DIR / f"lab-{run_id}.pid"


def _run_alive(run_id: str) -> bool:
    try:
        pid = int(_pid_file(run_id).read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def delete_namespace(name: str) -> None:
    """Delete one namespace; a missing one is fine, any other failure is logged."""
    done = subprocess.run(["ip", "netns", "delete", name], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0 and name in list_namespaces():
        log.warning("could not delete namespace %s: %s", name, done.stderr.strip())


def sweep_leftovers() -> list[str]:
    """Delete namespaces left by killed lab runs (no live pid); returns the names deleted."""
    swept: list[str] = []
    for name in list_namespaces():
        match = _NAME_RE.match(name)
        if match is None or _run_alive(match.group(1)):
            continue
        delete_namespace(name)
        swept.append(name)
    for run_id in {m.group(1) for n in swept if (m := _NAME_RE.match(n))}:
        _pid_file(run_id).unlink(missing_ok=True)
    if swept:
        log.warning("removed %d namespace(s) left by a killed lab run: %s", len(swept), " ".join(swept))
    return swept


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def inside(netns: str) -> Iterator[None]:
    """Run the body with the calling thread inside network namespace `netns`.

    Sockets created in the body belong to `netns` for life. Only the calling thread moves; it
    always returns to its own namespace, also on error.
    """
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(str(NETNS_DIR / netns), os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)


def disable_offloads(ifname: str) -> None:
    """Turn off checksum/segmentation offloads on `ifname` (in the current thread's namespace).

    Frames then leave the host complete (real checksums, at most one MTU), which a userspace
    switch can forward as they are and a capture shows as they are.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for cmd in _ETHTOOL_OFFLOAD_OFF:
            value = ctypes.create_string_buffer(struct.pack("II", cmd, 0))
            request = struct.pack("16sP", ifname.encode(), ctypes.addressof(value))
            try:
                fcntl.ioctl(sock.fileno(), _SIOCETHTOOL, request)
            except OSError as error:
                log.debug("ethtool 0x%x on %s: %s", cmd, ifname, error)


class Namespaces:
    """Creates a `Topology`'s namespaces and links, and always removes them (context manager)."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self._created: list[str] = []

    def __enter__(self) -> Namespaces:
        require_root()
        sweep_leftovers()
        pid_file = _pid_file(self.topology.run_id)
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(f"{os.getpid()}\n")
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add_netns(self, name: str) -> None:
        _ip("netns", "add", name)
        self._created.append(name)
        _ip("-n", name, "link", "set", "lo", "up")
        self._sysctl(name, "net.ipv6.conf.all.disable_ipv6", "1")

    @staticmethod
    def _sysctl(netns: str, key: str, value: str) -> None:
        with inside(netns):
            path = Path("/proc/sys") / key.replace(".", "/")
            try:
                path.write_text(value)
            except OSError as error:
                log.debug("sysctl %s=%s in %s: %s", key, value, netns, error)

    def _build(self) -> None:
        topo = self.topology
        self._add_netns(topo.switch_netns)
        for host in topo.hosts:
            self._add_netns(host.netns)
            _ip(
                "link",
                "add",
                host.ifname,
                "netns",
                host.netns,
                "type",
                "veth",
                "peer",
                "name",
                host.port_ifname,
                "netns",
                topo.switch_netns,
            )
            _ip("-n", host.netns, "addr", "add", f"{host.ip}/24", "dev", host.ifname)
            _ip("-n", host.netns, "link", "set", host.ifname, "up")
            _ip("-n", topo.switch_netns, "link", "set", host.port_ifname, "up")
            with inside(host.netns):
                disable_offloads(host.ifname)
            with inside(topo.switch_netns):
                disable_offloads(host.port_ifname)
        log.info("namespaces up: %s", " ".join(topo.namespaces))

    def close(self) -> None:
        """Delete every namespace this object created (idempotent)."""
        while self._created:
            delete_namespace(self._created.pop())
        _pid_file(self.topology.run_id).unlink(missing_ok=True)
