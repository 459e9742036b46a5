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

    def __init__(
        self, message: str, *, offset: int | None = None, missing: bool = False, frame: int | None = None
    ) -> None:
        super().__init__(message)
        self.offset = offset
        self.missing = missing
        self.frame = frame  # the 1-based number of the frame cut short or damaged, when known


class UnsupportedLinkType(CaptureError):
    """A capture file none of whose link types netlab decodes (the message names them by number and name)."""


class NoRights(NetlabError):
    """Something needs rights the user lacks (root, a capability); the message says how to get them."""


class NoSuchStream(NetlabError):
    """The streams asked for (`--stream N`, `--port`, `--host`) are not in the capture; the message says which are."""


class Unreachable(NetlabError):
    """A server could not be reached (connection refused, timed out, no route)."""


class InputMissing(NetlabError):
    """An input file named on the command line (a script, a capture) does not exist."""


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


class SocketsPermissionError(SocketsError):
    """No right to look into a network namespace or at another user's process (needs root)."""


class RuntimeDirError(NetlabError):
    """The runtime directory (where servers publish their status) is not safe to use: another user's,
    writable by others, or a symbolic link. Writers refuse it; readers ignore it.

    Attributes:
        path: the directory.
        reason: why, as a predicate ("belongs to uid 65534, not to uid 0").
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path} {reason}")
        self.path = path
        self.reason = reason


def os_reason(error: OSError) -> str:
    """The reason of an `OSError` as the system states it ("Address already in use").

    Not `strerror` as such: `socket.create_server` puts Python's own text into it ("... (while
    attempting to bind on address ('127.0.0.1', 55555))"), and the caller names the address
    itself, as host:port.
    """
    if error.errno:
        return os.strerror(error.errno)
    return error.strerror or str(error) or type(error).__name__


class GraphError(NetlabError):
    """A graph could not be drawn or written (unknown kind or file format, a file that cannot be written)."""
