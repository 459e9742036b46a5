"""Make the tiny captures in tests/data from scapy-built packets (run: python tests/data/make_pcaps.py).

Each capture is a small, deterministic dialogue exercising one decoder or reassembler case;
the tests read them through `netlab follow` and compare with tshark where it applies.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR  # noqa: TID253 (a standalone generator script, not netlab)
from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment  # noqa: TID253 (a standalone generator script, not netlab)
from scapy.layers.inet6 import (  # noqa: TID253 (a standalone generator script, not netlab)
    ICMPv6DestUnreach,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    fragment6,
)
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1Q, Ether, Loopback  # noqa: TID253 (a standalone generator script, not netlab)
from scapy.packet import Packet, Raw  # noqa: TID253 (a standalone generator script, not netlab)
from scapy.utils import PcapWriter  # noqa: TID253 (a standalone generator script, not netlab)

HERE = Path(__file__).resolve().parent
T0 = 1_700_000_000.0


M = 0xFFFFFFFF


def _eth() -> Ether:
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


CHAT_LINES = ((b"NICK alice\r\n", b"welcome alice\r\n"), (b"hello\tworld \x01\xff\r\n", b"bye\n"))


def _chat(
    ip: type[Packet],
    cli: str,
    srv: str,
    isn_c: int = 1000,
    isn_s: int = 5000,
    lines: tuple[tuple[bytes, bytes], ...] = CHAT_LINES,
) -> list[Packet]:
    """A handshake, two lines each way, and a FIN close, as L3 packets."""
    c, s = ip(src=cli, dst=srv), ip(src=srv, dst=cli)
    cp, sp = 40000, 55555
    out = [
        c / TCP(sport=cp, dport=sp, flags="S", seq=isn_c & M),
        s / TCP(sport=sp, dport=cp, flags="SA", seq=isn_s & M, ack=(isn_c + 1) & M),
        c / TCP(sport=cp, dport=sp, flags="A", seq=(isn_c + 1) & M, ack=(isn_s + 1) & M),
    ]
    cseq, sseq = isn_c + 1, isn_s + 1
    for line_c, line_s in lines:
        out.append(c / TCP(sport=cp, dport=sp, flags="PA", seq=cseq & M, ack=sseq & M) / Raw(line_c))
        cseq += len(line_c)
        out.append(s / TCP(sport=sp, dport=cp, flags="PA", seq=sseq & M, ack=cseq & M) / Raw(line_s))
        sseq += len(line_s)
    out += [
        c / TCP(sport=cp, dport=sp, flags="FA", seq=cseq & M, ack=sseq & M),
        s / TCP(sport=sp, dport=cp, flags="FA", seq=sseq & M, ack=(cseq + 1) & M),
        c / TCP(sport=cp, dport=sp, flags="A", seq=(cseq + 1) & M, ack=(sseq + 1) & M),
    ]
    return out


def _write(name: str, packets: list[Packet], linktype: int | None = None, **kw: object) -> None:
    path = HERE / name
    with PcapWriter(str(path), linktype=linktype, sync=True, **kw) as writer:  # type: ignore[arg-type]
        for i, pkt in enumerate(packets):
            pkt.time = T0 + i * 0.001
            writer.write(pkt)


def _truncate(path: Path, snaplen: int) -> None:
    """Cut every record to `snaplen` bytes, keeping the original length (what a capture does)."""
    data = path.read_bytes()
    out, pos = bytearray(data[:24]), 24
    while pos < len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, pos)
        frame = data[pos + 16 : pos + 16 + incl]
        out += struct.pack("<IIII", sec, usec, min(incl, snaplen), orig) + frame[:snaplen]
        pos += 16 + incl
    path.write_bytes(bytes(out))


def main() -> None:
    v4 = _chat(IP, "10.0.0.1", "10.0.0.2")
    _write("chat_ipv4.pcap", [_eth() / p for p in v4])
    _write("chat_ipv6.pcap", [_eth() / p for p in _chat(IPv6, "fd00::1", "fd00::2")])
    _write("chat_vlan.pcap", [_eth() / Dot1Q(vlan=42) / p for p in v4])
    _write("chat_sll.pcap", [CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, proto=0x0800) / p for p in v4])
    _write("chat_sll2.pcap", [CookedLinuxV2(proto=0x0800, lladdrtype=1, lladdrlen=6) / p for p in v4])
    _write("chat_qinq.pcap", [_eth() / Dot1Q(vlan=10) / Dot1Q(vlan=20) / p for p in v4])
    _write("chat_null.pcap", [Loopback(type=2) / p for p in v4])
    _write("chat_raw.pcap", list(v4), linktype=101)
    # Both VLANs carry the same packets (a router between VLANs): copies of one connection.
    mixed: list[Packet] = []
    for a in v4:
        mixed += [_eth() / Dot1Q(vlan=10) / a, _eth() / Dot1Q(vlan=20) / a]
    _write("vlan_collision.pcap", mixed)
    # Two different connections on the same 4-tuple, one per VLAN, even with the same ISNs.
    bob = _chat(IP, "10.0.0.1", "10.0.0.2", lines=((b"NICK bob\r\n", b"welcome bob\r\n"), (b"hi\n", b"ok\n")))
    mixed = []
    for a, b in zip(v4, bob, strict=True):
        mixed += [_eth() / Dot1Q(vlan=10) / a, _eth() / Dot1Q(vlan=20) / b]
    _write("vlan_two_connections.pcap", mixed)
    # Snap length 60: the payload of the data segments is cut short.
    _write("snaplen.pcap", [_eth() / p for p in v4], snaplen=60)
    _truncate(HERE / "snaplen.pcap", 60)
    # A whole connection replayed on its 4-tuple after a clean close, the same ISNs both ways: the
    # second SYN and SYN-ACK are late duplicates (RFC 1122 TIME-WAIT), so it is one stream, as in Wireshark.
    _write("port_reuse.pcap", [_eth() / p for p in v4 + _chat(IP, "10.0.0.1", "10.0.0.2")])
    # The same client ISN reused after a clean close, but the server answers with a new ISN: a new connection.
    again = _chat(IP, "10.0.0.1", "10.0.0.2", isn_s=9000, lines=((b"NICK carol\r\n", b"welcome carol\r\n"),))
    _write("port_reuse_new_server_isn.pcap", [_eth() / p for p in v4 + again])
    # A sequence space that wraps past 2**32 in the client's first line.
    _write("wrap.pcap", [_eth() / p for p in _chat(IP, "10.0.0.1", "10.0.0.2", isn_c=2**32 - 5, isn_s=2**32 - 1)])
    _write("fragments_ipv4.pcap", _fragmented_v4())
    _write("fragments_ipv6.pcap", _fragmented_v6())
    _write("udp_dns.pcap", _dns())
    _write("udp_chat.pcap", _udp_chat())
    _write("udp_fragments.pcap", _udp_fragmented())
    _write("udp_snaplen.pcap", [_eth() / p for p in _udp_chat_packets()], snaplen=50)
    _truncate(HERE / "udp_snaplen.pcap", 50)
    _corner_cases()
    link_layers()
    _tunnels(v4)


def _tcp(src: str, dst: str, sport: int, dport: int, flags: str, seq: int, ack: int = 0, load: bytes = b"") -> Packet:
    pkt = _eth() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=65535)
    return pkt / Raw(load) if load else pkt


def _corner_cases() -> None:
    """TCP corner cases seen in real captures (issue: follow what users capture)."""
    cli, srv = "10.0.0.1", "10.0.0.2"

    def c2s(flags: str, seq: int, ack: int = 0, load: bytes = b"", sport: int = 40000) -> Packet:
        return _tcp(cli, srv, sport, 55555, flags, seq, ack, load)

    def s2c(flags: str, seq: int, ack: int = 0, load: bytes = b"", dport: int = 40000) -> Packet:
        return _tcp(srv, cli, 55555, dport, flags, seq, ack, load)

    # The server first refuses the SYN (RST, seq 0), then accepts its retransmission: the SYN-ACK,
    # not the RST, gives the server's initial sequence number.
    _write(
        "rst_before_synack.pcap",
        [
            c2s("S", 1000),
            s2c("RA", 0, 1001),
            c2s("S", 1000),
            s2c("SA", 5000, 1001),
            c2s("A", 1001, 5001),
            c2s("PA", 1001, 5001, b"hello\n"),
            s2c("PA", 5001, 1007, b"hi there\n"),
            c2s("A", 1007, 5010),
            c2s("FA", 1007, 5010),
            s2c("FA", 5010, 1008),
            c2s("A", 1008, 5011),
        ],
    )
    first = [
        c2s("S", 1000),
        s2c("SA", 5000, 1001),
        c2s("A", 1001, 5001),
        c2s("PA", 1001, 5001, b"hello\n"),
        s2c("A", 5001, 1007),
        c2s("FA", 1007, 5001),
        s2c("FA", 5001, 1008),
        c2s("A", 1008, 5002),
    ]
    second = [
        c2s("S", 7000, sport=40001),
        s2c("SA", 9000, 7001, dport=40001),
        c2s("A", 7001, 9001, sport=40001),
        c2s("PA", 7001, 9001, b"second\n", sport=40001),
        s2c("A", 9001, 7008, dport=40001),
    ]
    # A late duplicate of the first SYN after the close (same ISN; Wireshark: a retransmission too),
    # then another connection, which must stay stream 1.
    _write("late_syn_same_isn.pcap", [*first, c2s("S", 1000), *second])
    # A late SYN whose ISN lies inside the closed connection's sequence space: a retransmission in
    # netlab (RFC 1122 TIME-WAIT); Wireshark opens stream 1 for it, which netlab reserves.
    _write("late_syn_inside.pcap", [*first, c2s("S", 1004), *second])
    # Two SYN-ACKs with different ISNs; the client acknowledges the second, which netlab follows.
    _write(
        "two_synacks.pcap",
        [
            c2s("S", 1000),
            s2c("SA", 5000, 1001),
            s2c("SA", 8000, 1001),
            c2s("A", 1001, 8001),
            c2s("PA", 1001, 8001, b"hello\n"),
            s2c("PA", 8001, 1007, b"hi there\n"),
            c2s("A", 1007, 8010),
        ],
    )
    # TCP headers quoted in ICMP errors: one of a 4-tuple seen nowhere else (Wireshark numbers it
    # as stream 0), one of the real connection, one over ICMPv6 after it (Wireshark's stream 2).
    lost = IP(src=srv, dst="10.0.0.9") / TCP(sport=55555, dport=33333, flags="SA", seq=1, ack=2)
    quoted = IP(src=cli, dst=srv) / TCP(sport=40000, dport=55555, flags="PA", seq=1001, ack=5001) / Raw(b"hello\n")
    quoted6 = IPv6(src="fd00::1", dst="fd00::2") / TCP(sport=1234, dport=80, flags="S", seq=9)
    _write(
        "icmp_quoted.pcap",
        [
            _eth() / IP(src="10.0.0.9", dst=srv) / ICMP(type=3, code=3) / Raw(bytes(lost)),
            *first[:4],
            _eth() / IP(src=srv, dst=cli) / ICMP(type=3, code=4) / Raw(bytes(quoted)),
            _eth() / IPv6(src="fd00::2", dst="fd00::1") / ICMPv6DestUnreach(code=4) / Raw(bytes(quoted6)),
            *second,
        ],
    )


def _tunnels(v4: list[Packet]) -> None:
    """The chat inside each IP-in-IP, GRE and UDP tunnel, over IPv6 extension headers, and tunnels
    whose outer datagrams are fragmented; tshark dissects every one down to the inner TCP."""
    v6 = _chat(IPv6, "fd00::1", "fd00::2")
    _write("chat_ipip.pcap", [_eth() / _outer4(4, p) for p in v4])
    _write("chat_6in4.pcap", [_eth() / _outer4(41, p) for p in v6])
    _write("chat_ip6ip6.pcap", [_eth() / _outer6(41, p) for p in v6])
    _write("chat_4in6.pcap", [_eth() / _outer6(4, p) for p in v4])
    # GRE: checksum, key and sequence fields on one side; IPv6 inside and outside; bridged Ethernet
    gre_fields = [_gre(0, 0x0800), _gre(0xB000, 0x0800, 12)]  # none; checksum, key and sequence
    _write("chat_gre.pcap", [_eth() / _outer4(47, gre_fields[i % 2] / p) for i, p in enumerate(v4)])
    _write("chat_gre6.pcap", [_eth() / _outer6(47, _gre(0x2000, 0x86DD, 4) / p) for p in v6])
    _write("chat_gre_eth.pcap", [_eth() / _outer4(47, _gre(0, 0x6558) / _eth() / p) for p in v4])
    # ERSPAN I (no ERSPAN header: the GRE sequence bit is clear), II, III (with and without subheader)
    _write("chat_erspan1.pcap", [_eth() / _outer4(47, _gre(0, 0x88BE) / _eth() / p) for p in v4])
    erspan2 = Raw(struct.pack("!HHI", 0x1000 | 42, 0, 7))
    _write("chat_erspan2.pcap", [_eth() / _outer4(47, _gre(0x1000, 0x88BE, 4) / erspan2 / _eth() / p) for p in v4])
    erspan3 = [_gre(0x1000, 0x22EB, 4) / _erspan3(i % 2 == 1) for i in range(len(v4))]
    _write("chat_erspan3.pcap", [_eth() / _outer4(47, erspan3[i] / _eth() / p) for i, p in enumerate(v4)])
    # UDP tunnels; the server's side uses the tunnel port as its source port (either side counts)
    _write("chat_vxlan.pcap", [_eth() / _udp4(i, 4789) / Raw(VXLAN) / _eth() / p for i, p in enumerate(v4)])
    # Which port decides, as tshark: GTP-U's 2152 is lower but rejects a non-GTP header, so 4789
    # (VXLAN, here without its I flag) decides; 4789 against Geneve's 6081: the lower one, VXLAN
    ports = [(2152, 4789, b"\0" * 8), (4789, 6081, VXLAN)]
    _write(
        "chat_udp_ports.pcap",
        [
            _eth() / _outer4(17, UDP(sport=ports[i % 2][0], dport=ports[i % 2][1]) / Raw(ports[i % 2][2]) / _eth() / p)
            for i, p in enumerate(v4)
        ],
    )
    _write("chat_geneve.pcap", [_eth() / _udp4(i, 6081) / _geneve(i, p) for i, p in enumerate(v4)])
    _write("chat_gtpu.pcap", [_eth() / _udp4(i, 2152) / _gtp_u(i, p) for i, p in enumerate(v4)])
    _write("chat_teredo.pcap", [_eth() / _udp4(i, 3544) / _teredo(i) / p for i, p in enumerate(v6)])
    # IPv6 extension headers: hop-by-hop, destination options, routing (no segments left), an atomic
    # fragment header, AH, destination options again; and AH in IPv4
    _write("chat_ipv6_ext.pcap", [_eth() / _ipv6_ext(p) for p in v6])
    ah = [IP(src=p[IP].src, dst=p[IP].dst, proto=51) / _ah(6) / Raw(bytes(p)[20:]) for p in v4]  # TCP as sent
    _write("chat_ah.pcap", [_eth() / p for p in ah])
    # Tunnels whose outer datagrams are fragmented (the inner packets fill the inner MTU)
    big = _chat(IP, "10.0.0.1", "10.0.0.2", lines=TUNNEL_LINES)
    _write("frag_gre.pcap", _fragment_outer4([_outer4(47, _gre(0, 0x0800) / p) for p in big]))
    _write("frag_ipip.pcap", _fragment_outer4([_outer4(4, p) for p in big]))
    vxlan = UDP(sport=50000, dport=4789) / Raw(VXLAN)
    _write("frag_vxlan.pcap", _fragment_outer4([_outer4(17, vxlan / _eth() / p) for p in big]))
    _write("frag_ipv6_outer.pcap", _fragment_outer6([_outer6(4, p) for p in big]))


# 1460-byte lines: inner packets of 1500 bytes, so the outer packets exceed an Ethernet MTU
TUNNEL_LINES = (
    (b"NICK tunnel " + bytes(range(256)) * 5 + bytes(166) + b"\r\n", b"ok " * 486 + b"\r\n"),
    (b"bye\r\n", b"bye\r\n"),
)
VXLAN = b"\x08\0\0\0\0\0\x2a\0"  # I flag, VNI 42


def _outer4(proto: int, inner: Packet) -> Packet:
    return IP(src="192.0.2.1", dst="192.0.2.2", proto=proto) / inner


def _outer6(nh: int, inner: Packet) -> Packet:
    return IPv6(src="2001:db8::1", dst="2001:db8::2", nh=nh) / inner


def _gre(flags: int, proto: int, fields: int = 0) -> Raw:
    """A GRE header: flags and version, protocol type, `fields` bytes of checksum/key/sequence."""
    return Raw(struct.pack("!HH", flags, proto) + bytes(range(1, fields + 1)))


def _erspan3(subheader: bool) -> Raw:
    return Raw(struct.pack("!HHIHH", 0x2000 | 42, 0, 7, 0, int(subheader)) + bytes(8 * subheader))


def _udp4(i: int, port: int) -> Packet:
    """Outer IPv4/UDP, the tunnel port as destination one way and as source the other way."""
    if i % 2 == 0:
        return IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=50000 + i, dport=port)
    return IP(src="192.0.2.2", dst="192.0.2.1") / UDP(sport=port, dport=50000 + i)


def _geneve(i: int, inner: Packet) -> Packet:
    """Geneve: Ethernet with an 8-byte option one way, plain IPv4 (ethertype 0x0800) the other."""
    if i % 2 == 0:
        option = struct.pack("!HBB", 0x0102, 0x80, 1) + b"\xaa\xbb\xcc\xdd"
        return Raw(struct.pack("!BBHI", 2, 0, 0x6558, 0x2A00) + option) / _eth() / inner
    return Raw(struct.pack("!BBHI", 0, 0, 0x0800, 0x2A00)) / inner


def _gtp_u(i: int, inner: Packet) -> Packet:
    """GTP-U G-PDUs: plain; with a sequence number; with a PDU session container extension header."""
    body = bytes(inner)
    if i % 3 == 0:
        return Raw(struct.pack("!BBHI", 0x30, 0xFF, len(body), 0x1234)) / inner
    if i % 3 == 1:
        return Raw(struct.pack("!BBHIHBB", 0x32, 0xFF, len(body) + 4, 0x1234, i, 0, 0)) / inner
    ext = struct.pack("!BBBB", 1, 0x10, 9, 0)  # length 1 (4 bytes), content, no next header
    return Raw(struct.pack("!BBHIHBB", 0x34, 0xFF, len(body) + 8, 0x1234, 0, 0, 0x85) + ext) / inner


def _teredo(i: int) -> Raw:
    """Teredo indicators: none; an origin indication; an authentication indicator then an origin one."""
    origin = struct.pack("!HH4s", 0, 40000 ^ 0xFFFF, bytes([0x3F, 0xFF, 0xFD, 0xFE]))
    auth = struct.pack("!HBB", 1, 2, 3) + b"id" + b"abc" + bytes(range(8)) + b"\0"
    return Raw([b"", origin, auth + origin][i % 3])


def _ipv6_ext(pkt: Packet) -> Packet:
    chain = (
        IPv6(src=pkt[IPv6].src, dst=pkt[IPv6].dst)
        / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrDestOpt()
        / IPv6ExtHdrRouting(addresses=[], segleft=0)
        / IPv6ExtHdrFragment(nh=51, m=0, offset=0, id=7)
    )
    return chain / _ah(60) / IPv6ExtHdrDestOpt(nh=6) / Raw(bytes(pkt)[40:])  # TCP as sent, its checksum kept


def _ah(nh: int) -> Raw:
    """An IPsec Authentication Header with a 12-byte ICV (24 bytes: length field 4)."""
    return Raw(struct.pack("!BBHII", nh, 4, 0, 0x100, 1) + bytes(12))


def _fragment_outer4(packets: list[Packet]) -> list[Packet]:
    """Ethernet frames of outer IPv4 packets, those over 1500 bytes fragmented (odd ones last fragment first)."""
    out: list[Packet] = []
    for n, pkt in enumerate(packets):
        whole = IP(bytes(pkt))  # checksums computed over the whole datagram first
        whole.id = 300 + n
        frags = fragment(whole, fragsize=1400) if len(whole) > 1500 else [whole]
        out += [_eth() / f for f in (reversed(frags) if n % 2 else frags)]
    return out


def _fragment_outer6(packets: list[Packet]) -> list[Packet]:
    """Ethernet frames of outer IPv6 packets, those over 1500 bytes split by fragment headers."""
    out: list[Packet] = []
    for n, pkt in enumerate(packets):
        body = bytes(pkt[IPv6].payload)
        if len(body) + 40 <= 1500:
            out.append(_eth() / pkt)
            continue
        for lo in range(0, len(body), 1448):
            chunk = body[lo : lo + 1448]
            more = lo + 1448 < len(body)
            frag = IPv6ExtHdrFragment(nh=pkt[IPv6].nh, offset=lo // 8, m=int(more), id=500 + n)
            out.append(_eth() / IPv6(src=pkt[IPv6].src, dst=pkt[IPv6].dst) / frag / Raw(chunk))
    return out


def _dns() -> list[Packet]:
    """DNS over UDP: queries and answers on several source ports (one conversation each), a query
    repeated on the same port, a query nobody answers, one over IPv6, and an empty datagram."""
    out: list[Packet] = []
    names = ("example.com", "netlab.test", "xn--80ak6aa92e.com")
    for n, name in enumerate(names):
        client = IP(src="10.0.0.1", dst="10.0.0.53") / UDP(sport=40000 + n, dport=53)
        server = IP(src="10.0.0.53", dst="10.0.0.1") / UDP(sport=53, dport=40000 + n)
        out.append(_eth() / client / DNS(id=n + 1, rd=1, qd=DNSQR(qname=name)))
        if n == 1:
            out.append(_eth() / client / DNS(id=n + 1, rd=1, qd=DNSQR(qname=name, qtype="AAAA")))
        answer = DNSRR(rrname=name, rdata=f"192.0.2.{n + 1}", ttl=300)
        out.append(_eth() / server / DNS(id=n + 1, qr=1, ra=1, qd=DNSQR(qname=name), an=answer))
    lost = IP(src="10.0.0.1", dst="10.0.0.54") / UDP(sport=40010, dport=53)
    out.append(_eth() / lost / DNS(id=9, rd=1, qd=DNSQR(qname="unanswered.test")))
    v6c = IPv6(src="fd00::1", dst="fd00::53") / UDP(sport=40020, dport=53)
    v6s = IPv6(src="fd00::53", dst="fd00::1") / UDP(sport=53, dport=40020)
    out.append(_eth() / v6c / DNS(id=10, rd=1, qd=DNSQR(qname="example.com", qtype="AAAA")))
    out.append(_eth() / v6s / DNS(id=10, qr=1, qd=DNSQR(qname="example.com", qtype="AAAA")))
    out.append(_eth() / IP(src="10.0.0.1", dst="10.0.0.53") / UDP(sport=40000, dport=53))  # empty
    return out


UDP_CHAT = (
    ("10.0.0.11", 50001, b"JOIN alice\n"),
    ("10.0.0.12", 50002, b"JOIN bob\n"),
    ("10.0.0.11", 50001, "привет, bob 👋\n".encode()),
    ("10.0.0.12", 50002, b"hi \x00\x01\xff binary\r\n"),
    ("10.0.0.13", 50003, b"JOIN carol"),
    ("10.0.0.11", 50001, b"bye\n"),
)


def _udp_chat_packets() -> list[Packet]:
    """A UDP chat (Kurose-Ross style): clients send lines to a server on 9999, which relays each
    line to the other clients; carol's line has no newline."""
    server = "10.0.0.10"
    members: dict[str, int] = {}
    out: list[Packet] = []
    for ip, port, line in UDP_CHAT:
        members[ip] = port
        out.append(IP(src=ip, dst=server) / UDP(sport=port, dport=9999) / Raw(line))
        for other, other_port in members.items():
            if other != ip:
                out.append(IP(src=server, dst=other) / UDP(sport=9999, dport=other_port) / Raw(b"> " + line))
    return out


