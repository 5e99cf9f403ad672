"""The figures of the HTML report (:mod:`simulator.present.report`): every figure of
:mod:`simulator.present.plots` drawn, embedded as a PNG ``data:`` URI, and given an alt
text computed from the data (what it shows, with its numbers).

Each figure is embedded twice: as drawn, and a dark rendering for readers whose system
prefers a dark colour scheme (:func:`dark_png`: greys, black and white have their
lightness inverted, colours are kept, so every strategy keeps its colour). A figure over
time that would show a flat line in a run without events is replaced by one sentence
(:func:`simulator.present.report_flat.flat_note`) and not drawn.

matplotlib is imported only when a figure is drawn (:func:`figure_groups`).
"""

from __future__ import annotations

import base64
import functools
import io
import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from simulator.experiments import theory
from simulator.present.explain_base import event_when
from simulator.present.format import join_words, number, percent
from simulator.present.report_flat import flat_note
from simulator.results.records import EventMark, RunResult
from simulator.results.timeseries import StrategySeries

__all__ = [
    "DARK_BACKGROUND",
    "DARK_COLOURS",
    "DARK_GREY_CHROMA",
    "TIMESERIES_CAPTIONS",
    "TIMESERIES_TITLES",
    "FigureGroup",
    "ReportFigure",
    "ReportProgress",
    "comparison_alt",
    "dark_png",
    "figure_groups",
    "heatmap_alt",
    "png_data_uri",
    "png_size",
    "series_values",
    "server_load_alt",
    "timeseries_alt",
]

ReportProgress = Callable[[str], None]
"""``progress(step)`` before each slow step (drawing a figure)."""

DARK_BACKGROUND: tuple[int, int, int] = (0x0D, 0x11, 0x17)
"""What white becomes in the dark rendering: the page's dark background (``--bg``)."""

DARK_GREY_CHROMA = 48
"""A pixel whose channels differ by less than this (0-255) counts as grey and has its
lightness inverted in the dark rendering, fully at 0, not at all from this on; colours
(strategies, heatmap cells) keep theirs."""

DARK_COLOURS = 256
"""Colours of the dark rendering's palette (a figure has a few hundred; a palette PNG is
about half the size of the full-colour one)."""


@dataclass(frozen=True)
class ReportFigure:
    """A figure embedded in the page.

    Attributes:
        id: HTML id.
        title: its heading.
        caption: how to read it.
        alt: what it shows, with the numbers, for readers who cannot see it.
        src: the PNG as a ``data:image/png;base64,...`` URI (empty: not drawn, see
            ``note``).
        width: the PNG's width, pixels.
        height: the PNG's height, pixels.
        dark_src: its dark rendering, a ``data:`` URI (empty: none).
        note: the sentence shown instead of a figure that was not drawn (a flat line).
    """

    id: str
    title: str
    caption: str
    alt: str
    src: str
    width: int
    height: int
    dark_src: str = ""
    note: str = ""


@dataclass(frozen=True)
class FigureGroup:
    """Figures under one heading (side by side, over time, per server)."""

    id: str
    title: str
    intro: str
    figures: tuple[ReportFigure, ...]


