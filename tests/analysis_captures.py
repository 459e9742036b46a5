"""Captures for the TCP-analysis tests: one connection per Wireshark expert-analysis case.

Packets are built with struct (raw IPv4, LINKTYPE_RAW) so every field is exact: sequence numbers,
windows, window-scale options and time stamps. `write_scenarios(path)` writes all cases into one
file, each on its own client port, a second apart; `SCENARIOS` names the flag each case must
make tshark show (the test checks the capture really covers it).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

T0 = 1_700_000_000.0
M = 0xFFFFFFFF
CLIENT_IP = bytes([10, 0, 0, 1])
SERVER_IP = bytes([10, 0, 0, 2])
SERVER_PORT = 8080

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def _checksum(data: bytes) -> int:
    if len(data) & 1:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_tcp(
    src: bytes,
    dst: bytes,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    window: int,
    payload: bytes = b"",
    options: bytes = b"",
) -> bytes:
    """One IPv4 packet carrying a TCP segment, checksums filled in."""
    options += b"\0" * (-len(options) % 4)
    hlen = 20 + len(options)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & M, ack & M, (hlen // 4) << 4, flags, window, 0, 0)
    tcp += options + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp)) + tcp[18:]
    total = 20 + len(tcp)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return ip + tcp


def wscale_option(shift: int) -> bytes:
    """NOP + window scale (RFC 7323)."""
    return bytes([1, 3, 3, shift])


def write_pcap(path: Path, packets: list[tuple[float, bytes]]) -> None:
    """A classic little-endian pcap, microsecond stamps, LINKTYPE_RAW (101)."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
    for ts, pkt in packets:
        sec = int(ts)
        usec = round((ts - sec) * 1e6)
        out += struct.pack("<IIII", sec, usec, len(pkt), len(pkt)) + pkt
    path.write_bytes(bytes(out))


@dataclass
class Conn:
    """One connection being scripted: relative sequence numbers, explicit times."""

    cport: int
    t: float
    isn_c: int = 1000
    isn_s: int = 5000
    packets: list[tuple[float, bytes]] = field(default_factory=list)

    def c(
        self,
        seq: int,
        ack: int,
        flags: int = ACK,
        data: bytes = b"",
        win: int = 65535,
        dt: float = 0.001,
        opts: bytes = b"",
    ) -> None:
        """Client to server; `seq`/`ack` relative to the ISNs (SYN = 0)."""
        self.t += dt
        ack_abs = self.isn_s + ack if flags & ACK else 0
        self.packets.append(
            (
                self.t,
                ipv4_tcp(
                    CLIENT_IP,
                    SERVER_IP,
                    self.cport,
                    SERVER_PORT,
                    self.isn_c + seq,
                    ack_abs,
                    flags,
                    win,
                    data,
                    opts,
                ),
            )
        )

    def s(
        self,
        seq: int,
        ack: int,
        flags: int = ACK,
        data: bytes = b"",
        win: int = 65535,
        dt: float = 0.001,
        opts: bytes = b"",
    ) -> None:
        """Server to client."""
        self.t += dt
        ack_abs = self.isn_c + ack if flags & ACK else 0
        self.packets.append(
            (
                self.t,
                ipv4_tcp(
                    SERVER_IP,
                    CLIENT_IP,
                    SERVER_PORT,
                    self.cport,
                    self.isn_s + seq,
                    ack_abs,
                    flags,
                    win,
                    data,
                    opts,
                ),
            )
        )

    def handshake(self, rtt: float = 0.010, copts: bytes = b"", sopts: bytes = b"") -> None:
        self.c(0, 0, SYN, opts=copts)
        self.s(0, 1, SYN | ACK, dt=rtt / 2, opts=sopts)
        self.c(1, 1, dt=rtt / 2)


def _data(n: int, fill: bytes = b"x") -> bytes:
    return (fill * n)[:n]


def data_retransmission(k: Conn) -> None:
    k.handshake()
    k.c(1, 1, ACK | PSH, _data(100))
    k.c(1, 1, ACK | PSH, _data(100), dt=0.300)  # RTO: nothing acknowledged it
    k.s(1, 101)


def syn_retransmission(k: Conn) -> None:
    k.c(0, 0, SYN)
    k.c(0, 0, SYN, dt=1.0)
    k.s(0, 1, SYN | ACK, dt=0.005)
    k.c(1, 1, dt=0.005)