def _udp_chat() -> list[Packet]:
    """The UDP chat, with a TCP chat running beside it (for --proto all) and a second UDP server."""
    tcp = _chat(IP, "10.0.0.1", "10.0.0.2")
    udp = _udp_chat_packets()
    mixed: list[Packet] = []
    for i in range(max(len(tcp), len(udp))):
        mixed += [p for p in (udp[i : i + 1] + tcp[i : i + 1])]
    mixed.append(IP(src="10.0.0.11", dst="10.0.0.20") / UDP(sport=50001, dport=7) / Raw(b"echo?"))
    mixed.append(IP(src="10.0.0.20", dst="10.0.0.11") / UDP(sport=7, dport=50001) / Raw(b"echo?"))
    return [_eth() / p for p in mixed]


def _udp_fragmented() -> list[Packet]:
    """UDP datagrams larger than one frame, as IPv4 fragments (one set out of order) and IPv6
    fragments, between small unfragmented datagrams of other conversations."""
    out: list[Packet] = []
    big = bytes(range(256)) * 12
    small = IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=6000, dport=6001) / Raw(b"small before")
    out.append(_eth() / small)
    for n, payload in enumerate((big, b"answer " * 400)):
        src, dst = ("10.0.0.1", "10.0.0.2") if n == 0 else ("10.0.0.2", "10.0.0.1")
        ports = (5000, 5001) if n == 0 else (5001, 5000)
        pkt = IP(src=src, dst=dst, id=300 + n) / UDP(sport=ports[0], dport=ports[1]) / Raw(payload)
        frags = fragment(pkt, fragsize=1400)
        if n == 1:
            frags.reverse()
        out += [_eth() / f for f in frags]
    v6 = IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrFragment(id=400) / UDP(sport=5002, dport=5003) / Raw(big)
    out += [_eth() / f for f in fragment6(v6, 1280)]
    after = IP(src="10.0.0.3", dst="10.0.0.2") / UDP(sport=6002, dport=6001) / Raw(b"small after")
    out.append(_eth() / after)
    return out


