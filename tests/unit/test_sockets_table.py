"""Roles, nicknames, grouping, rendering and watch marks of `netlab sockets` (pure core)."""

from __future__ import annotations

import ast
import json
import random
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import netlab.sockets.model as model_module
import netlab.sockets.table as table_module
from netlab.packets import Endpoint
from netlab.sockets.model import ChatClient, Role, ServerStatus, Snapshot, SocketRow, TcpState
from netlab.sockets.table import (
    COLUMNS,
    GroupKind,
    Mark,
    WatchTracker,
    annotate,
    group_rows,
    render_markdown,
    render_netstat,
    render_text,
    select,
    to_document,
)

PORT = 55555
LO = "127.0.0.1"


def listener(ip: str = LO, port: int = PORT, pid: int = 10) -> SocketRow:
    wildcard = "::" if ":" in ip else "0.0.0.0"
    return SocketRow(
        6 if ":" in ip else 4,
        Endpoint(ip, port),
        Endpoint(wildcard, 0),
        TcpState.LISTEN,
        0,
        128,
        1,
        0,
        (pid,),
        "srv",
    )


def connection(client_port: int, server_pid: int = 10, client_pid: int = 20, ip: str = LO) -> list[SocketRow]:
    family = 6 if ":" in ip else 4
    server = Endpoint(ip, PORT)
    client = Endpoint(ip, client_port)
    return [
        SocketRow(family, server, client, TcpState.ESTABLISHED, 0, 0, client_port * 2, 0, (server_pid,), "srv"),
        SocketRow(family, client, server, TcpState.ESTABLISHED, 0, 0, client_port * 2 + 1, 0, (client_pid,), "cli"),
    ]


def status(*clients: tuple[str, int], ip: str = LO) -> ServerStatus:
    return ServerStatus(
        pid=10,
        port=PORT,
        listen=(Endpoint(ip, PORT),),
        clients=tuple(ChatClient(nick, Endpoint(ip, port), Endpoint(ip, PORT)) for nick, port in clients),
    )


def test_roles_and_nicknames_follow_the_servers_registry() -> None:
    rows = [listener(), *connection(40001), *connection(40002), *connection(40003)]
    annotated = annotate(rows, [status(("alice", 40001), ("bob", 40002))], PORT)
    summary = [(row.role, row.nickname) for row in annotated]
    assert summary == [
        (Role.LISTENER, None),
        (Role.SERVER_SIDE, "alice"),
        (Role.CLIENT_SIDE, "alice"),
        (Role.SERVER_SIDE, "bob"),
        (Role.CLIENT_SIDE, "bob"),
        (Role.SERVER_SIDE, None),  # connected, not named yet
        (Role.CLIENT_SIDE, None),
    ]


def test_ipv4_clients_of_a_dual_stack_server_match_their_mapped_addresses() -> None:
    server = Endpoint("::ffff:127.0.0.1", PORT)
    client = Endpoint(LO, 40001)
    server_end = SocketRow(6, server, Endpoint("::ffff:127.0.0.1", 40001), TcpState.ESTABLISHED, 0, 0, 5)
    client_end = SocketRow(4, client, Endpoint(LO, PORT), TcpState.ESTABLISHED, 0, 0, 6)
    registry = ServerStatus(
        10,
        PORT,
        (),
        (ChatClient("zoe", Endpoint("::ffff:127.0.0.1", 40001), Endpoint("::ffff:127.0.0.1", PORT)),),
    )
    rows = annotate([client_end, server_end], [registry], PORT)
    assert [(row.role, row.nickname) for row in rows] == [
        (Role.CLIENT_SIDE, "zoe"),
        (Role.SERVER_SIDE, "zoe"),
    ]
    groups = group_rows(rows)
    assert len(groups) == 1 and [row.role for row in groups[0].rows] == [Role.SERVER_SIDE, Role.CLIENT_SIDE]


def test_unrelated_sockets_are_other() -> None:
    row = SocketRow(4, Endpoint(LO, 1234), Endpoint(LO, 80), TcpState.ESTABLISHED, 0, 0)
    assert annotate([row], [], PORT)[0].role is Role.OTHER