def synack_retransmission(k: Conn) -> None:
    k.c(0, 0, SYN)
    k.s(0, 1, SYN | ACK, dt=0.005)
    k.s(0, 1, SYN | ACK, dt=1.0)
    k.c(1, 1, dt=0.005)


def fin_retransmission(k: Conn) -> None:
    k.handshake()
    k.c(1, 1, ACK | PSH, _data(10))
    k.s(1, 11)
    k.c(11, 1, FIN | ACK, dt=0.010)
    k.c(11, 1, FIN | ACK, dt=0.200)
    k.s(1, 12, FIN | ACK)
    k.c(12, 2)


def fast_retransmission(k: Conn) -> None:
    k.handshake()
    for i in range(5):  # 101-200 is captured but lost after the capture point
        k.c(1 + 100 * i, 1, ACK, _data(100), dt=0.0001)
    k.s(1, 101, dt=0.005)
    k.s(1, 101, dt=0.0002)
    k.s(1, 101, dt=0.0002)
    k.s(1, 101, dt=0.0002)
    k.c(101, 1, ACK, _data(100), dt=0.002)
    k.s(1, 501, dt=0.005)


def spurious_retransmission(k: Conn) -> None:
    k.handshake()
    k.c(1, 1, ACK | PSH, _data(100))
    k.s(1, 101, dt=0.005)
    k.c(1, 1, ACK | PSH, _data(100), dt=0.300)


def out_of_order(k: Conn) -> None:
    k.handshake(rtt=0.050)
    k.c(101, 1, ACK, _data(100))  # overtook 1-100: a hole (lost segment) at first
    k.c(1, 1, ACK, _data(100), dt=0.001)  # the overtaken one, within the RTT: out-of-order
    k.s(1, 201, dt=0.010)


def lost_segments(k: Conn) -> None:
    k.handshake()
    k.c(1, 1, ACK, _data(100))
    k.c(201, 1, ACK, _data(100), dt=0.001)  # 101-200 never captured
    k.s(1, 301, dt=0.005)  # acknowledges what the capture never saw
    k.s(1, 301, ACK | PSH, _data(50), dt=0.001)
    k.c(301, 151, dt=0.005)  # 51-150 of the server never captured, yet acknowledged


def keep_alive(k: Conn) -> None:
    k.handshake()
    k.c(1, 1, ACK | PSH, _data(10))
    k.s(1, 11)
    k.c(10, 1, ACK, dt=45.0)  # seq one below next: keep-alive
    k.s(1, 11, dt=0.001)  # its ACK
    k.c(10, 1, ACK, b"\0", dt=45.0)  # a one-byte keep-alive (Windows style)
    k.s(1, 11, dt=0.001)


def zero_window(k: Conn) -> None:
    k.handshake()
    k.c(1, 1, ACK, _data(1000))
    k.s(1, 1001, win=0, dt=0.005)  # zero window
    k.c(1001, 1, ACK, b"y", dt=0.200)  # zero-window probe
    k.s(1, 1001, win=0, dt=0.005)  # its ACK (still zero)
    k.s(1, 1001, win=8192, dt=0.100)  # window update
    k.c(1001, 1, ACK, _data(500), dt=0.005)
    k.s(1, 1501, dt=0.005)


def window_full(k: Conn) -> None:
    k.handshake(copts=wscale_option(2), sopts=wscale_option(3))
    k.s(1, 1, win=125, dt=0.001)  # 125 << 3 = 1000 bytes of window
    k.c(1, 1, ACK, _data(600), dt=0.001)
    k.c(601, 1, ACK, _data(400), dt=0.0001)  # fills it exactly: window full
    k.s(1, 1001, win=125, dt=0.005)


def window_full_unscaled(k: Conn) -> None:
    k.handshake()  # no window-scale options: windows are taken as they are
    k.s(1, 1, win=700, dt=0.001)  # a window update too
    k.c(1, 1, ACK, _data(700), dt=0.001)
    k.s(1, 701, dt=0.005)


