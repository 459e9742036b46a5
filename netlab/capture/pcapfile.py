"""Streaming pcap / pcapng reader (struct-based, packet by packet, never the whole file).

`read_packets(path)` yields `(linktype, ts, frame, orig_len)` for every packet record, in file
order. Memory stays at one read buffer however large the file is. A truncated or corrupt file
first yields everything readable, then raises `PcapReadError` naming the frame and the byte
offset of the bad record; a missing file raises `PcapReadError(missing=True)`. Gzip-compressed
captures (as Wireshark's test suite ships them) are read transparently, and streamed too: a
compressed file cut short yields every frame before the cut, then raises the same error.

`read_segments(path, tally=...)` decodes the TCP segments; its `FrameTally` counts the frames
that gave none, by reason, and keeps the error that ended a damaged file instead of raising it.
A file none of whose link types has a decoder raises `UnsupportedLinkType`.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from netlab.capture.decode import (
    LINK_LAYERS,
    LINKTYPE_ETHERNET,
    decode_fields,
    decode_layers,
    ethernet_ipv4_tcp,
    linktype_label,
)
from netlab.capture.ipfrag import Defragmenter
from netlab.capture.undecoded import FrameTally, Reason
from netlab.errors import PcapReadError, UnsupportedLinkType
from netlab.packets import Datagram, Segment, SegmentFields

PacketRecord = tuple[int, float, bytes, int]
"""(linktype, ts in seconds, captured frame bytes, original length on the wire)."""

_CHUNK = 1 << 20
_BATCH = 4096  # segments per batch on the general (non-pcap) path
_MAX_RECORD = 1 << 28  # a record claiming more than 256 MiB is corrupt

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_READ_ERRORS = (OSError, EOFError, gzip.BadGzipFile, zlib.error)

Progress = Callable[[int, int, int], object]
"""Called after each read block with (bytes of the file read, the file's size, frames so far)."""


class _GzipStream:
    """A gzip file decompressed as it is read (`read(n)` like a file's), members one after another.

    Unlike `gzip.open`, whose `read` raises and loses what it decompressed when the file ends
    inside a member, this hands over every byte before the cut, then reads as at an end of file
    and sets `cut`: the reader then reports the frame the cut fell in (or after).
    """

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.cut = False
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._out = bytearray()
        self._pending = b""
        self._started = False  # a member's bytes have been fed and its end not yet seen
        self._done = False

    def read(self, n: int) -> bytes:
        while len(self._out) < n and not self._done:
            if not self._pending:
                self._pending = self.raw.read(_CHUNK)
                if not self._pending:
                    self._done = True
                    self.cut = self._started
                    break
            if not self._started:
                self._pending = self._pending.lstrip(b"\0")  # padding between or after members
                if not self._pending:
                    continue
            self._started = True
            self._out += self._z.decompress(self._pending, max(n - len(self._out), 1 << 16))
            self._pending = self._z.unconsumed_tail
            if self._z.eof:
                self._pending = self._z.unused_data + self._pending
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._started = False
        data = bytes(self._out[:n])
        del self._out[:n]
        return data

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> _GzipStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Reader:
    """A file with a refillable buffer and absolute offsets, for error messages."""

    __slots__ = ("name", "file", "buf", "pos", "base", "raw", "size")

    def __init__(self, name: str, file: BinaryIO | _GzipStream) -> None:
        self.name = name
        self.file = file
        self.buf = b""
        self.pos = 0  # position in buf
        self.base = 0  # file offset of buf[0]
        self.raw: BinaryIO = file.raw if isinstance(file, _GzipStream) else file  # the file on disk
        try:
            self.size = os.fstat(self.raw.fileno()).st_size
        except (OSError, AttributeError, ValueError):  # not a file on disk: no size for progress
            self.size = 0

    def ensure(self, n: int) -> bool:
        """Make `n` bytes available at `pos`; False at a clean end of file (nothing left)."""
        avail = len(self.buf) - self.pos
        if avail >= n:
            return True
        chunk = self.file.read(max(_CHUNK, n - avail))
        self.base += self.pos
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        if len(self.buf) >= n:
            return True
        if not self.buf:
            return False
        more = self.file.read(n - len(self.buf))
        self.buf += more
        return len(self.buf) >= n

    def offset(self) -> int:
        return self.base + self.pos

    def done(self) -> int:
        """Bytes of the file on disk read so far (compressed bytes for a gzip file)."""
        if self.raw is self.file:
            return self.offset()
        try:
            return self.raw.tell()
        except OSError:
            return 0

    @property
    def compressed_cut(self) -> bool:
        """The file is gzip-compressed and ended inside a compressed member."""
        return isinstance(self.file, _GzipStream) and self.file.cut

    def error(self, what: str, offset: int | None = None, frame: int | None = None) -> PcapReadError:
        at = self.offset() if offset is None else offset
        where = "" if frame is None else f" (frame {frame})"
        return PcapReadError(f"{self.name}: {what} at byte offset {at}{where}", offset=at, frame=frame)

    def cut(self, what: str, frame: int) -> PcapReadError:
        """The file ends inside frame `frame`'s record (or block), at the current offset."""
        at = self.offset()
        ends = "the compressed file ends" if self.compressed_cut else "the file ends"
        data = " of the uncompressed data" if isinstance(self.file, _GzipStream) else ""
        return PcapReadError(
            f"{self.name}: {what} at byte offset {at}{data}: frame {frame} is cut short ({ends} inside it); "
            "everything before it was read",
            offset=at,
            frame=frame,
        )

    def ended(self, what: str, frame: int) -> None:
        """At the end of the data: raise when it is not a clean end (a record or block begun, or a
        compressed file cut exactly between records)."""
        if len(self.buf) > self.pos or self.compressed_cut:
            raise self.cut(what, frame)


def _open(path: Path) -> BinaryIO | _GzipStream:
    try:
        raw = path.open("rb")
    except FileNotFoundError:
        raise PcapReadError(f"{path}: no such capture file", missing=True) from None
    except IsADirectoryError:
        raise PcapReadError(f"{path}: is a directory, not a capture file") from None
    except OSError as err:
        raise PcapReadError(f"{path}: cannot open: {err.strerror}") from None
    if raw.peek(2)[:2] == b"\x1f\x8b":
        return _GzipStream(raw)
    return raw


def read_packets(path: str | Path, linktypes: set[int] | None = None) -> Iterator[PacketRecord]:
    """Yield every packet record of a pcap or pcapng file, streaming.

    `linktypes`, when given, collects the link types the file declares (its header, or each
    pcapng interface), as they are read.

    Raises:
        PcapReadError: missing file (`missing=True`), unknown format, or a truncated/corrupt
            record (after every record before it was yielded; `.frame` is the cut one's number).
    """
    path = Path(path)
    with _open(path) as file:
        yield from _records(_Reader(str(path), file), linktypes)


def _records(reader: _Reader, linktypes: set[int] | None) -> Iterator[PacketRecord]:
    """`read_packets` on an open file."""
    try:
        if not reader.ensure(4):
            raise reader.error("empty file, not a pcap or pcapng capture", 0)
        magic = reader.buf[:4]
        if magic == _PCAPNG_SHB:
            yield from _read_pcapng(reader, linktypes)
        elif magic in _PCAP_MAGICS:
            yield from _read_pcap(reader, *_PCAP_MAGICS[magic], linktypes)
        else:
            raise reader.error("not a pcap or pcapng capture (unknown magic number)", 0)
    except _READ_ERRORS as err:
        raise reader.error(f"read failed ({err})") from None


def _pcap_linktype(reader: _Reader, endian: str) -> int:
    if not reader.ensure(24):
        raise reader.error("truncated pcap file header")
    linktype: int = struct.unpack_from(endian + "I", reader.buf, 20)[0] & 0xFFFF
    reader.pos += 24
    return linktype


def _read_pcap(reader: _Reader, endian: str, units: int, linktypes: set[int] | None) -> Iterator[PacketRecord]:
    linktype = _pcap_linktype(reader, endian)
    if linktypes is not None:
        linktypes.add(linktype)
    record = struct.Struct(endian + "IIII").unpack_from
    ensure = reader.ensure
    number = 0
    while True:
        if not ensure(16):
            reader.ended("truncated packet record header", number + 1)
            return
        ts_sec, ts_frac, incl_len, orig_len = record(reader.buf, reader.pos)
        if incl_len > _MAX_RECORD:
            raise reader.error(f"corrupt packet record (captured length {incl_len})", frame=number + 1)
        if not ensure(16 + incl_len):
            raise reader.cut("truncated packet record", number + 1)
        number += 1
        start = reader.pos + 16
        reader.pos = start + incl_len
        yield linktype, ts_sec + ts_frac / units, reader.buf[start : reader.pos], orig_len


class _Interface:
    __slots__ = ("linktype", "units", "offset")

    def __init__(self, linktype: int, units: int, offset: int) -> None:
        self.linktype = linktype
        self.units = units  # time stamp ticks per second
        self.offset = offset


def _read_pcapng(reader: _Reader, linktypes: set[int] | None) -> Iterator[PacketRecord]:
    endian = "<"
    interfaces: list[_Interface] = []
    number = 0
    while True:
        if not reader.ensure(12):
            reader.ended("truncated block header", number + 1)
            return
        at = reader.offset()
        buf = reader.buf
        if buf[reader.pos : reader.pos + 4] == _PCAPNG_SHB:
            bom = buf[reader.pos + 8 : reader.pos + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                endian = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                endian = ">"
            else:
                raise reader.error("corrupt section header block (byte-order magic)", frame=number + 1)
            interfaces = []
        block_type, block_len = struct.unpack_from(endian + "II", buf, reader.pos)
        if block_len < 12 or block_len % 4 or block_len > _MAX_RECORD:
            raise reader.error(f"corrupt block (length {block_len})", frame=number + 1)
        if not reader.ensure(block_len):
            raise reader.cut("truncated block", number + 1)
        body = reader.buf[reader.pos + 8 : reader.pos + block_len - 4]
        reader.pos += block_len
        if block_type == 1:
            interfaces.append(_interface(body, endian))
            if linktypes is not None:
                linktypes.add(interfaces[-1].linktype)
        elif block_type in (6, 2, 3):
            number += 1
            packet = _packet(block_type, body, endian, interfaces)
            if packet is None:
                raise reader.error("packet block for an undeclared interface", at, frame=number)
            yield packet


def _interface(body: bytes, endian: str) -> _Interface:
    linktype = struct.unpack_from(endian + "H", body, 0)[0]
    units, ts_offset = 1_000_000, 0
    off = 8
    while off + 4 <= len(body):
        code, length = struct.unpack_from(endian + "HH", body, off)
        if code == 0:
            break
        value = body[off + 4 : off + 4 + length]
        if code == 9 and length == 1:
            r = value[0]
            units = 2 ** (r & 0x7F) if r & 0x80 else 10**r
        elif code == 14 and length == 8:
            ts_offset = struct.unpack_from(endian + "q", value, 0)[0]
        off += 4 + ((length + 3) & ~3)
    return _Interface(linktype, units, ts_offset)


def _packet(block_type: int, body: bytes, endian: str, interfaces: list[_Interface]) -> PacketRecord | None:
    if block_type == 3:  # simple packet block: interface 0, no time stamp
        if not interfaces:
            return None
        orig_len = struct.unpack_from(endian + "I", body, 0)[0]
        return interfaces[0].linktype, 0.0, body[4 : 4 + min(orig_len, len(body) - 4)], orig_len
    if block_type == 6:
        iface_id, ts_hi, ts_lo, cap_len, orig_len = struct.unpack_from(endian + "IIIII", body, 0)
    else:  # obsolete packet block
        iface_id, _drops, ts_hi, ts_lo, cap_len, orig_len = struct.unpack_from(endian + "HHIIII", body, 0)
    if iface_id >= len(interfaces):
        return None
    iface = interfaces[iface_id]
    # seconds + fraction, computed as tshark does (secs + nsecs / 1e9), so printed times agree
    sec, frac = divmod((ts_hi << 32) | ts_lo, iface.units)
    ts = sec + iface.offset + frac / iface.units
    return iface.linktype, ts, body[20 : 20 + cap_len], orig_len


def read_segments(
    path: str | Path,
    *,
    verify: bool = True,
    tally: FrameTally | None = None,
    progress: Progress | None = None,
    udp: bool = False,
) -> SegmentReader:
    """The TCP segments of a capture file, numbered like Wireshark's frames (1-based).

    Returns a `SegmentReader`: iterate it for `Segment`s (the file is opened on iteration).
    Non-TCP packets are skipped (but counted in frame numbers, and by reason in `tally`). With
    `udp`, the UDP datagrams come too, as `Datagram`s in the same batches, in capture order.
    Iteration raises `PcapReadError` as `read_packets` does, after yielding every readable
    segment; with a `tally`, the error is kept in `tally.damage` and iteration ends normally.
    `progress` is called after each read block (see `Progress`).

    Raises (on iteration):
        UnsupportedLinkType: no link type of the file has a decoder (before anything is yielded
            for a pcap file; at the end for a pcapng file, whose interfaces come as it is read).
    """
    return SegmentReader(Path(path), verify, tally, progress, udp)


class SegmentReader:
    """The TCP segments of one capture file, streamed (see `read_segments`).

    Iterating gives `Segment`s. `field_batches()` gives the same segments as lists of
    `SegmentFields` tuples, one list per read block: the cheap form `follow` feeds to
    `Reassembler.feed_batch`. With `udp`, the batches also hold the capture's UDP datagrams
    (`Datagram` objects, each where its frame lies); iterating gives the segments only. Every
    iteration reads the file afresh.
    """

    __slots__ = ("path", "verify", "tally", "progress", "udp")

    def __init__(
        self,
        path: Path,
        verify: bool = True,
        tally: FrameTally | None = None,
        progress: Progress | None = None,
        udp: bool = False,
    ) -> None:
        self.path = path
        self.verify = verify
        self.tally = tally
        self.progress = progress
        self.udp = udp

    def __iter__(self) -> Iterator[Segment]:
        return (item for item in self.with_datagrams() if type(item) is Segment)

    def with_datagrams(self) -> Iterator[Segment | Datagram]:
        """`Segment`s and (read with `udp`) `Datagram`s, in capture order."""
        for batch in self.field_batches():
            items: list[Any] = batch  # segments' fields and datagrams
            for item in items:
                yield Segment(*item) if isinstance(item, tuple) else item

    def udp_datagrams(self) -> Iterator[Datagram]:
        """The capture's UDP datagrams alone, in capture order (read afresh, whatever `udp` says)."""
        reader = SegmentReader(self.path, self.verify, udp=True)
        return (item for item in reader.with_datagrams() if type(item) is Datagram)

    def field_batches(self) -> Iterator[list[SegmentFields]]:
        """Yield the segments as lists of `SegmentFields`, in capture order.

        Raises:
            PcapReadError: as `read_packets`, after the batch holding every readable segment
                (kept in the tally instead, when there is one).
            UnsupportedLinkType: see `read_segments`.
        """
        tally = self.tally if self.tally is not None else FrameTally()
        try:
            yield from self._batches(tally)
        except PcapReadError as error:
            if error.missing or self.tally is None or error.frame is None:
                raise
            tally.damage = error
        check_linktypes(self.path, tally.linktypes)

    def _batches(self, tally: FrameTally) -> Iterator[list[SegmentFields]]:
        path, verify, progress, udp = self.path, self.verify, self.progress, self.udp
        defrag = Defragmenter()  # IP fragments are collected across the whole capture
        with _open(path) as file:
            reader = _Reader(str(path), file)
            try:
                if reader.ensure(24) and reader.buf[:4] in _PCAP_MAGICS:
                    yield from _pcap_batches(
                        reader, *_PCAP_MAGICS[reader.buf[:4]], verify, defrag, tally, progress, udp
                    )
                    return
            except _READ_ERRORS as err:
                raise reader.error(f"read failed ({err})") from None
        yield from _record_batches(path, verify, defrag, tally, progress, udp)


def check_linktypes(path: Path, linktypes: set[int]) -> None:
    """Raise `UnsupportedLinkType` when the file `path` declared link types and none has a decoder."""
    if linktypes and not linktypes & LINK_LAYERS.keys():
        names = ", ".join(linktype_label(linktype) for linktype in sorted(linktypes))
        verb = "is" if len(linktypes) == 1 else "are"
        raise UnsupportedLinkType(
            f"{path}: {names} {verb} not supported; netlab decodes the link types in docs/link-layers.md"
        )


def _record_batches(
    path: Path, verify: bool, defrag: Defragmenter, tally: FrameTally, progress: Progress | None, udp: bool = False
) -> Iterator[list[SegmentFields]]:
    """The general path (pcapng): `read_packets` and `decode_fields`, one list per `_BATCH` segments."""
    batch: list[SegmentFields] = []
    number = 0
    undecoded = tally.undecoded
    with _open(path) as file:
        reader = _Reader(str(path), file)
        try:
            for linktype, ts, frame, orig_len in _records(reader, tally.linktypes):
                number += 1
                fields = decode_fields(
                    linktype, frame, number, ts, verify, orig_len, defrag, undecoded, batch if udp else None
                )
                if fields is not None:
                    batch.append(fields)
                if len(batch) >= _BATCH:
                    tally.frames = number
                    yield batch
                    batch = []
                if progress is not None and not number % _BATCH:
                    progress(reader.done(), reader.size, number)
        except PcapReadError:
            tally.frames = number
            if batch:
                yield batch
            raise
    tally.frames = number
    if batch:
        yield batch


def _pcap_batches(
    reader: _Reader,
    endian: str,
    units: int,
    verify: bool,
    defrag: Defragmenter,
    tally: FrameTally,
    progress: Progress | None,
    udp: bool = False,
) -> Iterator[list[SegmentFields]]:
    """`_read_pcap` and `decode` fused, one list of segments per read block: the hot path of `follow --read`."""
    linktype = _pcap_linktype(reader, endian)
    tally.linktypes.add(linktype)
    check_linktypes(Path(reader.name), tally.linktypes)  # a pcap has one link type: refuse it before reading
    record = struct.Struct(endian + "IIII").unpack_from
    number = 0
    undecoded = tally.undecoded
    while True:
        batch: list[SegmentFields] = []
        reader.pos, number = _decode_block(
            reader.buf,
            reader.pos,
            record,
            units,
            verify,
            linktype,
            number,
            batch,
            defrag,
            undecoded,
            batch if udp else None,
        )
        tally.frames = number
        if batch:
            yield batch
        if progress is not None:
            progress(reader.done(), reader.size, number)
        if not reader.ensure(16):
            reader.ended("truncated packet record header", number + 1)
            return
        incl_len = record(reader.buf, reader.pos)[2]
        if incl_len > _MAX_RECORD:
            raise reader.error(f"corrupt packet record (captured length {incl_len})", frame=number + 1)
        if not reader.ensure(16 + incl_len):
            raise reader.cut("truncated packet record", number + 1)


_RecordHeader = Callable[[bytes, int], tuple[int, int, int, int]]


def _no_fast_path(
    buf: bytes, off: int, caplen: int, orig_len: int | None, number: int, ts: float, verify: bool
) -> SegmentFields | None:
    return None


def _decode_block(
    buf: bytes,
    pos: int,
    record: _RecordHeader,
    units: int,
    verify: bool,
    linktype: int,
    number: int,
    batch: list[SegmentFields],
    defrag: Defragmenter,
    undecoded: Counter[Reason],
    datagrams: list[Any] | None = None,
) -> tuple[int, int]:
    """Decode every whole record of `buf` from `pos` into `batch`; returns the next position and frame number.

    On Ethernet the commonest frame is decoded in place by `ethernet_ipv4_tcp` (no copy of the
    frame); anything else goes through the layer functions (`decode_layers`), which count the
    frames that give no segment in `undecoded` and append UDP datagrams to `datagrams` when given
    (the batch itself, so they keep their place).
    """
    fast = ethernet_ipv4_tcp if linktype == LINKTYPE_ETHERNET else _no_fast_path
    stop = len(buf)
    limit = stop - 16
    append = batch.append
    while pos <= limit:
        ts_sec, ts_frac, incl_len, orig_len = record(buf, pos)
        frame = pos + 16
        pos = frame + incl_len
        if pos > stop:
            return frame - 16, number
        number += 1
        ts = ts_sec + ts_frac / units
        fields = fast(buf, frame, incl_len, orig_len, number, ts, verify)
        if fields is None:
            fields = decode_layers(linktype, buf[frame:pos], number, ts, verify, orig_len, defrag, undecoded, datagrams)
            if fields is None:
                continue
        append(fields)
    return pos, number