@settings(max_examples=60)
@given(
    client_ports=st.lists(st.integers(1024, 65000).filter(lambda p: p != PORT), unique=True, max_size=12),
    named=st.integers(0, 12),
    lone=st.integers(0, 3),
    seed=st.integers(0, 2**32),
)
def test_grouping_is_a_partition_listeners_first_then_each_connection_with_both_ends(
    client_ports: list[int], named: int, lone: int, seed: int
) -> None:
    rows = [listener(), listener("::1")]
    for port in client_ports:
        rows.extend(connection(port))
    rows.extend(
        SocketRow(4, Endpoint(LO, 7000 + i), Endpoint("10.0.0.1", 80), TcpState.SYN_SENT, 0, 1) for i in range(lone)
    )
    random.Random(seed).shuffle(rows)
    registry = status(*((f"n{port}", port) for port in client_ports[:named]))
    groups = group_rows(annotate(rows, [registry], PORT))

    flat = [row for group in groups for row in group.rows]
    assert sorted(flat, key=repr) == sorted(annotate(rows, [registry], PORT), key=repr)
    kinds = [group.kind for group in groups]
    assert kinds == sorted(kinds, key=[GroupKind.LISTENER, GroupKind.CONNECTION, GroupKind.OTHER].index)
    assert kinds.count(GroupKind.LISTENER) == 2 and kinds.count(GroupKind.OTHER) == lone
    connections = [group for group in groups if group.kind is GroupKind.CONNECTION]
    assert len(connections) == len(client_ports)
    for group in connections:
        server_end, client_end = group.rows
        assert (server_end.role, client_end.role) == (Role.SERVER_SIDE, Role.CLIENT_SIDE)
        assert (server_end.local, server_end.remote) == (client_end.remote, client_end.local)
        assert server_end.nickname == client_end.nickname == group.nickname
    nicknamed = [group.nickname is not None for group in connections]
    assert nicknamed == sorted(nicknamed, reverse=True)  # named connections come first


def test_select_by_state() -> None:
    rows = [listener(), *connection(40001)]
    assert select(rows, [TcpState.LISTEN]) == [rows[0]]
    assert select(rows, []) == rows


def test_text_table_is_plain_aligned_and_grouped() -> None:
    rows = annotate([listener(), *connection(40001), *connection(40002)], [status(("alice", 40001))], PORT)
    text = render_text(group_rows(rows))
    lines = text.splitlines()
    assert lines[0].split() == list(COLUMNS)
    assert lines[1].split() == [
        "listener",
        "-",
        "tcp",
        "127.0.0.1:55555",
        "0.0.0.0:*",
        "LISTEN",
        "0",
        "128",
        "10",
        "srv",
    ]
    assert lines[2] == "" and lines[5] == ""
    assert lines[3].split()[:2] == ["server", "alice"] and lines[4].split()[:2] == ["client", "alice"]
    assert lines[6].split()[:2] == ["server", "-"]
    assert "\x1b" not in text
    pid_end = lines[0].index("PID") + len("PID")
    assert lines[1][pid_end - 3 : pid_end] == " 10"  # numbers are right-aligned under their header


def test_netstat_layout_is_net_tools() -> None:
    rows = annotate([listener(), *connection(40001)], [], PORT)
    text = render_netstat(rows)
    assert text.splitlines() == [
        "Active Internet connections (servers and established)",
        "Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name    ",
        "tcp        0      0 127.0.0.1:55555         0.0.0.0:*               LISTEN      10/srv              ",
        "tcp        0      0 127.0.0.1:55555         127.0.0.1:40001         ESTABLISHED 10/srv              ",
        "tcp        0      0 127.0.0.1:40001         127.0.0.1:55555         ESTABLISHED 20/cli              ",
    ]
    hidden = replace(rows[0], pids=(), process=None, family=6, local=Endpoint("::1", PORT), remote=Endpoint("::", 0))
    assert render_netstat([hidden]).splitlines()[2].split() == [
        "tcp6",
        "0",
        "0",
        "::1:55555",
        ":::*",
        "LISTEN",
        "-",
    ]


def test_document_is_json_with_groups_in_display_order() -> None:
    rows = annotate([*connection(40001), listener()], [status(("alice", 40001))], PORT)
    snap = Snapshot(rows=tuple(rows), taken=1.5, port=PORT, backend="sock_diag", servers=(status(("alice", 40001)),))
    document = json.loads(json.dumps(to_document(snap)))
    assert document["schema_version"] == 1 and document["port"] == PORT
    assert [(row["group"], row["role"], row["nickname"]) for row in document["rows"]] == [
        (0, "listener", None),
        (1, "server", "alice"),
        (1, "client", "alice"),
    ]
    assert document["rows"][0]["remote"] == "0.0.0.0:*" and document["rows"][0]["pid"] == 10
    assert document["servers"] == [{"pid": 10, "port": PORT, "clients": 1}]


