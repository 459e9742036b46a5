"""The start-up fast path of `netlab follow --read` (its own parser, no typer) against the typer command.

The two must agree on the options (names, kinds, choices, ranges, defaults), and for every argument
list the fast parser takes, `python -m netlab follow ...` must write the bytes the typer command
writes, with the same exit status; anything else the fast path declines, without writing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from netlab.cli import follow_fast
from netlab.cli.app import app

DATA = Path(__file__).resolve().parents[1] / "data"
ENV = {"NO_COLOR": "1", "COLUMNS": "100", "TERM": "dumb"}
LIVE_ONLY = {"iface", "bpf_filter", "backend", "save", "save_to", "duration", "count", "until_idle"}
#: -v / -q, which every command takes (netlab.cli.app); the fast path declines them as unknown options,
#: so the typer command sets the log level.
APP_WIDE = {"log_verbose", "log_quiet"}


def _typer_options() -> dict[str, dict[str, object]]:
    """The follow command's capture-file parameters as typer declares them, keyed by name."""
    found: dict[str, dict[str, object]] = {}
    for param in typer.main.get_command(app).commands["follow"].params:  # type: ignore[attr-defined]
        if param.name in LIVE_ONLY | APP_WIDE:
            continue
        kind = param.type
        choices = getattr(kind, "choices", None)
        found[param.name] = {
            "strings": sorted(param.opts),
            "off": sorted(param.secondary_opts),
            "flag": bool(getattr(param, "is_flag", False)),
            "multiple": param.multiple,
            "choices": sorted(str(getattr(c, "value", c)) for c in choices) if choices else None,
            "range": (kind.min, kind.max) if hasattr(kind, "min") else None,
            "default": getattr(param.default, "value", param.default),
        }
        if choices:
            assert kind.case_sensitive, "the fast parser's choices are case-sensitive"
    return found


def _fast_options() -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    for name, option in follow_fast.OPTIONS.items():
        found[name] = {
            "strings": sorted(option.strings),
            "off": sorted(option.off),
            "flag": option.kind == "flag",
            "multiple": option.many,
            "choices": sorted(option.choices) if option.choices else None,
            "range": option.range,
            "default": option.default,
        }
    return found


def test_the_fast_parser_knows_the_options_of_the_typer_command() -> None:
    assert _fast_options() == _typer_options()


# Duck-typed: typer below 0.28 builds on click, 0.28 on its own copy of it.
CLICK_EXCEPTION = next(kind for kind in typer.BadParameter.__mro__ if kind.__name__ == "ClickException")


def _typer_parse(args: list[str]) -> dict[str, object] | None:
    """What typer's parser makes of `args` (None when it refuses them), the fast parser's options only."""
    command = typer.main.get_command(app).commands["follow"]  # type: ignore[attr-defined]
    try:
        params = command.make_context("follow", list(args)).params
    except (CLICK_EXCEPTION, typer.Exit):
        return None
    return {name: _normalized(params[name]) for name in follow_fast.OPTIONS}


def _normalized(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return list(value) or None
    return getattr(value, "value", value)


TOKENS = [
    *("--read", "-r", "--stream", "-s", "--format", "-f", "--port", "-p", "--host", "--direction", "-d"),
    *("--color", "--vlans", "--split-vlans", "--summary", "--no-summary", "-h", "--help", "--", "-c"),
    *("-rx", "-r=x", "--read=x", "-s1", "-s=1", "-p80", "--port=", "--summary=1", "-x", "--forma", "-rs"),
    *("x.pcap", "5", "0", "65535", "65536", "-1", "1.5", "abc", "", " 7", "08", "1_0", "-", "a=b"),
    *("text", "json", "hex", "tshark-ascii", "nope", "both", "c2s", "S2C", "auto", "always", "split"),
    *("merge", "10.0.0.1", "[::1]", "::1", "-r x", "--iface"),
    *("--proto", "--udp", "--proto=all", "udp", "tcp", "all", "UDP", "--udp=1"),
]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([[], ["-r", "x.pcap"]]), st.lists(st.sampled_from(TOKENS), max_size=6))
def test_whatever_the_fast_parser_takes_typer_reads_the_same(read: list[str], more: list[str]) -> None:
    args = read + more  # most lists without a --read are declined: give half of them one
    try:
        fast = {name: _normalized(value) for name, value in follow_fast.parse(list(args)).items()}
    except follow_fast.Declined:
        return
    assert _typer_parse(args) == fast


def _truncated(tmp_path: Path) -> Path:
    whole = (DATA / "chat_ipv4.pcap").read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(whole[: len(whole) - 30])
    return path


