"""One connection summed up (pure): counts, RTTs, Zeek's conn_state and history, and its story.

`summarize` turns an `ExpertAnalysis` (fed every segment of one connection) into a frozen
`ConnectionSummary`: duration, packets and payload bytes each way, retransmitted bytes, RTT
minimum/median/maximum over the `ack_rtt` samples, the initial RTT, throughput, the flag counts,
Zeek's `conn_state` and `history` (conn.log's definitions: https://docs.zeek.org, `Conn::Info`),
and `story`: a few plain sentences built only from those facts.

Zeek's `conn_state` is computed from its endpoint states exactly as its `conn_state` function in
`base/protocols/conn/main.zeek` does: REJ (the responder reset an attempt), RSTRH, RSTR, RSTOS0,
RSTO, SF (both closed), SH, S2, SHR, S3, S0 (a SYN and nothing back), S1 (established), else OTH.
The originator is the client (netlab's roles: who sent the SYN, or the role rules without one).
"""

from __future__ import annotations

import dataclasses
import re
import statistics
from dataclasses import dataclass

from netlab.packets import Endpoint
from netlab.stream.expert import (
    CLOSED,
    ESTABLISHED,
    INACTIVE,
    PARTIAL,
    RESET,
    SACKED_RETRANSMISSION,
    SYN_ACK_SENT,
    SYN_SENT,
    ExpertAnalysis,
    SideFacts,
)

__all__ = ["ConnectionSummary", "conn_state", "summarize", "tell_story"]

_RSTOS0 = re.compile(r"\^?S[^HAFGIQ]*R.*")


@dataclass(frozen=True, slots=True)
class ConnectionSummary:
    """One connection as `netlab analyze` sums it up (stable names: JSON and the report read them).

    Attributes:
        stream: Wireshark's `tcp.stream`.
        client, server: the two ends (`client` is Zeek's originator).
        first_ts, last_ts, duration: time of the first and last segment, seconds between them.
        packets_c2s, packets_s2c: segments each way.
        bytes_c2s, bytes_s2c: payload bytes each way on the wire (retransmissions included).
        retransmitted_bytes_c2s, retransmitted_bytes_s2c: payload bytes of retransmitted segments.
        initial_rtt: the handshake's RTT (`tcp.analysis.initial_rtt`), None without a handshake.
        rtt_samples, rtt_min, rtt_median, rtt_max: the `ack_rtt` samples (count, seconds).
        throughput_c2s, throughput_s2c: payload bytes per second over the connection's duration
            (None when it lasted no time).
        flag_counts: (flag name, frames) for every `tcp.analysis.*` flag set at least once.
        zero_window_time: seconds during which a side advertised a zero window (both sides).
        window_full_time: seconds from each window-full segment to the receiver's next segment.
        lost_on_wire: sequence gaps (Wireshark's "previous segment not captured") the sender later
            resent into: lost on the way.
        lost_in_capture: gaps the receiver acknowledged with nothing resent into them: the capture
            missed them (a capture drop), the network did not lose them. A gap the receiver
            SACKed across (RFC 2018) counts here too: it had the bytes.
        sack_blocks: SACK blocks the two sides reported (each block of each segment counted once;
            D-SACK blocks, below the cumulative ACK, not counted).
        conn_state, history: Zeek's conn.log fields.
        story: a few sentences telling what happened, from the facts above.
    """

    stream: int
    client: Endpoint
    server: Endpoint
    first_ts: float
    last_ts: float
    duration: float
    packets_c2s: int
    packets_s2c: int
    bytes_c2s: int
    bytes_s2c: int
    retransmitted_bytes_c2s: int
    retransmitted_bytes_s2c: int
    initial_rtt: float | None
    rtt_samples: int
    rtt_min: float | None
    rtt_median: float | None
    rtt_max: float | None
    throughput_c2s: float | None
    throughput_s2c: float | None
    flag_counts: tuple[tuple[str, int], ...]
    zero_window_time: float
    window_full_time: float
    lost_on_wire: int
    lost_in_capture: int
    sack_blocks: int
    conn_state: str
    history: str
    story: tuple[str, ...]

    @property
    def retransmitted_bytes(self) -> int:
        """Retransmitted payload bytes both ways."""
        return self.retransmitted_bytes_c2s + self.retransmitted_bytes_s2c

    def count(self, flag: str) -> int:
        """How many frames carry `flag` (a `tcp.analysis.*` name)."""
        return dict(self.flag_counts).get(flag, 0)


