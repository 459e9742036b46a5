"""`netlab check` end to end, as a teacher runs it: netlab serve as shipped passes every check; small
students'-style servers with one classic bug each fail or warn exactly where they should; a server that does
not start, a target that does not listen, usage errors; JSON and the HTML report."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

STUDENT = Path(__file__).with_name("check_student_server.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check(*args: str, timeout: float = 110) -> tuple[int, dict, str]:
    done = subprocess.run(
        [sys.executable, "-m", "netlab", "check", "--format", "json", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    document = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, document, done.stderr


def student(port: int, *options: str) -> list[str]:
    return ["--exec", f"{sys.executable} {STUDENT} {port} {' '.join(options)}", "--port", str(port)]


def verdicts(document: dict) -> dict[str, str]:
    return {c["id"]: c["verdict"] for c in document["checks"]}


def reasons(document: dict) -> dict[str, str]:
    return {c["id"]: c["reason"] for c in document["checks"]}


def test_netlab_serve_as_shipped_passes_every_check_within_a_minute(tmp_path: Path) -> None:
    port = free_port()
    command = f"{sys.executable} -m netlab serve --port {port}"  # flood control on, as shipped
    start = time.monotonic()
    code, document, stderr = check("--exec", command, "--port", str(port), "--report", str(tmp_path / "r.html"))
    took = time.monotonic() - start
    assert code == 0, stderr
    assert document["dialect"] == "netlab" and "NICK" in document["detection"]
    assert set(verdicts(document).values()) == {"pass"}, reasons(document)
    assert document["summary"] == {"pass": 17, "fail": 0, "warn": 0, "skip": 0}
    assert took < 60, took
    load = next(c for c in document["checks"] if c["id"] == "load")
    assert any("rate limiting" in note for note in load["evidence"]["notes"])  # flood control: a note, not a failure
    many = next(c for c in document["checks"] if c["id"] == "many-clients")
    assert many["evidence"]["measurements"]["served"] == 100
    assert stderr.count("netlab: [") == 17  # one progress line per check
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<table" in page and "src=" not in page and "17 passed, 0 failed, 0 warnings" in page


@pytest.mark.parametrize(
    ("options", "only", "expected", "phrase"),
    [
        (
            ("--greeting", "NAME", "--bug", "echo"),
            ("broadcast", "sender-echo"),
            {"broadcast": "pass", "sender-echo": "warn"},
            "own line back",
        ),
        (
            ("--greeting", "prompt", "--bug", "chunk-prefix"),
            ("coalesced-lines", "split-line"),
            {"coalesced-lines": "fail", "split-line": "fail"},
            "prefix",
        ),
        (("--bug", "decode-chunk"), ("utf8-split",), {"utf8-split": "fail"}, "UTF-8"),
        (
            ("--greeting", "none", "--bug", "die-on-reset"),
            ("abrupt-disconnect", "broadcast"),
            {"abrupt-disconnect": "fail", "broadcast": "pass"},
            "died",
        ),
    ],
    ids=["echo", "chunk-prefix", "decode-chunk", "die-on-reset"],  # the other bugs: test_check_servers.py
)
def test_one_classic_bug_each(
    options: tuple[str, ...], only: tuple[str, ...], expected: dict[str, str], phrase: str
) -> None:
    port = free_port()
    selection = [arg for name in only for arg in ("--only", name)]
    code, document, stderr = check(*student(port, *options), *selection)
    assert verdicts(document) == expected, (reasons(document), stderr)
    assert code == (1 if "fail" in expected.values() else 0)
    flagged = [c for c in document["checks"] if c["verdict"] in ("fail", "warn")]
    assert any(phrase in c["reason"] for c in flagged), reasons(document)
    for item in flagged:  # the evidence quotes the bytes
        assert item["evidence"]["sent"] or item["evidence"]["received"]


def test_a_server_that_dies_is_restarted_and_said_so() -> None:
    port = free_port()
    code, document, _ = check(
        *student(port, "--bug", "die-on-reset"), "--only", "abrupt-disconnect", "--only", "connect"
    )
    assert verdicts(document) == {"connect": "pass", "abrupt-disconnect": "fail"}
    assert code == 1
    assert any("restarted" in note for note in document["server_notes"]), document["server_notes"]


def test_an_unrecognised_protocol_is_skipped_never_failed() -> None:
    port = free_port()
    code, document, _ = check(
        *student(port, "--greeting", "json"),
        "--only",
        "broadcast",
        "--only",
        "connect-close",
        "--only",
        "silent-client",
    )
    assert document["dialect"] == "unrecognised" and "JSON" in document["detection"]
    assert verdicts(document) == {"broadcast": "skip", "silent-client": "pass", "connect-close": "pass"}
    assert "JSON" in reasons(document)["broadcast"] and '{"type"' in reasons(document)["broadcast"]
    assert code == 0


def test_a_server_that_does_not_start(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def main(:\n    pass\n")
    port = free_port()
    code, document, stderr = check("--exec", f"{sys.executable} {broken}", "--port", str(port))
    assert code == 1
    assert set(verdicts(document).values()) == {"skip"}
    assert any("SyntaxError" in line for line in document["server_stderr"])
    assert "did not start" in reasons(document)["connect"] and "SyntaxError" in reasons(document)["connect"]
    silent = tmp_path / "silent.py"
    silent.write_text("import time\ntime.sleep(30)\n")
    start = time.monotonic()
    code, document, _ = check("--exec", f"{sys.executable} {silent}", "--port", str(port), "--start-timeout", "1")
    assert code == 1 and time.monotonic() - start < 15
    assert "did not listen on port" in reasons(document)["connect"]


def test_unreachable_and_usage_errors() -> None:
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "netlab", "check", str(port)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 69 and "nothing listens" in done.stderr and done.stdout == ""
    for args in (["--exec", "true"], ["--only", "nonsense", "5555"], ["--dialect", "irc", "5555"], []):
        done = subprocess.run(
            [sys.executable, "-m", "netlab", "check", *args], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 2, (args, done.stderr)


def test_text_output_and_skip(tmp_path: Path) -> None:
    port = free_port()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "netlab",
            "check",
            *student(port, "--bug", "echo"),
            "--only",
            "sender-echo",
            "--only",
            "restart",
            "--skip",
            "restart",
            "--report",
            str(tmp_path / "r.html"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "sender-echo" in done.stdout and "restart" not in done.stdout.split("VERDICT", 1)[1]
    assert done.stdout.rstrip().endswith("0 passed, 0 failed, 1 warning")
    assert "\x1b[" not in done.stdout
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'id="check-sender-echo"' in page and "own line back" in page


def test_save_to_without_capture_rights_still_grades_then_exits_77(tmp_path: Path) -> None:
    import os
    import shutil

    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to drop the capture capabilities")
    without_caps = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"]
    port = free_port()
    command = [*without_caps, sys.executable, "-m", "netlab", "check", "--format", "json"]
    command += [*student(port, "--greeting", "NAME"), "--only", "broadcast", "--save-to", str(tmp_path / "c.pcap")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd="/", env={**os.environ})
    assert done.returncode == 77, done.stderr
    document = json.loads(done.stdout)
    assert verdicts(document) == {"broadcast": "pass"}  # the checks still ran; the evidence quotes the clients
    assert document["checks"][0]["evidence"]["received"] and document["capture"] is None
    assert "no capture" in done.stderr


def test_the_run_timeout_skips_what_is_left() -> None:
    port = free_port()
    only = ["--only", "connect", "--only", "broadcast", "--only", "silent-client", "--only", "connect-close"]
    code, document, _ = check(*student(port), *only, "--timeout", "1")
    assert code == 0
    assert verdicts(document)["connect-close"] == "skip" and "--timeout" in reasons(document)["connect-close"]
