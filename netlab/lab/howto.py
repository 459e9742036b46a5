"""How to do a lab run by hand: the commands the report shows a student (pure).

Every command is built as a list of words and joined with shell quoting (`shlex.join`), so a path or
a nickname with spaces or Cyrillic stays one argument; steps are numbered in order, one number each.
The options are the CLI's own (`--save-to FILE`, not the flag `--save`): a test parses each command
with the typer app, checks it means what the step says (the port, the file, the nickname), and runs
the loopback steps in order as a student would.

`plain` and `root` are how to call netlab (see `netlab.invocation.program_text`): `root` is used where
the step runs as root (sudo's PATH holds no virtualenv, so it is the program's full path).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from netlab.lab.impair import Impairment
from netlab.lab.netns import Host
from netlab.report.model import Command


def _numbered(steps: Sequence[tuple[str, str]]) -> list[Command]:
    return [Command(f"{number}. {purpose}", command) for number, (purpose, command) in enumerate(steps, 1)]


def _run(program: str, *words: object) -> str:
    """`program` (shell text already) followed by `words`, each quoted for the shell."""
    return program + " " + shlex.join(str(word) for word in words)


def loopback_commands(
    port: int, nicks: Sequence[str], pcap: str, *, plain: str = "netlab", root: str = "netlab"
) -> list[Command]:
    """The loopback lab by hand, one terminal per command."""
    steps = [
        ("start the chat server", _run(plain, "serve", "--port", port)),
        (
            "capture its traffic (as root; stop it with Ctrl-C after the chat)",
            "sudo " + _run(root, "follow", "--port", port, "--save-to", pcap),
        ),
    ]
    # --dialect netlab: the lab's own participants speak it from the first byte, so the by-hand
    # transcript is the lab's, turn for turn (auto detection sends the nickname's newline apart).
    steps += [
        (f"join as {nick}", _run(plain, "join", "--port", port, "--dialect", "netlab", "--nick", nick))
        for nick in nicks
    ]
    steps += [
        ("look at the sockets (netstat -tnp / ss -tnp show the same)", _run(plain, "sockets", "--port", port)),
        ("follow the TCP streams", _run(plain, "follow", "--read", pcap)),
        ("build this report", _run(plain, "report", "--read", pcap)),
    ]
    return _numbered(steps)


def namespace_commands(
    hosts: Sequence[Host],
    port: int,
    nicks: Sequence[str],
    impairment: Impairment,
    pcap: str,
    *,
    root: str = "netlab",
) -> list[Command]:
    """The namespaced lab by hand, all as root: namespaces, veths, a bridge, netem, capture, server, clients."""
    lines = ["ip link add br0 type bridge && ip link set br0 up"]
    for h in hosts:
        lines += [
            f"ip netns add {h.name}",
            f"ip link add {h.name}-eth0 type veth peer name {h.name}-port",
            f"ip link set {h.name}-eth0 netns {h.name} name eth0",
            f"ip -n {h.name} addr add {h.ip}/24 dev eth0 && ip -n {h.name} link set eth0 up",
            f"ip link set {h.name}-port master br0 up",
        ]
    steps = [("build the hosts, as root (sudo -i): one namespace each, a veth pair each, one bridge", "\n".join(lines))]
    if impairment.active:
        netem = " ".join(
            part
            for part in (
                f"delay {impairment.delay_ms or impairment.reorder_gap_ms:g}ms"
                if impairment.delay_ms or impairment.reorder
                else "",
                f"reorder {impairment.reorder:g}%" if impairment.reorder else "",
                f"loss {impairment.loss:g}%" if impairment.loss else "",
            )
            if part
        )
        steps.append(
            (
                "impair the wire (needs the netem qdisc; netlab's own switch does this where netem is missing)",
                "\n".join(f"tc qdisc add dev {h.name}-port root netem {netem}" for h in hosts),
            )
        )
    steps.append(("capture on the bridge", shlex.join(["tcpdump", "-i", "br0", "-w", pcap, "tcp", "port", str(port)])))
    server = hosts[0]
    serve = _run(root, "serve", "--host", server.ip, "--port", port)
    steps.append((f"the server on {server.name}", f"ip netns exec {server.name} {serve}"))
    clients = hosts[1:]
    for index, nick in enumerate(nicks):
        host = clients[index % len(clients)]
        steps.append(
            (
                f"{nick} on {host.name}",
                f"ip netns exec {host.name} "
                + _run(root, "join", "--host", server.ip, "--port", port, "--dialect", "netlab", "--nick", nick),
            )
        )
    steps.append((f"the sockets on {server.name}", _run(root, "sockets", "--netns", server.name, "--port", port)))
    steps.append(("the report", _run(root, "report", "--read", pcap)))
    steps.append(("clean up", " && ".join(f"ip netns del {h.name}" for h in hosts) + " && ip link del br0"))
    return _numbered(steps)
