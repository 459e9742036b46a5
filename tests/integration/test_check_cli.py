"""`netlab check` end to end, as a teacher runs it: netlab serve as shipped passes every check; small
students'-style servers with one classic bug each fail or warn exactly where they should; a server that does
not start, a target that does not listen, usage errors; JSON and the HTML report.

The full grading of netlab serve runs alone (its load, slow-consumer and many-clients checks measure latency
and CPU). The other gradings run only checks whose verdict no load on the box can change (no CPU measured, no
latency bound under a second or two, see test_check_servers.py) and mostly wait, so the module grades them
four at a time once (`graded`), each in its own `netlab check` process, and each test reads its own."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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


def student(port: int | str, *options: str) -> list[str]:
    return ["--exec", f"{sys.executable} {STUDENT} {port} {' '.join(options)}", "--port", str(port)]


def verdicts(document: dict) -> dict[str, str]:
    return {c["id"]: c["verdict"] for c in document["checks"]}


def reasons(document: dict) -> dict[str, str]:
    return {c["id"]: c["reason"] for c in document["checks"]}


# ------------------------------------------------------------------ the gradings that share the machine


@dataclass(frozen=True)
class Done:
    """One `netlab check` process: its exit status, output and wall time."""

    code: int
    stdout: str
    stderr: str
    seconds: float

    def document(self) -> dict:
        return json.loads(self.stdout) if self.stdout.strip() else {}


WITHOUT_CAPS = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"]
CAN_DROP_CAPS = shutil.which("setpriv") is not None and os.geteuid() == 0
CLASSIC = {
    "echo": (("--greeting", "NAME", "--bug", "echo"), ("broadcast", "sender-echo")),
    "chunk-prefix": (("--greeting", "prompt", "--bug", "chunk-prefix"), ("coalesced-lines", "split-line")),
    "decode-chunk": (("--bug", "decode-chunk"), ("utf8-split",)),
    "die-on-reset": (("--greeting", "none", "--bug", "die-on-reset"), ("abrupt-disconnect", "broadcast")),
}


PORT = "{PORT}"


def only(*names: str) -> list[str]:
    return [arg for name in names for arg in ("--only", name)]


def _jobs(folder: Path) -> dict[str, tuple[list[str], dict]]:
    """Each grading's command line (and `subprocess.run` options), keyed by name; `PORT` stands for the server's
    port, chosen free when the grading starts (a port chosen long before could be taken by then)."""
    json_check = [sys.executable, "-m", "netlab", "check", "--format", "json"]
    text_check = [sys.executable, "-m", "netlab", "check"]
    jobs: dict[str, tuple[list[str], dict]] = {}
    for name, (options, checks) in CLASSIC.items():
        jobs[f"classic-{name}"] = ([*json_check, *student(PORT, *options), *only(*checks)], {})
    jobs["dies"] = (
        [*json_check, *student(PORT, "--bug", "die-on-reset"), *only("abrupt-disconnect", "connect")],
        {},
    )
    jobs["unrecognised"] = (
        [
            *json_check,
            *student(PORT, "--greeting", "json"),
            *only("broadcast", "connect-close", "silent-client"),
        ],
        {},
    )
    broken, silent = folder / "broken.py", folder / "silent.py"
    broken.write_text("def main(:\n    pass\n")
    silent.write_text("import time\ntime.sleep(30)\n")
    jobs["broken"] = ([*json_check, "--exec", f"{sys.executable} {broken}", "--port", PORT], {})
    jobs["silent"] = (
        [*json_check, "--exec", f"{sys.executable} {silent}", "--port", PORT, "--start-timeout", "1"],
        {},
    )
    text = [*student(PORT, "--bug", "echo"), *only("sender-echo", "restart"), "--skip", "restart"]
    jobs["text"] = ([*text_check, *text, "--report", str(folder / "text.html")], {"timeout": 60})
    if CAN_DROP_CAPS:
        save = [*student(PORT, "--greeting", "NAME"), *only("broadcast"), "--save-to", str(folder / "c.pcap")]
        jobs["save-to"] = ([*WITHOUT_CAPS, *json_check, *save], {"timeout": 60, "cwd": "/", "env": {**os.environ}})
    timeout = [*student(PORT), *only("connect", "broadcast", "silent-client", "connect-close"), "--timeout", "1"]
    jobs["timeout"] = ([*json_check, *timeout], {})
    return jobs


def _run(job: tuple[list[str], dict]) -> Done | BaseException:
    args, options = job
    port = str(free_port())
    args = [arg.replace(PORT, port) for arg in args]
    start = time.monotonic()
    try:
        done = subprocess.run(args, capture_output=True, text=True, **{"timeout": 110, **options})
    except (OSError, subprocess.SubprocessError) as error:  # raised again in its own test
        return error
    return Done(done.returncode, done.stdout, done.stderr, time.monotonic() - start)


@dataclass(frozen=True)
class Shared:
    """The shared gradings' outcomes by name, and the folder of their files."""

    folder: Path
    outcomes: dict[str, Done | BaseException]

    def __getitem__(self, name: str) -> Done:
        outcome = self.outcomes[name]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Shared:
    """Every shared grading, four at a time (each grading mostly waits)."""
    folder = tmp_path_factory.mktemp("check-cli")
    jobs = _jobs(folder)
    with ThreadPoolExecutor(max_workers=4) as pool:
        return Shared(folder, dict(zip(jobs, pool.map(_run, jobs.values()), strict=True)))