BIG_LINES = ((b"NICK frag\r\n" + bytes(range(256)) * 12 + b"\r\n", b"ok " * 500 + b"\r\n"), (b"bye\r\n", b"bye\r\n"))


def _fragmented_v4() -> list[Packet]:
    """Data segments sent as IPv4 fragments: a tiny first fragment that cuts the TCP header in
    two, the fragments of one datagram in reverse order, and one fragment twice."""
    out: list[Packet] = []
    for n, pkt in enumerate(_chat(IP, "10.0.0.1", "10.0.0.2", lines=BIG_LINES)):
        pkt[IP].id = 100 + n
        if not pkt.haslayer(Raw) or len(pkt[Raw].load) < 100:
            out.append(_eth() / pkt)
            continue
        frags = fragment(pkt, fragsize=8)[:1]  # the first 8 bytes of the TCP header alone
        rest = IP(bytes(pkt))
        rest.frag, rest.flags = 1, "MF"
        body = bytes(pkt[TCP])[8:]
        pieces = [body[i : i + 1400] for i in range(0, len(body), 1400)]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            frag = IP(
                src=pkt[IP].src,
                dst=pkt[IP].dst,
                id=pkt[IP].id,
                proto=6,
                flags=0 if last else "MF",
                frag=(8 + 1400 * i) // 8,
            )
            frags.append(frag / Raw(piece))
        if n % 2:
            frags.reverse()
        frags.append(frags[1])
        out += [_eth() / f for f in frags]
    return out


