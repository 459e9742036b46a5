"""Make the tiny captures in tests/data from scapy-built packets (run: python tests/data/make_pcaps.py).

Each capture is a small, deterministic dialogue exercising one decoder or reassembler case;
the tests read them through `netlab follow` and compare with tshark where it applies.
"""

from __future__ import annotations

import struct
from pathlib import Path

from scapy.layers.inet import IP, TCP, UDP, fragment  # noqa: TID253 (a standalone generator script, not netlab)
from scapy.layers.inet6 import (  # noqa: TID253 (a standalone generator script, not netlab)
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
    # Two connections on one 4-tuple with the same ISN (port reuse after a clean close).
    _write("port_reuse.pcap", [_eth() / p for p in v4 + _chat(IP, "10.0.0.1", "10.0.0.2")])
    # A sequence space that wraps past 2**32 in the client's first line.
    _write("wrap.pcap", [_eth() / p for p in _chat(IP, "10.0.0.1", "10.0.0.2", isn_c=2**32 - 5, isn_s=2**32 - 1)])
    _write("fragments_ipv4.pcap", _fragmented_v4())
    _write("fragments_ipv6.pcap", _fragmented_v6())
    _tunnels(v4)


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


if __name__ == "__main__":
    main()
