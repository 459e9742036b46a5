"""Make the minimal captures of docs/wireshark-differences.md (run: python tests/data/make_difference_pcaps.py).

Each is a few packets of one connection where Wireshark's TCP analysis (tshark 4.0) says something
that is not what happened on the wire; tests/integration/test_wireshark_differences.py shows tshark's
verdict and netlab's on each.
"""

from __future__ import annotations

from pathlib import Path

from scapy.layers.inet import IP, TCP  # noqa: TID253 (a standalone generator script, not netlab)
from scapy.layers.l2 import Ether  # noqa: TID253 (a standalone generator script, not netlab)
from scapy.packet import Packet, Raw  # noqa: TID253 (a standalone generator script, not netlab)
from scapy.utils import PcapWriter  # noqa: TID253 (a standalone generator script, not netlab)

HERE = Path(__file__).resolve().parent / "wireshark_differences"
T0 = 1_700_000_000.0
CP, SP = 40000, 55555
C, S = IP(src="10.0.0.1", dst="10.0.0.2"), IP(src="10.0.0.2", dst="10.0.0.1")
ISN_C, ISN_S = 1000, 5000


def _c(seq: int, ack: int, flags: str = "A", data: bytes = b"", **kw: object) -> Packet:
    pkt = C / TCP(sport=CP, dport=SP, flags=flags, seq=ISN_C + seq, ack=ISN_S + ack if ack else 0, **kw)
    return pkt / Raw(data) if data else pkt


def _s(seq: int, ack: int, flags: str = "A", data: bytes = b"", isn: int = ISN_S, **kw: object) -> Packet:
    pkt = S / TCP(sport=SP, dport=CP, flags=flags, seq=isn + seq, ack=ISN_C + ack if ack else 0, **kw)
    return pkt / Raw(data) if data else pkt


def _handshake() -> list[Packet]:
    return [_c(0, 0, "S"), _s(0, 1, "SA"), _c(1, 1)]


def _write(name: str, timed: list[tuple[float, Packet]]) -> None:
    HERE.mkdir(exist_ok=True)
    with PcapWriter(str(HERE / name), sync=True) as writer:
        for dt, pkt in timed:
            frame = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / pkt
            frame.time = T0 + dt
            writer.write(frame)


def capture_drop() -> list[tuple[float, Packet]]:
    """The capture missed one segment (a full ring buffer), the network did not: the receiver ACKs it,
    nobody resends it. Wireshark: "previous segment not captured" (lost_segment), then "ACKed segment
    that wasn't captured"; it counts it with the losses."""
    seg = b"x" * 100
    packets = [*_handshake(), _c(1, 1, "PA", seg), _s(1, 101)]
    # the client's second segment (101..201) is not in the capture
    packets += [_c(201, 1, "PA", seg), _s(1, 301), _c(301, 1, "FA"), _s(1, 302, "FA"), _c(302, 2)]
    return [(i * 0.01, p) for i, p in enumerate(packets)]


def wire_loss() -> list[tuple[float, Packet]]:
    """For contrast: the segment is lost on the wire; duplicate ACKs, then a fast retransmission."""
    seg = b"x" * 100
    packets = [*_handshake(), _c(1, 1, "PA", seg), _c(101, 1, "PA", seg), _s(1, 101)]
    del packets[4]  # 101..201 lost before the capture point... and before the receiver
    packets += [_c(201, 1, "PA", seg), _s(1, 101), _c(301, 1, "PA", seg), _s(1, 101)]
    packets += [_c(101, 1, "PA", seg), _s(1, 401), _c(401, 1, "FA"), _s(1, 402, "FA"), _c(402, 2)]
    return [(i * 0.001, p) for i, p in enumerate(packets)]


def two_synacks() -> list[tuple[float, Packet]]:
    """Two SYN-ACKs with different ISNs answer one SYN (a stale or forged one first, then the server's).
    The client acknowledges the second; the first is not part of the connection. Wireshark 4.0 keeps
    the first ISN as the server's start and calls the real SYN-ACK a new session on reused ports."""
    stale = 77_000
    packets = [
        _c(0, 0, "S"),
        _s(0, 1, "SA", isn=stale),
        _s(0, 1, "SA"),
        _c(1, 1),
        _c(1, 1, "PA", b"hello\n"),
        _s(1, 7, "PA", b"welcome\n"),
        _c(7, 9, "FA"),
        _s(9, 8, "FA"),
        _c(8, 10),
    ]
    return [(i * 0.01, p) for i, p in enumerate(packets)]