def _fragmented_v6() -> list[Packet]:
    """The same dialogue over IPv6, data segments split by fragment headers (last fragment first)."""
    out: list[Packet] = []
    for n, pkt in enumerate(_chat(IPv6, "fd00::1", "fd00::2", lines=BIG_LINES)):
        if not pkt.haslayer(Raw) or len(pkt[Raw].load) < 100:
            out.append(_eth() / pkt)
            continue
        inner = IPv6(src=pkt[IPv6].src, dst=pkt[IPv6].dst) / IPv6ExtHdrFragment(id=200 + n) / pkt[TCP]
        frags = fragment6(inner, 1280)
        out += [_eth() / f for f in reversed(frags)]
    return out


# --- link layers written with struct (scapy has no writer for most of them) ----------------------


def _write_frames(name: str, linktype: int, frames: list[bytes]) -> None:
    """A pcap of `frames` (whole, captured in full) on link type `linktype`."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
    for i, frame in enumerate(frames):
        usec = i * 1000
        out += struct.pack("<IIII", int(T0) + usec // 1_000_000, usec % 1_000_000, len(frame), len(frame))
        out += frame
    (HERE / name).write_bytes(bytes(out))


def _from_client(pkt: Packet) -> bool:
    return pkt[TCP].sport == 40000


_SNAP_IPV4 = b"\xaa\xaa\x03\x00\x00\x00\x08\x00"
_SNAP_IPV6 = b"\xaa\xaa\x03\x00\x00\x00\x86\xdd"
_MAC_A, _MAC_B, _MAC_AP = b"\x02\0\0\0\0\x01", b"\x02\0\0\0\0\x02", b"\x02\0\0\0\0\xaa"


def _ieee8023_llc(pkt: Packet) -> bytes:
    """IEEE 802.3 (a length, not an ethertype) with 802.2 LLC/SNAP."""
    body = _SNAP_IPV4 + bytes(pkt)
    return _MAC_B + _MAC_A + struct.pack("!H", len(body)) + body


def _ppp_variants(pkt: Packet, n: int) -> bytes:
    """PPP with and without HDLC-like framing, with and without protocol-field compression."""
    return (b"", b"\xff\x03")[n % 2] + (b"\x00\x21", b"\x21")[(n // 2) % 2] + bytes(pkt)


def _dot11(pkt: Packet, n: int, snap: bytes = _SNAP_IPV4) -> bytes:
    """An 802.11 data frame: client to AP (ToDS) as Data, AP to client (FromDS) as QoS Data; every
    third frame a 4-address QoS frame (ToDS and FromDS, a mesh or WDS link)."""
    seq = struct.pack("<H", n << 4)
    if n % 3 == 2:
        fc = b"\x88\x03"  # QoS data, ToDS and FromDS
        return fc + b"\0\0" + _MAC_AP + _MAC_AP + _MAC_B + seq + _MAC_A + b"\x00\x00" + snap + bytes(pkt)
    if _from_client(pkt):
        return b"\x08\x01\0\0" + _MAC_AP + _MAC_A + _MAC_B + seq + snap + bytes(pkt)
    return b"\x88\x02\0\0" + _MAC_A + _MAC_AP + _MAC_B + seq + b"\x05\x00" + snap + bytes(pkt)


def _dot11_noise() -> list[bytes]:
    """Frames a Wi-Fi capture also holds: a beacon, a null-data frame, and a protected (encrypted) one."""
    beacon = b"\x80\x00\0\0" + b"\xff" * 6 + _MAC_AP + _MAC_AP + b"\0\0" + bytes(12)
    null = b"\x48\x01\0\0" + _MAC_AP + _MAC_A + _MAC_AP + b"\x10\x00"
    protected = b"\x08\x41\0\0" + _MAC_AP + _MAC_A + _MAC_B + b"\x20\x00" + bytes(8) + b"\x5a" * 60
    return [beacon, null, protected]


def _radiotap(frame: bytes, n: int) -> bytes:
    """Radiotap: TSFT, flags (FCS at the end; every other frame) and channel; the FCS is a real CRC-32."""
    flags = 0x10 if n % 2 else 0x00
    body = struct.pack("<QBBHH", 1_000_000 + n, flags, 2, 2437, 0x00A0)
    header = struct.pack("<BBHI", 0, 0, 8 + len(body), 0b1011)  # TSFT, flags, rate, channel
    fcs = struct.pack("<I", zlib.crc32(frame)) if flags else b""
    return header + body + frame + fcs


def _ppi(frame: bytes, n: int) -> bytes:
    """PPI with an 802.11-common field (FCS present on every other frame), wrapping link type 105."""
    flags = 0x0001 if n % 2 else 0x0000
    common = struct.pack("<QHHHHbb", 1_000_000 + n, flags, 108, 2437, 0x00A0, 0, -40)
    field = struct.pack("<HH", 2, 20) + common + b"\0\0"
    header = struct.pack("<BBHI", 0, 0, 8 + len(field), 105)
    fcs = struct.pack("<I", zlib.crc32(frame)) if flags else b""
    return header + field + frame + fcs


def _prism(frame: bytes, n: int) -> bytes:
    """A 144-byte Prism monitor-mode header (message code 0x44, in little- or, every other frame,
    big-endian order), or an AVS header (every third frame: Wireshark reads both in link type 119)."""
    if n % 3 == 2:
        return _avs(frame)
    order = ">" if n % 2 else "<"
    return struct.pack(order + "II", 0x44, 144) + b"wlan0".ljust(16, b"\0") + bytes(120) + frame


def _avs(frame: bytes) -> bytes:
    """A 64-byte AVS WLAN header (version 2, big-endian)."""
    return struct.pack(">II", 0x80211002, 64) + bytes(56) + frame


def _arcnet(pkt: Packet, n: int, linux: bool) -> bytes:
    """ARCNET, RFC 1201: source and destination ids (Linux: an offset field too), system code, split
    flag, sequence number; on BSD every third frame behind an exception header."""
    code = 0xC4 if pkt.haslayer(IPv6) else 0xD4
    ids = b"\x01\x02" if _from_client(pkt) else b"\x02\x01"
    seq = struct.pack("!H", n)
    if linux:
        return ids + b"\x00\x00" + bytes([code, 0]) + seq + bytes(pkt)
    if n % 3 == 2:
        return ids + bytes([code, 0xFF, 0xFF, 0xFF, code, 0]) + seq + bytes(pkt)
    return ids + bytes([code, 0]) + seq + bytes(pkt)


def _juniper(pkt: Packet, n: int) -> bytes:
    """Juniper Ethernet: "MGC", flags (direction; every other frame extension TLVs: ifd index, ifl
    encapsulation), then the Ethernet frame."""
    direction = 1 if _from_client(pkt) else 0
    frame = bytes(_eth() / pkt)
    if n % 2:
        return b"MGC" + bytes([direction]) + frame
    tlvs = bytes([1, 4]) + struct.pack("<I", 7) + bytes([6, 1, 14])
    return b"MGC" + bytes([0x80 | direction]) + struct.pack("!H", len(tlvs)) + tlvs + frame


def _nflog(pkt: Packet) -> bytes:
    """NFLOG: family, version, resource id, then TLVs (little-endian, padded to 4): hardware protocol,
    prefix, payload."""

    def tlv(kind: int, value: bytes) -> bytes:
        raw = struct.pack("<HH", 4 + len(value), kind) + value
        return raw + bytes(-len(raw) % 4)

    family = 10 if pkt.haslayer(IPv6) else 2
    return bytes([family, 0]) + b"\x00\x01" + tlv(1, b"\x08\x00\x03\x00") + tlv(10, b"chat\0") + tlv(9, bytes(pkt))


def _null_family(pkt: Packet, n: int, big_endian: bool) -> bytes:
    """BSD loopback: the address family in the capturing host's byte order; IPv6 is 24, 28 or 30."""
    family = (24, 28, 30)[n % 3] if pkt.haslayer(IPv6) else 2
    return struct.pack(">I" if big_endian else "<I", family) + bytes(pkt)


