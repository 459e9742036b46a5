"""One exit-status table for every command: what each status means, and the cases that used to disagree.

The table lives in netlab/cli/exits.py (`EXIT_MEANINGS`); every command's --help ends with it and the
README carries a copy. The fast path of `follow --read` must behave exactly as the typer command
(tests/integration/test_follow_fast.py compares both on the same arguments, these cases included).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netlab.cli.app import app
from netlab.cli.exits import EXIT_MEANINGS, ExitStatus
from netlab.render.base import format_info, format_names, option_conflict

DATA = Path(__file__).resolve().parents[1] / "data"
README = Path(__file__).resolve().parents[2] / "README.md"
ENV = {"NO_COLOR": "", "COLUMNS": "200", "TERM": "dumb"}
COMMANDS = ["serve", "join", "sockets", "follow", "report", "lab"]


def _run(*args: str) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(app, list(args), env=ENV)
    return result.exit_code, result.stdout_bytes, result.stderr


def _four_streams(tmp_path: Path) -> Path:
    """A capture of four TCP streams: two captures of two streams each, one after the other."""
    from netlab.capture.pcapfile import read_packets
    from netlab.capture.writer import PcapWriter

    path = tmp_path / "four.pcap"
    names = ("port_reuse_new_server_isn", "vlan_two_connections")
    packets = [p for name in names for p in read_packets(DATA / f"{name}.pcap")]
    linktypes = {p[0] for p in packets}
    assert len(linktypes) == 1
    with PcapWriter(path, linktypes.pop()) as writer:
        last = 0.0
        for _, ts, frame, orig_len in packets:
            last = max(last + 0.001, ts)
            writer.write(last, frame, orig_len)
    return path


# --- the table -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_ends_with_the_table(command: str) -> None:
    code, out, err = _run(command, "--help")
    assert code == 0 and err == ""
    text = " ".join(out.decode().split())
    assert "Exit status (the same for every netlab command):" in text
    for status, meaning in EXIT_MEANINGS.items():
        assert f"{int(status)} {meaning}" in text, (status, text)


def test_the_readme_carries_the_same_table() -> None:
    text = README.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", text.split("## Exit status", 1)[1], re.M))
    assert {int(code): meaning for code, meaning in rows.items()} == {int(s): m for s, m in EXIT_MEANINGS.items()}
    assert set(EXIT_MEANINGS) == set(ExitStatus)


# --- follow: no such stream ------------------------------------------------------------------------------


def test_a_stream_the_capture_lacks_exits_1_and_names_the_streams_it_has(tmp_path: Path) -> None:
    four = _four_streams(tmp_path)
    code, out, err = _run("follow", "-r", str(four), "--stream", "99")
    assert (code, out) == (1, b"")
    assert err.splitlines()[0].startswith("netlab follow: 0 of 4 stream(s)")
    assert err.splitlines()[-1] == "netlab: no stream 99; the capture has streams 0–3"
    # the streams that exist are still shown, then the missing one is reported
    code, out, err = _run("follow", "-r", str(four), "--stream", "2", "--stream", "7", "--stream", "99")
    _, shown, _ = _run("follow", "-r", str(four), "--stream", "2")
    assert code == 1 and out == shown and out
    assert err.splitlines()[-1] == "netlab: no stream 7, 99; the capture has streams 0–3"
    code, out, err = _run("follow", "-r", str(four), "--stream", "3")
    assert (code, err.count("\n")) == (0, 1)


# --- follow: options a format would silently ignore ------------------------------------------------------


def _follow_output(fmt: str, *extra: str) -> tuple[int, bytes, str]:
    return _run("follow", "-r", str(DATA / "chat_ipv4.pcap"), "--format", fmt, "--no-summary", *extra)


@pytest.mark.parametrize("fmt", format_names())
def test_every_format_honours_direction_or_refuses_it(fmt: str) -> None:
    both = _follow_output(fmt)
    assert both[0] == 0
    for direction in ("c2s", "s2c"):
        code, out, err = _follow_output(fmt, "--direction", direction)
        if option_conflict(fmt, direction, "auto") is None:
            assert code == 0 and out != both[1], f"--format {fmt} ignores --direction {direction}"
        else:
            assert (code, out) == (2, b"") and "--direction" in err and fmt in " ".join(err.split())
    assert (option_conflict(fmt, "c2s", "auto") is None) == format_info(fmt).directions


@pytest.mark.parametrize("fmt", format_names())
def test_every_format_honours_color_or_refuses_it(fmt: str) -> None:
    accepted = {}
    for color in ("always", "never"):
        code, out, err = _follow_output(fmt, "--color", color)
        if option_conflict(fmt, "both", color) is None:
            assert code == 0, err
            accepted[color] = out
        else:
            assert (code, out) == (2, b"") and "--color" in err and fmt in " ".join(err.split())
    assert accepted, f"--format {fmt} refuses both --color always and --color never"
    if len(accepted) == 2:  # both accepted: they must make a difference
        assert accepted["always"] != accepted["never"], f"--format {fmt} ignores --color"
    assert _follow_output(fmt, "--color", "auto")[0] == 0  # the default never conflicts


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--format", "chat", "--direction", "c2s"], "chat always shows both directions"),
        (["--format", "html", "--direction", "s2c"], "html always shows both directions"),
        (["--format", "json", "--color", "always"], "json has no colours"),
        (["--format", "html", "--color", "never"], "html is always coloured"),
    ],
)
def test_the_issues_combinations_are_usage_errors_naming_the_conflict(args: list[str], words: str) -> None:
    code, out, err = _run("follow", "-r", str(DATA / "chat_ipv4.pcap"), *args)
    assert (code, out) == (2, b"")
    assert words in " ".join(err.split())


def test_save_and_save_to_together_are_a_usage_error(tmp_path: Path) -> None:
    code, out, err = _run("follow", "--port", "9", "--save", "--save-to", str(tmp_path / "x.pcap"))
    assert (code, out) == (2, b"") and "give one of them" in " ".join(err.split())
    assert not (tmp_path / "x.pcap").exists()


# --- report: a truncated capture ---------------------------------------------------------------------------


def test_report_of_a_truncated_capture_writes_the_report_and_exits_1_like_follow(tmp_path: Path) -> None:
    whole = (DATA / "chat_ipv4.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[: len(whole) - 30])
    follow_code, follow_out, follow_err = _run("follow", "-r", str(cut))
    assert follow_code == 1 and follow_out and "truncated" in follow_err
    code, out, err = _run("report", "--read", str(cut), "--out", str(tmp_path / "r"))
    assert code == 1  # was 0
    paths = out.decode().splitlines()
    assert paths == [str(tmp_path / "r" / name) for name in ("dialogue.txt", "report.md", "report.html")]
    assert all(Path(p).stat().st_size > 0 for p in paths)
    last = err.splitlines()[-1]
    assert last.startswith(f"netlab: {cut}: truncated packet record at byte offset ")
    assert last.endswith("; the report shows everything before it")
    assert "Traceback" not in err and err.count("truncated packet record") == 1
    assert "the capture ends early" in (tmp_path / "r" / "report.md").read_text(encoding="utf-8")


def test_report_of_a_missing_capture_is_66() -> None:
    code, out, err = _run("report", "--read", "/nonexistent/x.pcap")
    assert (code, out) == (66, b"") and err == "netlab: no such capture file: /nonexistent/x.pcap\n"


# --- no rights: 77, as another user --------------------------------------------------------------------------


def _as_nobody_or_without_caps() -> list[str]:
    """A prefix that runs a command without the rights root has: as user nobody (when the checkout is
    readable to them), else as root without the capabilities."""
    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to drop rights")
    import pwd

    nobody = pwd.getpwnam("nobody")
    as_nobody = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    probe = subprocess.run(
        [*as_nobody, sys.executable, "-c", "import netlab.cli.app"],
        capture_output=True,
        timeout=60,
        cwd="/",
        env={**os.environ},
    )
    if probe.returncode == 0:
        return as_nobody
    return ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"]


def test_no_right_to_enter_a_namespace_is_77_with_the_full_path_to_run_as_root() -> None:
    done = subprocess.run(
        [*_as_nobody_or_without_caps(), sys.executable, "-m", "netlab", "sockets", "--netns", "/proc/1/ns/net"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env={**os.environ},
    )
    assert done.returncode == 77, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("netlab: no permission to ") and "network namespace '/proc/1/ns/net'" in line
    assert re.search(r"sudo /\S+ sockets", line) or re.search(r"sudo /\S+ -m netlab sockets", line), line


def test_capture_advice_never_grants_rights_to_every_users_python3() -> None:
    from netlab.invocation import no_permission_hint

    hint = no_permission_hint()
    assert "which python3" not in hint and "readlink" not in hint
    assert re.search(r"sudo /\S+", hint) and "group" in hint and "--read" in hint


@pytest.mark.parametrize(
    "args",
    [["--stream", "99"], ["--port", "9999"], ["-f", "chat", "-d", "c2s"], ["-f", "html", "--color", "never"]],
)
def test_the_console_entry_point_and_its_fast_path_exit_as_the_typer_command(args: list[str]) -> None:
    pcap = str(DATA / "chat_ipv4.pcap")
    entry = subprocess.run(
        [sys.executable, "-m", "netlab", "follow", "-r", pcap, *args],
        capture_output=True,
        env={**os.environ, **ENV},
        timeout=60,
    )
    code, out, err = _run("follow", "-r", pcap, *args)
    assert (entry.returncode, entry.stdout, entry.stderr.decode()) == (code, out, err)
    assert code in (1, 2)


# --- lab: what the report lacks decides the status ------------------------------------------------------------


def test_lab_exits_77_without_capture_rights_and_1_when_the_check_fails(capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    import typer

    from netlab.cli.lab import _exit_for_what_is_missing
    from netlab.errors import CapturePermissionError, FilterUnavailable

    def status(**fields: object) -> int:
        result = SimpleNamespace(**{"capture_error": None, "check_failed": False, **fields})
        try:
            _exit_for_what_is_missing(result)  # type: ignore[arg-type]
        except typer.Exit as done:
            return done.exit_code
        return 0

    assert status() == 0
    assert status(capture_error=CapturePermissionError("no permission to capture on lo")) == 77
    assert status(capture_error=FilterUnavailable("no libpcap")) == 69
    assert status(check_failed=True) == 1
    lines = capsys.readouterr().err.splitlines()
    assert (
        lines[0]
        == "netlab: the report was written without the capture, dialogue and diagrams: no capture rights (see above)"
    )
    assert lines[-1] == "netlab: the capture check failed: see the problems above and in the report"


def test_serve_on_a_port_that_needs_root_is_77_without_pythons_tuple_text() -> None:
    done = subprocess.run(
        [*_as_nobody_or_without_caps(), sys.executable, "-m", "netlab", "serve", "--port", "80", "--no-status"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env={**os.environ},
    )
    assert done.returncode == 77, done.stderr
    assert done.stdout == ""
    last = done.stderr.splitlines()[-1]
    assert (
        last == "netlab: cannot listen on 127.0.0.1:80: permission denied (ports below 1024 need root); "
        "use a port above 1023"
    )