def sack_ignored() -> list[tuple[float, Packet]]:
    """Segment 2 of 4 is lost; the receiver's duplicate ACKs SACK segments 3 and 4; the sender resends
    segment 2 (a fast retransmission) and then, needlessly, segment 3, which the SACK blocks had
    reported received. Wireshark decides from the cumulative ACK only: a plain retransmission."""
    seg = b"y" * 100

    def sack(*blocks: tuple[int, int]) -> dict[str, object]:
        return {"options": [("SAck", tuple(ISN_C + edge for block in blocks for edge in block))]}

    packets = [
        _c(0, 0, "S", options=[("SAckOK", b"")]),
        _s(0, 1, "SA", options=[("SAckOK", b"")]),
        _c(1, 1),
        _c(1, 1, "PA", seg),
        _c(201, 1, "PA", seg),  # 101..201 lost
        _c(301, 1, "PA", seg),
        _s(1, 101),
        _s(1, 101, **sack((201, 301))),
        _s(1, 101, **sack((201, 401))),
        _c(101, 1, "PA", seg),  # the lost one
        _c(201, 1, "PA", seg),  # SACKed already: needless
        _s(1, 401),
        _c(401, 1, "FA"),
        _s(1, 402, "FA"),
        _c(402, 2),
    ]
    return [(i * 0.001, p) for i, p in enumerate(packets)]


def _sack(*blocks: tuple[int, int]) -> dict[str, object]:
    """TCP options with SACK blocks over the client's data (relative sequence numbers)."""
    return {"options": [("SAck", tuple(ISN_C + edge for block in blocks for edge in block))]}


def _sack_flight(middle: list[Packet]) -> list[tuple[float, Packet]]:
    """A SACK-permitted connection whose client sends 100-byte segments; `middle` after the handshake."""
    permitted = {"options": [("SAckOK", b"")]}
    packets = [_c(0, 0, "S", **permitted), _s(0, 1, "SA", **permitted), _c(1, 1), *middle]
    return [(i * 0.001, p) for i, p in enumerate(packets)]


def dsack() -> list[tuple[float, Packet]]:
    """The receiver got a segment twice and says so with a D-SACK block (RFC 2883) below its cumulative
    ACK (frame 7). Those bytes are not in flight; Wireshark subtracts them from the next data segments'
    bytes in flight all the same (frame 8: none instead of 100; frame 9: 100 instead of 200)."""
    seg = b"d" * 100
    return _sack_flight(
        [
            _c(1, 1, "PA", seg),  # 4
            _c(1, 1, "PA", seg),  # 5: resent (timer): the receiver gets it twice
            _s(1, 101),  # 6
            _s(1, 101, **_sack((1, 101))),  # 7: D-SACK of 1..101
            _c(101, 1, "PA", seg),  # 8: 101..201
            _c(201, 1, "PA", seg),  # 9: 101..301 in flight
            _s(1, 301),
        ]
    )


def sack_four_blocks() -> list[tuple[float, Packet]]:
    """Four holes' worth of SACK blocks in one ACK (frame 12, no timestamps: four fit). Wireshark keeps
    only the first three, so it counts the fourth block's 100 bytes as still in flight (frame 13: 500
    instead of 400; frame 15: 400 instead of 300)."""
    seg = b"f" * 100
    sent = [_c(1 + 200 * i, 1, "PA", seg) for i in range(1, 5)]  # 201, 401, 601, 801: every other lost
    blocks = [(1 + 200 * i, 101 + 200 * i) for i in range(1, 5)]
    return _sack_flight(
        [
            _c(1, 1, "PA", seg),  # 4
            _s(1, 101),  # 5
            *sent,  # 6-9 (101..201, 301..401, 501..601, 701..801 lost)
            _s(1, 101, **_sack(*blocks[:1])),  # 10
            _s(1, 101, **_sack(*blocks[:3])),  # 11
            _s(1, 101, **_sack(*blocks)),  # 12: all four
            _c(101, 1, "PA", seg),  # 13: resent; 101..901 less the 400 bytes SACKed: 400
            _s(1, 201, **_sack(*blocks)),  # 14
            _c(301, 1, "PA", seg),  # 15
        ]
    )


def sack_forgotten() -> list[tuple[float, Packet]]:
    """The receiver SACKs bytes beyond a gap (frame 8), then sends data of its own without repeating the
    block (frame 9). Wireshark forgets the blocks with every segment that lacks one, so it counts bytes
    the receiver still holds (201..301) as in flight: frame 10, 200 instead of 100; frame 11, 300
    instead of 200."""
    seg = b"g" * 100
    return _sack_flight(
        [
            _c(1, 1, "PA", seg),  # 4
            _c(201, 1, "PA", seg),  # 5 (101..201 lost)
            _s(1, 101),  # 6
            _s(1, 101),  # 7
            _s(1, 101, **_sack((201, 301))),  # 8
            _s(1, 101, "PA", b"reply\n"),  # 9: no SACK option
            _c(301, 7, "PA", seg),  # 10
            _c(101, 7, "PA", seg),  # 11: the gap, resent
            _s(7, 401),
        ]
    )


def main() -> None:
    _write("capture_drop.pcap", capture_drop())
    _write("wire_loss.pcap", wire_loss())
    _write("two_synacks.pcap", two_synacks())
    _write("sack_ignored.pcap", sack_ignored())
    _write("dsack.pcap", dsack())
    _write("sack_four_blocks.pcap", sack_four_blocks())
    _write("sack_forgotten.pcap", sack_forgotten())


if __name__ == "__main__":
    main()