def wraparound(k: Conn) -> None:
    k.isn_c = M - 150  # the client's bytes cross 2**32
    k.isn_s = M - 5
    k.handshake()
    k.c(1, 1, ACK, _data(100))
    k.c(101, 1, ACK, _data(100), dt=0.0001)
    k.c(301, 1, ACK, _data(100), dt=0.0001)  # 201-300 not captured (across the wrap)
    k.s(1, 101, dt=0.005)
    k.s(1, 101, dt=0.0002)
    k.s(1, 101, dt=0.0002)
    k.c(101, 1, ACK, _data(100), dt=0.001)  # fast retransmission across the wrap
    k.s(1, 401, ACK | PSH, _data(20), dt=0.005)
    k.c(401, 21, dt=0.005)
    k.c(101, 21, ACK, _data(100), dt=0.300)  # spurious: already acknowledged


def mid_stream(k: Conn) -> None:
    # no handshake: the capture starts in the middle; out-of-order threshold is 3 ms
    k.c(5001, 9001, ACK | PSH, _data(200))
    k.s(9001, 5201, ACK | PSH, _data(50), dt=0.002)
    k.c(5201, 9051, ACK, _data(200), dt=0.001)
    k.c(5601, 9051, ACK, _data(200), dt=0.0001)  # a hole: 5401-5600
    k.c(5401, 9051, ACK, _data(200), dt=0.001)  # within 3 ms: out-of-order
    k.c(5401, 9051, ACK, _data(200), dt=0.050)  # later: retransmission
    k.s(9051, 5801, dt=0.002)
    k.s(9051, 5801, win=30000, dt=0.002)  # window update
    k.s(9051, 5801, win=30000, dt=0.002)  # duplicate ACK


def reset_and_dupacks(k: Conn) -> None:
    k.handshake()
    k.c(1, 1, ACK, _data(100))
    k.s(1, 101)
    k.s(1, 101, dt=0.010)
    k.c(101, 1, ACK, _data(100), dt=0.001)
    k.c(201, 1, RST | ACK, dt=0.001)


def quick_repeats(k: Conn) -> None:
    # SYN and FIN repeated within 3 ms (no initial RTT yet: the out-of-order threshold is 3 ms)
    k.c(0, 0, SYN)
    k.c(0, 0, SYN, dt=0.001)
    k.s(0, 1, SYN | ACK, dt=0.001)
    k.s(0, 1, SYN | ACK, dt=0.001)
    k.c(1, 1, dt=0.001)
    k.c(1, 1, FIN | ACK, dt=0.001)
    k.c(1, 1, FIN | ACK, dt=0.001)
    k.s(1, 2, FIN | ACK, dt=0.001)
    k.c(2, 2, dt=0.001)


def fast_within_rtt(k: Conn) -> None:
    k.handshake(rtt=0.200)  # a long initial RTT: the fast retransmission is also "recent"
    for i in range(4):
        k.c(1 + 100 * i, 1, ACK, _data(100), dt=0.0001)
    k.s(1, 101, dt=0.001)
    k.s(1, 101, dt=0.0002)
    k.s(1, 101, dt=0.0002)
    k.c(101, 1, ACK, _data(100), dt=0.001)
    k.c(201, 1, ACK, _data(100), dt=0.001)  # out-of-order: recent, not a retransmission of the ACKed
    k.s(1, 401, dt=0.005)


def probe_then_data(k: Conn) -> None:
    k.handshake()
    k.c(1, 1, ACK, _data(100))
    k.s(1, 101, win=0, dt=0.005)
    k.c(101, 1, ACK, b"p", dt=0.200)  # zero-window probe
    k.s(1, 102, win=4000, dt=0.005)  # takes the probe byte and opens the window
    k.c(101, 1, ACK, _data(300), dt=0.001)  # resends from the probe byte with new data
    k.c(100, 1, ACK, _data(300), dt=0.300)  # starts one byte back: not new data
    k.s(1, 401, dt=0.005)


def ack_field_without_ack_flag(k: Conn) -> None:
    # Wireshark keeps the acknowledgement field of a segment without ACK (here: beyond the data)
    k.t += 0.001
    raw = ipv4_tcp(CLIENT_IP, SERVER_IP, k.cport, SERVER_PORT, k.isn_c, k.isn_s + 1000, SYN, 65535)
    k.packets.append((k.t, raw))
    k.s(0, 1, SYN | ACK)
    k.s(1, 1, ACK | PSH, _data(50))  # "spurious": below the SYN's stray acknowledgement number
    k.c(1, 51)
    k.t += 0.010
    raw = ipv4_tcp(CLIENT_IP, SERVER_IP, k.cport, SERVER_PORT, k.isn_c + 1, k.isn_s + 3000, RST, 0)
    k.packets.append((k.t, raw))
    k.s(51, 1, ACK | PSH, _data(50), dt=0.020)


