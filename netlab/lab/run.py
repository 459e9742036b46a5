"""`netlab lab`: the whole networks lab in one run (server, capture, participants, snapshot, report).

Order of a run: set up the network (namespaces only) → start the server → start the capture →
play the script step by step (each step waits for the deliveries it should cause) → take the
socket snapshot where the script says → everyone leaves → (``--keep-running``: wait for Ctrl-C)
→ stop the server → let the connections finish closing → stop the capture → build the report.
Everything started is stopped in `finally` blocks, so errors and Ctrl-C clean up too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from netlab.capture.pcapfile import read_segments
from netlab.chat.client import ChatClient
from netlab.chat.registry import Visit, format_address
from netlab.chat.server import ChatServer
from netlab.chat.wire import MessageKind
from netlab.errors import InputMissing, LabError, NetlabError
from netlab.invocation import program_text
from netlab.lab.conversation import expectations, is_leave, is_plain, renamed_to
from netlab.lab.howto import loopback_commands, namespace_commands
from netlab.lab.impair import Impairment
from netlab.lab.networks import LoopbackNetwork, NamespaceNetwork, Network
from netlab.lab.participants import Inbox, Participant
from netlab.lab.script import Script, StepKind, default_script, parse_script
from netlab.lab.verify import check_sent, expected_bytes
from netlab.packets import Endpoint
from netlab.report.build import build_report
from netlab.report.model import Command, GraphPolicy, Report, RunInfo
from netlab.report.write import ReportFiles, collect_into, write_report
from netlab.sockets.model import ChatClient as RegistryClient
from netlab.sockets.model import ServerScope, ServerStatus, SocketRow, parse_endpoint, parse_status
from netlab.sockets.table import within
from netlab.stream import Reassembler, build_dialogues
from netlab.stream.roles import RoleHints

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
CLOSE_WAIT_S = 5.0
MID_CONVERSATION = "mid-conversation"
KEPT_RUNNING = "while the server was kept running for your own clients"
AT_STOP = "when the run was stopped"


@dataclass(frozen=True, slots=True)
class LabConfig:
    """How to run the lab (the options of `netlab lab`)."""

    clients: int | None = None
    messages: int = 2
    script: Path | None = None
    port: int = 0
    keep_running: bool = False
    hosts: int = 0
    impairment: Impairment = field(default_factory=Impairment)
    seed: int | None = None
    captures_dir: Path = Path("captures")
    reports_dir: Path = Path("reports")
    run_name: str | None = None
    step_timeout: float = 10.0
    capture_backend: str | None = None
    graphs: GraphPolicy = GraphPolicy.AUTO


@dataclass(frozen=True, slots=True)
class LabResult:
    """What a run produced."""

    run_name: str
    pcap: Path | None
    files: ReportFiles
    report: Report
    server: tuple[str, int]
    participants: tuple[Participant, ...]
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    #: Why there is no capture (no rights, ...): the report was written without its capture parts.
    capture_error: NetlabError | None = None
    #: The capture is damaged or does not hold what the participants sent (listed in `problems`).
    check_failed: bool = False


class ScriptMissing(LabError, InputMissing):
    """The --script file does not exist."""


def load_script(config: LabConfig) -> tuple[Script, str, str]:
    """The conversation to play, where it came from, and its text."""
    if config.script is not None:
        try:
            text = config.script.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ScriptMissing(f"no such script: {config.script}") from None
        except OSError as error:
            raise LabError(f"cannot read the script {config.script}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise LabError(f"the script {config.script} is not UTF-8 text") from None
        return parse_script(text, source=str(config.script)), str(config.script), text
    clients = config.clients if config.clients is not None else _default_clients(config)
    text = default_script(clients, config.messages)
    return parse_script(text), "the default conversation", text


def _default_clients(config: LabConfig) -> int:
    return max(2, config.hosts - 1) if config.hosts else 3


def run_name(config: LabConfig) -> str:
    """`lab-YYYYmmdd-HHMMSS` (with `-hostsN` for namespaced runs) unless one was given.

    A generated name never reuses an earlier run's files (a `-2`, `-3`, ... suffix is added);
    a name given with `--name` is used as it is, replacing that run's files.
    """
    if config.run_name:
        if "/" in config.run_name or config.run_name in (".", ".."):
            raise LabError(f"--name must be a plain name, not a path (got {config.run_name!r})")
        return config.run_name
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"lab-{stamp}" + (f"-hosts{config.hosts}" if config.hosts else "")
    name, number = base, 1
    while (config.captures_dir / f"{name}.pcap").exists() or (config.reports_dir / name).exists():
        number += 1
        name = f"{base}-{number}"
    return name


class LabRun:
    """One run of the lab. Use `run()`; every resource it starts is released before it returns."""

    def __init__(self, config: LabConfig, progress: Progress, stop: threading.Event | None = None) -> None:
        self.config = config
        self.progress = progress
        self.stop_event = stop or threading.Event()
        self.name = run_name(config)
        self.script, self.script_source, self.script_text = load_script(config)
        self.network: Network = (
            NamespaceNetwork(config.hosts, config.impairment, config.seed)
            if config.hosts
            else LoopbackNetwork(config.capture_backend)
        )
        self.inbox = Inbox()
        self.participants: list[Participant | None] = [None] * len(self.script.participants)
        self.sockets: list[SocketRow] | None = None
        self.sockets_note = ""
        self._snapshot_joined = 0  # how many had joined (the server's record) when the snapshot was taken
        self.problems: list[str] = []
        self.check_failed = False
        self.notes: list[str] = []
        self.capture_note = ""
        self.check = ""
        self.server: ChatServer | None = None
        self.address: tuple[str, int] = ("", 0)
        self.pcap: Path | None = None
        self.started = time.time()

    def run(self) -> LabResult:
        """Play the lab and write the report; raises `NetlabError` for what the user can fix."""
        pcap = self.config.captures_dir / f"{self.name}.pcap"
        try:
            self._setup(pcap)
            self._play()
            if self.config.keep_running:
                self._keep_running()
        finally:
            self._teardown()
        return self._report()

    def leftovers(self) -> str:
        """What an interrupted run left on disk, as one line for stderr: the partial capture, the
        partial report, or that nothing was written."""
        parts = []
        if self.pcap is not None and self.pcap.exists():
            parts.append(
                f"the partial capture is {self.pcap} (make a report of it: `netlab report --read {self.pcap}`)"
            )
        directory = self.config.reports_dir / self.name
        if directory.is_dir() and any(directory.iterdir()):
            parts.append(f"a partial report is in {directory}/")
        return "interrupted; " + ("; ".join(parts) if parts else "nothing was written")

    # -------------------------------------------------------------------------------- phases

    def _setup(self, pcap: Path) -> None:
        net = self.network
        if isinstance(net, NamespaceNetwork):
            topo = net.topology
            self.progress(f"creating {len(topo.hosts)} hosts in network namespaces {topo.switch_netns[:-3]}-* ...")
            net.start()
            self.progress(f"switch up; the wire: {self.config.impairment.describe()}")
        with net.server_context():
            # Scripted participants send bursts; the server's flood control (5 lines/s) would only slow the run.
            server = ChatServer(
                host=net.server_ip, port=self.config.port, publish_status=not self.config.hosts, flood_rate=0.0
            )
            self.address = server.start()
            self.server = server
        self.progress(f"server listening on {format_address(self.address)}")
        if net.start_capture(self.address[1], pcap):
            self.pcap = pcap
            self.progress(f"capturing into {pcap}")
        else:
            self.progress(f"{net.capture_note}; carrying on without the capture, dialogue and diagrams")
            self.capture_note = net.capture_note

    def _play(self) -> None:
        steps = self.script.steps
        number = 0
        while number < len(steps):
            if self.stop_event.is_set():
                raise KeyboardInterrupt
            step = steps[number]
            if step.kind is StepKind.JOIN:
                self._join(step.actor)
            elif step.kind is StepKind.SNAPSHOT:
                self._snapshot(MID_CONVERSATION)
            else:
                burst = [step.line]
                while (
                    is_plain(burst[-1])
                    and number + len(burst) < len(steps)
                    and steps[number + len(burst)].kind is StepKind.SEND
                    and steps[number + len(burst)].actor == step.actor
                    and is_plain(steps[number + len(burst)].line)
                ):
                    burst.append(steps[number + len(burst)].line)
                self._send(step.actor, burst, number + 1, len(steps))
                number += len(burst)
                continue
            number += 1
        for participant in self._online():
            self._send(participant.index, ["/quit"], len(steps), len(steps), quiet=True)

    def _join(self, index: int) -> None:
        nick = self.script.participants[index]
        host, port = self.address
        timeout = 15.0 if self.config.hosts else 5.0
        with self.network.client_context(index) as where:
            try:
                client = ChatClient.connect(host, port, nick, timeout=timeout)
            except NetlabError as error:
                raise LabError(f"{nick} could not join: {error}") from None
        participant = Participant(index, client, self.inbox, where)
        self.participants[index] = participant
        self.progress(f"{nick} joined from {participant.local} ({where})")

    def _online(self) -> list[Participant]:
        return [p for p in self.participants if p is not None and not p.left]

    def _send(self, index: int, lines: list[str], number: int, total: int, quiet: bool = False) -> None:
        """Send `lines` back to back (a burst: only plain messages come more than one at a time),
        then wait for every delivery they should cause."""
        participant = self.participants[index]
        if participant is None or participant.left:
            raise LabError(f"script step {number}: participant {self.script.participants[index]} is not connected")
        online = [p.index for p in self._online()]
        nicks = {p.index: p.nick for p in self.participants if p is not None}
        awaited = [e for line in lines for e in expectations(line, index, nicks, online)]
        seen_before = len(self.inbox.received(index))
        for offset, line in enumerate(lines):
            participant.send(line)
            if not quiet:
                self.progress(f"[{number + offset}/{total}] {participant.nick}> {line}")
        unmet, error = self.inbox.await_all(awaited, self.config.step_timeout, actor=index)
        for answer in self.inbox.received(index)[seen_before:]:
            if answer.kind is MessageKind.ERROR:
                self.problems.append(f"{participant.nick}> {lines[-1]}: the server answered: {answer.text}")
        if error is None:
            for expect in unmet:
                missing = self.participants[expect.recipient]
                who = missing.nick if missing else "?"
                what = expect.text or "a reply"
                self.problems.append(
                    f"{participant.nick}: {who} did not receive {what!r} within {self.config.step_timeout:g} s"
                )
        line = lines[-1]
        new_nick = renamed_to(line)
        if new_nick and not unmet and error is None:
            participant.nicks.append(new_nick)
        if is_leave(line):
            participant.left = True
            participant.close(farewell=False)

    def _snapshot(self, moment: str) -> None:
        """Take the socket snapshot the report shows: this run's server and its peers only, named
        from the server's own record, captioned with `moment` and the number of people connected."""
        server = self.server
        if server is None:
            return
        visits = server.visits()
        self._snapshot_joined = sum(1 for visit in visits if visit.nicks)
        try:
            seen = self.network.sockets(self.address[1], _registry(server, visits))
        except NetlabError as error:
            self.sockets = []
            self.sockets_note = f"the socket snapshot failed: {error}"
            self.progress(self.sockets_note)
            return
        self.sockets = within(seen, _scope(server, visits))
        when = datetime.now().strftime("%H:%M:%S")
        port = self.address[1]
        how = (
            f"`netlab sockets --netns HOST --port {port}` in each host"
            if isinstance(self.network, NamespaceNetwork)
            else f"`netlab sockets --port {port}`"
        )
        online = [visit.nicks[-1] for visit in visits if visit.online]
        count = f"{len(online)} participant{'' if len(online) == 1 else 's'} connected"
        others = Counter(row.state.ss_name for row in seen if row not in self.sockets)
        left_out = ""
        if others:
            total = sum(others.values())
            states = ", ".join(f"{number} {state}" for state, number in sorted(others.items()))
            left_out = (
                f"; {total} other socket{'' if total == 1 else 's'} on the port ({states}), neither this run's "
                "server's nor its clients', left out"
            )
        gone = any(visit.nicks and not visit.online for visit in visits)
        named = "; closed connections named from the server's record of who joined" if gone else ""
        self.sockets_note = (
            f"Taken at {when}, {moment}, with {count}{': ' + ', '.join(online) if online else ''} "
            f"(what {how} shows{named}{left_out})."
        )
        self.progress(f"socket snapshot: {len(self.sockets)} sockets")

    def _joined(self) -> int:
        """How many connections have joined the chat so far (the server's record)."""
        return sum(1 for visit in self.server.visits() if visit.nicks) if self.server else 0

    def _keep_running(self) -> None:
        """Serve until Ctrl-C; the snapshot is taken again when someone joins by hand (while they are
        connected), and at the stop when someone joined since the last one."""
        host, port = self.address
        join = f"join --host {host} --port {port}"
        if isinstance(self.network, NamespaceNetwork):  # entering a namespace needs root: the full path
            join = f"sudo ip netns exec {self.network.topology.hosts[1].netns} {program_text(privileged=True)} {join}"
        else:
            join = f"{program_text(privileged=False)} {join}"
        try:
            self.progress(
                f"the server stays up on {host}:{port}: join with `{join}`; press Ctrl-C to stop and write the report"
            )
            while not self.stop_event.wait(0.5):
                if self._joined() > self._snapshot_joined and self.server and self.server.who():
                    self._snapshot(KEPT_RUNNING)
        except KeyboardInterrupt:
            self.progress("stopping ...")
        if self._joined() > self._snapshot_joined:
            self._snapshot(AT_STOP)

    def _teardown(self) -> None:
        errors: list[BaseException] = []
        for participant in self.participants:
            if participant is not None:
                try:
                    participant.close(farewell=not participant.left)
                except OSError as error:
                    errors.append(error)
        if self.server is not None:
            self.server.stop()
            self.progress("server stopped")
        self._await_closed()
        drops = self.network.stop_capture()
        if drops:
            self.notes.append(f"the kernel dropped {drops} frames during the capture")
        if isinstance(self.network, NamespaceNetwork):
            frames, dropped, reordered = self.network.wire_stats
            self.notes.append(
                f"the switch forwarded {frames} frames; "
                f"the wire dropped {dropped} and delayed {reordered} for reordering"
            )
        self.network.close()
        if isinstance(self.network, NamespaceNetwork):
            self.progress("namespaces removed")
        if errors:
            log.warning("while closing participants: %s", errors[0])

    def _await_closed(self) -> None:
        """Namespaces: give lost FINs time to be retransmitted, so the capture shows every close."""
        net = self.network
        if not isinstance(net, NamespaceNetwork) or not self.address[1]:
            return
        deadline = time.monotonic() + CLOSE_WAIT_S
        while net.busy_connections(self.address[1]) and time.monotonic() < deadline:
            self.stop_event.wait(0.05)

    # -------------------------------------------------------------------------------- report

    def _nicknames(self) -> dict[Endpoint, str]:
        """Each participant's client address and label: the scripted ones and whoever else joined."""
        names = {p.local: p.label for p in self.participants if p is not None}
        names.update({endpoint: label for endpoint, label, _ in self._joined_by_hand()})
        return names

    def _joined_by_hand(self) -> list[tuple[Endpoint, str, str]]:
        """Participants the server saw besides the scripted ones: (client address, label, where)."""
        if self.server is None:
            return []
        scripted = {p.local for p in self.participants if p is not None}
        found: list[tuple[Endpoint, str, str]] = []
        for visit in self.server.visits():
            endpoint = parse_endpoint(visit.remote)
            if visit.nicks and endpoint not in scripted:
                label = visit.nicks[0] if len(visit.nicks) == 1 else f"{visit.nicks[0]} (now {visit.nicks[-1]})"
                found.append((endpoint, label, "joined by hand"))
        return found

    def _report(self) -> LabResult:
        directory = self.config.reports_dir / self.name
        collected = None
        if self.pcap is not None and self.pcap.exists():
            self.progress("reading the capture and writing the report ...")
            server = RoleHints(recorded=frozenset({Endpoint(*self.address)}))  # this run's own server
            collected, broken = collect_into(directory, self.pcap, self._nicknames(), server, graphs=self.config.graphs)
            if broken is not None:
                self.problems.append(f"the capture ends early: {broken}")
                self.check_failed = True
            self._verify(self.pcap)
        else:
            (directory / "dialogue.txt").unlink(missing_ok=True)
        run = self._run_info()
        report = build_report(
            run,
            collected,
            capture_path=str(self.pcap or ""),
            sockets=self.sockets if self.sockets is not None else [],
            sockets_note=self.sockets_note,
        )
        files = write_report(report, directory, self.config.graphs)
        live = tuple(p for p in self.participants if p is not None)
        return LabResult(
            self.name,
            self.pcap,
            files,
            report,
            self.address,
            live,
            tuple(self.problems),
            tuple(self.notes),
            self.network.capture_error,
            self.check_failed,
        )

    def _verify(self, pcap: Path) -> None:
        """Compare each client's captured bytes with what it wrote (see `netlab.lab.verify`)."""
        sent = {p.local: (p.label, expected_bytes(p.nicks[0], p.sent)) for p in self.participants if p is not None}
        try:
            dialogues = build_dialogues(Reassembler().feed_all(read_segments(pcap)))
        except NetlabError as error:
            self.problems.append(f"the capture could not be checked: {error}")
            self.check_failed = True
            return
        mismatches = check_sent(dialogues, sent)
        self.problems += mismatches
        self.check_failed = self.check_failed or bool(mismatches)
        if not mismatches:
            self.check = (
                f"the capture holds every byte each of the {len(sent)} "
                f"{'scripted ' if self._joined_by_hand() else ''}participants sent, in order "
                "(client→server streams compared byte for byte)"
            )

    def _run_info(self) -> RunInfo:
        cfg = self.config
        host, port = self.address
        settings: list[tuple[str, str]] = [
            ("run", self.name),
            ("network", "loopback (127.0.0.1)" if not cfg.hosts else f"{cfg.hosts} hosts in network namespaces"),
            ("server", format_address((host, port))),
            (
                "participants",
                ", ".join(
                    [f"{p.label} ({p.local}, {p.host})" for p in self.participants if p]
                    + [f"{label} ({endpoint}, {where})" for endpoint, label, where in self._joined_by_hand()]
                ),
            ),
            (
                "conversation",
                f"{self.script_source}: {sum(1 for s in self.script.steps if s.kind is StepKind.SEND)} lines",
            ),
        ]
        if cfg.hosts:
            seed = f" (seed {cfg.seed})" if cfg.seed is not None else ""
            settings.append(("wire", cfg.impairment.describe() + seed))
            if cfg.impairment.active and isinstance(self.network, NamespaceNetwork):
                settings.append(("impaired by", self.network.wire_by))
        if self.check:
            settings.append(("check", self.check))
        if self.problems:
            settings.append(("problems", "; ".join(self.problems)))
        notes = [self.capture_note] if self.capture_note else []
        notes += self.notes
        return RunInfo(
            title=f"netlab lab report: {self.name}",
            kind=self.network.kind,
            started=self.started,
            settings=tuple(settings),
            commands=tuple(self._hand_commands()),
            notes=tuple(notes),
            script=self.script_text,
        )

    def _hand_commands(self) -> list[Command]:
        port = self.address[1]
        pcap = str(self.config.captures_dir / f"{self.name}.pcap")
        nicks = [p.nicks[0] for p in self.participants if p is not None]
        net = self.network
        root = program_text(privileged=True)
        if isinstance(net, NamespaceNetwork):
            return namespace_commands(net.topology.hosts, port, nicks, self.config.impairment, pcap, root=root)
        return loopback_commands(port, nicks, pcap, plain=program_text(privileged=False), root=root)


def _registry(server: ChatServer, visits: list[Visit]) -> ServerStatus | None:
    """The server's registry for naming sockets: who is connected now (from its status), and every
    connection that joined and has gone since (its last nickname, so its TIME-WAIT rows are named too)."""
    status = parse_status({"schema_version": 1, **server.status()})
    if status is None:
        return None
    online = {(client.local, client.remote) for client in status.clients}
    gone = tuple(
        RegistryClient(nick=visit.nicks[-1], remote=parse_endpoint(visit.remote), local=parse_endpoint(visit.local))
        for visit in visits
        if visit.nicks and (parse_endpoint(visit.local), parse_endpoint(visit.remote)) not in online
    )
    return replace(status, clients=status.clients + gone)


def _scope(server: ChatServer, visits: list[Visit]) -> ServerScope:
    """What is this run's on the port: the server's listener and every connection it accepted."""
    host, port = server.address
    listen = parse_endpoint(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    return ServerScope(
        listen=(listen,),
        listener_inode=server.listener_inode,
        connections=frozenset((parse_endpoint(v.local), parse_endpoint(v.remote)) for v in visits),
    )
