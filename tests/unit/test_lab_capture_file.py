"""The lab's capture file: a write error mid-run stops the writing, not the switch, and ends the run in one line."""

from __future__ import annotations

import io

import pytest

from netlab.capture.writer import PcapWriter
from netlab.errors import CaptureError
from netlab.lab.impair import Impairment
from netlab.lab.networks import NamespaceNetwork


class _FillsUp(io.BytesIO):
    name = "lab.pcap"

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.room:
            raise OSError(28, "No space left on device")
        return super().write(data)


def test_a_full_disk_mid_capture_is_kept_and_raised_once_everything_is_stopped() -> None:
    net = NamespaceNetwork(2, Impairment())
    net._writer = PcapWriter(_FillsUp(100), 1)
    net._record(1.0, b"a" * 20)
    net._record(2.0, b"b" * 200)  # the switch thread must not die: no exception here
    net._record(3.0, b"c" * 10)
    assert net._writer.frames == 1
    net.stop_capture()
    with pytest.raises(CaptureError, match="^cannot write the capture to lab.pcap: No space left on device$"):
        net.close()
    net.close()  # raised once
