"""The commands a report shows for doing the lab by hand (pure)."""

from __future__ import annotations

from netlab.lab.howto import loopback_commands, namespace_commands
from netlab.lab.impair import Impairment
from netlab.lab.netns import Topology


def test_loopback_commands_name_the_port_every_participant_and_the_capture() -> None:
    text = "\n".join(c.command for c in loopback_commands(41000, ["alice", "bob"], "captures/x.pcap"))
    assert "netlab serve --port 41000" in text
    assert "netlab join --port 41000 --nick alice" in text and "--nick bob" in text
    assert "--save captures/x.pcap" in text and "netlab report --read captures/x.pcap" in text


def test_namespace_commands_build_every_host_and_impair_with_netem() -> None:
    hosts = Topology.plan(3, run_id="abcdef").hosts
    commands = namespace_commands(hosts, 5000, ["alice", "bob", "carol"], Impairment(loss=5, reorder=10), "p.pcap")
    text = "\n".join(c.command for c in commands)
    for host in hosts:
        assert f"ip netns add {host.name}" in text and f"addr add {host.ip}/24" in text
        assert f"tc qdisc add dev {host.name}-port root netem delay 25ms reorder 10% loss 5%" in text
    assert "ip netns exec h2 netlab join --host 10.0.0.1 --port 5000 --nick alice" in text
    assert "ip netns exec h2 netlab join --host 10.0.0.1 --port 5000 --nick carol" in text  # round robin
    assert "ip netns del h1 && ip netns del h2 && ip netns del h3 && ip link del br0" in text
    assert "netem" not in "\n".join(c.command for c in namespace_commands(hosts, 5000, ["a"], Impairment(), "p"))
