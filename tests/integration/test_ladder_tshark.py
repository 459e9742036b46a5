"""Ladder rows and TCP analysis counts against tshark on real captures (the public conformance kit).

Each ladder must draw every captured segment of its stream in tshark's frame order with tshark's
frame numbers, and the statistics `follow` and `report` print must count retransmissions,
fast and spurious retransmissions, out-of-order and lost segments and duplicate ACKs exactly as
`tshark -Y tcp.analysis.<flag>` does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conformance_kit import KIT
from tshark_oracle import assert_agrees_with_tshark, netlab_events, netlab_frames, tshark_frames, tshark_table

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(not KIT.is_dir(), reason=f"conformance kit not found at {KIT}"),
]

# Captures with retransmissions, duplicate ACKs, lost segments, zero windows, mid-stream starts,
# IPv4 and IPv6: the ones where a wrong label would show.
CAPTURES = [
    "cs__tcp_retransmissions.pcapng",
    "cs__tcp_dupack.pcapng",
    "cs__tcp_zerowindowrecovery.pcapng",
    "cs__tcp_zerowindowdead.pcapng",
    "cs__http_ip4and6.pcapng",
    "cs__sessionhijacking.pcapng",
    "cs__tickedoffdeveloper.pcapng",
    "cs__mail_sender_client_1.pcapng",
]


def _pcap(name: str) -> Path:
    return KIT / "pcaps" / name


@pytest.mark.parametrize("name", CAPTURES)
def test_ladder_draws_every_segment_in_tshark_frame_order(name: str) -> None:
    table = tshark_table(_pcap(name))
    events = netlab_events(_pcap(name))
    assert netlab_frames(events) == tshark_frames(table)


@pytest.mark.parametrize("name", CAPTURES)
def test_analysis_flags_and_counts_agree_with_tshark(name: str) -> None:
    assert_agrees_with_tshark(_pcap(name))
