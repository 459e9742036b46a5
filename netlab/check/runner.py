"""`netlab check`'s run (edge): start or find the server, learn its dialect, run each check within its
deadline, restart the server when a check killed it, capture the whole run, and collect the results.

Order of a run: the server (`--exec`: started, ready when the kernel shows its port listening) → the
capture (`--save-to`, or `--report`: when we have the rights) → the profile (dialect, prefix, echo: two
probes and one line) → the checks in `CHECKS` order, each in its own thread with its own deadline, every
probe closed after it → the capture stopped and read for each check's frames → the server stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from netlab.chat.client_session import Dialect
from netlab.chat.detect import Handshake, excerpt, learn_prefix, unrecognised_framing
from netlab.check.checks import DRIVERS
from netlab.check.context import Context, Found, Profile
from netlab.check.model import CHECKS, CheckResult, CheckSpec, Evidence, RunInfo, Verdict
from netlab.check.probe import Pool, ProbeError
from netlab.check.target import DidNotStart, ExecTarget, Target, listening_pids
from netlab.check.verdicts import payload_text
from netlab.errors import CaptureError, NetlabError, Unreachable
from netlab.report.model import ConnectionView

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """What `netlab check` was asked to do (see its `--help`)."""

    host: str = "127.0.0.1"
    port: int = 55555
    command: str | None = None
    start_timeout: float = 10.0
    dialect: Dialect = Dialect.AUTO
    clients: int = 100
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    timeout: float | None = None
    save_to: Path | None = None
    capture: bool = False  # capture even without --save-to (for --report), when rights allow


@dataclass
class CheckRun:
    """The outcome of a run: what was graded, each check's result, the capture and why it is missing."""

    info: RunInfo
    results: list[CheckResult] = field(default_factory=list)
    capture_path: Path | None = None
    capture_error: CaptureError | None = None
    did_not_start: bool = False


def selected(only: Sequence[str], skip: Sequence[str]) -> list[CheckSpec]:
    """The checks to run, in their order.

    Raises:
        ValueError: an id that is no check (the message lists the ids).
    """
    known = {spec.id for spec in CHECKS}
    unknown = [name for name in (*only, *skip) if name not in known]
    if unknown:
        raise ValueError(f"no check named {', '.join(unknown)}; the checks are: {', '.join(s.id for s in CHECKS)}")
    return [spec for spec in CHECKS if (not only or spec.id in only) and spec.id not in skip]