def conn_state(orig: int, resp: int, orig_bytes: int, resp_bytes: int, history: str) -> str:
    """Zeek's `conn_state` from the two endpoint states (see the module docstring)."""
    o_inactive = orig in (INACTIVE, PARTIAL)
    r_inactive = resp in (INACTIVE, PARTIAL)
    if resp == RESET:
        if orig in (SYN_SENT, SYN_ACK_SENT) or (orig == RESET and not orig_bytes and not resp_bytes):
            return "REJ"
        return "RSTRH" if o_inactive else "RSTR"
    if orig == RESET:
        if r_inactive:
            return "RSTOS0" if _RSTOS0.fullmatch(history) else "OTH"
        return "RSTO"
    if orig == CLOSED and resp == CLOSED:
        return "SF"
    if orig == CLOSED:
        return "SH" if r_inactive else "S2"
    if resp == CLOSED:
        return "SHR" if o_inactive else "S3"
    if orig == SYN_SENT and resp == INACTIVE:
        return "S0"
    if orig == ESTABLISHED and resp == ESTABLISHED:
        return "S1"
    return "OTH"


def summarize(analysis: ExpertAnalysis, client: Endpoint, server: Endpoint) -> ConnectionSummary:
    """The summary of the connection `analysis` was fed (call it once the connection is over)."""
    c, s = analysis.client, analysis.server
    first = analysis.first_ts if analysis.first_ts is not None else 0.0
    last = analysis.last_ts
    analysis.close_open_periods(last)
    duration = max(0.0, last - first)
    rtts = analysis.rtts
    counts: dict[str, int] = {}
    for result in analysis.frames:
        for name in result.flags:
            counts[name] = counts.get(name, 0) + 1
    summary = ConnectionSummary(
        stream=analysis.stream,
        client=client,
        server=server,
        first_ts=first,
        last_ts=last,
        duration=duration,
        packets_c2s=c.packets,
        packets_s2c=s.packets,
        bytes_c2s=c.bytes,
        bytes_s2c=s.bytes,
        retransmitted_bytes_c2s=c.retransmitted_bytes,
        retransmitted_bytes_s2c=s.retransmitted_bytes,
        initial_rtt=analysis.initial_rtt,
        rtt_samples=len(rtts),
        rtt_min=min(rtts) if rtts else None,
        rtt_median=statistics.median(rtts) if rtts else None,
        rtt_max=max(rtts) if rtts else None,
        throughput_c2s=c.bytes / duration if duration > 0 else None,
        throughput_s2c=s.bytes / duration if duration > 0 else None,
        flag_counts=tuple(sorted(counts.items())),
        zero_window_time=c.zero_window_time + s.zero_window_time,
        window_full_time=analysis.window_full_time,
        lost_on_wire=c.lost_on_wire + s.lost_on_wire,
        lost_in_capture=c.lost_in_capture + s.lost_in_capture,
        sack_blocks=c.sack_blocks + s.sack_blocks,
        conn_state=conn_state(c.state, s.state, c.bytes, s.bytes, analysis.history),
        history=analysis.history,
        story=(),
    )
    story = tell_story(summary, analysis.events, c, s, analysis.synack_choice)
    return dataclasses.replace(summary, story=story)


def _ms(seconds: float) -> str:
    """A duration for people: "120 ms", "1.5 s"."""
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    return f"{seconds:.3g} s"


