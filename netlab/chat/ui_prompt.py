"""The interactive terminal UI of `netlab join` (prompt_toolkit).

Incoming messages print above the input line (``patch_stdout``) without garbling what you
type; input history; nicknames coloured; control characters shown escaped.
"""

from __future__ import annotations

import threading
import zlib

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.patch_stdout import patch_stdout

from netlab.chat.client import EXIT_WORDS, ChatClient, ChatClosed
from netlab.chat.protocol import Incoming, MessageKind, neutralise

_PALETTE = ("ansired", "ansigreen", "ansiyellow", "ansiblue", "ansimagenta", "ansicyan",
            "ansibrightred", "ansibrightgreen", "ansibrightblue", "ansibrightmagenta")


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
    """Chat interactively until /exit, /quit, выход, Ctrl-D or Ctrl-C; raises `ChatClosed` if the server goes."""
    session: PromptSession[str] = PromptSession(history=InMemoryHistory())
    if client.welcome is not None:
        print_formatted_text(styled(client.welcome))
    with patch_stdout(raw=True):
        printer = threading.Thread(target=_print_all, args=(client, session), name="join-printer")
        printer.start()
        try:
            while not client.closed:
                try:
                    line = session.prompt(f"{client.nick}> ")
                except (EOFError, KeyboardInterrupt):
                    break
                if line.strip() in EXIT_WORDS:
                    break
                if line.strip():
                    client.send(line)
        finally:
            gone, reason = client.closed, client.close_reason
            client.close()
            printer.join()
    if gone:
        raise ChatClosed(f"the server closed the connection{': ' + reason if reason else ''}")


def _print_all(client: ChatClient, session: PromptSession[str]) -> None:
    for message in client:
        print_formatted_text(styled(message))
    app = session.app
    if app.is_running and app.loop is not None:
        app.loop.call_soon_threadsafe(lambda: app.exit(exception=EOFError()) if app.is_running else None)
