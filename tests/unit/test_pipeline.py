"""`follow`, the pipeline: one write per batch, same output as event by event, Ctrl-C and errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from netlab.capture.pcapfile import read_segments
from netlab.errors import PcapReadError
from netlab.packets import Segment, SegmentFields
from netlab.render import RenderOptions, make_renderer
from netlab.stream.events import Direction
from netlab.stream.pipeline import follow
from netlab.stream.reassembly import Reassembler

DATA = Path(__file__).resolve().parents[1] / "data"


def _text(parts: list[str | bytes]) -> str:
    assert all(isinstance(part, str) for part in parts)
    return "".join(str(part) for part in parts)


def _event_by_event(fmt: str, options: RenderOptions) -> str:
    renderer = make_renderer(fmt, options)
    events = Reassembler().feed_all(read_segments(DATA / "chat_ipv4.pcap"))
    return _text([renderer.begin(), *[renderer.on_event(e) for e in events], renderer.end()])


@pytest.mark.parametrize("fmt", ["json", "text", "hex"])
@pytest.mark.parametrize("direction", [None, Direction.C2S, Direction.S2C])
def test_batched_writes_give_the_output_of_each_event_in_turn(fmt: str, direction: Direction | None) -> None:
    options = RenderOptions(direction=direction)
    writes: list[str | bytes] = []
    follow(read_segments(DATA / "chat_ipv4.pcap"), make_renderer(fmt, options), writes.append)
    assert _text(writes) == _event_by_event(fmt, options)
    assert len(writes) <= 3  # the one read block, then what the end flushes


class _Source:
    """A field-batch source that fails after its batches (Ctrl-C or a damaged file)."""

    def __init__(self, batches: list[list[SegmentFields]], error: BaseException) -> None:
        self.batches, self.error = batches, error

    def __iter__(self) -> Iterator[Segment]:
        raise AssertionError("follow takes the field batches")

    def field_batches(self) -> Iterator[list[SegmentFields]]:
        yield from self.batches
        raise self.error


def _halves() -> list[list[SegmentFields]]:
    fields = [f for batch in read_segments(DATA / "chat_ipv4.pcap").field_batches() for f in batch]
    return [fields[: len(fields) // 2], fields[len(fields) // 2 :]]


def test_ctrl_c_from_the_source_renders_everything_fed_and_stops_normally() -> None:
    writes: list[str | bytes] = []
    summary = follow(_Source(_halves(), KeyboardInterrupt()), make_renderer("json"), writes.append)
    assert summary.interrupted
    assert _text(writes) == _event_by_event("json", RenderOptions())


def test_a_source_error_is_raised_after_everything_read_was_written() -> None:
    writes: list[str | bytes] = []
    with pytest.raises(PcapReadError):
        follow(_Source(_halves(), PcapReadError("cut", offset=9)), make_renderer("json"), writes.append)
    assert _text(writes) == _event_by_event("json", RenderOptions())
