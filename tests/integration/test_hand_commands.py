"""The by-hand steps a report prints work as printed.

The commands are taken from the rendered report (report.md's shell block, and report.html's), parsed by
the typer app itself (`tests/shell_commands.py`: no resilient parsing) and checked to mean what the step
says; the loopback steps are then run in order in a temporary directory, as a student would type them,
with the long-running ones (the server, the live capture) started and stopped around the others. The
namespaced steps are parsed, not run: they create namespaces named h1, h2, ... on a shared machine.
"""

from __future__ import annotations

import html
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from shell_commands import Invocation, invocations, parse

from netlab.invocation import program, program_text
from netlab.lab.howto import loopback_commands, namespace_commands
from netlab.lab.impair import Impairment
from netlab.lab.netns import Topology
from netlab.report.build import build_report
from netlab.report.markdown import render_markdown
from netlab.report.model import Command, RunInfo
from netlab.report.page import render_html
from netlab.report.write import report_from_pcap

DATA = Path(__file__).resolve().parents[1] / "data"
TIMEOUT = 30
NICKS = ["alice", "борис", "carol"]


def _printed(commands: list[Command]) -> tuple[str, str]:
    """The by-hand block as report.md and report.html print it."""
    report = build_report(RunInfo(title="t", kind="loopback", commands=tuple(commands)), None, sockets=[])
    markdown = render_markdown(report)
    block = re.search(r"```sh\n(.*?)\n```", markdown, re.S)
    page = re.search(r'<pre class="commands">(.*?)</pre>', render_html(report), re.S)
    assert block is not None and page is not None
    return block.group(1), html.unescape(page.group(1))


def _steps(block: str) -> list[tuple[str, str]]:
    """(purpose, command) pairs of a printed block: `# N. purpose` lines, each followed by its command."""
    steps: list[tuple[str, str]] = []
    for line in block.splitlines():
        if line.startswith("# "):
            steps.append((line[2:], ""))
        else:
            purpose, command = steps[-1]
            steps[-1] = (purpose, f"{command}\n{line}" if command else line)
    return steps


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _loopback(port: int, pcap: str = "captures/lab-20261204-120000.pcap") -> list[Command]:
    return loopback_commands(
        port, NICKS, pcap, plain=program_text(privileged=False), root=program_text(privileged=True)
    )


def test_the_printed_steps_are_numbered_once_each_and_md_and_html_agree() -> None:
    block, page = _printed(_loopback(41000))
    assert block == page
    numbers = [int(purpose.split(".")[0]) for purpose, _ in _steps(block)]
    assert numbers == list(range(1, len(numbers) + 1))  # was "# 3." once per participant


def test_every_loopback_step_parses_and_means_what_it_says() -> None:
    port, pcap = 41000, "captures/lab-20261204-120000.pcap"
    found = [invocations(command) for _, command in _steps(_printed(_loopback(port, pcap))[0])]
    assert all(len(each) == 1 for each in found)
    parsed = [(inv, *parse(inv.args)) for (inv,) in found]
    assert [name for _, name, _ in parsed] == ["serve", "follow", "join", "join", "join", "sockets", "follow", "report"]
    serve, capture, *joins, sockets, follow, report = parsed
    assert serve[2]["port"] == port
    assert list(capture[2]["port"]) == [port] and str(capture[2]["save_to"]) == pcap and not capture[2]["save"]
    assert [(j[2]["port"], j[2]["nick"]) for j in joins] == [(port, nick) for nick in NICKS]
    assert sockets[2]["port"] == port
    assert str(follow[2]["read"]) == pcap and str(report[2]["read"]) == pcap
    _root_steps_are_runnable_by_root(inv for inv, _, _ in parsed)


def _root_steps_are_runnable_by_root(found: object) -> None:
    """A step run with sudo names the program by an absolute path (sudo's secure_path has no virtualenv)."""
    for inv in found:  # type: ignore[attr-defined]
        assert isinstance(inv, Invocation)
        if "sudo" in inv.prefix or inv.prefix[:3] == ("ip", "netns", "exec"):
            assert os.path.isabs(inv.program[0]) and os.access(inv.program[0], os.X_OK), inv.line


@pytest.mark.parametrize("impairment", [Impairment(), Impairment(loss=5, reorder=10)])
def test_every_namespace_step_parses_and_means_what_it_says(impairment: Impairment) -> None:
    hosts = Topology.plan(3, run_id="abcdef").hosts
    commands = namespace_commands(hosts, 5000, NICKS, impairment, "captures/x.pcap", root=program_text(privileged=True))
    found = [inv for _, command in _steps(_printed(commands)[0]) for inv in invocations(command)]
    parsed = [(inv, *parse(inv.args)) for inv in found]
    assert [name for _, name, _ in parsed] == ["serve", "join", "join", "join", "sockets", "report"]
    assert parsed[0][2]["host"] == "10.0.0.1" and parsed[0][2]["port"] == 5000
    assert [p[2]["nick"] for p in parsed[1:4]] == NICKS and {p[2]["host"] for p in parsed[1:4]} == {"10.0.0.1"}
    assert parsed[4][2]["netns"] == "h1" and str(parsed[5][2]["read"]) == "captures/x.pcap"
    _root_steps_are_runnable_by_root(inv for inv, _, _ in parsed)
    for inv in found:  # every netlab step of a root shell names the program by its full path
        assert os.path.isabs(inv.program[0]), inv.line


