"""Make tests/data/lab_hosts4_lossy.pcap: a lossy, reordering four-host lab run (run as root).

    sudo .venv/bin/python tests/data/make_lab_capture.py

Runs `netlab lab --hosts 4 --loss 5 --reorder 10 --seed 7` in a temporary directory and keeps
its capture. The wire's loss and reordering depend on timing as well as on the seed, so each run
gives a slightly different capture; the committed one is what the TCP-analysis test compares
with tshark frame by frame.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAB_ARGS = ("lab", "--hosts", "4", "--loss", "5", "--reorder", "10", "--seed", "7")


def lab_capture(workdir: Path) -> Path:
    """Run the lossy lab in `workdir` and return the capture it wrote."""
    subprocess.run(
        [sys.executable, "-m", "netlab", *LAB_ARGS], cwd=workdir, check=True, capture_output=True, timeout=120
    )
    (capture,) = (workdir / "captures").glob("lab-*.pcap")
    return capture


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copyfile(lab_capture(Path(tmp)), HERE / "lab_hosts4_lossy.pcap")
