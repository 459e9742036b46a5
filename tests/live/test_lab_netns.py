"""The namespaced lab's plumbing: hosts joined by the userspace switch, impairments, cleanup."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from netlab.capture.writer import PcapWriter
from netlab.lab.impair import Impairment
from netlab.lab.netns import (
    Namespaces,
    Topology,
    inside,
    list_namespaces,
    namespaces_supported,
    sweep_leftovers,
)
from netlab.lab.switch import Switch

NAMESPACES = pytest.mark.skipif(not namespaces_supported(), reason="cannot create network namespaces here")
pytestmark = [pytest.mark.live, NAMESPACES]


def _ours() -> tuple[list[str], list[str]]:
    """The lab's namespaces and root-namespace links (prefix nl-), so concurrent tests do not interfere."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True, timeout=10).stdout
    links = sorted(name for line in out.splitlines() if (name := line.split(":", 2)[1].strip()).startswith("nl-"))
    return sorted(n for n in list_namespaces() if n.startswith("nl-")), links


@pytest.fixture
def before() -> Iterator[tuple[list[str], list[str]]]:
    state = _ours()
    yield state
    assert _ours() == state, "the lab left namespaces or links behind"


def _echo_across(topo: Topology, lines: list[bytes]) -> bytes:
    """Echo `lines` one at a time (ping-pong) from h2 to a server on h1 over TCP; returns what came back."""
    with inside(topo.hosts[0].netns):
        server = socket.create_server((topo.hosts[0].ip, 0))
    port = server.getsockname()[1]
    server.settimeout(20)

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(20)
            while chunk := conn.recv(65536):
                conn.sendall(chunk)

    thread = threading.Thread(target=serve)
    thread.start()
    echoed = b""
    try:
        with inside(topo.hosts[1].netns):
            client = socket.create_connection((topo.hosts[0].ip, port), timeout=20)
        with client:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for line in lines:
                client.sendall(line)
                want = len(echoed) + len(line)
                while len(echoed) < want and (chunk := client.recv(65536)):
                    echoed += chunk
            client.shutdown(socket.SHUT_WR)
            while chunk := client.recv(65536):
                echoed += chunk
    finally:
        thread.join(timeout=30)
        server.close()
    return echoed


@pytest.mark.tshark
def test_lossy_switch_makes_retransmissions_yet_tcp_delivers_every_byte(
    before: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    topo = Topology.plan(3)
    pcap = PcapWriter(tmp_path / "lab.pcap", linktype=1)
    lines = [f"line {i}: привет 👋\n".encode() for i in range(40)]
    with Namespaces(topo):
        assert set(topo.namespaces) <= set(list_namespaces())
        switch = Switch(
            topo.switch_netns,
            [h.port_ifname for h in topo.hosts],
            Impairment(loss=10),
            seed=11,
            capture=pcap.write,
        )
        switch.start()
        try:
            echoed = _echo_across(topo, lines)
        finally:
            switch.stop()
            pcap.close()
    assert echoed == b"".join(lines)
    assert switch.stats.dropped > 0
    retrans = subprocess.run(
        [
            "tshark",
            "-r",
            str(tmp_path / "lab.pcap"),
            "-Y",
            "tcp.analysis.retransmission or tcp.analysis.fast_retransmission",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert retrans.strip(), "no retransmission in the capture although frames were dropped"


def test_leftovers_of_a_killed_run_are_swept(before: tuple[list[str], list[str]]) -> None:
    topo = Topology.plan(2)
    for name in topo.namespaces:
        subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    assert set(topo.namespaces) <= set(list_namespaces())
    swept = sweep_leftovers()
    assert set(topo.namespaces) <= set(swept)
    assert not set(topo.namespaces) & set(list_namespaces())


def test_an_error_inside_the_lab_still_removes_everything(before: tuple[list[str], list[str]]) -> None:
    topo = Topology.plan(2)
    with pytest.raises(RuntimeError), Namespaces(topo):
        assert topo.switch_netns in list_namespaces()
        raise RuntimeError("boom")


def test_netem_probe_agrees_with_tc_and_leaves_no_qdisc(before: tuple[list[str], list[str]]) -> None:
    from netlab.lab.networks import netem_available

    topo = Topology.plan(2)
    with Namespaces(topo):
        port = topo.hosts[0].port_ifname
        found = netem_available(topo.switch_netns, port)
        qdiscs = subprocess.run(
            ["ip", "netns", "exec", topo.switch_netns, "tc", "qdisc", "show", "dev", port],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        assert "netem" not in qdiscs
        direct = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                topo.switch_netns,
                "tc",
                "qdisc",
                "add",
                "dev",
                port,
                "root",
                "netem",
                "loss",
                "1%",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        assert found == (direct.returncode == 0)
