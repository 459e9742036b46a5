"""Drawing the TCP stream graphs with matplotlib (the edge; `netlab.graphs.series` computes the data).

matplotlib is imported inside the functions that draw, never at module level, so importing this
module (or any netlab command that does not draw) costs nothing; it is used through its
object-oriented API with the Agg canvas (no pyplot, no global backend, no display).

The drawings are made to be printed: every series has its own marker or line style as well as its
colour, so they read in black and white. Axes name their units. SVG output is deterministic
(``svg.hashsalt`` fixed per graph, no date in the metadata, text kept as text, which also keeps the
files small), so the same capture gives the same file; the salt also keeps the element ids of two
graphs inlined in one HTML page apart. PNG output is a 100 dpi raster.

Entry points: `write_graph` (what ``netlab analyze --graph KIND --out FILE`` runs), `draw` (a
`GraphData` to a file) and `svg_text` (a `GraphData` as SVG markup to inline in HTML).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from netlab.errors import GraphError
from netlab.graphs.series import GraphData, Throughput, TimeSequence, WindowSeries, graph_data
from netlab.packets import Segment

__all__ = ["FORMATS", "draw", "inline_svg", "render", "svg_text", "write_graph"]

#: The file formats, by file-name suffix.
FORMATS = {".svg": "svg", ".png": "png"}
_PANEL_SIZE = (9.0, 2.9)  # inches per panel
_LEGEND_WIDTH = 2.2  # inches kept free on the right for the legends (outside the plot: they never hide data)
_DPI = 100
# Above this many points a series is rasterised inside the SVG (an embedded image instead of one
# element per point), so that a long connection does not make a multi-megabyte page.
_RASTER_ABOVE = 800
_TIME_LABEL = "time since the connection's first segment (s)"
_STYLE: dict[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 9,
    "legend.fontsize": 7,
    "svg.fonttype": "none",
    "text.parse_math": False,  # no label here is TeX; parsing for it was a quarter of the drawing time
    "axes.grid": True,
    "grid.linestyle": ":",
    "grid.color": "#bbbbbb",
}


def write_graph(
    kind: str,
    segments: Sequence[Segment],
    rtt_samples: Iterable[tuple[float, float]],
    path: Path,
    *,
    title: str = "",
    in_flight: Mapping[int, int] | None = None,
) -> None:
    """Draw graph `kind` (``seq``, ``rtt``, ``throughput``, ``window``) of one connection into `path`.

    Args:
        segments: every captured segment of the connection, both directions, in capture order.
        rtt_samples: ``(capture time, RTT in seconds)`` pairs, for ``rtt`` (ignored otherwise).
        path: the file; its suffix, ``.svg`` or ``.png``, chooses the format.
        title: the graph's title (default: the kind and the connection's ends).
        in_flight: bytes in flight per frame number, for ``window`` (default: computed from the
            segments, see `netlab.graphs.series.window_series`).

    Raises:
        GraphError: an unknown kind or suffix, no segments, or the file could not be written.
    """
    if not segments:
        raise GraphError("the connection has no segments to draw")
    fmt = _format_of(path)
    try:
        data = graph_data(kind, segments, rtt_samples, title=title, in_flight=in_flight)
    except ValueError as error:
        raise GraphError(str(error)) from None
    _write(path, render(data, fmt))


def _format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise GraphError(f"{path}: a graph is written as .svg or .png, not {path.suffix or 'a file without suffix'}")
    return fmt


def _write(path: Path, content: bytes) -> None:
    try:
        path.write_bytes(content)
    except OSError as error:
        raise GraphError(f"cannot write {path}: {error.strerror}") from None


def draw(data: GraphData, path: Path) -> None:
    """Draw `data` into `path` (``.svg`` or ``.png``).

    Raises:
        GraphError: an unknown suffix, or the file could not be written.
    """
    _write(path, render(data, _format_of(path)))


def svg_text(data: GraphData, css_class: str = "graph") -> str:
    """`data` as SVG markup to inline in an HTML page: no XML prolog, `css_class` on the root element."""
    return inline_svg(render(data, "svg"), css_class)


def inline_svg(content: bytes, css_class: str = "graph", id_prefix: str = "") -> str:
    """An SVG file's bytes (from `render`) as markup to inline in HTML.

    The prolog and DOCTYPE are cut off, `css_class` goes on the root element, and every element id
    (matplotlib names them ``figure_1``, ``axes_1``... in every graph) and each reference to one
    gets `id_prefix` (default: one made from the content), so that graphs inlined in one page keep
    their ids apart.
    """
    text = content.decode("utf-8")
    text = text[text.index("<svg") :]
    prefix = id_prefix or f"g{hashlib.sha256(content).hexdigest()[:8]}-"
    text = (
        text.replace(' id="', f' id="{prefix}')
        .replace("url(#", f"url(#{prefix}")
        .replace('href="#', f'href="#{prefix}')
    )
    return re.sub(r"<svg\b", f'<svg class="{css_class}" role="img"', text, count=1)


def render(data: GraphData, fmt: str) -> bytes:
    """`data` drawn as `fmt` (``svg`` or ``png``), the file's bytes."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    salt = hashlib.sha256(f"{data.kind}\0{data.title}".encode()).hexdigest()[:16]
    settings: Any = {**_STYLE, "svg.hashsalt": salt}
    with matplotlib.rc_context(settings):
        panels = _panel_count(data)
        height = _PANEL_SIZE[1] * panels + 0.5
        figure = Figure(figsize=(_PANEL_SIZE[0], height), dpi=_DPI)
        FigureCanvasAgg(figure)
        # Fixed margins in inches (a layout engine measures every label first: about half the time).
        figure.subplots_adjust(
            left=1.05 / _PANEL_SIZE[0],
            right=1 - _LEGEND_WIDTH / _PANEL_SIZE[0],
            top=1 - 0.55 / height,
            bottom=0.5 / height,
            hspace=0.35,
        )
        axes = figure.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
        figure.suptitle(data.title, fontsize=9, y=1 - 0.08 / height, va="top")
        _DRAWERS[data.kind](data, list(axes))
        for ax in axes:  # 3,500,000 rather than 3.5 with "1e6" over the panel's title
            ax.yaxis.set_major_formatter(FuncFormatter(_plain))
        axes[-1].set_xlabel(_TIME_LABEL)
        out = io.BytesIO()
        metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {"Software": None}
        figure.savefig(out, format=fmt, metadata=metadata, dpi=_DPI)
    return out.getvalue()


