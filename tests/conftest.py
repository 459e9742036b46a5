"""Shared fixtures and skip rules."""

from __future__ import annotations

import os
import shutil

import pytest

IS_ROOT = os.geteuid() == 0
HAVE_TSHARK = shutil.which("tshark") is not None


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--update-golden` rewrites tests/golden/ files instead of comparing (review the diff)."""
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files in tests/golden/")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when the run was asked to rewrite golden files."""
    return bool(request.config.getoption("--update-golden"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `live` tests when not root and `tshark` tests when tshark is missing, with a reason."""
    for item in items:
        if "live" in item.keywords and not IS_ROOT:
            item.add_marker(pytest.mark.skip(reason="needs root (capture permission)"))
        if "tshark" in item.keywords and not HAVE_TSHARK:
            item.add_marker(pytest.mark.skip(reason="tshark is not installed"))
