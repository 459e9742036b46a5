"""Link-layer header types: pcap's LINKTYPE_* (DLT_*) numbers and their Wireshark-like names (pure data).

The numbers of the link types netlab decodes key `netlab.capture.decode.LINK_LAYERS`; `LINKTYPE_NAMES`
also names many it cannot follow, so that a message can say what a capture holds, and `linktype_label`
is how every message names one.
"""

from __future__ import annotations

# Link-layer header types (https://www.tcpdump.org/linktypes.html).
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_ARCNET_BSD = 7
LINKTYPE_PPP = 9
LINKTYPE_FDDI = 10
LINKTYPE_RAW_OPENBSD = 12
LINKTYPE_RAW_BSD = 14
LINKTYPE_PPP_HDLC = 50
LINKTYPE_PPP_ETHER = 51
LINKTYPE_RAW = 101
LINKTYPE_C_HDLC = 104
LINKTYPE_IEEE802_11 = 105
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_PRISM_HEADER = 119
LINKTYPE_IEEE802_11_RADIOTAP = 127
LINKTYPE_ARCNET_LINUX = 129
LINKTYPE_JUNIPER_ETHER = 178
LINKTYPE_IEEE802_11_AVS = 163
LINKTYPE_PPI = 192
LINKTYPE_PPP_PPPD = 204
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_NFLOG = 239
LINKTYPE_IPOIB = 242
LINKTYPE_LINUX_SLL2 = 276

