"""How to run this very netlab again from a shell: the program by its full path (edge: reads sys, PATH).

Commands netlab prints for a student to type (the report's by-hand steps, the advice for missing
rights) must work as printed. `sudo netlab ...` does not when netlab lives in a virtualenv: sudo
replaces PATH with its `secure_path`, which holds no virtualenv. So a command that needs root names
the program by its absolute path; one that does not uses plain `netlab` when that is what PATH finds.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

#: A console script of this package says so on one of its first lines (`from netlab.cli.entry import main`).
_OUR_SCRIPT_MARK = b"netlab.cli"


def _our_script(path: Path) -> bool:
    try:
        with path.open("rb") as script:
            return _OUR_SCRIPT_MARK in script.read(2048)
    except OSError:
        return False


def program() -> tuple[str, ...]:
    """The words that run this netlab from any shell, as root too: the virtualenv's `bin/netlab` next to
    the running interpreter (not resolved: a virtualenv's python is a symlink to the system's), else
    `PYTHON -m netlab` with the running interpreter's absolute path."""
    interpreter = Path(sys.executable or "python3").absolute()
    script = interpreter.parent / "netlab"
    if script.is_file() and os.access(script, os.X_OK) and _our_script(script):
        return (str(script),)
    return (str(interpreter), "-m", "netlab")


def program_text(*, privileged: bool) -> str:
    """`program()` as shell text; for an unprivileged command plain `netlab` when PATH finds this one."""
    words = program()
    if not privileged and len(words) == 1:
        found = shutil.which("netlab")
        if found is not None and os.path.samefile(found, words[0]):
            return "netlab"
    return shlex.join(words)


def no_permission_hint() -> str:
    """What to do without capture rights, in one line, never granting them to every user's python3."""
    return (
        f"run it as root by its full path (sudo {program_text(privileged=True)} ...: sudo's PATH holds no "
        "virtualenv), or give a capture group the right on this virtualenv's own copy of python with setcap "
        '(README, "Capture rights"), or capture with tcpdump/Wireshark and use `netlab follow --read FILE`'
    )


def as_root(command: str) -> str:
    """`sudo PROGRAM COMMAND ...` as advice: the program by its full path (sudo's PATH holds no virtualenv)."""
    return f"sudo {program_text(privileged=True)} {command} ..."
