"""Make the tiny captures in tests/data from scapy-built packets (run: python tests/data/make_pcaps.py).

Each capture is a small, deterministic dialogue exercising one decoder or reassembler case;
the tests read them through `netlab follow` and compare with tshark where it applies.
"""

from __future__ import annotations

import struct
from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR  # noqa: TID253 (a standalone generator script, not netlab)
from scapy.layers.inet import IP, TCP, UDP, fragment  # noqa: TID253 (a standalone generator script, not netlab)
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, fragment6  # noqa: TID253 (a standalone generator script, not netlab)
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
    _write("udp_dns.pcap", _dns())
    _write("udp_chat.pcap", _udp_chat())
    _write("udp_fragments.pcap", _udp_fragmented())
    _write("udp_snaplen.pcap", [_eth() / p for p in _udp_chat_packets()], snaplen=50)
    _truncate(HERE / "udp_snaplen.pcap", 50)


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


if __name__ == "__main__":
    main()
