"""The operator console of `netlab serve` (stdin is a terminal): /who, /kick, /say, /shutdown."""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable
from typing import TextIO

from netlab.chat.protocol import OperatorCommand, parse_operator_command
from netlab.chat.server import ChatServer


class OperatorConsole:
    """Reads operator commands from `stream` in its own thread (started by `start`, joined by `stop`).

    The thread polls the stream with a short timeout so `stop` never waits on a read.
    `on_shutdown` is called when the operator types /shutdown.
    """

    def __init__(self, server: ChatServer, stream: TextIO, out: TextIO, on_shutdown: Callable[[], None]) -> None:
        self.server, self.stream, self.out, self.on_shutdown = server, stream, out, on_shutdown
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chat-console")

    def start(self) -> None:
        """Start reading commands."""
        self.out.write("operator console: /who, /kick NICK [reason], /say TEXT, /shutdown\n")
        self.out.flush()
        self._thread.start()

    def stop(self) -> None:
        """Stop reading and join the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        fd = self.stream.fileno()
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            line = self.stream.readline()
            if not line:  # the terminal closed stdin (Ctrl-D): keep serving, stop reading
                return
            self.execute(line)

    def execute(self, line: str) -> None:
        """Run one console line and print its outcome."""
        command = parse_operator_command(line)
        if isinstance(command, str):
            self._say(command)
            return
        self._run(command)

    def _run(self, command: OperatorCommand) -> None:
        if command.name == "who":
            rows = self.server.who()
            self._say(f"{len(rows)} online")
            for row in rows:
                since = time.strftime("%H:%M:%S", time.localtime(row.joined))
                self._say(
                    f"  {row.nick:<24} {row.remote:<22} {row.dialect:<8} since {since}  queued {row.queued_bytes} B"
                )
        elif command.name == "kick":
            kicked = self.server.kick(command.target, command.text)
            self._say(f"kicked {command.target}" if kicked else f"no such nickname: {command.target}")
        elif command.name == "say":
            self.server.say(command.text)
        elif command.name == "shutdown":
            self._say("shutting down")
            self.on_shutdown()
        else:
            self._say("Commands: /who, /kick NICK [reason], /say TEXT, /shutdown")

    def _say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()