def figure_groups(
    result: RunResult, *, progress: ReportProgress | None = None
) -> list[FigureGroup]:
    """Draw every figure of the run and embed it: the summary (comparison, load per
    server), one per time-series metric, and the per-server heatmap.

    Args:
        result: the run.
        progress: called with each figure's title before it is drawn.

    Returns:
        The figures in three groups.
    """
    from simulator.present import plots  # noqa: PLC0415 (matplotlib is slow to import)

    def draw(key: str, title: str, caption: str, alt: str, make: Callable[[], Any]) -> ReportFigure:
        if progress is not None:
            progress(title)
        figure = make()
        try:
            png = plots.figure_png(figure)
        finally:
            figure.clear()
        width, height = png_size(png)
        dark = png_data_uri(dark_png(png))
        return ReportFigure(key, title, caption, alt, png_data_uri(png), width, height, dark)

    def over_time(metric: str) -> ReportFigure:
        key = f"figure-timeseries-{metric.replace('_', '-')}"
        title = TIMESERIES_TITLES.get(metric, metric)
        note = flat_note(result, metric)
        if note is not None:
            return ReportFigure(key, title, "", "", "", 0, 0, note=note)
        return draw(
            key,
            title,
            TIMESERIES_CAPTIONS.get(metric, ""),
            timeseries_alt(result, metric),
            functools.partial(plots.timeseries_figure, result, metric),
        )

    summary = (
        draw(
            "figure-comparison",
            "The strategies compared",
            "(a) Success rate, with a dashed line at 1/N; (b) latency of served requests, "
            "p50, p95 and p99; (c) peak-to-mean load (1 = even); (d) Jain's index "
            "(1 = even, 1/N = everything on one server).",
            comparison_alt(result),
            lambda: plots.comparison_figure(result),
        ),
        draw(
            "figure-server-load",
            "Jobs received per server",
            "One panel per strategy: the jobs (requests, logins and retries) each server "
            "received while measuring; the dashed line is the mean. An even fleet is a flat "
            "row of bars.",
            server_load_alt(result),
            lambda: plots.server_load_figure(result),
        ),
    )
    timeline = tuple(over_time(metric) for metric in plots.TIMESERIES_METRICS)
    per_server = (
        draw(
            "figure-server-heatmap",
            "Load on each server over time",
            "One heatmap per strategy on one colour scale: x is simulated time, y the "
            "server, colour the jobs it accepted per second. Hatched grey: a server down "
            "for the whole bucket; a dark cell of a server that was up received nothing.",
            heatmap_alt(result),
            lambda: plots.server_heatmap_figure(result),
        ),
    )
    marked = "every event marked" if result.events else "the run had no events"
    if any(figure.note for figure in timeline):
        marked += "; a metric that stayed flat is one sentence instead of a flat line"
    return [
        FigureGroup(
            "figures-summary",
            "The strategies side by side",
            "Each strategy over the whole measured window.",
            summary,
        ),
        FigureGroup(
            "figures-time",
            "Over time",
            f"One figure per metric, a line per strategy, {marked}.",
            timeline,
        ),
        FigureGroup(
            "figures-servers",
            "Per server",
            "Where the load went, bucket by bucket.",
            per_server,
        ),
    ]


TIMESERIES_TITLES: dict[str, str] = {
    "success_rate": "Success rate over time",
    "throughput": "Served throughput over time",
    "latency": "Latency over time (p50, p95, p99)",
    "forced_relogins": "Forced re-logins over time",
    "login_cpu": "Login CPU over time: the login storm",
    "queue_length": "Queue length over time",
}
"""Headings of the time-series figures, by metric."""