def test_the_report_from_a_capture_prints_steps_that_parse(tmp_path: Path) -> None:
    files, _, _ = report_from_pcap(DATA / "chat_ipv4.pcap", tmp_path / "out")
    text = files.markdown.read_text(encoding="utf-8")
    found = [
        inv
        for line in re.search(r"```sh\n(.*?)\n```", text, re.S).group(1).splitlines()  # type: ignore[union-attr]
        for inv in invocations(line)
    ]
    assert [parse(inv.args)[0] for inv in found] == ["follow", "report"]


# --- run them ------------------------------------------------------------------------------------------


class Running:
    """A long-running step (the server, the live capture): started, ready, stopped with Ctrl-C."""

    def __init__(self, words: list[str], cwd: Path, ready: str) -> None:
        self.process = subprocess.Popen(
            words, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.stderr: list[str] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, args=(ready,))
        self._reader.start()

    def _read(self, ready: str) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            if ready in line:
                self.ready.set()
        self.ready.set()  # it ended: the caller looks at the exit status

    def stop(self) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(TIMEOUT)
        return self.process.returncode, "".join(self.stderr)


def _words(inv: Invocation) -> list[str]:
    """The step's words as printed; `sudo` is dropped when already root (it would also drop PYTHONPATH)."""
    words = shlex.split(inv.line)
    if words[0] == "sudo" and (os.geteuid() == 0 or shutil.which("sudo") is None):
        words = words[1:]
    return words


USAGE_ERROR = re.compile(r"No such option|unexpected extra argument|Usage: |Invalid value|Missing option")


@pytest.mark.skipif(os.geteuid() != 0, reason="the capture step needs root (or CAP_NET_RAW)")
def test_the_loopback_steps_run_as_printed_in_order(tmp_path: Path) -> None:
    port = _free_port()
    pcap = "captures/lab-by-hand.pcap"
    steps = _steps(_printed(_loopback(port, pcap))[0])
    running: list[Running] = []
    try:
        for purpose, command in steps:
            (inv,) = invocations(command)
            name, values = parse(inv.args)
            if name == "serve" or (name == "follow" and values["read"] is None):
                ready = "listening on" if name == "serve" else "netlab follow: capturing"
                step = Running(_words(inv), tmp_path, ready)
                running.append(step)
                assert step.ready.wait(TIMEOUT) and step.process.poll() is None, (purpose, "".join(step.stderr))
                continue
            if values.get("read") is not None:  # the capture is read once it is stopped (Ctrl-C)
                for step in [s for s in running if "follow" in s.process.args]:  # type: ignore[operator]
                    code, stderr = step.stop()
                    assert code == 0 and not USAGE_ERROR.search(stderr), (command, stderr)
                    running.remove(step)
            done = subprocess.run(
                _words(inv), cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT
            )
            assert not USAGE_ERROR.search(done.stderr), (command, done.stderr)
            assert done.returncode == 0, (purpose, command, done.stderr)
            if name == "sockets":
                assert "listener" in done.stdout
    finally:
        for step in running:
            code, stderr = step.stop()
            assert code == 0 and not USAGE_ERROR.search(stderr), stderr
    dialogue = (tmp_path / "reports" / "lab-by-hand" / "dialogue.txt").read_text(encoding="utf-8")
    assert all(nick in dialogue for nick in NICKS), dialogue
    assert (tmp_path / pcap).stat().st_size > 24


def test_the_program_is_this_netlab() -> None:
    words = program()
    done = subprocess.run([*words, "--version"], capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0 and done.stdout.startswith("netlab ")


def test_plain_netlab_only_where_path_finds_this_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    words = program()
    if len(words) != 1:
        pytest.skip("this interpreter has no bin/netlab next to it (python -m netlab is printed)")
    monkeypatch.setenv("PATH", str(Path(words[0]).parent))
    assert program_text(privileged=False) == "netlab"
    assert program_text(privileged=True) == shlex.quote(words[0])  # sudo: always the full path
    other = tmp_path / "netlab"
    other.write_text("#!/bin/sh\nexit 0\n")
    other.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))  # another `netlab` (networklab's, say) first on PATH
    assert program_text(privileged=False) == shlex.quote(words[0])