TAKEN = [
    ["--read", "{chat_ipv4}", "--format", "json"],
    ["-r", "{chat_ipv6}", "-f", "text"],
    ["--read={port_reuse}", "--format=hex", "--no-summary"],
    ["-r{chat_vlan}", "-s1", "-s", "0", "--direction", "s2c", "-f", "json"],
    ["-r", "{chat_ipv4}", "-p55555", "--host", "10.0.0.1", "--host", "[10.0.0.2]"],
    ["-r", "{snaplen}", "-f", "raw", "-d", "c2s"],
    ["-r", "{vlan_collision}", "--vlans", "split", "-f", "json"],
    ["-r", "{vlan_collision}", "--split-vlans", "--vlans", "merge"],
    ["-r", "{chat_ipv4}", "-f", "tshark-ascii", "--summary"],
    ["-r", "{chat_ipv4}", "--stream", "7"],
    ["-r", "{port_reuse}", "-s", "1", "-s", "7", "-f", "json"],
    ["-r", "{chat_ipv4}", "--port", "9999"],
    ["-r", "{chat_ipv4}", "--color", "always"],
    ["-r", "{chat_ipv4}", "-f", "json", "--color", "never"],
    ["-r", "{chat_ipv4}", "-r", "{wrap}", "--format", "chat"],
    ["-r", "{missing}"],
    ["-r", "{truncated}", "-f", "json"],
    ["-r", "{udp_chat}", "--udp", "-f", "json"],
    ["-r", "{udp_chat}", "--proto", "all", "-f", "tshark-yaml"],
    ["-r", "{udp_dns}", "--proto=udp", "-p", "53", "-s", "4", "-f", "hex"],
    ["-r", "{udp_dns}", "--udp", "-s", "9"],
    ["-r", "{udp_chat}", "--udp", "--proto", "all", "-f", "chat"],
]


def _expand(args: list[str], tmp_path: Path) -> list[str]:
    paths = {p.stem: str(p) for p in DATA.glob("*.pcap")}
    paths.update(missing=str(tmp_path / "missing.pcap"), truncated=str(_truncated(tmp_path)))
    return [arg.format(**paths) for arg in args]


@pytest.mark.parametrize("args", TAKEN, ids=" ".join)
def test_the_fast_path_writes_what_the_typer_command_writes(args: list[str], tmp_path: Path) -> None:
    args = _expand(args, tmp_path)
    follow_fast.parse(args)  # taken, not declined
    fast = subprocess.run([sys.executable, "-m", "netlab", "follow", *args], capture_output=True, env=ENV, timeout=60)
    typed: Any = CliRunner().invoke(app, ["follow", *args], env=ENV)
    assert (fast.returncode, fast.stdout, fast.stderr.decode()) == (
        typed.exit_code,
        typed.stdout_bytes,
        typed.stderr,
    )


DECLINED = [
    [],
    ["--help"],
    ["-r", "{chat_ipv4}", "-h"],
    ["-r", "{chat_ipv4}", "--iface", "lo"],
    ["-r", "{chat_ipv4}", "-c", "3"],
    ["--format", "json"],
    ["-r"],
    ["-r", ""],
    ["-r", "{chat_ipv4}", "extra"],
    ["-r", "{chat_ipv4}", "--", "-f"],
    ["-r", "{chat_ipv4}", "-f", "nope"],
    ["-r", "{chat_ipv4}", "-d", "c2s", "-f", "tshark-hex"],
    ["-r", "{chat_ipv4}", "-d", "c2s", "-f", "chat"],
    ["-r", "{chat_ipv4}", "-d", "s2c", "-f", "html"],
    ["-r", "{chat_ipv4}", "--color", "always", "-f", "json"],
    ["-r", "{chat_ipv4}", "--color", "never", "-f", "html"],
    ["-r", "{chat_ipv4}", "-v"],
    ["-r", "{chat_ipv4}", "-d", "C2S"],
    ["-r", "{chat_ipv4}", "--host", "nope"],
    ["-r", "{chat_ipv4}", "-s", "-1"],
    ["-r", "{chat_ipv4}", "-s=1"],
    ["-r", "{chat_ipv4}", "-p", "65536"],
    ["-r", "{chat_ipv4}", "--summary=yes"],
    ["-r", "{chat_ipv4}", "--forma", "json"],
]


@pytest.mark.parametrize("args", DECLINED, ids=" ".join)
def test_whatever_the_fast_parser_is_unsure_of_goes_to_typer_untouched(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _expand(args, tmp_path)
    with pytest.raises(follow_fast.Declined):
        follow_fast.parse(args)
    assert follow_fast.run(args) is False
    assert capsys.readouterr() == ("", "")