# ------------------------------------------------------------------ the tests


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
    long_line = next(c for c in document["checks"] if c["id"] == "long-line")
    assert long_line["seconds"] < 3.0, long_line  # its sender closed: the wait for a delivery ends at once
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<table" in page and "src=" not in page and "17 passed, 0 failed, 0 warnings" in page


@pytest.mark.parametrize(
    ("name", "expected", "phrase"),
    [
        ("echo", {"broadcast": "pass", "sender-echo": "warn"}, "own line back"),
        ("chunk-prefix", {"coalesced-lines": "fail", "split-line": "fail"}, "prefix"),
        ("decode-chunk", {"utf8-split": "fail"}, "UTF-8"),
        ("die-on-reset", {"abrupt-disconnect": "fail", "broadcast": "pass"}, "died"),
    ],
    ids=list(CLASSIC),  # the other bugs: test_check_servers.py
)
def test_one_classic_bug_each(name: str, expected: dict[str, str], phrase: str, graded: Shared) -> None:
    done = graded[f"classic-{name}"]
    document = done.document()
    assert set(expected) == set(CLASSIC[name][1])
    assert verdicts(document) == expected, (reasons(document), done.stderr)
    assert done.code == (1 if "fail" in expected.values() else 0)
    flagged = [c for c in document["checks"] if c["verdict"] in ("fail", "warn")]
    assert any(phrase in c["reason"] for c in flagged), reasons(document)
    for item in flagged:  # the evidence quotes the bytes
        assert item["evidence"]["sent"] or item["evidence"]["received"]


def test_a_server_that_dies_is_restarted_and_said_so(graded: Shared) -> None:
    done = graded["dies"]
    document = done.document()
    assert verdicts(document) == {"connect": "pass", "abrupt-disconnect": "fail"}
    assert done.code == 1
    assert any("restarted" in note for note in document["server_notes"]), document["server_notes"]


def test_an_unrecognised_protocol_is_skipped_never_failed(graded: Shared) -> None:
    done = graded["unrecognised"]
    document = done.document()
    assert document["dialect"] == "unrecognised" and "JSON" in document["detection"]
    assert verdicts(document) == {"broadcast": "skip", "silent-client": "pass", "connect-close": "pass"}
    assert "JSON" in reasons(document)["broadcast"] and '{"type"' in reasons(document)["broadcast"]
    assert done.code == 0


def test_a_server_that_does_not_start(graded: Shared) -> None:
    done = graded["broken"]
    document = done.document()
    assert done.code == 1
    assert set(verdicts(document).values()) == {"skip"}
    assert any("SyntaxError" in line for line in document["server_stderr"])
    assert "did not start" in reasons(document)["connect"] and "SyntaxError" in reasons(document)["connect"]
    done = graded["silent"]
    assert done.code == 1 and done.seconds < 15
    assert "did not listen on port" in reasons(done.document())["connect"]


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


def test_text_output_and_skip(graded: Shared) -> None:
    done = graded["text"]
    assert done.code == 0, done.stderr
    assert "sender-echo" in done.stdout and "restart" not in done.stdout.split("VERDICT", 1)[1]
    assert done.stdout.rstrip().endswith("0 passed, 0 failed, 1 warning")
    assert "\x1b[" not in done.stdout
    page = (graded.folder / "text.html").read_text(encoding="utf-8")
    assert 'id="check-sender-echo"' in page and "own line back" in page


def test_save_to_without_capture_rights_still_grades_then_exits_77(graded: Shared) -> None:
    if not CAN_DROP_CAPS:
        pytest.skip("needs root and setpriv to drop the capture capabilities")
    done = graded["save-to"]
    assert done.code == 77, done.stderr
    document = done.document()
    assert verdicts(document) == {"broadcast": "pass"}  # the checks still ran; the evidence quotes the clients
    assert document["checks"][0]["evidence"]["received"] and document["capture"] is None
    assert "no capture" in done.stderr


def test_the_run_timeout_skips_what_is_left(graded: Shared) -> None:
    done = graded["timeout"]
    document = done.document()
    assert done.code == 0
    assert verdicts(document)["connect-close"] == "skip" and "--timeout" in reasons(document)["connect-close"]
