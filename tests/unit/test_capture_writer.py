"""The streaming pcap writer: what it writes reads back exactly, with scapy's reader and tshark."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlab.capture.writer import PcapWriter, default_save_path, split_timestamp
from netlab.errors import CaptureError

frames_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2**32 - 1),
        st.integers(min_value=0, max_value=999_999),
        st.binary(min_size=0, max_size=300),
    ),
    max_size=20,
)


def read_back(blob: bytes) -> tuple[int, list[tuple[int, int, bytes, int]]]:
    from scapy.utils import RawPcapReader

    reader = RawPcapReader(io.BytesIO(blob))
    records = [(meta.sec, meta.usec, data, meta.wirelen) for data, meta in reader]
    return reader.linktype, records


@settings(max_examples=60, deadline=None)
@given(frames_strategy, st.sampled_from([1, 101, 113]))
def test_frames_read_back_exactly_with_scapy(frames: list[tuple[int, int, bytes]], linktype: int) -> None:
    out = io.BytesIO()
    writer = PcapWriter(out, linktype)
    for seconds, micros, data in frames:
        writer.write(seconds + micros / 1_000_000, data, len(data) + 7)
    writer.close()
    got_linktype, records = read_back(out.getvalue())
    assert got_linktype == linktype
    assert records == [(s, us, data, len(data) + 7) for s, us, data in frames]
    assert writer.frames == len(frames)


@given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(min_value=0, max_value=999_999))
def test_split_timestamp_inverts_the_float(seconds: int, micros: int) -> None:
    assert split_timestamp(seconds + micros / 1_000_000) == (seconds, micros)


def test_split_timestamp_never_yields_a_million_micros() -> None:
    assert split_timestamp(4.9999999) == (5, 0)


def test_header_carries_snaplen_and_linktype() -> None:
    out = io.BytesIO()
    PcapWriter(out, 1, snaplen=262_144).close()
    blob = out.getvalue()
    assert len(blob) == 24
    assert int.from_bytes(blob[16:20], "little") == 262_144
    assert int.from_bytes(blob[20:24], "little") == 1


def test_default_path_names_the_time() -> None:
    assert default_save_path(Path("captures"), datetime(2026, 11, 23, 16, 5, 9)) == Path(
        "captures/follow-20261123-160509.pcap"
    )


def test_unwritable_path_is_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CaptureError, match="cannot write the capture to"):
        PcapWriter(blocker / "sub" / "c.pcap", 1)


@pytest.mark.tshark
def test_tshark_opens_a_written_file_with_big_frames(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "c.pcap"
    frame = bytes(14) + b"\x45" + bytes(65_535)  # bigger than 65 535: loopback frames reach 65 550
    with PcapWriter(path, 1) as writer:
        writer.write(1.5, frame)
        writer.write(2.25, b"\x00" * 60)
    tshark = shutil.which("tshark")
    assert tshark is not None
    result = subprocess.run(
        [tshark, "-r", str(path), "-T", "fields", "-e", "frame.len", "-e", "frame.time_epoch"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = [line.split("\t") for line in result.stdout.split()]
    lengths = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert lengths == [str(len(frame)), "60"], rows


class _FillsUp(io.BytesIO):
    """A stream with room for `room` bytes; then every write fails as on a full disk."""

    name = "full.pcap"

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.room:
            raise OSError(28, "No space left on device")
        return super().write(data)


def test_a_full_disk_is_one_line_naming_the_file() -> None:
    with pytest.raises(CaptureError) as raised:
        PcapWriter(Path("/dev/full"), 1)
    assert str(raised.value) == "cannot write the capture to /dev/full: No space left on device"


def test_a_disk_that_fills_up_mid_capture_is_one_line_naming_the_file() -> None:
    writer = PcapWriter(_FillsUp(100), 1)
    writer.write(1.0, b"x" * 20)
    with pytest.raises(CaptureError, match=r"^cannot write the capture to full.pcap: No space left on device$"):
        writer.write(2.0, b"y" * 100)
    assert writer.frames == 1
