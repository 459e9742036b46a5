"""tshark as the oracle for frame numbers, stream numbers and TCP analysis flags (not a test module)."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

from netlab.capture.pcapfile import read_segments
from netlab.render.ladder import ladder_rows
from netlab.stream.events import Closed, Event, Packet, StreamStats
from netlab.stream.reassembly import Reassembler

COUNTED = (
    "retransmission",
    "fast_retransmission",
    "spurious_retransmission",
    "out_of_order",
    "lost_segment",
    "duplicate_ack",
)
STATS_FIELD = {
    "retransmission": "retransmissions",
    "fast_retransmission": "fast_retransmissions",
    "spurious_retransmission": "spurious_retransmissions",
    "out_of_order": "out_of_order",
    "lost_segment": "lost_segments",
    "duplicate_ack": "duplicate_acks",
}


def tshark_table(pcap: Path) -> dict[int, tuple[int, frozenset[str]]]:
    """frame number -> (tcp.stream, the `tcp.analysis` flags of `COUNTED` that tshark sets), in one pass."""
    fields = ["-e", "frame.number", "-e", "tcp.stream"]
    for flag in COUNTED:
        fields += ["-e", f"tcp.analysis.{flag}"]
    out = subprocess.run(
        ["tshark", "-n", "-r", str(pcap), "-Y", "tcp", "-T", "fields", "-E", "occurrence=f", *fields],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    table = {}
    for line in out.splitlines():
        frame, stream, *flags = line.split("\t")
        if stream:
            table[int(frame)] = (int(stream), frozenset(f for f, v in zip(COUNTED, flags, strict=True) if v))
    return table


def tshark_frames(table: dict[int, tuple[int, frozenset[str]]]) -> dict[int, list[int]]:
    """tcp.stream -> its frame numbers, in capture order."""
    streams: dict[int, list[int]] = defaultdict(list)
    for frame in sorted(table):
        streams[table[frame][0]].append(frame)
    return dict(streams)


def tshark_flag_frames(table: dict[int, tuple[int, frozenset[str]]], flag: str) -> set[int]:
    """The frames `tshark -Y tcp.analysis.<flag>` lists."""
    return {frame for frame, (_, flags) in table.items() if flag in flags}


def tshark_counts(table: dict[int, tuple[int, frozenset[str]]], flag: str) -> dict[int, int]:
    """tcp.stream -> how many frames `tshark -Y tcp.analysis.<flag>` lists in it."""
    counts: dict[int, int] = defaultdict(int)
    for stream, flags in table.values():
        if flag in flags:
            counts[stream] += 1
    return dict(counts)


def netlab_events(pcap: Path) -> list[Event]:
    """Every event of the capture, with a `Packet` per segment (as `netlab report` reads it)."""
    return Reassembler(packets=True).feed_all(read_segments(pcap))


def netlab_frames(events: list[Event]) -> dict[int, list[int]]:
    """stream -> the frames its ladder draws (captured segments only), in the ladder's order."""
    by_stream: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        by_stream[event.stream].append(event)
    return {stream: [frame for row in ladder_rows(mine) for frame in row.frames] for stream, mine in by_stream.items()}


def netlab_flag_frames(events: list[Event], flag: str) -> set[int]:
    """The frames netlab's analysis flags with `flag` (as tshark's filter matches it)."""
    frames = set()
    for event in events:
        if isinstance(event, Packet):
            names = {f.value for f in event.analysis.flags}
            if flag in names or (flag == "retransmission" and event.analysis.is_retransmission):
                frames.add(event.frame)
    return frames


def netlab_stats(events: list[Event]) -> dict[int, StreamStats]:
    """stream -> its final statistics."""
    return {e.stream: e.stats for e in events if isinstance(e, Closed)}


def assert_agrees_with_tshark(pcap: Path) -> None:
    """The ladder's frames per stream, every counted flag per frame and every per-stream count equal tshark's."""
    table = tshark_table(pcap)
    events = netlab_events(pcap)
    assert netlab_frames(events) == tshark_frames(table)
    stats = netlab_stats(events)
    for flag in COUNTED:
        assert netlab_flag_frames(events, flag) == tshark_flag_frames(table, flag), flag
        field = STATS_FIELD[flag]
        ours = {stream: getattr(s, field) for stream, s in stats.items() if getattr(s, field)}
        assert ours == tshark_counts(table, flag), flag
