"""Where the shared conformance kit is: $NETLAB_CONFORMANCE_DIR, else ../shared/conformance beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def find_kit() -> Path:
    """The conformance kit's folder (it may not exist; callers skip with a reason then)."""
    candidates = [
        os.environ.get("NETLAB_CONFORMANCE_DIR", ""),
        str(REPO.parent / "shared" / "conformance"),
        "/work/shared/conformance",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "check_follow.py").is_file():
            return Path(candidate)
    return REPO.parent / "shared" / "conformance"


KIT = find_kit()
