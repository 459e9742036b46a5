"""`netlab lab` refuses user mistakes with one line and the right exit code, before starting anything."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netlab.cli.app import app


def _lab(*args: str, tmp_path: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, ["lab", *args, "--captures", str(tmp_path / "c"), "--reports", str(tmp_path / "r")]
    )
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_a_malformed_script_names_file_and_line(tmp_path: Path) -> None:
    script = tmp_path / "chat.txt"
    script.write_text("alice> hi\nthis is not a step\n", encoding="utf-8")
    code, out, err = _lab("--script", str(script), tmp_path=tmp_path)
    assert (code, out) == (1, "")
    assert _one_line(err) == f"netlab: {script}:2: expected `NICK> LINE` (or `@snapshot`), got 'this is not a step'"
    assert not (tmp_path / "c").exists()


def test_a_missing_or_binary_script(tmp_path: Path) -> None:
    code, _, err = _lab("--script", str(tmp_path / "nope.txt"), tmp_path=tmp_path)
    assert code == 66 and _one_line(err) == f"netlab: no such script: {tmp_path / 'nope.txt'}"  # no input (was 1)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00alice> hi")
    code, _, err = _lab("--script", str(binary), tmp_path=tmp_path)
    assert code == 1 and "is not UTF-8 text" in _one_line(err)


def test_a_busy_port_says_so_without_pretending_anything_ran(busy_port: int, tmp_path: Path) -> None:
    code, out, err = _lab("--port", str(busy_port), tmp_path=tmp_path)
    assert (code, out) == (1, "")
    line = _one_line(err)
    assert line.startswith("netlab: cannot listen on 127.0.0.1:") and "--port" in line


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--loss", "5"], "need --hosts"),
        (["--reorder", "5"], "need --hosts"),
        (["--hosts", "1"], "at least 2"),
        (["--clients", "1"], "--clients"),
        (["--hosts", "3", "--loss", "120"], "--loss"),
    ],
)
def test_impossible_options_are_usage_errors(args: list[str], words: str, tmp_path: Path) -> None:
    code, out, err = _lab(*args, tmp_path=tmp_path)
    assert code == 2 and out == ""
    assert words in err


def test_help_documents_the_script_format_and_the_outputs() -> None:
    result = CliRunner().invoke(app, ["lab", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for words in ("NICK> LINE", "@snapshot", "--keep-running", "--hosts", "report.html", "captures/RUN.pcap"):
        assert words in result.output, words


def test_script_and_default_conversation_options_do_not_mix(tmp_path: Path) -> None:
    script = tmp_path / "chat.txt"
    script.write_text("alice> hi\nbob> hello\n", encoding="utf-8")
    code, _, err = _lab("--script", str(script), "--messages", "3", tmp_path=tmp_path)
    assert code == 2 and "with --script" in err


def test_generated_run_names_never_reuse_an_earlier_runs_files(tmp_path: Path) -> None:
    from netlab.lab.run import LabConfig, run_name

    config = LabConfig(captures_dir=tmp_path / "c", reports_dir=tmp_path / "r")
    first = run_name(config)
    (tmp_path / "r" / first).mkdir(parents=True)
    second = run_name(config)
    assert second == f"{first}-2" or second[:19] > first[:19]  # same second: a suffix; else a later stamp
    assert run_name(LabConfig(run_name="mine", captures_dir=tmp_path)) == "mine"


def test_a_name_that_is_a_path_is_refused(tmp_path: Path) -> None:
    code, _, err = _lab("--name", "../escape", tmp_path=tmp_path)
    assert code == 1 and "--name must be a plain name" in _one_line(err)
