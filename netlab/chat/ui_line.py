"""Plain line mode for `netlab join` when stdin or stdout is not a terminal (pipes, scripts)."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import TextIO

from netlab.chat.client import ChatClient, ChatClosed
from netlab.chat.client_session import stop_reason
from netlab.chat.wire import Incoming, neutralise

log = logging.getLogger(__name__)


def plain_text(message: Incoming) -> str:
    """How a received message is printed in line mode: the line as received, control characters escaped."""
    return neutralise(message.line or message.text)


def run_line_ui(client: ChatClient, lines: Iterable[str], out: TextIO, linger: float) -> None:
    """Send each input line, print every received message to `out`, one per line.

    When the input ends, keep receiving for `linger` seconds, then leave; a stop word (``/exit``,
    ``/quit``, ``exit``, ``выход``) leaves at once. Leaving sends what the server's dialect expects
    (`ChatClient.close`). Raises `ChatClosed` when the server closes the connection before that,
    lingering included.
    """
    printer = threading.Thread(target=_print_all, args=(client, out), name="join-printer")
    printer.start()
    server_gone = False
    when = ""
    leave_reason = ""
    try:
        for raw in lines:
            line = raw.rstrip("\r\n")
            reason = stop_reason(line)
            if reason is not None:
                leave_reason = reason
                break
            if client.closed:
                server_gone = True
                break
            if line:
                client.send(line)
        else:
            _linger(client, linger)
            if client.closed:  # before we left: the server ended the chat (a crash, a kick)
                server_gone, when = True, " while lingering after the input ended"
    except ChatClosed:
        server_gone = True
    finally:
        why = client.close_reason
        client.close(reason=leave_reason)
        printer.join()
        out.flush()
    if server_gone:
        raise ChatClosed(f"the server closed the connection{when}{': ' + why if why else ''}")


def _linger(client: ChatClient, seconds: float) -> None:
    """Wait `seconds` for late messages, returning early if the server closes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not client.closed:
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def _print_all(client: ChatClient, out: TextIO) -> None:
    """Print every message; if the reader of our output goes away (`| head`), stop quietly."""
    for message in client:
        try:
            out.write(plain_text(message) + "\n")
            out.flush()
        except BrokenPipeError:
            log.debug("stdout closed; no longer printing")
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
            return