Scenario = Callable[[Conn], None]

SCENARIOS: dict[str, tuple[Scenario, tuple[str, ...]]] = {
    "data retransmission": (data_retransmission, ("retransmission",)),
    "SYN retransmission": (syn_retransmission, ("retransmission",)),
    "SYN-ACK retransmission": (synack_retransmission, ("retransmission",)),
    "FIN retransmission": (fin_retransmission, ("retransmission",)),
    "fast retransmission": (fast_retransmission, ("fast_retransmission", "duplicate_ack")),
    "spurious retransmission": (spurious_retransmission, ("spurious_retransmission",)),
    "out-of-order": (out_of_order, ("out_of_order", "lost_segment")),
    "lost segment": (lost_segments, ("lost_segment", "ack_lost_segment")),
    "keep-alive": (keep_alive, ("keep_alive", "keep_alive_ack")),
    "zero window": (
        zero_window,
        ("zero_window", "zero_window_probe", "zero_window_probe_ack", "window_update"),
    ),
    "window full": (window_full, ("window_full",)),
    "window full, unscaled": (window_full_unscaled, ("window_full", "window_update")),
    "sequence wrap-around": (wraparound, ("fast_retransmission", "lost_segment", "spurious_retransmission")),
    "capture starting mid-stream": (
        mid_stream,
        ("out_of_order", "retransmission", "lost_segment", "duplicate_ack"),
    ),
    "duplicate ACKs and RST": (reset_and_dupacks, ("duplicate_ack",)),
    "quick SYN and FIN repeats": (quick_repeats, ("retransmission",)),
    "fast retransmission within the RTT": (fast_within_rtt, ("fast_retransmission", "out_of_order")),
    "data after a zero-window probe": (probe_then_data, ("zero_window_probe",)),
    "acknowledgement field without ACK": (ack_field_without_ack_flag, ("spurious_retransmission",)),
}


def write_scenarios(path: Path) -> dict[str, range]:
    """Write every scenario into one capture; returns each scenario's frame numbers."""
    packets: list[tuple[float, bytes]] = []
    frames: dict[str, range] = {}
    t = T0
    for i, (name, (script, _flags)) in enumerate(SCENARIOS.items()):
        conn = Conn(cport=40000 + i, t=t)
        script(conn)
        frames[name] = range(len(packets) + 1, len(packets) + len(conn.packets) + 1)
        packets += conn.packets
        t = conn.t + 1.0
    write_pcap(path, packets)
    return frames


def syn_window_scales(path: Path) -> dict[int, int]:
    """The window-scale shift of every SYN in a capture `write_pcap` wrote (-1: no such option).

    Read independently of netlab's decoder, to check what it decodes (`Segment.wscale`).
    """
    data = path.read_bytes()
    pos, frame, scales = 24, 0, {}
    while pos < len(data):
        incl = struct.unpack_from("<I", data, pos + 8)[0]
        pkt = data[pos + 16 : pos + 16 + incl]
        pos += 16 + incl
        frame += 1
        if pkt[20 + 13] & SYN:
            options = pkt[40 : 20 + (pkt[20 + 12] >> 4) * 4]
            scales[frame] = -1
            i = 0
            while i < len(options) and options[i] != 0:
                if options[i] == 1:
                    i += 1
                    continue
                if options[i] == 3:
                    scales[frame] = options[i + 2]
                i += options[i + 1]
    return scales