LINKTYPE_NAMES: dict[int, str] = {
    0: "BSD loopback",
    1: "Ethernet",
    2: "Xerox experimental 3Mb Ethernet",
    3: "AX.25",
    4: "Proteon ProNET Token Ring",
    5: "MIT Chaosnet",
    6: "IEEE 802.5 Token Ring",
    7: "ARCNET",
    8: "SLIP",
    9: "PPP",
    10: "FDDI",
    12: "Raw IP",
    14: "Raw IP",
    50: "PPP in HDLC-like framing",
    51: "PPPoE session",
    99: "Symantec Enterprise Firewall",
    100: "RFC 1483 ATM",
    101: "Raw IP",
    104: "Cisco HDLC",
    105: "IEEE 802.11 Wireless LAN",
    106: "Linux ATM Classical IP",
    107: "Frame Relay",
    108: "OpenBSD loopback",
    109: "OpenBSD enc(4) encapsulating interface",
    113: "Linux cooked-mode capture v1",
    114: "Apple LocalTalk",
    117: "OpenBSD PF Firewall logs",
    119: "IEEE 802.11 plus Prism II monitor mode radio header",
    122: "RFC 2625 IP-over-Fibre Channel",
    123: "SunATM",
    127: "IEEE 802.11 plus radiotap radio header",
    129: "Linux ARCNET",
    138: "Apple IP-over-IEEE 1394",
    139: "SS7 MTP2 with pseudo-header",
    140: "SS7 MTP2",
    141: "SS7 MTP3",
    142: "SS7 SCCP",
    143: "DOCSIS",
    144: "Linux IrDA",
    **{147 + n: f"USER {n}" for n in range(16)},
    163: "IEEE 802.11 plus AVS radio header",
    165: "BACnet MS/TP",
    166: "PPP with directional info",
    169: "GPRS LLC",
    170: "GPF-T (ITU-T G.7041/Y.1303)",
    171: "GPF-F (ITU-T G.7041/Y.1303)",
    177: "Linux LAPD",
    178: "Juniper Ethernet",
    182: "MTP2 with Juniper pseudo-header",
    187: "Bluetooth H4",
    189: "USB packets with Linux header",
    192: "Per-Packet Information header",
    195: "IEEE 802.15.4 Wireless PAN",
    196: "SITA WAN packets",
    197: "Endace ERF",
    201: "Bluetooth H4 with linux header",
    202: "AX.25 with KISS header",
    203: "LAPD",
    204: "PPP with directional info (pppd)",
    205: "Cisco HDLC with directional info",
    206: "Frame Relay with directional info",
    207: "LAPB with directional info",
    209: "I2C with Linux-specific pseudo-header",
    210: "FlexRay",
    211: "MOST",
    212: "LIN",
    215: "IEEE 802.15.4 Wireless PAN non-ASK PHY",
    216: "Linux evdev events",
    220: "USB packets with Linux header and padding",
    224: "Fibre Channel FC-2",
    225: "Fibre Channel FC-2 with frame delimiters",
    226: "Solaris IPNET",
    227: "SocketCAN",
    228: "Raw IPv4",
    229: "Raw IPv6",
    230: "IEEE 802.15.4 Wireless PAN with FCS not present",
    231: "D-Bus",
    235: "DVB-CI (Common Interface)",
    236: "MUX27010",
    237: "STANAG 5066 D_PDU",
    239: "NFLOG",
    240: "netANALYZER",
    241: "netANALYZER-Transparent",
    242: "IP over InfiniBand",
    243: "ISO/IEC 13818-1 MPEG2-TS packets",
    244: "ng40 protocol tester",
    245: "NFC LLCP",
    247: "InfiniBand",
    248: "SCTP",
    249: "USB packets with USBPcap header",
    250: "RTAC serial-line",
    251: "Bluetooth Low Energy Link Layer",
    252: "Wireshark Upper PDU export",
    253: "Linux Netlink",
    254: "Bluetooth Linux Monitor",
    255: "Bluetooth BR/EDR Baseband RF",
    256: "Bluetooth Low Energy Link Layer RF",
    257: "PROFIBUS data link layer",
    258: "Apple PKTAP",
    259: "Ethernet Passive Optical Network",
    260: "IPMI HPM.2 trace packets",
    261: "Z-Wave RF profile R1 and R2",
    262: "Z-Wave RF profile R3",
    263: "WattStopper Digital Lighting Management",
    264: "ISO 14443 contactless smartcard",
    265: "Radio Data System",
    266: "USB packets from Darwin",
    267: "OpenFlow",
    268: "SDLC",
    269: "TI LLN sniffer",
    270: "LoRaTap",
    271: "Linux vsock",
    272: "nRF Sniffer for Bluetooth LE",
    273: "DOCSIS with Excentis XRA pseudo-header",
    274: "802.3br mPackets",
    275: "DisplayPort AUX channel monitoring",
    276: "Linux cooked-mode capture v2",
    278: "OpenVizsla USB",
    279: "Elektrobit High Speed Capture and Replay",
    280: "VPP graph dispatch tracer",
    281: "Broadcom Ethernet switch tag",
    282: "Broadcom Ethernet switch tag (prepended)",
    283: "IEEE 802.15.4 Wireless PAN with TAP header",
    284: "Marvell DSA tag",
    285: "Marvell EDSA tag",
    286: "ELEE lawful intercept",
    287: "Z-Wave serial",
    288: "USB 2.0/1.1/1.0",
    289: "ATSC Link-Layer Protocol",
    290: "Event Tracing for Windows",
    292: "ZBOSS NCP",
    293: "USB 2.0 low speed",
    294: "USB 2.0 full speed",
    295: "USB 2.0 high speed",
    296: "Auerswald log",
    297: "Z-Wave with TAP header",
    298: "Silicon Labs debug channel",
    299: "FiRa UWB controller interface",
    300: "MDB (Multi-Drop Bus)",
    301: "DECT-2020 New Radio",
}
"""Wireshark-like names of link-layer header types, the supported ones (`LINK_LAYERS`) and the
ones that commonly turn up in captures netlab cannot follow (https://www.tcpdump.org/linktypes.html)."""


def linktype_label(linktype: int) -> str:
    """How messages name a link-layer header type: "link type 127 (IEEE 802.11 plus radiotap radio
    header)", the number and, when `LINKTYPE_NAMES` knows it, its name ("link type 65000" otherwise)."""
    name = LINKTYPE_NAMES.get(linktype)
    return f"link type {linktype}" if name is None else f"link type {linktype} ({name})"