def _plain(value: float, _position: object) -> str:
    """A tick label: whole numbers with thousands separators, small fractions as they are."""
    return f"{value:,.0f}" if value == int(value) or abs(value) >= 100 else f"{value:g}"


def _panel_count(data: GraphData) -> int:
    if data.kind == "seq":
        return max(1, len(data.sequences))
    if data.kind == "window":
        return max(1, len(data.windows))
    return 1


def _legend(ax: Any) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)


def _nothing(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, what, transform=ax.transAxes, ha="center", va="center", color="#555555")


def _raster(count: int) -> bool:
    return count > _RASTER_ABOVE


def _draw_seq(data: GraphData, axes: list[Any]) -> None:
    if not data.sequences:
        _nothing(axes[0], "no segments")
    for ax, seq in zip(axes, data.sequences, strict=False):
        _seq_panel(ax, seq)


def _seq_panel(ax: Any, seq: TimeSequence) -> None:
    """tcptrace's picture: bars for segments, the ACK line below them, the window line above.

    The window's edge is often far above the bytes sent (64 KiB against a few lines of chat); the
    axis then stops a little above the data and the legend says how far above the edge is.
    """
    raster = _raster(seq.segments + len(seq.acks))
    if seq.acks:
        ax.step(seq.acks.x, seq.acks.y, where="post", color="#555555", linewidth=1, label="ACK", rasterized=raster)
    top = max((*seq.data.high, *seq.retransmissions.high, *seq.out_of_order.high, *seq.acks.y), default=0)
    bottom = min((*seq.data.low, *seq.retransmissions.low, *seq.out_of_order.low, *seq.acks.y), default=0)
    if seq.window:
        label = "receive window edge\n(ACK + window" + (
            ")" if seq.window_scale is not None else ", unscaled:\nscale unknown)"
        )
        span = max(top - bottom, 1)
        if max(seq.window.y) > top + span:
            ahead = min(w - a for w, a in zip(seq.window.y, seq.acks.y, strict=True))
            label += f"\nabove the plot: ≥ {ahead:,.0f} bytes\nbeyond the ACK"
            ax.set_ylim(bottom - 0.05 * span, top + 0.15 * span)
        ax.step(
            seq.window.x,
            seq.window.y,
            where="post",
            color="#2e7d32",
            linestyle="--",
            linewidth=1,
            label=label,
            rasterized=raster,
        )
    bars = seq.data
    if bars:
        ax.vlines(
            bars.x,
            bars.low,
            bars.high,
            color="black",
            linewidth=1.4,
            label="segment\n(seq → seq + len)",
            rasterized=raster,
        )
        ax.plot(bars.x, bars.high, linestyle="none", marker="_", markersize=5, color="black", rasterized=raster)
    held = [
        (x, max(low, bottom), min(high, top))
        for x, low, high in zip(seq.sacks.x, seq.sacks.low, seq.sacks.high, strict=True)
        if low < top and high > bottom  # a block outside the data sent is a receiver's junk: not drawn
    ]
    if held:
        x, low, high = zip(*held, strict=True)
        ax.vlines(
            x,
            low,
            high,
            color="#1565c0",
            linewidth=4,
            alpha=0.45,
            label=f"SACK block ({len(held)}):\nthe receiver holds it",
            rasterized=raster,
        )
    marks = (
        (seq.retransmissions, "#c62828", "x", "retransmission"),
        (seq.out_of_order, "#6a1b9a", "^", "out-of-order"),
    )
    for bars, colour, marker, label in marks:
        if bars:
            ax.vlines(bars.x, bars.low, bars.high, color=colour, linewidth=2.2)
            ax.plot(
                bars.x,
                bars.high,
                linestyle="none",
                marker=marker,
                markersize=7,
                markeredgewidth=1.6,
                color=colour,
                label=f"{label} ({len(bars)})",
            )
    ax.set_title(f"{seq.sender} → {seq.receiver}", loc="left")
    ax.set_ylabel("relative sequence number (bytes)")
    if not seq.segments and not seq.acks:
        _nothing(ax, "nothing sent this way")
    else:
        _legend(ax)


