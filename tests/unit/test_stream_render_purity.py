"""The stream core and the renderers are pure: no IO, no threads, no capture code, no clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import netlab.render
import netlab.stream

MODULES = sorted(
    path for package in (netlab.stream, netlab.render) for path in Path(str(package.__file__)).parent.glob("*.py")
)
BANNED_ROOTS = {
    "socket",
    "threading",
    "scapy",
    "typer",
    "rich",
    "psutil",
    "subprocess",
    "select",
    "asyncio",
    "multiprocessing",
    "prompt_toolkit",
}
PURE_NETLAB = (
    "netlab.stream",
    "netlab.render",
    "netlab.packets",
    "netlab.packets",
    "netlab.errors",
    "netlab.chat.protocol",
    "netlab.chat.wire",
    "netlab.chat.limits",
)
# Reading the clock (formatting a given time stamp with `time.strftime`, `time.gmtime(ts)` or
# `datetime.fromtimestamp(ts)` is fine).
CLOCK_CALLS = {
    "time",
    "time_ns",
    "monotonic",
    "monotonic_ns",
    "perf_counter",
    "perf_counter_ns",
    "process_time",
    "sleep",
    "now",
    "utcnow",
    "today",
}
CLOCK_WITHOUT_ARGS = {"gmtime", "localtime", "ctime", "asctime"}


def _imports(tree: ast.AST) -> set[str]:
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}


def _clock_calls(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            if name in CLOCK_CALLS or (name in CLOCK_WITHOUT_ARGS and not node.args):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_modules_are_found() -> None:
    names = {path.name for path in MODULES}
    assert {"reassembly.py", "flow.py", "analysis.py", "text.py", "ladder.py", "jsonl.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_stream_and_render_modules_import_no_io(path: Path) -> None:
    imported = _imports(ast.parse(path.read_text(encoding="utf-8")))
    assert not {name.split(".")[0] for name in imported} & BANNED_ROOTS
    netlab_imports = {name for name in imported if name.split(".")[0] == "netlab"}
    assert all(name.startswith(PURE_NETLAB) for name in netlab_imports), netlab_imports


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_stream_and_render_modules_do_not_read_the_clock(path: Path) -> None:
    assert _clock_calls(ast.parse(path.read_text(encoding="utf-8"))) == []


def test_the_clock_check_can_fail() -> None:
    tree = ast.parse(
        "import time\nfrom datetime import datetime\nt = time.monotonic()\nd = datetime.now()\n"
        "s = time.strftime('%H', time.gmtime(0))\nu = time.gmtime()\n"
    )
    assert [entry.split(":")[0] for entry in _clock_calls(tree)] == ["line 3", "line 4", "line 6"]
