"""Nobody else can forge what `netlab sockets` shows (the runtime directory and its status files).

Another local user can create the runtime directory (`$TMPDIR/netlab-<uid>`) before the server's
first start, or plant a status file in it. Here that user is `nobody`: the test pre-creates the
directory (or a symlink), hands it to nobody, and writes the forged status file as nobody's. Each test
uses its own TMPDIR, so the machine's real /tmp/netlab-0 is never touched.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_chat_support import LineClient

from netlab import runtime
from netlab.chat.server import ChatServer
from netlab.sockets.snapshot import snapshot

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand files to another user")


def _nobody() -> int:
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        pytest.skip("no user nobody")


@pytest.fixture
def tmpdir_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private stand-in for /tmp (mode 1777 like the real one, reachable by every user) as the
    default runtime location."""
    fake_tmp = Path(tempfile.mkdtemp(prefix="netlab-fake-tmp-"))
    fake_tmp.chmod(0o1777)
    monkeypatch.setenv("TMPDIR", str(fake_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(fake_tmp))
    monkeypatch.delenv("NETLAB_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    yield fake_tmp
    shutil.rmtree(fake_tmp, ignore_errors=True)


def _default_dir(fake_tmp: Path) -> Path:
    return fake_tmp / f"netlab-{os.geteuid()}"


def _plant(directory: Path, port: int, status: dict[str, object], owner: int) -> None:
    """Write a status file as `owner` would (replacing whatever is there)."""
    path = directory / f"serve-{port}.json"
    path.unlink(missing_ok=True)
    path.write_text(json.dumps(status), encoding="utf-8")
    os.chown(path, owner, owner)


def _forged(server: ChatServer, nick: str) -> dict[str, object]:
    """The server's own status with every client renamed `nick` (its pid is the real one)."""
    status = {"schema_version": 1, **server.status()}
    status["clients"] = [{**client, "nick": nick} for client in server.status()["clients"]]
    return status


def _sockets_cli(port: int, fake_tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NETLAB_RUNTIME_DIR", "XDG_RUNTIME_DIR")}
    env.update(TMPDIR=str(fake_tmp), NO_COLOR="1", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    return subprocess.run(
        [sys.executable, "-m", "netlab", "sockets", "--port", str(port), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def _nicknames(result: subprocess.CompletedProcess[str]) -> set[str | None]:
    assert result.returncode == 0, result.stderr
    return {row["nickname"] for row in json.loads(result.stdout)["rows"] if row["state"] != "LISTEN"}


@pytest.fixture
def server_and_alice(tmpdir_env: Path) -> Iterator[tuple[ChatServer, LineClient]]:
    server = ChatServer(port=0, flood_rate=0.0)
    server.start()
    alice = LineClient(server.address, "alice")
    try:
        yield server, alice
    finally:
        alice.close()
        server.stop()


def _wait_published(server: ChatServer, directory: Path) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = runtime.read_status(server.address[1], directory) or {}
        if status.get("clients"):
            return
        time.sleep(0.02)
    raise AssertionError("the server did not publish alice")


@ROOT_ONLY
@pytest.mark.parametrize(
    "how", ["nobody's, mode 0777", "nobody's, mode 0700", "root's but mode 0777", "a symlink to nobody's"]
)
def test_a_runtime_dir_planted_by_another_user_is_refused_and_ignored(
    tmpdir_env: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    nobody = _nobody()
    planted = _default_dir(tmpdir_env)
    if how.startswith("a symlink"):
        target = tmpdir_env / "nobodys"
        target.mkdir(mode=0o700)
        os.chown(target, nobody, nobody)
        planted.symlink_to(target)
        os.lchown(planted, nobody, nobody)
    else:
        planted.mkdir()
        planted.chmod(0o777 if "0777" in how else 0o700)
        if how.startswith("nobody"):
            os.chown(planted, nobody, nobody)
    with caplog.at_level(logging.WARNING, logger="netlab"):
        server = ChatServer(port=0, flood_rate=0.0)
        server.start()
    try:
        refusals = [r for r in caplog.records if "status file" in r.getMessage()]
        assert len(refusals) == 1, caplog.text
        assert str(planted) in refusals[0].getMessage()
        alice = LineClient(server.address, "alice")
        try:
            port = server.address[1]
            time.sleep(0.2)  # the server would publish within 50 ms of the join
            assert not (planted / f"serve-{port}.json").exists()  # nothing of root's went there
            # the other user now writes what the server would have, with alice renamed
            _plant(planted, port, _forged(server, "MALLORY"), nobody)
            result = _sockets_cli(port, tmpdir_env)
            assert "MALLORY" not in result.stdout
            assert _nicknames(result) == {None}
            warnings = [line for line in result.stderr.splitlines() if str(planted) in line]
            assert len(warnings) == 1, result.stderr
            assert "MALLORY" not in {row.nickname for row in snapshot(port).rows}
        finally:
            alice.close()
        caplog.clear()
    finally:
        server.stop()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "status" in r.getMessage()]


@ROOT_ONLY
def test_a_status_file_replaced_by_another_user_in_our_own_dir_is_ignored(
    server_and_alice: tuple[ChatServer, LineClient], tmpdir_env: Path
) -> None:
    """Even in a directory of ours, a status file that is not ours (nor root's) is not read."""
    server, _alice = server_and_alice
    directory = _default_dir(tmpdir_env)
    _wait_published(server, directory)
    assert _nicknames(_sockets_cli(server.address[1], tmpdir_env)) == {"alice"}
    _plant(directory, server.address[1], _forged(server, "MALLORY"), _nobody())
    result = _sockets_cli(server.address[1], tmpdir_env)
    assert "MALLORY" not in result.stdout and _nicknames(result) == {None}
    assert len([line for line in result.stderr.splitlines() if "uid" in line]) == 1, result.stderr


def test_the_runtime_dir_is_created_private(server_and_alice: tuple[ChatServer, LineClient], tmpdir_env: Path) -> None:
    server, _alice = server_and_alice
    directory = _default_dir(tmpdir_env)
    _wait_published(server, directory)
    info = directory.lstat()
    assert info.st_mode & 0o777 == 0o700 and info.st_uid == os.geteuid()
    assert _nicknames(_sockets_cli(server.address[1], tmpdir_env)) == {"alice"}


def test_a_status_file_whose_pid_is_not_the_listener_is_ignored(
    server_and_alice: tuple[ChatServer, LineClient], tmpdir_env: Path
) -> None:
    server, _alice = server_and_alice
    directory = _default_dir(tmpdir_env)
    _wait_published(server, directory)
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        forged = _forged(server, "MALLORY")
        forged["pid"] = other.pid  # alive, ours, but it does not listen on the port
        _plant(directory, server.address[1], forged, os.geteuid())
        result = _sockets_cli(server.address[1], tmpdir_env)
        assert "MALLORY" not in result.stdout and _nicknames(result) == {None}
        warnings = [line for line in result.stderr.splitlines() if str(other.pid) in line]
        assert len(warnings) == 1 and "listen" in warnings[0], result.stderr
    finally:
        assert other.stdin is not None
        other.stdin.close()
        other.wait(timeout=10)


@ROOT_ONLY
def test_another_user_sees_no_nicknames_of_roots_server_and_is_told_why(
    server_and_alice: tuple[ChatServer, LineClient], tmpdir_env: Path
) -> None:
    """Root's runtime directory is private: a student's `netlab sockets` shows the rows without names."""
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to drop privileges")
    server, _alice = server_and_alice
    _wait_published(server, _default_dir(tmpdir_env))
    account = pwd.getpwnam("nobody")
    env = {k: v for k, v in os.environ.items() if k not in ("NETLAB_RUNTIME_DIR", "XDG_RUNTIME_DIR")}
    env.update(TMPDIR=str(tmpdir_env), PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    result = subprocess.run(
        [
            "setpriv",
            f"--reuid={account.pw_uid}",
            f"--regid={account.pw_gid}",
            "--clear-groups",
            sys.executable,
            "-m",
            "netlab",
            "sockets",
            "--port",
            str(server.address[1]),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd="/",
        check=False,
    )
    if result.returncode != 0 and "No module named" in result.stderr:
        pytest.skip("user nobody cannot read this checkout or its venv")
    assert _nicknames(result) == {None}
    notes = [line for line in result.stderr.splitlines() if "private" in line]
    assert len(notes) == 1 and str(_default_dir(tmpdir_env)) in notes[0] and "sudo" in notes[0], result.stderr


@ROOT_ONLY
def test_another_listener_on_the_port_cannot_vouch_for_a_forged_file(tmpdir_env: Path) -> None:
    """`sudo netlab sockets` also reads the runtime directory of the port's listeners' owners; a user who
    listens on the same port at another address, and plants a file with the real server's pid, is not
    believed: the file must belong to the user of the listener that pid holds (or root)."""
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to drop privileges")
    account = pwd.getpwnam("nobody")
    server = ChatServer(port=0, flood_rate=0.0, publish_status=False)  # root publishes nothing
    server.start()
    squatter = subprocess.Popen(
        [
            "setpriv",
            f"--reuid={account.pw_uid}",
            f"--regid={account.pw_gid}",
            "--clear-groups",
            sys.executable,
            "-c",
            "import socket, sys; s = socket.create_server(('127.0.0.2', int(sys.argv[1]))); print('ok', flush=True);"
            " sys.stdin.read()",
            str(server.address[1]),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd="/",
    )
    alice = LineClient(server.address, "alice")
    try:
        assert squatter.stdout is not None and squatter.stdout.readline().strip() == "ok"
        theirs = tmpdir_env / f"netlab-{account.pw_uid}"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, account.pw_uid, account.pw_gid)
        _plant(theirs, server.address[1], _forged(server, "MALLORY"), account.pw_uid)
        result = _sockets_cli(server.address[1], tmpdir_env)
        assert "MALLORY" not in result.stdout and _nicknames(result) == {None}
        warnings = [line for line in result.stderr.splitlines() if f"uid {account.pw_uid}" in line]
        assert len(warnings) == 1 and "does not listen" in warnings[0], result.stderr
    finally:
        alice.close()
        server.stop()
        assert squatter.stdin is not None
        squatter.stdin.close()
        squatter.wait(timeout=10)