class Runner:
    """One `netlab check` run. `run` does everything and returns a `CheckRun`; progress goes to `progress`."""

    def __init__(self, options: CheckOptions, progress: Callable[[str], None] = lambda _: None) -> None:
        self.options = options
        self.progress = progress
        self.specs = selected(options.only, options.skip)
        self._t0 = time.monotonic()
        self.target: Target = (
            ExecTarget(options.command, options.host, options.port, options.start_timeout)
            if options.command
            else Target(options.host, options.port)
        )
        self._capture: _Capture | None = None

    def clock(self) -> float:
        """Seconds since the run began."""
        return time.monotonic() - self._t0

    def run(self) -> CheckRun:
        """Grade the server.

        Raises:
            Unreachable: nothing listens at HOST:PORT (a server we were not asked to start).
        """
        options = self.options
        outcome = CheckRun(RunInfo(target=self.target.label, dialect="unknown", command=options.command or ""))
        try:
            if isinstance(self.target, ExecTarget):
                self.progress(f"starting {options.command!r}, waiting for port {options.port} to listen ...")
                try:
                    self.target.start()
                except DidNotStart as error:
                    return self._did_not_start(outcome, error)
            elif self.target.local and not listening_pids(options.port)[0]:
                raise Unreachable(f"nothing listens on {self.target.label} (start the server, or use --exec)")
            self._start_capture(outcome)
            profile = self._profile()
            outcome.info = replace(
                outcome.info,
                dialect="unrecognised" if profile.unrecognised else profile.name,
                detection=profile.unrecognised or profile.detection,
                prefix=profile.prefix.pattern if profile.prefix else "",
                echo=profile.echo,
            )
            context = Context(self.target, profile, options.clients, self.clock)
            for index, spec in enumerate(self.specs, 1):
                result = self._one(context, spec)
                outcome.results.append(result)
                verdict = f"{result.verdict.value} ({result.seconds:.1f} s)"
                self.progress(f"[{index}/{len(self.specs)}] {spec.id}: {verdict} {result.reason}")
        finally:
            self._finish(outcome)
        return outcome

    # ------------------------------------------------------------------ the parts

    def _did_not_start(self, outcome: CheckRun, error: DidNotStart) -> CheckRun:
        reason = f"the server did not start: {error}"
        outcome.did_not_start = True
        outcome.info = replace(outcome.info, stderr_tail=error.stderr_tail, server_notes=(reason,))
        outcome.results = [CheckResult(spec.id, Verdict.SKIP, reason) for spec in self.specs]
        return outcome

    def _profile(self) -> Profile:
        """Learn the dialect (the shared detector), the prefix and the echo from two probes and one line."""
        profile = Profile(dialect=self.options.dialect)
        pool = Pool(self.clock)
        probe_context = Context(self.target, profile, 1, self.clock)
        try:
            first = probe_context.probe(pool, "ann")
            first.session.reply_wait = 1.0  # a netlab welcome comes within its 0.2 s quiet period
            try:
                first.connect(timeout=3.0)
            except ProbeError as error:
                if not isinstance(self.target, ExecTarget):
                    raise Unreachable(f"cannot connect to {self.target.label}: {error}") from None
                profile.detection = f"no connection: {error}"
                return profile
            try:
                first.handshake(3.0)
            except ProbeError as error:
                profile.detection = f"the handshake failed: {error}"
                return profile
            greeting = first.session.greeting
            profile.name = first.session.dialect.value
            profile.dialect = first.session.dialect if self.options.dialect is Dialect.AUTO else self.options.dialect
            if greeting is not None and greeting.handshake is Handshake.UNRECOGNISED:
                profile.unrecognised = greeting.describe()
                return profile
            if greeting is not None and profile.name != Dialect.NETLAB.value:
                # the kind is known: a greeting comes at once if at all, and no netlab welcome will answer
                profile.waits = (0.5 if greeting.handshake is Handshake.NONE else 1.0, 0.3)
            profile.detection = (
                greeting.describe() if greeting is not None else f"as asked with --dialect {profile.dialect.value}"
            )
            if self.options.dialect is Dialect.AUTO and profile.dialect is not Dialect.NETLAB:
                profile.dialect = Dialect.AUTO  # every probe detects again: tokens and prompts need it
            self._learn_relay(probe_context, pool, first, profile)
            return profile
        finally:
            pool.close_all()

    def _learn_relay(self, context: Context, pool: Pool, first: object, profile: Profile) -> None:
        from netlab.check.probe import Probe

        assert isinstance(first, Probe)
        try:
            second = context.join(pool, "bob", timeout=3.0)
        except ProbeError as error:
            profile.detection += f"; a second client could not join ({error})"
            return
        tag = context.tag()
        payload = payload_text(tag, "hello")
        mark = self.clock()
        try:
            first.send(first.line(payload))
        except OSError:
            return
        second.wait_for(lambda: second.delivery(payload, tag).copies > 0, 2.0)
        time.sleep(0.2)
        text = second.received_bytes(since=mark).decode("utf-8", errors="replace")
        profile.prefix = learn_prefix(text, payload, nick=first.nick, ip="127.0.0.1", port=first.local_port)
        profile.echo = first.delivery(payload, tag).copies > 0
        if profile.prefix is not None:
            profile.detection += f"; {profile.prefix.describe()}"
            return
        for probe in (first, second):
            answer = probe.received_bytes(since=mark)
            kind = unrecognised_framing(answer)
            if kind is not None:
                profile.unrecognised = f"unrecognised protocol: {kind} (the server answered {excerpt(answer)})"
                return

    def _one(self, context: Context, spec: CheckSpec) -> CheckResult:
        options = self.options
        if options.timeout is not None and self.clock() > options.timeout:
            return CheckResult(spec.id, Verdict.SKIP, f"the run's --timeout of {options.timeout:g} s ran out")
        if spec.exec_only and not isinstance(self.target, ExecTarget):
            return CheckResult(spec.id, Verdict.SKIP, "needs --exec (the grader must start the server to restart it)")
        if spec.needs_dialect and context.profile.unrecognised:
            return CheckResult(spec.id, Verdict.SKIP, f"needs the server's protocol: {context.profile.unrecognised}")
        if self.target.alive() is False and not self.target.recover(f"the check before {spec.id}"):
            return CheckResult(spec.id, Verdict.SKIP, "server no longer running")
        pool = Pool(self.clock)
        start = self.clock()
        found, error = self._within_deadline(context, spec, pool)
        pool.close_all()
        seconds = self.clock() - start
        if found is None:
            verdict, reason, notes = Verdict.FAIL, error, tuple[str, ...]()
            probes = pool.probes[:3]
            measurements: dict[str, float | int | str] = {}
        else:
            (verdict, reason, notes), probes, measurements = found.outcome, found.probes, found.measurements
        evidence = Evidence(
            exchanges=pool.evidence(probes),
            measurements=tuple(measurements.items()),
            notes=tuple(notes),
            ports=tuple(p.local_port for p in probes if p.local_port),
        )
        if isinstance(self.target, ExecTarget) and spec.id != "restart" and not self.target.alive():
            self.target.recover(spec.id)
        return CheckResult(spec.id, verdict, reason, evidence, seconds)

    def _within_deadline(self, context: Context, spec: CheckSpec, pool: Pool) -> tuple[Found | None, str]:
        box: list[Found] = []
        errors: list[str] = []

        def body() -> None:
            try:
                box.append(DRIVERS[spec.id](context, pool))
            except ProbeError as error:
                errors.append(f"the clients could not be set up: {error}")
            except OSError as error:
                errors.append(f"the connection failed: {error.strerror or error}")
            except NetlabError as error:
                errors.append(str(error))

        thread = threading.Thread(target=body, name=f"check-{spec.id}")
        thread.start()
        thread.join(spec.deadline)
        if thread.is_alive():
            pool.cancelled.set()
            pool.close_all()
            thread.join(5.0)
            return None, f"no answer in {spec.deadline:g} s"
        if box:
            return box[0], ""
        return None, errors[0] if errors else "the check ended without a verdict"

    def _start_capture(self, outcome: CheckRun) -> None:
        options = self.options
        if options.save_to is None and not options.capture:
            return
        path = options.save_to
        if path is None:
            import tempfile

            path = Path(tempfile.mkdtemp(prefix="netlab-check-")) / "check.pcap"
        capture = _Capture()
        error = capture.start(options.host, options.port, path)
        if error is not None:
            outcome.capture_error = error
            self.progress(f"no capture: {error}; the evidence quotes what the clients saw")
            return
        self._capture = capture
        outcome.capture_path = path

    def _finish(self, outcome: CheckRun) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            time.sleep(0.2)
            error = capture.stop()
            if error is not None:
                outcome.capture_error = error
        notes = tuple(self.target.notes)
        tail = self.target.stderr_tail()
        self.target.close()
        outcome.info = replace(
            outcome.info,
            server_notes=outcome.info.server_notes + notes,
            stderr_tail=outcome.info.stderr_tail or tail,
            capture=str(outcome.capture_path or ""),
            seconds=self.clock(),
        )
        if outcome.capture_path is not None and outcome.capture_error is None:
            frames = frames_by_port(outcome.capture_path, self.options.port)
            outcome.results = [
                replace(r, evidence=replace(r.evidence, frames=_frames_of(frames, r.evidence.ports)))
                for r in outcome.results
            ]


