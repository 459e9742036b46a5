"""The server under test (edge): a running one at HOST:PORT, or one `netlab check --exec` starts itself.

Students' servers are fragile: many die when a client connects and closes at once, or block every later
connection while one client is silent in the handshake. So readiness is never probed by connecting: an
executed server is ready when the kernel's socket table (`netlab.sockets.diag`) shows its port listening.
Its stdout and stderr go to files kept for the report; stdin is a pipe that stays open and silent (a
server that reads the console does not see an end of file).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from netlab.errors import NetlabError
from netlab.sockets.model import TcpState

log = logging.getLogger(__name__)

POLL = 0.05
STDERR_LINES = 12


class DidNotStart(NetlabError):
    """The server under test exited, or never listened on its port (the message names why)."""

    def __init__(self, message: str, stderr_tail: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.stderr_tail = stderr_tail


def listening_pids(port: int) -> tuple[bool, tuple[int, ...]]:
    """Whether something listens on TCP `port` (any address) now, and the pids holding the listener.

    Raises nothing: where the kernel's table cannot be read, (True, ()) — nothing is known against it.
    """
    from netlab.sockets.diag import query

    try:
        rows = [row for row in query(port) if row.state is TcpState.LISTEN and row.local.port == port]
    except OSError as error:
        log.debug("cannot read the socket table: %s", error)
        return True, ()
    if not rows:
        return False, ()
    from netlab.sockets.procfs import attribute

    try:
        owners = attribute([row.inode for row in rows]).owners
    except OSError:
        return True, ()
    return True, tuple(sorted({pid for pids in owners.values() for pid in pids}))


def process_cpu_percent(pids: tuple[int, ...], seconds: float) -> float | None:
    """CPU used by `pids` (and their children) over `seconds`, in percent of one core; None when unknown."""
    if not pids:
        time.sleep(seconds)
        return None
    import psutil

    def total() -> float:
        used = 0.0
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                for each in [process, *process.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        times = each.cpu_times()
                        used += times.user + times.system
        return used

    before, start = total(), time.monotonic()
    time.sleep(seconds)
    return 100.0 * (total() - before) / max(1e-6, time.monotonic() - start)


class Target:
    """A server already running at `host:port` (not ours to start, stop or restart)."""

    executed = False

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.local = host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
        self.notes: list[str] = []

    @property
    def label(self) -> str:
        """HOST:PORT as the report shows it."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def pids(self) -> tuple[int, ...]:
        """The server's process ids, when it is a local process we may see."""
        if not self.local:
            return ()
        return listening_pids(self.port)[1]

    def alive(self) -> bool | None:
        """Whether the server still listens (None: a remote server, not ours to see)."""
        if not self.local:
            return None
        return listening_pids(self.port)[0]

    def cpu_percent(self, seconds: float) -> float | None:
        """Its CPU use over `seconds` (percent of a core), None when it cannot be measured."""
        return process_cpu_percent(self.pids(), seconds)

    def recover(self, after: str) -> bool:
        """Make the server usable again after check `after` broke it; False when we cannot."""
        return bool(self.alive() is not False)

    def stderr_tail(self) -> tuple[str, ...]:
        """The last lines of the server's stderr (only for a server we started)."""
        return ()

    def close(self) -> None:
        """Nothing to stop."""


class ExecTarget(Target):
    """A server `netlab check --exec COMMAND` starts, watches, restarts and stops."""

    executed = True

    def __init__(self, command: str, host: str, port: int, start_timeout: float) -> None:
        super().__init__(host, port)
        self.command = command
        self.argv = shlex.split(command)
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="netlab-check-"))
        self.starts = 0

    @property
    def stderr_path(self) -> Path:
        """Where the server's stderr goes."""
        return self._dir / "stderr.txt"

    def start(self) -> None:
        """Start the command and wait until its port listens (never connecting).

        Raises:
            DidNotStart: it exited, or the port did not listen within the start timeout.
        """
        if not self.argv:
            raise DidNotStart("--exec: the command is empty")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.starts += 1
        with open(self._dir / "stdout.txt", "ab") as out, open(self.stderr_path, "ab") as err:
            try:
                self.process = subprocess.Popen(
                    self.argv, stdin=subprocess.PIPE, stdout=out, stderr=err, env=env, start_new_session=True
                )
            except OSError as error:
                raise DidNotStart(f"cannot run {self.argv[0]!r}: {error.strerror or error}") from None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.stderr_tail()
                last = f": {tail[-1]}" if tail else ""
                raise DidNotStart(
                    f"the server exited with status {self.process.returncode} before listening{last}", tail
                )
            listening, pids = listening_pids(self.port)
            if listening and (not pids or self._ours(pids)):
                return
            time.sleep(POLL)
        tail = self.stderr_tail()
        self.stop()
        raise DidNotStart(f"the server did not listen on port {self.port} within {self.start_timeout:g} s", tail)

    def _ours(self, pids: tuple[int, ...]) -> bool:
        assert self.process is not None
        import psutil

        mine = {self.process.pid}
        with contextlib.suppress(psutil.Error):
            mine |= {child.pid for child in psutil.Process(self.process.pid).children(recursive=True)}
        return bool(mine & set(pids))

    def pids(self) -> tuple[int, ...]:
        """The process we started (its children are counted with it)."""
        return (self.process.pid,) if self.process is not None and self.process.poll() is None else ()

    def alive(self) -> bool:
        """Whether the process still runs and listens."""
        return self.process is not None and self.process.poll() is None and listening_pids(self.port)[0]

    def recover(self, after: str) -> bool:
        """Restart the server when check `after` killed it (saying so in `notes`)."""
        if self.alive():
            return True
        code = self.process.poll() if self.process is not None else None
        self.stop()
        why = f"exited with status {code}" if code is not None else "stopped listening"
        try:
            self.start()
        except DidNotStart as error:
            self.notes.append(f"the server {why} during {after}; it could not be restarted: {error}")
            return False
        self.notes.append(f"the server {why} during {after}; it was restarted for the next checks")
        return True

    def signal_and_wait(self, sig: int, seconds: float) -> float | None:
        """Send `sig`; seconds until the process exited, or None if it still runs after `seconds`."""
        if self.process is None:
            return 0.0
        start = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(sig)
        try:
            self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            return None
        return time.monotonic() - start

    def stderr_tail(self) -> tuple[str, ...]:
        """The last lines of its stderr (a traceback's last line names the error)."""
        try:
            text = self.stderr_path.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return ()
        return tuple(line for line in text.splitlines() if line.strip())[-STDERR_LINES:]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 2 s; the whole process group, so shells and children go too."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
            try:
                process.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()

    def close(self) -> None:
        """Stop the server (the output files stay for the report until the process ends)."""
        self.stop()
        if self.process is not None and self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
