"""The interactive terminal UI of `netlab join` (prompt_toolkit).

Incoming messages print above the input line (``patch_stdout``) without garbling what you
type; input history; nicknames coloured; control characters shown escaped.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import zlib

from prompt_toolkit import PromptSession
from prompt_toolkit.data_structures import Size
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.output.vt100 import Vt100_Output
from prompt_toolkit.patch_stdout import patch_stdout
from prompt_toolkit.renderer import print_formatted_text as render_formatted_text
from prompt_toolkit.styles import Style

from netlab.chat.client import ChatClient, ChatClosed
from netlab.chat.client_session import prompt_text, stop_reason
from netlab.chat.wire import Incoming, MessageKind, neutralise

_PALETTE = (
    "ansired",
    "ansigreen",
    "ansiyellow",
    "ansiblue",
    "ansimagenta",
    "ansicyan",
    "ansibrightred",
    "ansibrightgreen",
    "ansibrightblue",
    "ansibrightmagenta",
)


_STYLE = Style([])


def nick_style(nick: str) -> str:
    """A stable colour for a nickname."""
    return _PALETTE[zlib.crc32(nick.casefold().encode()) % len(_PALETTE)]


def styled(message: Incoming) -> FormattedText:
    """A received message as coloured fragments."""
    stamp = [("ansibrightblack", f"[{message.stamp[11:]}] ")] if message.stamp else []
    text = neutralise(message.text)
    sender = neutralise(message.sender or "")
    if message.kind is MessageKind.CHAT:
        body = [(nick_style(sender) + " bold", sender), ("", f": {text}")]
    elif message.kind is MessageKind.ACTION:
        body = [("", "* "), (nick_style(sender) + " bold", sender), ("italic", f" {text}")]
    elif message.kind is MessageKind.PRIVATE:
        body = [(nick_style(sender) + " bold", sender), ("ansimagenta", f" (private): {text}")]
    elif message.kind is MessageKind.NOTICE:
        body = [("ansibrightblack", f"*** {text}")]
    elif message.kind is MessageKind.ERROR:
        body = [("ansired bold", f"!!! {text}")]
    else:
        body = [("", text)]
    return FormattedText(stamp + body)


def run_prompt_ui(client: ChatClient) -> None:
    """Chat interactively until a stop word (/exit, /quit, exit, выход), Ctrl-D or Ctrl-C; raises `ChatClosed`
    if the server goes. The prompt shows the nickname the server confirmed (it follows an accepted /nick)."""
    session: PromptSession[str] = PromptSession(history=InMemoryHistory())
    if client.welcome is not None:
        sys.stdout.write(ansi(styled(client.welcome)))
    with patch_stdout(raw=True):
        printer = threading.Thread(target=_print_all, args=(client, session), name="join-printer")
        printer.start()
        leave_reason = ""
        try:
            while not client.closed:
                try:
                    line = session.prompt(lambda: prompt_text(client.nick))
                except (EOFError, KeyboardInterrupt):
                    break
                reason = stop_reason(line)
                if reason is not None:
                    leave_reason = reason
                    break
                if line.strip():
                    client.send(line)
        finally:
            gone, reason = client.closed, client.close_reason
            client.close(reason=leave_reason)
            printer.join()
    if gone:
        raise ChatClosed(f"the server closed the connection{': ' + reason if reason else ''}")


def ansi(text: FormattedText) -> str:
    """Render fragments to a string with ANSI colours (plain when NO_COLOR is set)."""
    if os.environ.get("NO_COLOR"):
        return "".join(fragment[1] for fragment in text) + "\n"
    buffer = io.StringIO()
    output = Vt100_Output(buffer, lambda: Size(rows=24, columns=500), term="xterm")
    # the renderer's function, not the shortcut: that one defers to a running app's loop
    render_formatted_text(output, text, _STYLE)
    output.write("\n")
    output.flush()
    return buffer.getvalue()


def _print_all(client: ChatClient, session: PromptSession[str]) -> None:
    """Print incoming messages through patch_stdout's proxy, which redraws the prompt below them."""
    for message in client:
        sys.stdout.write(ansi(styled(message)))
        sys.stdout.flush()
        if session.app.is_running and session.app.loop is not None:  # the prompt may show a new nickname
            session.app.loop.call_soon_threadsafe(session.app.invalidate)
    app = session.app
    if app.is_running and app.loop is not None:
        app.loop.call_soon_threadsafe(lambda: app.exit(exception=EOFError()) if app.is_running else None)