def _pcapng_mixed(packets: list[Packet]) -> bytes:
    """A pcapng with three interfaces of different link types (Ethernet, raw IP, Linux cooked v1),
    the dialogue's frames spread over them in turn."""

    def block(kind: int, body: bytes) -> bytes:
        body += bytes(-len(body) % 4)
        return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for linktype in (1, 101, 113):
        out += block(1, struct.pack("<HHI", linktype, 0, 65535))
    for n, pkt in enumerate(packets):
        iface = n % 3
        frame = (
            bytes(_eth() / pkt),
            bytes(pkt),
            bytes(CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, proto=0x0800) / pkt),
        )[iface]
        ts = int(T0 * 1_000_000) + n * 1000
        out += block(6, struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame)) + frame)
    return out


def link_layers() -> None:
    """The chat over every link layer netlab decodes that scapy does not write."""
    v4 = _chat(IP, "10.0.0.1", "10.0.0.2")
    v6 = _chat(IPv6, "fd00::1", "fd00::2")
    _write_frames("chat_llc_snap.pcap", 1, [_ieee8023_llc(p) for p in v4])
    _write_frames("chat_ppp.pcap", 9, [_ppp_variants(p, n) for n, p in enumerate(v4)])
    _write_frames("chat_ppp_hdlc.pcap", 50, [b"\xff\x03\x00\x21" + bytes(p) for p in v4])
    _write_frames("chat_ppp_pppd.pcap", 204, [bytes([_from_client(p)]) + b"\xff\x03\x00\x57" + bytes(p) for p in v6])
    pppoe = [
        bytes(_eth())[:12] + b"\x88\x64\x11\x00\x00\x2a" + struct.pack("!H", len(ppp)) + ppp
        for ppp in ((b"\x21", b"\x00\x21")[n % 2] + bytes(p) for n, p in enumerate(v4))
    ]
    _write_frames("chat_pppoe.pcap", 1, pppoe)
    _write_frames(
        "chat_chdlc.pcap", 104, [(b"\x0f\x00\x08\x00", b"\x8f\x00\x08\x00")[n % 2] + bytes(p) for n, p in enumerate(v4)]
    )
    wifi = [_dot11(p, n) for n, p in enumerate(v4)]
    _write_frames("chat_80211.pcap", 105, _dot11_noise()[:1] + wifi[:3] + _dot11_noise()[1:] + wifi[3:])
    # The server's last line as a host with segmentation offload captures it (IP total length 0): only
    # radiotap's FCS flag keeps the 4 FCS bytes at the end out of the payload.
    ip_at = len(wifi[6]) - len(bytes(v4[6]))
    tso = wifi[:6] + [wifi[6][: ip_at + 2] + b"\0\0" + wifi[6][ip_at + 4 :]] + wifi[7:]
    _write_frames("chat_radiotap.pcap", 127, [_radiotap(f, n) for n, f in enumerate(_dot11_noise() + tso)])
    wifi6 = [_dot11(p, n, _SNAP_IPV6) for n, p in enumerate(v6)]
    _write_frames("chat_ppi.pcap", 192, [_ppi(f, n) for n, f in enumerate(wifi6 + _dot11_noise())])
    _write_frames("chat_prism.pcap", 119, [_prism(f, n) for n, f in enumerate(_dot11_noise() + wifi)])
    _write_frames("chat_avs.pcap", 163, [_avs(f) for f in wifi + _dot11_noise()])
    _write_frames("chat_fddi.pcap", 10, [b"\x50" + _MAC_B + _MAC_A + _SNAP_IPV4 + bytes(p) for p in v4])
    _write_frames("chat_arcnet.pcap", 7, [_arcnet(p, n, False) for n, p in enumerate(v4)])
    _write_frames("chat_arcnet_linux.pcap", 129, [_arcnet(p, n, True) for n, p in enumerate(v6)])
    ipoib_dst = bytes(20) + b"\x00\x00\x00\x48" + bytes.fromhex("fe800000000000000002c90300a1b2c3")
    _write_frames("chat_ipoib.pcap", 242, [ipoib_dst + b"\x08\x00\x00\x00" + bytes(p) for p in v4])
    _write_frames("chat_juniper.pcap", 178, [_juniper(p, n) for n, p in enumerate(v4)])
    _write_frames("chat_nflog.pcap", 239, [_nflog(p) for p in v4])
    _write_frames("chat_null_be.pcap", 0, [_null_family(p, n, True) for n, p in enumerate(v4)])
    _write_frames("chat_null_ipv6.pcap", 0, [_null_family(p, n, n % 2 == 0) for n, p in enumerate(v6)])
    _write_frames("chat_loop.pcap", 108, [_null_family(p, n, True) for n, p in enumerate(v4)])
    _write_frames("chat_raw12.pcap", 12, [bytes(p) for p in v4])
    _write_frames("chat_raw14.pcap", 14, [bytes(p) for p in v6])
    _write_frames("chat_raw_ipv4.pcap", 228, [bytes(p) for p in v4])
    _write_frames("chat_raw_ipv6.pcap", 229, [bytes(p) for p in v6])
    (HERE / "chat_interfaces.pcapng").write_bytes(_pcapng_mixed(v4))


if __name__ == "__main__":
    main()
