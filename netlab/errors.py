"""The one hierarchy of errors netlab raises; the CLI maps them to exit codes in one place."""

from __future__ import annotations

import os


class NetlabError(Exception):
    """Base of every error netlab raises on purpose. The message is one line for the user."""


class CaptureError(NetlabError):
    """Capturing or reading packets failed."""


class CapturePermissionError(CaptureError):
    """No right to open a capture socket (needs root or CAP_NET_RAW)."""


class FilterUnavailable(CaptureError):
    """A BPF filter could not be compiled (libpcap missing or bad expression)."""


class PcapReadError(CaptureError):
    """A capture file is missing, unreadable, truncated or corrupt."""

    def __init__(self, message: str, *, offset: int | None = None, missing: bool = False) -> None:
        super().__init__(message)
        self.offset = offset
        self.missing = missing


class ChatProtocolError(NetlabError):
    """The chat protocol was violated."""


class LocalProtocolError(ChatProtocolError):
    """We were asked to do something the chat protocol does not allow."""


class RemoteProtocolError(ChatProtocolError):
    """The peer sent something the chat protocol does not allow."""


class LabError(NetlabError):
    """Setting up or running the lab failed (namespaces, links, participants, report)."""


class LabPermissionError(LabError):
    """The namespaced lab needs root (to create network namespaces and links)."""


class SocketsError(NetlabError):
    """Listing sockets failed: a network namespace or process that does not exist, or no right to look."""


def os_reason(error: OSError) -> str:
    """The reason of an `OSError` as the system states it ("Address already in use").

    Not `strerror` as such: `socket.create_server` puts Python's own text into it ("... (while
    attempting to bind on address ('127.0.0.1', 55555))"), and the caller names the address
    itself, as host:port.
    """
    if error.errno:
        return os.strerror(error.errno)
    return error.strerror or str(error) or type(error).__name__
