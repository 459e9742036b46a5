"""The public conformance kit: `netlab follow --format json` against Wireshark's bytes per stream."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest
from conformance_kit import KIT

CMD = f"{shlex.quote(sys.executable)} -m netlab follow --read {{pcap}} --format json --no-summary"

pytestmark = pytest.mark.skipif(not KIT.is_dir(), reason=f"conformance kit not found at {KIT}")


def _run(tier: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(KIT / "check_follow.py"),
            "--cmd",
            CMD,
            "--tier",
            tier,
            "--jobs",
            "2",
            "--timeout",
            "120",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_every_core_capture_passes() -> None:
    result = _run("core")
    assert result.returncode == 0, result.stdout + result.stderr
    tiers = json.loads((KIT / "tiers.json").read_text())
    core = sum(1 for tier in tiers.values() if tier == "core")
    assert f"{core} passed, 0 failed" in result.stdout


def test_every_stretch_capture_passes() -> None:
    """Exotic link layers (NFLOG, PPPoE over QinQ, VXLAN), IPv6 extension headers, truncated captures."""
    result = _run("stretch")
    assert result.returncode == 0, result.stdout + result.stderr
