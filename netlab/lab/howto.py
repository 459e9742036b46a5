"""How to do a lab run by hand: the commands the report shows a student (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from netlab.lab.impair import Impairment
from netlab.lab.netns import Host
from netlab.report.model import Command


def loopback_commands(port: int, nicks: Sequence[str], pcap: str) -> list[Command]:
    """The loopback lab by hand, one terminal per command."""
    out = [
        Command("1. start the chat server", f"netlab serve --port {port}"),
        Command("2. capture its traffic (as root)", f"sudo netlab follow --port {port} --save {pcap}"),
    ]
    out += [Command(f"3. join as {n}", f"netlab join --port {port} --nick {n}") for n in nicks]
    out += [
        Command("4. look at the sockets (netstat -tnp / ss -tnp show the same)", f"netlab sockets --port {port}"),
        Command("5. follow the TCP streams", f"netlab follow --read {pcap}"),
        Command("6. build this report", f"netlab report --read {pcap}"),
    ]
    return out


def namespace_commands(
    hosts: Sequence[Host], port: int, nicks: Sequence[str], impairment: Impairment, pcap: str
) -> list[Command]:
    """The namespaced lab by hand: namespaces, veths, a bridge, netem, capture, server, clients."""
    lines = ["ip link add br0 type bridge && ip link set br0 up"]
    for h in hosts:
        lines += [
            f"ip netns add {h.name}",
            f"ip link add {h.name}-eth0 type veth peer name {h.name}-port",
            f"ip link set {h.name}-eth0 netns {h.name} name eth0",
            f"ip -n {h.name} addr add {h.ip}/24 dev eth0 && ip -n {h.name} link set eth0 up",
            f"ip link set {h.name}-port master br0 up",
        ]
    out = [Command("1. build the hosts: one namespace each, a veth pair each, one bridge", "\n".join(lines))]
    if impairment.active:
        netem = " ".join(
            part for part in (
                f"delay {impairment.delay_ms or impairment.reorder_gap_ms:g}ms"
                if impairment.delay_ms or impairment.reorder else "",
                f"reorder {impairment.reorder:g}%" if impairment.reorder else "",
                f"loss {impairment.loss:g}%" if impairment.loss else "",
            ) if part
        )  # fmt: skip
        out.append(Command(
            "2. impair the wire (needs the netem qdisc; netlab's own switch does this where netem is missing)",
            "\n".join(f"tc qdisc add dev {h.name}-port root netem {netem}" for h in hosts),
        ))  # fmt: skip
    out.append(Command("3. capture on the bridge", f"tcpdump -i br0 -w {pcap} tcp port {port}"))
    out.append(Command("4. the server on h1", f"ip netns exec h1 netlab serve --host {hosts[0].ip} --port {port}"))
    clients = hosts[1:]
    out += [
        Command(f"5. {n} on {clients[i % len(clients)].name}",
                f"ip netns exec {clients[i % len(clients)].name} netlab join --host {hosts[0].ip} --port {port} --nick {n}")
        for i, n in enumerate(nicks)
    ]  # fmt: skip
    out.append(Command("6. the sockets on h1", f"netlab sockets --netns h1 --port {port}"))
    out.append(Command("7. the report", f"netlab report --read {pcap}"))
    out.append(Command("8. clean up", " && ".join(f"ip netns del {h.name}" for h in hosts) + " && ip link del br0"))
    return out