def random_conversation(k: Conn, rng: random.Random) -> None:
    """A made-up conversation with everything that goes wrong on a bad wire, drawn from `rng`:
    lost (uncaptured), duplicated, reordered and late segments, duplicate ACKs, window changes
    (zero windows, probes), keep-alives, captures starting mid-stream, FIN or RST at the end."""
    sent = {True: 1, False: 1}  # next new byte per direction
    got = {True: 1, False: 1}  # what each side acknowledges of the other (cumulative, may lag)
    window = {True: 65535, False: 65535}
    near_wrap = (M - rng.randrange(3000), M - rng.randrange(3000))  # sequence numbers cross 2**32
    k.isn_c, k.isn_s = near_wrap if rng.random() < 0.3 else (rng.getrandbits(32), rng.getrandbits(32))
    if rng.random() < 0.05:
        k.isn_c = M  # the sequence after the SYN is 0: Wireshark's "none yet"
    if rng.random() < 0.8:

        def scale() -> bytes:
            return wscale_option(rng.choice((0, 2, 7))) if rng.random() < 0.6 else b""

        k.handshake(rtt=rng.choice((0.0005, 0.002, 0.010, 0.100)), copts=scale(), sopts=scale())
        if rng.random() < 0.2:  # the SYN-ACK was not captured
            del k.packets[-2]
    held: list[tuple[bool, int, int, int]] = []  # (forward, seq, flags, length) to send again later
    for _ in range(rng.randint(5, 40)):
        fwd = rng.random() < 0.6
        send = k.c if fwd else k.s
        dt = rng.choice((0.0001, 0.0005, 0.001, 0.004, 0.030, 0.300))
        roll = rng.random()
        if roll < 0.45:  # new data, maybe not captured, maybe repeated later
            length = rng.choice((1, 2, 10, 100, 1000, 1448))
            seq = sent[fwd]
            sent[fwd] += length
            if rng.random() < 0.12:
                held.append((fwd, seq, ACK, length))
                continue  # lost before the capture point
            send(seq, got[fwd], ACK | PSH, _data(length), win=window[fwd], dt=dt)
            if rng.random() < 0.15:
                held.append((fwd, seq, ACK, length))
        elif roll < 0.7:  # an ACK of what arrived (or repeated: a duplicate ACK)
            if rng.random() < 0.7:
                got[not fwd] = sent[not fwd] if rng.random() < 0.8 else max(got[not fwd], sent[not fwd] - 100)
            send(sent[fwd], got[fwd], ACK, win=window[fwd], dt=dt)
        elif roll < 0.8 and held:  # a retransmission, late or quick
            hfwd, seq, flags, length = held.pop(rng.randrange(len(held)))
            (k.c if hfwd else k.s)(seq, got[hfwd], flags, _data(length), win=window[hfwd], dt=dt)
        elif roll < 0.87:  # the window changes (sometimes to zero)
            window[fwd] = rng.choice((0, 0, 8, 100, 512, 4096, 65535))
            send(sent[fwd], got[fwd], ACK, win=window[fwd], dt=dt)
        elif roll < 0.92:  # a zero-window probe or a keep-alive
            if rng.random() < 0.5:
                send(sent[fwd], got[fwd], ACK, b"?", win=window[fwd], dt=dt)
            else:
                send(sent[fwd] - 1, got[fwd], ACK, b"" if rng.random() < 0.5 else b"\0", win=window[fwd], dt=dt)
        else:  # a duplicate of the last packet, as a mirror port sends it
            if k.packets:
                k.t += dt
                k.packets.append((k.t, k.packets[-1][1]))
    fwd = rng.random() < 0.5
    if rng.random() < 0.8:
        (k.c if fwd else k.s)(sent[fwd], got[fwd], FIN | ACK, win=window[fwd], dt=0.001)
        (k.s if fwd else k.c)(sent[not fwd], sent[fwd] + 1, FIN | ACK, win=window[not fwd], dt=0.001)
        if rng.random() < 0.3:  # the FIN again
            (k.c if fwd else k.s)(sent[fwd], got[fwd], FIN | ACK, win=window[fwd], dt=0.2)
        (k.c if fwd else k.s)(sent[fwd] + 1, sent[not fwd] + 1, ACK, win=window[fwd], dt=0.001)
    else:
        (k.c if fwd else k.s)(sent[fwd], got[fwd], RST | ACK, win=0, dt=0.001)


def write_random_conversations(path: Path, seed: int, count: int) -> None:
    """`count` random conversations (see `random_conversation`), one after the other."""
    rng = random.Random(seed)
    packets: list[tuple[float, bytes]] = []
    t = T0
    for i in range(count):
        conn = Conn(cport=20000 + i, t=t)
        random_conversation(conn, rng)
        packets += conn.packets
        t = conn.t + 5.0
    write_pcap(path, packets)
