"""Make tests/data/lab_hosts4_lossy.pcap: a lossy, reordering four-host lab run (run as root).

    sudo .venv/bin/python tests/data/make_lab_capture.py [NAME...]

Without a NAME it makes lab_hosts4_lossy.pcap; the NAMEs of `MORE` make the other lossy lab captures
the analyze agreement test reads (tests/expert_agreement.py takes every tests/data/*lossy*.pcap).

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
MORE = {
    "lab_hosts3_loss5_lossy.pcap": ("lab", "--hosts", "3", "--loss", "5", "--seed", "3"),
    "lab_hosts4_loss10_reorder20_lossy.pcap": (
        "lab",
        "--hosts",
        "4",
        "--loss",
        "10",
        "--reorder",
        "20",
        "--seed",
        "11",
    ),
}


def lab_capture(workdir: Path, args: tuple[str, ...] = LAB_ARGS) -> Path:
    """Run the lossy lab (`args`) in `workdir` and return the capture it wrote."""
    subprocess.run([sys.executable, "-m", "netlab", *args], cwd=workdir, check=True, capture_output=True, timeout=120)
    (capture,) = (workdir / "captures").glob("lab-*.pcap")
    return capture


if __name__ == "__main__":
    wanted = {name: MORE[name] for name in sys.argv[1:]} or {"lab_hosts4_lossy.pcap": LAB_ARGS}
    for name, args in wanted.items():
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copyfile(lab_capture(Path(tmp), args), HERE / name)