def _times(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


def tell_story(
    summary: ConnectionSummary,
    events: list[tuple[float, str, bool, float]],
    client: SideFacts,
    server: SideFacts,
    choice: tuple[int, int, int | None] | None = None,
) -> tuple[str, ...]:
    """A few sentences on what happened to the connection, each built from counted facts.

    `events` are the `ExpertAnalysis.events`: (time, kind, sent by the client, detail); `choice`
    its `synack_choice` (two SYN-ACKs with different ISNs: the first, the second, the acknowledged).
    """
    start = summary.first_ts
    sentences = [_opening(summary)]
    lost = [e for e in events if e[1] == "lost_segment"]
    if lost:
        sentences.append(
            f"{_times(len(lost), 'segment')} arrived after a gap in the sequence numbers (previous segment not "
            f"captured), first at {lost[0][0] - start:.3f} s."
        )
    if summary.lost_on_wire:
        sentences.append(
            f"{_times(summary.lost_on_wire, 'gap was', 'gaps were')} lost on the way: the sender resent "
            f"{'it' if summary.lost_on_wire == 1 else 'them'}."
        )
    if summary.lost_in_capture:
        sentences.append(
            f"{_times(summary.lost_in_capture, 'gap was', 'gaps were')} missing only from the capture: the receiver "
            "acknowledged the bytes and nobody resent them (a capture drop, not a network loss; Wireshark "
            "counts them as lost segments all the same)."
        )
    for receiver, sender, side in (("server", "client", client), ("client", "server", server)):
        if side.sack_blocks:
            sentences.append(
                f"The {receiver} reported {_times(side.sack_blocks, 'SACK block')} (selective acknowledgement): "
                f"bytes of the {sender}'s it held beyond a gap."
            )
    acked_lost = sum(1 for e in events if e[1] == "ack_lost_segment")
    if acked_lost:
        sentences.append(f"{_times(acked_lost, 'ACK')} acknowledged data the capture never saw.")
    if choice is not None:
        sentences.append(_two_synacks(choice))
    sentences.extend(_retransmissions(events, start))
    ooo = sum(1 for e in events if e[1] == "out_of_order")
    if ooo:
        sentences.append(f"{_times(ooo, 'segment')} arrived out of order.")
    full = summary.count("window_full")
    if full:
        sentences.append(
            f"The receiver's window was full {_times(full, 'time')}, for {_ms(summary.window_full_time)} in all."
        )
    zero = client.zero_windows + server.zero_windows
    if zero:
        sentences.append(
            f"A receiver advertised a zero window {_times(zero, 'time')}, for {_ms(summary.zero_window_time)} in all."
        )
    sentences.extend(_ending(summary))
    return tuple(sentences)


def _two_synacks(choice: tuple[int, int, int | None]) -> str:
    first, second, acked = choice
    if acked is None:
        which = "the client acknowledged neither"
    else:
        other = second if acked == first else first
        which = (
            f"the client acknowledged frame {acked}'s, so frame {other} was not the server's answer (stale or forged)"
        )
    return (
        f"Two SYN-ACKs with different initial sequence numbers answered the SYN (frames {first} and {second}); "
        f"{which}. (Wireshark keeps the first ISN: it calls frame {second} reused ports and the server's later "
        "segments retransmissions.)"
    )


def _opening(summary: ConnectionSummary) -> str:
    who = f"{summary.client} → {summary.server}"
    if summary.initial_rtt is not None:
        head = f"{who}: handshake seen, initial RTT {_ms(summary.initial_rtt)}"
    elif "S" in summary.history:
        head = f"{who}: the client's SYN was seen, but the handshake did not complete"
    else:
        head = f"{who}: the handshake was not captured (the capture starts mid-connection)"
    return (
        f"{head}; {summary.packets_c2s + summary.packets_s2c} packets in {summary.duration:.3f} s, "
        f"{summary.bytes_c2s} bytes client→server and {summary.bytes_s2c} bytes server→client."
    )


def _retransmissions(events: list[tuple[float, str, bool, float]], start: float) -> list[str]:
    fast = [e for e in events if e[1] == "fast_retransmission"]
    timeout = [e for e in events if e[1] == "retransmission"]
    spurious = [e for e in events if e[1] == "spurious_retransmission"]
    sentences = []
    if fast:
        dupacks = sorted({int(e[3]) for e in fast})
        after = " or ".join(map(str, dupacks)) if len(dupacks) <= 3 else f"{dupacks[0]}–{dupacks[-1]}"
        sentences.append(
            f"{_times(len(fast), 'segment was', 'segments were')} resent after {after} duplicate ACKs "
            f"(fast retransmit), first at {fast[0][0] - start:.3f} s."
        )
    if timeout:
        waits = sorted(e[3] for e in timeout)
        sentences.append(
            f"{_times(len(timeout), 'segment was', 'segments were')} resent with no run of duplicate ACKs "
            f"asking for it (a retransmission timeout), {_ms(waits[len(waits) // 2])} after the sender's latest "
            f"new data (median), first at {timeout[0][0] - start:.3f} s."
        )
    sacked = [e for e in events if e[1] == SACKED_RETRANSMISSION]
    if spurious:
        sentences.append(
            f"{_times(len(spurious), 'retransmission was', 'retransmissions were')} spurious: "
            "every byte had been acknowledged already."
        )
    if sacked:
        sentences.append(
            f"{_times(len(sacked), 'retransmission was', 'retransmissions were')} needless: the receiver had "
            f"reported every byte received with SACK blocks, first at {sacked[0][0] - start:.3f} s (Wireshark, "
            "which decides from the cumulative ACK only, does not say so; netlab flags it sacked_retransmission)."
        )
    return sentences


def _ending(summary: ConnectionSummary) -> list[str]:
    state = summary.conn_state
    endings = {
        "SF": "Both sides closed it with a FIN.",
        "S0": "The SYN got no answer.",
        "REJ": "The server refused the connection (RST).",
        "RSTO": "The client aborted it with a RST.",
        "RSTR": "The server aborted it with a RST.",
        "RSTOS0": "The client sent a SYN, then a RST, without an answer.",
        "RSTRH": "The server reset it; the client's SYN was not seen.",
        "S1": "It was still open when the capture ended.",
        "S2": "The client closed its side; the server's FIN was not seen.",
        "S3": "The server closed its side; the client's FIN was not seen.",
        "SH": "The client sent a SYN and a FIN, and the server never answered.",
        "SHR": "The server sent a SYN-ACK and a FIN; the client's SYN was not seen.",
    }
    return [f"{endings.get(state, 'It was seen only in part.')} (Zeek: {state}, history {summary.history or '-'})"]