def test_watch_marks_new_closed_and_a_growing_send_queue() -> None:
    tracker = WatchTracker(grow_after=2)
    base = [listener(), *connection(40001)]
    first = tracker.update(base)
    assert first.marks == {} and first.number == 1
    grown = [base[0], replace(base[1], send_q=100), base[2], *connection(40002)]
    second = tracker.update(grown)
    assert {second.mark(row) for row in connection(40002)} == {Mark.NEW}
    assert second.mark(grown[1]) is None  # grew once: not yet "keeps growing"
    third_rows = [base[0], replace(base[1], send_q=200), base[2]]
    third = tracker.update(third_rows)
    assert third.mark(third_rows[1]) is Mark.GROWING
    closed = [row for row in third.rows if third.mark(row) is Mark.CLOSED]
    assert sorted(row.local.port for row in closed) == [40002, PORT]
    fourth = tracker.update([base[0], replace(base[1], send_q=200), base[2]])
    assert fourth.marks == {}  # steady again; the closed rows are gone
    assert len(fourth.rows) == 3


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=20))
def test_growing_means_grew_at_each_of_the_last_two_refreshes(queues: list[int]) -> None:
    tracker = WatchTracker(grow_after=2)
    row = connection(40001)[0]
    for index, queue in enumerate(queues):
        refresh = tracker.update([replace(row, send_q=queue)])
        expected = index >= 2 and queues[index] > queues[index - 1] > queues[index - 2]
        assert (refresh.mark(row) is Mark.GROWING) == expected


def test_pure_modules_import_no_io() -> None:
    banned = {"socket", "threading", "psutil", "typer", "rich", "scapy", "subprocess", "os"}
    for module in (table_module, model_module):
        tree = ast.parse(Path(str(module.__file__)).read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in banned, (module.__name__, name)


def test_markdown_table_for_reports() -> None:
    rows = annotate([listener(), *connection(40001)], [status(("a_b", 40001))], PORT)
    lines = render_markdown(group_rows(rows)).splitlines()
    assert lines[0] == "| " + " | ".join(COLUMNS) + " |"
    assert lines[1].count("---:") == 3
    assert lines[2] == "| listener | - | tcp | `127.0.0.1:55555` | `0.0.0.0:*` | LISTEN | 0 | 128 | 10 | srv |"
    assert lines[3].startswith("| server | a\\_b | tcp | `127.0.0.1:55555` | `127.0.0.1:40001` | ESTAB |")
    assert len(lines) == 5


def test_server_outbox_from_the_status_file_counts_towards_growth() -> None:
    registry = ServerStatus(
        10, PORT, (), (ChatClient("slow", Endpoint(LO, 40001), Endpoint(LO, PORT), queued_bytes=0),)
    )
    tracker = WatchTracker(grow_after=2)
    marks = []
    for queued in (0, 4096, 8192):  # the kernel's Send-Q is full and flat; the server's outbox grows
        grown = replace(registry, clients=(replace(registry.clients[0], queued_bytes=queued),))
        rows = annotate([*connection(40001)], [grown], PORT)
        assert rows[0].queued == queued and rows[1].queued is None
        marks.append(tracker.update(rows).mark(rows[0]))
    assert marks == [None, None, Mark.GROWING]


def test_a_dual_stack_servers_published_mapped_addresses_match_the_kernels_rows() -> None:
    from netlab.sockets.model import parse_status

    registry = parse_status(
        {
            "schema_version": 1,
            "pid": 10,
            "port": PORT,
            "listen": f"[::]:{PORT}",
            "clients": [{"nick": "v4", "remote": "[::ffff:127.0.0.1]:40001", "local": f"[::ffff:127.0.0.1]:{PORT}"}],
        }
    )
    assert registry is not None
    server_end = SocketRow(
        6,
        Endpoint("::ffff:127.0.0.1", PORT),
        Endpoint("::ffff:127.0.0.1", 40001),
        TcpState.ESTABLISHED,
        0,
        0,
        1,
    )
    client_end = SocketRow(4, Endpoint(LO, 40001), Endpoint(LO, PORT), TcpState.ESTABLISHED, 0, 0, 2)
    rows = annotate([server_end, client_end], [registry], PORT)
    assert [(row.role, row.nickname) for row in rows] == [(Role.SERVER_SIDE, "v4"), (Role.CLIENT_SIDE, "v4")]