def _frames_of(frames: dict[int, list[int]], ports: Sequence[int]) -> tuple[int, ...]:
    return tuple(sorted(frame for port in ports for frame in frames.get(port, ())))


def frames_by_port(path: Path, server_port: int) -> dict[int, list[int]]:
    """Frame numbers of each client connection to `server_port` in the capture, keyed by the client's port."""
    from netlab.capture.decode import decode
    from netlab.capture.pcapfile import read_packets

    frames: dict[int, list[int]] = {}
    try:
        for number, (linktype, ts, frame, orig_len) in enumerate(read_packets(path), 1):
            segment = decode(linktype, frame, number, ts, orig_len=orig_len)
            if segment is None:
                continue
            if segment.dst.port == server_port:
                frames.setdefault(segment.src.port, []).append(number)
            elif segment.src.port == server_port:
                frames.setdefault(segment.dst.port, []).append(number)
    except NetlabError as error:
        log.warning("the capture could not be read whole: %s", error)
    return frames


class _Capture:
    """A live capture of the server's port into a pcap file (as `netlab lab` captures)."""

    def __init__(self) -> None:
        self._network: object | None = None

    def start(self, host: str, port: int, path: Path) -> CaptureError | None:
        from netlab.lab.networks import LoopbackNetwork

        network = LoopbackNetwork()
        path.parent.mkdir(parents=True, exist_ok=True)
        if not network.start_capture(port, path):
            return network.capture_error or CaptureError(network.capture_note)
        self._network = network
        return None

    def stop(self) -> CaptureError | None:
        from netlab.lab.networks import LoopbackNetwork

        network = self._network
        if not isinstance(network, LoopbackNetwork):
            return None
        try:
            drops = network.stop_capture()
            if drops:
                log.warning("the kernel dropped %d frames during the capture", drops)
            network.close()
        except CaptureError as error:
            return error
        return None


def captured_connections(path: Path, server_port: int, ports: Sequence[int]) -> dict[int, ConnectionView]:
    """The captured connections of the clients on `ports` (for the report's dialogues and ladders),
    keyed by client port: `netlab.report.model.ConnectionView`s, read by the same decoder and
    reassembler as `netlab report`."""
    from netlab.capture.decode import decode
    from netlab.capture.pcapfile import read_packets
    from netlab.packets import Segment
    from netlab.report.build import collect

    wanted = set(ports)

    def segments() -> Iterator[Segment]:
        try:
            for number, (linktype, ts, frame, orig_len) in enumerate(read_packets(path), 1):
                segment = decode(linktype, frame, number, ts, orig_len=orig_len)
                if segment is None:
                    continue
                ends = {segment.src.port, segment.dst.port}
                if server_port in ends and ends & wanted:
                    yield segment
        except NetlabError as error:
            log.warning("the capture could not be read whole: %s", error)

    # Wireshark numbers streams in the order their first frame appears: number them as in the whole capture
    firsts = sorted((frames[0], port) for port, frames in frames_by_port(path, server_port).items() if frames)
    numbers = {port: index for index, (_, port) in enumerate(firsts)}
    views = {}
    for view in collect(segments()).connections:
        if view.opened is not None:
            port = view.opened.client.port
            views[port] = replace(view, stream=numbers.get(port, view.stream))
    return views
