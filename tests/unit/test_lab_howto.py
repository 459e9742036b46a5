"""The commands a report shows for doing the lab by hand (pure).

Whether each one parses as the CLI reads it, and runs, is tested in tests/integration/test_hand_commands.py.
"""

from __future__ import annotations

import re
import shlex

from netlab.lab.howto import loopback_commands, namespace_commands
from netlab.lab.impair import Impairment
from netlab.lab.netns import Topology


def test_loopback_commands_name_the_port_every_participant_and_the_capture() -> None:
    text = "\n".join(c.command for c in loopback_commands(41000, ["alice", "bob"], "captures/x.pcap"))
    assert "netlab serve --port 41000" in text
    assert "netlab join --port 41000 --dialect netlab --nick alice" in text and "--nick bob" in text
    # --save is a flag (captures/follow-<time>.pcap); the file goes with --save-to (was `--save FILE`: exit 2)
    assert "--save-to captures/x.pcap" in text and "--save " not in text
    assert "netlab report --read captures/x.pcap" in text


def test_steps_are_numbered_once_each_in_order() -> None:
    hosts = Topology.plan(3, run_id="abcdef").hosts
    for commands in (
        loopback_commands(41000, ["alice", "bob", "carol"], "c/x.pcap"),
        namespace_commands(hosts, 5000, ["alice", "bob", "carol"], Impairment(loss=5), "p.pcap"),
        namespace_commands(hosts, 5000, ["alice"], Impairment(), "p.pcap"),
    ):
        numbers = [int(re.match(r"(\d+)\. ", c.purpose).group(1)) for c in commands]  # type: ignore[union-attr]
        assert numbers == list(range(1, len(commands) + 1))


def test_root_steps_name_the_program_by_its_full_path_and_words_are_quoted() -> None:
    root = "/home/st/my lab/.venv/bin/netlab"
    commands = loopback_commands(41000, ["борис", "a b"], "my captures/x.pcap", plain="netlab", root=shlex.quote(root))
    capture = next(c.command for c in commands if "follow --port" in c.command)
    assert shlex.split(capture) == ["sudo", root, "follow", "--port", "41000", "--save-to", "my captures/x.pcap"]
    joins = [shlex.split(c.command) for c in commands if " join " in c.command]
    assert [words[-1] for words in joins] == ["борис", "a b"]
    assert all(not c.command.startswith("sudo netlab") for c in commands)


def test_namespace_commands_build_every_host_and_impair_with_netem() -> None:
    hosts = Topology.plan(3, run_id="abcdef").hosts
    commands = namespace_commands(hosts, 5000, ["alice", "bob", "carol"], Impairment(loss=5, reorder=10), "p.pcap")
    text = "\n".join(c.command for c in commands)
    for host in hosts:
        assert f"ip netns add {host.name}" in text and f"addr add {host.ip}/24" in text
        assert f"tc qdisc add dev {host.name}-port root netem delay 25ms reorder 10% loss 5%" in text
    assert "ip netns exec h2 netlab join --host 10.0.0.1 --port 5000 --dialect netlab --nick alice" in text
    assert (
        "ip netns exec h2 netlab join --host 10.0.0.1 --port 5000 --dialect netlab --nick carol" in text
    )  # round robin
    assert "ip netns del h1 && ip netns del h2 && ip netns del h3 && ip link del br0" in text
    assert "netem" not in "\n".join(c.command for c in namespace_commands(hosts, 5000, ["a"], Impairment(), "p"))