TIMESERIES_CAPTIONS: dict[str, str] = {
    "success_rate": "Requests served with no error and no forced re-login, in % of those "
    "that arrived in each bucket. A gap is a bucket where no request arrived.",
    "throughput": "Requests served per second, by arrival time; the dashed line is the "
    "requests that arrived per second.",
    "latency": "Arrival-to-answer time of the requests served in each bucket, ms: p50, p95 "
    "and p99 in three panels.",
    "forced_relogins": "Requests per bucket whose credential was rejected, forcing the user "
    "to log in again.",
    "login_cpu": "CPU seconds per bucket spent hashing passwords for forced logins; the "
    "right axis gives the same as CPU cores kept busy.",
    "queue_length": "Jobs waiting for a free worker, summed over all servers (mean per bucket).",
}
"""How to read each time-series figure, by metric."""


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels of a PNG, from its header.

    Raises:
        ValueError: not a PNG.
    """
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def png_data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI of PNG bytes (empty bytes: an empty string)."""
    if not png:
        return ""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def dark_png(png: bytes) -> bytes:
    """The dark rendering of a figure drawn on white: every grey (white, black, the
    greys of text, axes and grid) gets the opposite lightness, white becoming
    :data:`DARK_BACKGROUND`; colours keep theirs (a strategy's line, a heatmap's scale).

    Per pixel, with ``max`` and ``min`` its largest and smallest channel, each channel
    moves by ``(255 - max - min) * grey``, which mirrors the lightness and keeps hue and
    chroma; ``grey`` is 1 for a pure grey and falls to 0 at a chroma of
    :data:`DARK_GREY_CHROMA`; greys are then lifted towards :data:`DARK_BACKGROUND` in
    the same proportion (black becomes the page's background). The image is first
    reduced to a palette of :data:`DARK_COLOURS` colours, so only the palette is
    transformed (fast).

    Args:
        png: a PNG image.

    Returns:
        The dark PNG (palette colours); empty bytes when ``png`` cannot be decoded.
    """
    try:
        with Image.open(io.BytesIO(png)) as image:
            paletted = image.convert("RGB").quantize(DARK_COLOURS, method=Image.Quantize.FASTOCTREE)
    except (OSError, ValueError, Image.DecompressionBombError):
        return b""
    colours = np.asarray(paletted.getpalette() or [], dtype=np.int32).reshape(-1, 3)
    high = colours.max(axis=1, keepdims=True)
    low = colours.min(axis=1, keepdims=True)
    grey = np.clip(DARK_GREY_CHROMA - (high - low), 0, DARK_GREY_CHROMA)
    mirrored = colours + ((255 - high - low) * grey + DARK_GREY_CHROMA // 2) // DARK_GREY_CHROMA
    mirrored = np.clip(mirrored, 0, 255)
    background = np.asarray(DARK_BACKGROUND, dtype=np.int32)  # black -> the page's dark grey
    lift = (background * (255 - mirrored) + 127) // 255
    lifted = mirrored + (lift * grey + DARK_GREY_CHROMA // 2) // DARK_GREY_CHROMA
    paletted.putpalette(lifted.astype(np.uint8).ravel().tolist())
    buffer = io.BytesIO()
    paletted.save(buffer, format="PNG")
    return buffer.getvalue()


# ------------------------------------------------------------------ alt texts


def comparison_alt(result: RunResult) -> str:
    """What the comparison figure shows, with its numbers."""
    items = result.results
    servers = result.scenario.cluster.servers
    success = ", ".join(f"{item.strategy} {percent(item.success_rate)}" for item in items)
    latency = "; ".join(
        f"{item.strategy} "
        + " / ".join(number(item.latency_ms.get(key), ",.1f") for key in ("p50", "p95", "p99"))
        for item in items
    )
    peaks = ", ".join(
        f"{item.strategy} {number(item.load_skew['max_over_mean'], '.2f')}" for item in items
    )
    jain = ", ".join(f"{item.strategy} {number(item.load_skew['jain'], '.3f')}" for item in items)
    return (
        f"Four bar charts comparing {join_words([item.strategy for item in items])}. "
        f"Success rate: {success} (dashed line at 1/N = "
        f"{percent(theory.local_success_rate(servers))}). "
        f"Latency p50 / p95 / p99 in ms: {latency}. "
        f"Busiest server over the mean: {peaks}. Jain's index: {jain}."
    )


def server_load_alt(result: RunResult) -> str:
    """What the jobs-per-server figure shows, with its numbers."""
    parts = []
    for item in result.results:
        counts = item.server_requests
        if not counts:
            continue
        mean = sum(counts) / len(counts)
        busiest = max(range(len(counts)), key=counts.__getitem__)
        ratio = f"{counts[busiest] / mean:.2f}× the mean" if mean else "no jobs"
        parts.append(
            f"{item.strategy} {min(counts):,} to {max(counts):,} per server, busiest server "
            f"{busiest} ({ratio})"
        )
    servers = max((len(item.server_requests) for item in result.results), default=0)
    return (
        f"One bar chart per strategy of the jobs each of {servers} servers received: "
        + "; ".join(parts)
        + "."
    )


_SERIES_UNITS: dict[str, tuple[str, str, bool]] = {
    # metric: (what, format of a value with its unit, whether the low point matters)
    "success_rate": ("success rate", "{:.1f}%", True),
    "throughput": ("served requests per second", "{:,.0f}/s", True),
    "latency": ("p95 latency", "{:,.1f} ms", False),
    "forced_relogins": ("forced re-logins per bucket", "{:,.0f}", False),
    "login_cpu": ("login CPU per bucket", "{:,.2f} CPU-s", False),
    "queue_length": ("jobs waiting, all servers", "{:,.1f}", False),
}


def series_values(series: StrategySeries, metric: str) -> npt.NDArray[np.float64]:
    """The values a time-series figure draws for one strategy (NaN: nothing to measure).

    Args:
        series: the strategy's time series.
        metric: one of :data:`simulator.present.plots.TIMESERIES_METRICS` (for ``latency``, the
            p95 panel).

    Raises:
        ValueError: an unknown metric.
    """
    from simulator.present.plots import timeseries_values  # noqa: PLC0415 (matplotlib is slow to import)

    return timeseries_values(series, metric)


def timeseries_alt(result: RunResult, metric: str) -> str:
    """What a time-series figure shows, with its range per strategy and the events."""
    what, unit, low_matters = _SERIES_UNITS.get(metric, (metric, "{:,.3g}", False))
    start_s, end_s, bucket_s = _window(result)
    panels = "Three line charts (p50, p95 and p99)" if metric == "latency" else "A line chart"
    text = (
        f"{panels} of {TIMESERIES_TITLES.get(metric, metric).lower()}, per {bucket_s:g} s "
        f"bucket from {start_s:g} to {end_s:g} s, one line per strategy"
    )
    text += _events_clause(result.events) + "."
    parts = []
    for item in result.results:
        if item.series is None:
            continue
        values = series_values(item.series, metric)
        finite = np.isfinite(values)
        if not finite.any():
            parts.append(f"{item.strategy} has no value")
            continue
        low = float(np.nanmin(values))
        high = float(np.nanmax(values))
        if math.isclose(low, high, rel_tol=1e-9, abs_tol=1e-12):
            parts.append(f"{item.strategy} constant at {unit.format(low)}")
            continue
        extreme = np.nanargmin(values) if low_matters else np.nanargmax(values)
        at_s = float(item.series.t_s[int(extreme)])
        word = "lowest" if low_matters else "highest"
        parts.append(
            f"{item.strategy} {what} from {unit.format(low)} to {unit.format(high)}, "
            f"{word} in the bucket starting at {at_s:g} s"
        )
    if parts:
        text += " " + "; ".join(parts) + "."
    return text


def heatmap_alt(result: RunResult) -> str:
    """What the per-server heatmap shows: the colour scale, the busiest cell of each
    strategy, and the servers that were down."""
    start_s, end_s, bucket_s = _window(result)
    drawn = [(item.strategy, item.series) for item in result.results if item.series is not None]
    if not drawn:
        return "Per-server load heatmap: this result has no time series."
    servers = max(series.server_jobs.shape[0] for _, series in drawn)
    peak = max(float(series.server_jobs.max(initial=0)) / series.bucket_s for _, series in drawn)
    text = (
        f"Heatmaps, one per strategy, of the jobs per second each of {servers} servers "
        f"accepted in each {bucket_s:g} s bucket from {start_s:g} to {end_s:g} s, on one "
        f"colour scale from 0 to {peak:,.0f} jobs/s"
    )
    text += _events_clause(result.events) + "."
    busiest = []
    downs: dict[str, list[str]] = {}
    for name, series in drawn:
        jobs = series.server_jobs
        if jobs.size:
            server, bucket = np.unravel_index(int(np.argmax(jobs)), jobs.shape)
            busiest.append(
                f"{name} server {int(server)} at {float(series.t_s[bucket]):g} s "
                f"({float(jobs[server, bucket]) / series.bucket_s:,.0f} jobs/s)"
            )
        downs[name] = _down_spans(series)
    if busiest:
        text += " Busiest cell: " + "; ".join(busiest) + "."
    spans = {tuple(value) for value in downs.values()}
    if spans == {()}:
        text += " Every server was up in every bucket."
    elif len(spans) == 1:
        text += " Hatched (not up for a whole bucket): " + ", ".join(next(iter(spans))) + "."
    else:
        text += (
            " Hatched (not up for a whole bucket): "
            + "; ".join(f"{name}: {', '.join(spans) or 'none'}" for name, spans in downs.items())
            + "."
        )
    return text


def _down_spans(series: StrategySeries) -> list[str]:
    """``server 2 from 12 s to 20 s`` for every run of buckets a server was never up."""
    spans = []
    down = series.up_fraction <= 0.0
    for server in range(down.shape[0]):
        row = down[server]
        position = 0
        while position < row.size:
            if not row[position]:
                position += 1
                continue
            begin = position
            while position < row.size and row[position]:
                position += 1
            start = float(series.t_s[begin])
            finish = float(series.t_s[position - 1]) + series.bucket_s
            spans.append(f"server {server} from {start:g} s to {finish:g} s")
    return spans


def _events_clause(events: Sequence[EventMark]) -> str:
    if not events:
        return ""
    return "; events marked: " + ", ".join(event_when(mark) for mark in events)


def _window(result: RunResult) -> tuple[float, float, float]:
    """Start, end and bucket width of the measured window, seconds."""
    scenario = result.scenario
    return scenario.warmup_s, scenario.duration_s, scenario.time_bucket_s