def _draw_throughput(data: GraphData, axes: list[Any]) -> None:
    ax = axes[0]
    styles = (("#c0392b", "o", "-"), ("#1f4fbf", "s", "--"))
    drawn = False
    for (colour, marker, style), put in zip(styles, data.throughputs, strict=False):
        drawn = _throughput_line(ax, put, colour, marker, style) or drawn
    ax.set_ylabel("throughput (bit/s)")
    window = data.throughputs[0].window if data.throughputs else 0
    ax.set_title(f"payload bits per second, moving {window:g} s window", loc="left")
    if drawn:
        ax.set_ylim(bottom=0)
        _legend(ax)
    else:
        _nothing(ax, "no payload was sent")


def _throughput_line(ax: Any, put: Throughput, colour: str, marker: str, style: str) -> bool:
    if not put.throughput:
        return False
    ax.step(
        put.throughput.x,
        put.throughput.y,
        where="post",
        color=colour,
        marker=marker,
        markersize=3,
        linestyle=style,
        linewidth=1,
        label=f"from {put.sender}",
        rasterized=_raster(len(put.throughput)),
    )
    if put.goodput != put.throughput:
        ax.step(
            put.goodput.x,
            put.goodput.y,
            where="post",
            color=colour,
            linestyle=":",
            linewidth=1.4,
            label=f"goodput from {put.sender}\n(no retransmissions)",
            rasterized=_raster(len(put.goodput)),
        )
    return True


def _draw_window(data: GraphData, axes: list[Any]) -> None:
    if not data.windows:
        _nothing(axes[0], "no segments")
    for ax, win in zip(axes, data.windows, strict=False):
        _window_panel(ax, win)


def _window_panel(ax: Any, win: WindowSeries) -> None:
    """The advertised window and the bytes in flight; on a log scale when they are far apart."""
    scale = "scaled" if win.window_scale is not None else "unscaled: scale unknown"
    raster = _raster(len(win.receive_window) + len(win.bytes_in_flight))
    if win.receive_window:
        ax.step(
            win.receive_window.x,
            win.receive_window.y,
            where="post",
            color="#2e7d32",
            linestyle="--",
            linewidth=1.2,
            label=f"window advertised\nby {win.receiver}\n({scale})",
            rasterized=raster,
        )
    if win.bytes_in_flight:
        ax.plot(
            win.bytes_in_flight.x,
            win.bytes_in_flight.y,
            color="black",
            marker="o",
            markersize=3,
            linestyle="none",
            linewidth=0.8,
            label=f"bytes in flight\nfrom {win.sender}",
            rasterized=raster,
        )
    ax.set_title(f"{win.sender} → {win.receiver}", loc="left")
    flight = max(win.bytes_in_flight.y, default=0)
    if flight and max(win.receive_window.y, default=0) > 8 * flight:
        ax.set_yscale("symlog", linthresh=10)
        ax.set_ylabel("bytes (log scale)")
    else:
        ax.set_ylabel("bytes")
    ax.set_ylim(bottom=0)
    if win.receive_window or win.bytes_in_flight:
        _legend(ax)
    else:
        _nothing(ax, "nothing sent this way")


def _draw_rtt(data: GraphData, axes: list[Any]) -> None:
    ax = axes[0]
    samples = data.rtt.samples if data.rtt is not None else None
    if samples:
        ax.plot(
            samples.x,
            [y * 1000 for y in samples.y],
            color="black",
            marker="o",
            markersize=4,
            linestyle="none",  # separate samples (as Wireshark's RTT graph): a line would invent values between them
            label="RTT sample: ACK time −\ntime of the data it ACKs",
            rasterized=_raster(len(samples)),
        )
        ax.set_ylim(bottom=0)
        _legend(ax)
    else:
        _nothing(ax, "no RTT samples")
    ax.set_ylabel("round-trip time (ms)")


_DRAWERS = {"seq": _draw_seq, "throughput": _draw_throughput, "window": _draw_window, "rtt": _draw_rtt}
