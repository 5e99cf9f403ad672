"""Figures of a run: the strategies side by side, the load on each server, and the
metrics over time with the run's events (crashes, outages, deploys...) marked.

This is the only module that imports matplotlib. It never imports
:mod:`matplotlib.pyplot` and never selects a backend: figures are plain
:class:`matplotlib.figure.Figure` objects, drawn and saved without touching global state,
so importing this module from a script, a test or a notebook changes nothing. In Jupyter
a returned figure displays inline: it renders itself as a PNG (``_repr_png_``), since with
no pyplot no inline backend may have registered a display hook for figures.

Every figure gives a strategy the same colour (:data:`STRATEGY_COLOURS`, taken from the
Okabe-Ito palette, which stays distinguishable with the common forms of colour blindness).

Artists of the time-series figures carry a ``gid`` to find them by: ``series:<strategy>``
(a strategy's line), ``reference`` (the arrivals), ``event`` (an event's line or band),
``load`` (a heatmap's cells) and ``down`` (a hatched cell of a server that was down).
"""

from __future__ import annotations

import functools
import io
import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib import colormaps, patheffects
from matplotlib.axes import Axes
from matplotlib.collections import QuadMesh
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Annotation
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter, PercentFormatter
from matplotlib.transforms import blended_transform_factory

from simulator.atomic import atomic_file
from simulator.experiments.replications import METRICS, Interval, ReplicatedResult, mean_interval
from simulator.experiments.warmup import WELCH_METRICS, WelchResult
from simulator.results.records import EventMark, RunResult, StrategyResult
from simulator.results.timeseries import StrategySeries

STRATEGY_COLOURS: dict[str, str] = {
    "local": "#D55E00",  # Okabe-Ito vermillion: the strategy that breaks
    "sticky": "#E69F00",  # Okabe-Ito orange
    "shared_store": "#0072B2",  # Okabe-Ito blue
    "jwt": "#009E73",  # Okabe-Ito bluish green
}
"""One fixed colour per strategy, the same in every figure (Okabe-Ito palette)."""

FALLBACK_COLOUR = "#999999"
"""Colour of a strategy missing from :data:`STRATEGY_COLOURS` (grey)."""

DPI = 120
"""Resolution of the saved PNG files, dots per inch."""

DISPLAY_DPI = 90
"""Resolution of a figure displayed inline in Jupyter, dots per inch."""

COMPARISON_FILE = "comparison.png"
SERVER_LOAD_FILE = "server_load.png"
SERVER_HEATMAP_FILE = "server_heatmap.png"
TIMESERIES_FILE = "timeseries_{metric}.png"
"""File name of the figure of one metric over time (``metric``: one of
:data:`TIMESERIES_METRICS`)."""

TIMESERIES_METRICS: tuple[str, ...] = (
    "success_rate",
    "throughput",
    "latency",
    "forced_relogins",
    "login_cpu",
    "queue_length",
)
"""The metrics drawn over time, one figure each (:func:`timeseries_figure`), in order:

- ``success_rate``: requests served with no error and no forced re-login, %.
- ``throughput``: requests served per second (with the arrivals per second).
- ``latency``: p50, p95 and p99 of the served requests, ms (three panels).
- ``forced_relogins``: requests that forced a new login, per time bucket.
- ``login_cpu``: CPU seconds spent on forced logins per time bucket (the login storm).
- ``queue_length``: jobs waiting for a worker, summed over the servers.
"""

_PERCENTILES: tuple[tuple[str, str, float], ...] = (
    # (key in latency_ms, legend label, bar opacity)
    ("p50", "p50 (median)", 0.40),
    ("p95", "p95", 0.70),
    ("p99", "p99", 1.00),
)
_LOG_SCALE_RATIO = 20.0  # latency panel switches to a log axis beyond this max/min ratio
_MAX_SERVER_TICKS = 12  # label every server up to this many, then a sparse selection
_MAX_SERVER_VALUES = 8  # write the job count on each bar up to this many servers
_MAX_SERVER_EDGES = 12  # outline bars up to this many servers (thin bars stay plain)

_TITLE_SIZE = 14
_LABEL_SIZE = 12
_TICK_SIZE = 11
_VALUE_SIZE = 10
_SUPTITLE_SIZE = 16
_REFERENCE_COLOUR = "0.25"

_EVENT_COLOUR = "0.2"  # event lines, band edges and label frames
_EVENT_BAND_ALPHA = 0.14  # opacity of the grey band of an event that lasts
_EVENT_LABEL_SIZE = 10
_EVENT_LABEL_BASE_PT = 6.0  # gap between the top of the axes and the first row of labels
_EVENT_LABEL_ROW_PT = 19.0  # height of a row of event labels
_EVENT_LABEL_GAP_PT = 6.0  # least horizontal gap between two labels in a row
_LINE_WIDTH_STEP = 0.8  # each strategy's line is this much wider than the next one's
_THINNEST_LINE = 1.6
# Lines drawn over others are dashed (in units of their width), shorter for each one drawn
# later, so a strategy hidden under an identical line still shows through the gaps.
_DASHES: tuple[tuple[float, float], ...] = ((3.0, 1.2), (2.0, 1.4), (1.2, 1.4))
_ZERO_MARGIN = 0.015  # y axes start this fraction of their height below 0: lines at 0 show
_HEATMAP_COLOURMAP = "viridis"  # sequential, perceptually uniform, colour-blind safe
_DOWN_FACE = "0.86"  # a server that was down: light grey, hatched
_DOWN_HATCH = "////"
_DOWN_HATCH_COLOUR = "0.45"


def strategy_colour(name: str) -> str:
    """The colour of a strategy in every figure.

    Args:
        name: the strategy's name (``local``, ``sticky``, ``shared_store`` or ``jwt``).

    Returns:
        A hex colour string; grey for an unknown name.
    """
    return STRATEGY_COLOURS.get(str(name), FALLBACK_COLOUR)


# ------------------------------------------------------------------------- figures


class _DisplayFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` that Jupyter can display without pyplot.

    IPython shows an object through ``_repr_png_`` unless a display hook is registered for
    its type (as the inline backend does once pyplot is used; that hook then wins).
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=DISPLAY_DPI)
        return buffer.getvalue()


def comparison_figure(result: RunResult) -> Figure:
    """The strategies of one run side by side, in four panels.

    - (a) Success rate, % of requests served with no error and no forced re-login. A dashed
      line marks 1/N (N servers): where ``local`` lands, since with no affinity a request
      finds its session on the right server about one time in N.
    - (b) Latency of served requests, ms: p50, p95 and p99 per strategy (a log axis when
      the values span more than a factor of 20). A strategy that served nothing shows
      "no served requests".
    - (c) Load skew as peak-to-mean: the busiest server's jobs / the mean jobs per server
      (dimensionless; 1 = perfectly even, N = all load on one server).
    - (d) Jain's fairness index of the jobs per server (dimensionless; 1 = perfectly
      even, 1/N = all load on one server).

    Args:
        result: the run to draw.

    Returns:
        A new figure (not registered with pyplot), titled with the scenario's name.
    """
    servers = result.scenario.cluster.servers
    fig = _DisplayFigure(figsize=(15.0, 10.0), layout="constrained")
    axes = fig.subplots(2, 2)
    _success_panel(axes[0, 0], result.results, servers)
    _latency_panel(axes[0, 1], result.results)
    _peak_to_mean_panel(axes[1, 0], result.results, servers)
    _jain_panel(axes[1, 1], result.results, servers)
    _suptitle(fig, f"Scenario '{result.scenario.name}': login-state strategies compared", result)
    return fig


def server_load_figure(result: RunResult) -> Figure:
    """Jobs received by each server, one panel per strategy.

    Each panel shows, for one strategy, a bar per server: the jobs (requests, logins and
    retries) that server received during the measured window. The dashed line is the mean
    over servers; the box gives the mean and the peak-to-mean ratio (max / mean, 1 =
    perfectly even). The panels share the y axis so their heights compare directly.
    Tick labels thin out for many servers.

    Args:
        result: the run to draw.

    Returns:
        A new figure (not registered with pyplot) with one axes per strategy, titled with
        the scenario's name.
    """
    strategies = result.results
    count = max(len(strategies), 1)
    ncols = min(count, 4)
    nrows = math.ceil(count / ncols)
    fig = _DisplayFigure(
        figsize=(max(4.2 * ncols + 1.0, 8.0), 4.6 * nrows + 1.4), layout="constrained"
    )
    grid = fig.subplots(nrows, ncols, sharey=True, squeeze=False)
    flat: list[Axes] = [ax for row in grid for ax in row]
    for ax in flat[len(strategies) :]:
        fig.delaxes(ax)
    peak = max((max(s.server_requests, default=0) for s in strategies), default=0)
    for index, (ax, strategy) in enumerate(zip(flat, strategies, strict=False)):
        _server_panel(ax, strategy, peak)
        if index % ncols == 0:
            ax.set_ylabel("jobs received\n(requests + logins + retries)", fontsize=_LABEL_SIZE)
    _suptitle(fig, f"Scenario '{result.scenario.name}': jobs received per server", result)
    return fig


def timeseries_values(series: StrategySeries, metric: str) -> FloatArray:
    """The values :func:`timeseries_figure` draws for one strategy, one per bucket (NaN:
    nothing to measure in that bucket; for ``latency``, the p95 panel).

    Raises:
        ValueError: ``metric`` is not one of :data:`TIMESERIES_METRICS`.
    """
    spec = _METRICS.get(metric)
    if spec is None:
        raise ValueError(
            f"unknown time-series metric {metric!r}; choose from {', '.join(TIMESERIES_METRICS)}"
        )
    return spec.values(series)


def timeseries_figure(result: RunResult, metric: str) -> Figure:
    """One metric over simulated time: a line per strategy, every event marked.

    The x axis is simulated time in seconds over the measured window; lines are steps,
    each bucket's value held over the bucket's span (``scenario.bucket_s`` wide), so a
    change never seems to start before the event that caused it. A gap in a line is a
    bucket with nothing to measure (no request arrived, or none was served for the
    latency). Strategies drawn first get wider lines, so lines that coincide stay
    visible as nested stripes; every line but the first is dashed, so an identical line
    underneath shows through the gaps.

    Events (``result.events``, as they happened for the first strategy) are drawn on
    every panel: one that happens at an instant as a dash-dot vertical line, one that
    lasts (an outage, a deploy) as a grey band. Their labels sit above the axes, on
    staggered rows when they are close, each tied to its marker by a thin line. Events
    outside the measured window (in the warm-up) are listed under the x axis instead.

    Args:
        result: the run to draw.
        metric: one of :data:`TIMESERIES_METRICS`:

            - ``success_rate``: % of the requests that arrived in a bucket that were
              served with no error and no forced re-login.
            - ``throughput``: requests served per second (``ok`` or after a forced
              re-login), by arrival time; a dashed line shows the arrivals per second.
            - ``latency``: p50, p95 and p99 in ms of the requests served in a bucket, in
              three panels sharing their y axis (a log axis when the values span more
              than a factor of 20).
            - ``forced_relogins``: requests per bucket whose credential was rejected,
              forcing the user to log in again.
            - ``login_cpu``: CPU seconds per bucket spent on forced logins (password
              hashing), the "login storm"; the right axis gives the same as CPU cores
              kept busy (s of CPU per s).
            - ``queue_length``: jobs waiting for a free worker, summed over all the
              servers (mean of the samples in a bucket).

    Returns:
        A new figure (not registered with pyplot), titled with the metric, its unit and
        the scenario's name.

    Raises:
        ValueError: ``metric`` is not one of :data:`TIMESERIES_METRICS`.
    """
    spec = _METRICS.get(metric)
    if spec is None:
        raise ValueError(
            f"unknown time-series metric {metric!r}; choose one of " + ", ".join(TIMESERIES_METRICS)
        )
    start_s, end_s, bucket_s = _time_window(result)
    drawn = [(item.strategy, item.series) for item in result.results if item.series]
    shown, hidden = _shown_events(result.events, start_s, end_s)
    if metric == "latency":
        fig = _DisplayFigure(figsize=(13.0, 10.5), layout="constrained")
        axes: list[Axes] = list(fig.subplots(3, 1, sharex=True, sharey=True))
        handles, labels = _latency_panels(axes, drawn)
    else:
        fig = _DisplayFigure(figsize=(13.0, 6.8), layout="constrained")
        axes = [fig.subplots()]
        handles, labels = _metric_panel(axes[0], spec, drawn, bucket_s)
    for ax in axes:
        _draw_events(ax, shown, on_heatmap=False)
        ax.set_xlim(start_s, end_s)
        ax.tick_params(labelsize=_TICK_SIZE)
        ax.grid(alpha=0.3)
        ax.set_axisbelow(True)
        if not drawn:
            _note_centre(ax, "no time series in this result")
    axes[-1].set_xlabel(_time_label(bucket_s, hidden), fontsize=_LABEL_SIZE)
    if handles:
        fig.legend(
            handles=handles,
            labels=labels,
            loc="outside right upper",
            fontsize=_VALUE_SIZE + 1,
            title="strategy",
            title_fontsize=_VALUE_SIZE + 1,
        )
    _suptitle(fig, f"Scenario '{result.scenario.name}': {spec.title}", result)
    meaning = spec.meaning.format(bucket=f"{bucket_s:g}-s")
    _label_events(fig, axes[0], shown, meaning)
    return fig


def server_heatmap_figure(result: RunResult) -> Figure:
    """The load on every server over time, one panel per strategy.

    Each panel is a heatmap: x = simulated time in seconds (one column per time bucket),
    y = server index (0 at the bottom; servers added by a scale-out appear on top),
    colour = jobs (requests, logins and retries) the server accepted per second in that
    bucket. Every panel uses the same colour scale (the colour bar), so the panels
    compare directly. A hatched light grey cell is a server that was down for the whole
    bucket (crashed, restarting, or not started yet); a dark cell of a server that was
    up received nothing (for instance, restarted but not yet back in the balancer, which
    adds a server at its next health check). Jobs a down or full server refused are not
    counted. Every panel marks its own strategy's events (white dashed: an instant;
    a dashed white frame: an event that lasts); the labels above the top panel are the
    top panel's.

    Works for 1 to 50 servers and more: tick labels thin out beyond 12 servers.

    Args:
        result: the run to draw.

    Returns:
        A new figure (not registered with pyplot), titled with the scenario's name.
    """
    start_s, end_s, bucket_s = _time_window(result)
    drawn = [(item.strategy, item.series) for item in result.results if item.series]
    first = next((item.events for item in result.results if item.series), result.events)
    shown, hidden = _shown_events(first, start_s, end_s)
    heights = [_heatmap_panel_height(series.server_jobs.shape[0]) for _, series in drawn]
    if not heights:
        heights = [2.0]
    fig = _DisplayFigure(figsize=(13.0, sum(heights) + 2.8), layout="constrained")
    grid = fig.subplots(len(heights), 1, sharex=True, squeeze=False, height_ratios=heights)
    axes: list[Axes] = [row[0] for row in grid]
    peak = max(
        (float(series.server_jobs.max(initial=0)) / series.bucket_s for _, series in drawn),
        default=0.0,
    )
    norm = Normalize(vmin=0.0, vmax=max(peak, 1.0))
    mesh: QuadMesh | None = None
    for ax, (name, series) in zip(axes, drawn, strict=False):
        mesh = _heatmap_panel(ax, name, series, norm)
    # Each panel marks its own strategy's events (a deploy may end a little later for one).
    own = {item.strategy: item.events for item in result.results}
    for ax, name in zip(axes, [name for name, _ in drawn] or [""], strict=True):
        _draw_events(ax, _shown_events(own.get(name, []), start_s, end_s)[0], on_heatmap=True)
        ax.set_xlim(start_s, end_s)
        ax.tick_params(labelsize=_TICK_SIZE)
        if not drawn:
            _note_centre(ax, "no time series in this result")
            ax.set_yticks([])
    axes[-1].set_xlabel(_time_label(bucket_s, hidden, heatmap=True), fontsize=_LABEL_SIZE)
    if mesh is not None:
        colourbar = fig.colorbar(mesh, ax=axes, location="right", aspect=max(20, 8 * len(axes)))
        colourbar.set_label(
            "jobs accepted per second\n(requests + logins + retries)", fontsize=_LABEL_SIZE
        )
        colourbar.ax.tick_params(labelsize=_TICK_SIZE)
    down = Patch(
        facecolor=_DOWN_FACE,
        hatch=_DOWN_HATCH,
        hatchcolor=_DOWN_HATCH_COLOUR,
        edgecolor=_DOWN_HATCH_COLOUR,
        linewidth=0.6,
        label="server down for the whole bucket (crashed, restarting or not started yet)",
    )
    fig.legend(handles=[down], loc="outside lower center", fontsize=_VALUE_SIZE + 1)
    _suptitle(fig, f"Scenario '{result.scenario.name}': load on each server over time", result)
    meaning = (
        f"jobs each server accepted per second, per {bucket_s:g}-s bucket, "
        "on one colour scale for every strategy"
    )
    _label_events(fig, axes[0], shown, meaning)
    return fig


def save_figures(result: RunResult, out_dir: Path) -> list[Path]:
    """Draw the run's figures and write them as PNG files.

    Writes, at :data:`DPI` dots per inch and in this order: ``comparison.png``
    (:func:`comparison_figure`), ``server_load.png`` (:func:`server_load_figure`), one
    ``timeseries_<metric>.png`` per metric of :data:`TIMESERIES_METRICS`
    (:func:`timeseries_figure`), and ``server_heatmap.png``
    (:func:`server_heatmap_figure`). Each file is written to a temporary file in
    ``out_dir`` and then renamed over the target, so an interrupted run never leaves a
    half-written PNG behind.

    Args:
        result: the run to draw.
        out_dir: folder to write into; created if missing.

    Returns:
        The paths written, in the order above.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    makers: list[tuple[str, Callable[[RunResult], Figure]]] = [
        (COMPARISON_FILE, comparison_figure),
        (SERVER_LOAD_FILE, server_load_figure),
    ]
    makers += [
        (TIMESERIES_FILE.format(metric=metric), functools.partial(_timeseries_maker, metric))
        for metric in TIMESERIES_METRICS
    ]
    makers.append((SERVER_HEATMAP_FILE, server_heatmap_figure))
    written: list[Path] = []
    for filename, make in makers:
        fig = make(result)
        try:
            written.append(_save_atomically(fig, out_dir / filename))
        finally:
            fig.clear()  # not registered with pyplot: clearing and dropping it frees it
            del fig
    return written


def figure_png(fig: Figure, dpi: float | None = None) -> bytes:
    """Encode a figure as PNG bytes (for embedding, e.g. in the HTML report).

    Args:
        fig: a figure made by this module (or any :class:`~matplotlib.figure.Figure`).
        dpi: resolution, dots per inch (default: :data:`DPI`, as the saved files).

    Returns:
        The PNG file's bytes. The figure is left as it was: clear it when done.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI if dpi is None else dpi)
    return buffer.getvalue()


def _timeseries_maker(metric: str, result: RunResult) -> Figure:
    """:func:`timeseries_figure` with the metric first, for :func:`functools.partial`."""
    return timeseries_figure(result, metric)


# ------------------------------------------------------------------------- panels


def _success_panel(ax: Axes, strategies: Sequence[StrategyResult], servers: int) -> None:
    names = [s.strategy for s in strategies]
    positions = list(range(len(names)))
    for x, strategy in zip(positions, strategies, strict=True):
        rate = strategy.success_rate
        if rate is None:
            _note(ax, x, "no requests")
            continue
        bars = ax.bar(x, rate * 100.0, width=0.6, color=strategy_colour(strategy.strategy))
        ax.bar_label(bars, labels=[_percent_label(rate)], padding=3, fontsize=_VALUE_SIZE + 1)
    _reference_line(ax, 100.0 / servers, f"1/N = {100.0 / servers:.3g}%", dashed=True)
    ax.set_ylim(0, 112)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_formatter(PercentFormatter(100, decimals=0))
    _strategy_axis(ax, names)
    ax.set_ylabel("requests served, no error, no re-login (%)", fontsize=_LABEL_SIZE)
    ax.set_title("(a) Success rate (higher is better)", fontsize=_TITLE_SIZE)


def _latency_panel(ax: Axes, strategies: Sequence[StrategyResult]) -> None:
    names = [s.strategy for s in strategies]
    values = [
        v
        for s in strategies
        for key, _, _ in _PERCENTILES
        if (v := s.latency_ms.get(key)) is not None and v > 0
    ]
    log = bool(values) and max(values) / min(values) > _LOG_SCALE_RATIO
    if log:
        ax.set_yscale("log")
    width = 0.8 / len(_PERCENTILES)
    for x, strategy in enumerate(strategies):
        colour = strategy_colour(strategy.strategy)
        if all(strategy.latency_ms.get(key) is None for key, _, _ in _PERCENTILES):
            _note(ax, x, "no served\nrequests")
            continue
        for slot, (key, _, alpha) in enumerate(_PERCENTILES):
            value = strategy.latency_ms.get(key)
            if value is None or (log and value <= 0):
                continue
            offset = (slot - (len(_PERCENTILES) - 1) / 2) * width
            bars = ax.bar(
                x + offset,
                value,
                width=width * 0.92,
                color=colour,
                alpha=alpha,
                edgecolor="black",
                linewidth=0.6,
            )
            ax.bar_label(bars, labels=[_ms_label(value)], padding=2, fontsize=_VALUE_SIZE)
    _latency_limits_and_legend(ax, values, max(values, default=0.0), log, _PERCENTILES)
    _strategy_axis(ax, names)
    ax.set_ylabel("latency (ms" + (", log scale)" if log else ")"), fontsize=_LABEL_SIZE)
    ax.set_title("(b) Latency of served requests (lower is better)", fontsize=_TITLE_SIZE)


def _peak_to_mean_panel(ax: Axes, strategies: Sequence[StrategyResult], servers: int) -> None:
    names = [s.strategy for s in strategies]
    highest = 1.0
    for x, strategy in enumerate(strategies):
        value = strategy.load_skew.get("max_over_mean")
        if value is None:
            _note(ax, x, "no load")
            continue
        highest = max(highest, value)
        bars = ax.bar(x, value, width=0.6, color=strategy_colour(strategy.strategy))
        ax.bar_label(bars, labels=[f"{value:.2f}×"], padding=3, fontsize=_VALUE_SIZE + 1)
    _reference_line(ax, 1.0, "1 = even", dashed=False)
    ax.set_ylim(0, max(highest * 1.18, 1.5))
    _strategy_axis(ax, names)
    ax.set_ylabel(
        f"busiest server / mean (×)\n1 = even, {servers} = all on one server", fontsize=_LABEL_SIZE
    )
    ax.set_title(
        "(c) Load skew: peak-to-mean jobs per server (lower is better)", fontsize=_TITLE_SIZE
    )


def _jain_panel(ax: Axes, strategies: Sequence[StrategyResult], servers: int) -> None:
    names = [s.strategy for s in strategies]
    for x, strategy in enumerate(strategies):
        value = strategy.load_skew.get("jain")
        if value is None:
            _note(ax, x, "no load")
            continue
        bars = ax.bar(x, value, width=0.6, color=strategy_colour(strategy.strategy))
        ax.bar_label(bars, labels=[f"{value:.3f}"], padding=3, fontsize=_VALUE_SIZE + 1)
    _reference_line(ax, 1.0, "1 = even", dashed=False)
    if servers > 1:
        _reference_line(ax, 1.0 / servers, f"1/N = {1.0 / servers:.3g}\n(one server)", True)
    ax.set_ylim(0, 1.15)
    _strategy_axis(ax, names)
    ax.set_ylabel("Jain's index (sum x)² / (N · sum x²)", fontsize=_LABEL_SIZE)
    ax.set_title("(d) Load fairness: Jain's index (higher is better)", fontsize=_TITLE_SIZE)


def _server_panel(ax: Axes, strategy: StrategyResult, peak: int) -> None:
    loads = strategy.server_requests
    count = len(loads)
    positions = list(range(count))
    bars = ax.bar(
        positions,
        loads,
        width=0.8,
        color=strategy_colour(strategy.strategy),
        edgecolor="black" if count <= _MAX_SERVER_EDGES else "none",
        linewidth=0.5,
    )
    if count <= _MAX_SERVER_VALUES:
        labels = [f"{load:,}" for load in loads]
        ax.bar_label(bars, labels=labels, padding=2, fontsize=_VALUE_SIZE)
    skew = strategy.load_skew.get("max_over_mean")
    if count and sum(loads) > 0 and skew is not None:
        mean = sum(loads) / count
        ax.axhline(mean, color="black", linestyle="--", linewidth=1.5)
        text = f"max / mean = {skew:.2f}×\nmean = {_count_label(mean)} jobs (dashed)"
    else:
        text = "no load"
    ax.text(
        0.03,
        0.97,
        text,
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=_VALUE_SIZE + 1,
        bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "0.7"},
    )
    ax.set_xlim(-0.6, max(count, 1) - 0.4)
    if count <= _MAX_SERVER_TICKS:
        ax.set_xticks(positions)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    # Room above the tallest bar (of any panel: the y axis is shared) for the text box.
    ax.set_ylim(0, peak * 1.3 if peak > 0 else 1)
    ax.yaxis.set_major_locator(MaxNLocator(nbins="auto", integer=True, steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.tick_params(labelsize=_TICK_SIZE)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_xlabel("server (index)", fontsize=_LABEL_SIZE)
    ax.set_title(strategy.strategy, fontsize=_TITLE_SIZE, fontweight="bold")


# ---------------------------------------------------------------- time-series panels

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Metric:
    """How to draw one metric of :data:`TIMESERIES_METRICS`.

    Attributes:
        title: the metric over time and its unit, for the figure's title.
        meaning: what is counted, for the axes' title (``{bucket}``: the bucket width).
        ylabel: the y axis label, with the unit.
        values: the metric per bucket from a strategy's series.
        gap: what a NaN bucket means, for the legend (``""``: the metric has no NaN).
        percent: values are % (a 0-100 axis).
        counts: values are whole numbers (integer ticks).
        arrivals: also draw the arrivals per second, for comparison.
        cores: add a right axis in CPU cores (the value divided by the bucket width).
    """

    title: str
    meaning: str
    ylabel: str
    values: Callable[[StrategySeries], FloatArray]
    gap: str = ""
    percent: bool = False
    counts: bool = False
    arrivals: bool = False
    cores: bool = False


def _as_float(values: npt.ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


_METRICS: dict[str, _Metric] = {
    "success_rate": _Metric(
        title="success rate over time (%)",
        meaning=(
            "Requests served with no error and no forced re-login, in % of the requests "
            "that arrived in each {bucket} bucket (higher is better)"
        ),
        ylabel="success rate (%)",
        values=lambda series: _as_float(series.success_rate * 100.0),
        gap="no request arrived",
        percent=True,
    ),
    "throughput": _Metric(
        title="served throughput over time (requests/s)",
        meaning=(
            "Requests served per second (ok, or ok after a forced re-login), by arrival "
            "time in {bucket} buckets; dashed: requests that arrived per second"
        ),
        ylabel="served requests per second",
        values=lambda series: _as_float(series.served / series.bucket_s),
        arrivals=True,
    ),
    "latency": _Metric(
        title="latency of served requests over time (ms)",
        meaning=(
            "Arrival-to-answer time of the requests served in each {bucket} bucket: "
            "p50, p95 and p99 (lower is better)"
        ),
        ylabel="latency (ms)",
        values=lambda series: _as_float(series.latency_ms[1]),
        gap="nothing served",
    ),
    "forced_relogins": _Metric(
        title="forced re-logins over time (per bucket)",
        meaning=(
            "Requests whose credential was rejected, forcing the user to log in again, "
            "per {bucket} bucket by arrival time (lower is better)"
        ),
        ylabel="forced re-logins per bucket",
        values=lambda series: _as_float(series.forced_relogins),
        counts=True,
    ),
    "login_cpu": _Metric(
        title="login CPU over time (s per bucket): the login storm",
        meaning=(
            "CPU seconds spent hashing passwords for forced logins that finished in each "
            "{bucket} bucket; right axis: the same as CPU cores kept busy"
        ),
        ylabel="login CPU (s per bucket)",
        values=lambda series: _as_float(series.login_cpu_s),
        cores=True,
    ),
    "queue_length": _Metric(
        title="queue length over time (jobs waiting)",
        meaning=(
            "Jobs waiting for a free worker, summed over all servers "
            "(mean of the samples in each {bucket} bucket; lower is better)"
        ),
        ylabel="jobs waiting (all servers)",
        values=lambda series: _as_float(series.queue_length.sum(axis=0)),
    ),
}

_LATENCY_PANELS: tuple[tuple[int, str], ...] = (
    (0, "p50 (median)"),
    (1, "p95"),
    (2, "p99"),
)


def _metric_panel(
    ax: Axes, spec: _Metric, drawn: Sequence[tuple[str, StrategySeries]], bucket_s: float
) -> tuple[list[Line2D], list[str]]:
    """One line per strategy; returns the legend's handles and labels."""
    handles, labels = _strategy_lines(
        ax, [(name, series, spec.values(series)) for name, series in drawn], spec.gap
    )
    if spec.percent:
        ax.set_ylim(-105 * _ZERO_MARGIN, 105)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        ax.yaxis.set_major_formatter(PercentFormatter(100, decimals=0))
    else:
        finite = [float(np.nanmax(line.get_ydata())) for line in handles if _has_values(line)]
        top = max(finite, default=0.0)
        if spec.arrivals and drawn:
            series = drawn[0][1]
            arrivals = _as_float(series.requests / series.bucket_s)
            top = max(top, float(arrivals.max(initial=0.0)))
            reference = ax.plot(
                *_steps(series, arrivals),
                drawstyle="steps-post",
                color=_REFERENCE_COLOUR,
                linestyle=(0, (4, 2)),
                linewidth=1.2,
                zorder=2.5,  # under the strategies: it shows where they fall short
                gid="reference",
            )[0]
            handles.append(reference)
            labels.append("arrivals per second\n(the same traffic for all)")
        top = top * 1.08 if top > 0 else 1.0
        ax.set_ylim(-top * _ZERO_MARGIN, top)
        ax.yaxis.set_major_locator(
            MaxNLocator(nbins="auto", integer=spec.counts, steps=[1, 2, 2.5, 5, 10])
        )
    if spec.cores:
        cores = ax.secondary_yaxis(
            "right",
            functions=(
                lambda v: np.asarray(v, dtype=np.float64) / bucket_s,
                lambda v: np.asarray(v, dtype=np.float64) * bucket_s,
            ),
        )
        cores.set_ylabel("CPU cores busy hashing\n(s of CPU per s)", fontsize=_LABEL_SIZE)
        cores.tick_params(labelsize=_TICK_SIZE)
    ax.set_ylabel(spec.ylabel, fontsize=_LABEL_SIZE)
    return handles, labels


def _latency_panels(
    axes: Sequence[Axes], drawn: Sequence[tuple[str, StrategySeries]]
) -> tuple[list[Line2D], list[str]]:
    """p50, p95 and p99 in three stacked panels sharing both axes."""
    values = [
        value
        for _, series in drawn
        for value in series.latency_ms[np.isfinite(series.latency_ms)].tolist()
        if value > 0
    ]
    log = bool(values) and max(values) / min(values) > _LOG_SCALE_RATIO
    handles: list[Line2D] = []
    labels: list[str] = []
    for ax, (row, name) in zip(axes, _LATENCY_PANELS, strict=True):
        panel = [
            (strategy, series, _as_float(series.latency_ms[row])) for strategy, series in drawn
        ]
        lines, texts = _strategy_lines(ax, panel, _METRICS["latency"].gap)
        if not handles:
            handles, labels = lines, texts
        ax.set_ylabel(f"{name}\nlatency (ms{', log' if log else ''})", fontsize=_LABEL_SIZE)
    ax = axes[0]
    if log:
        ax.set_yscale("log")
        ax.set_ylim(10 ** math.floor(math.log10(min(values)) - 0.05), max(values) * 1.6)
        for panel_ax in axes:
            panel_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
            panel_ax.yaxis.set_minor_formatter(NullFormatter())
    elif values:
        ax.set_ylim(0, max(values) * 1.08)
    else:
        ax.set_ylim(0, 1)
    return handles, labels


def _strategy_lines(
    ax: Axes, panel: Sequence[tuple[str, StrategySeries, FloatArray]], gap: str
) -> tuple[list[Line2D], list[str]]:
    """A line of steps per strategy (a bucket's value over its span); the first drawn is
    the widest and the only solid one."""
    handles: list[Line2D] = []
    labels: list[str] = []
    count = len(panel)
    for index, (name, series, values) in enumerate(panel):
        colour = strategy_colour(name)
        width = _THINNEST_LINE + _LINE_WIDTH_STEP * (count - 1 - index)
        dashes = _DASHES[min(index, len(_DASHES)) - 1] if index else None
        # Steps: each bucket's value holds over its whole span, so a change never seems to
        # start before the event that caused it, and a lone bucket between gaps still shows.
        line = ax.plot(
            *_steps(series, values),
            drawstyle="steps-post",
            color=colour,
            linewidth=width,
            linestyle=(0, dashes) if dashes else "-",
            solid_capstyle="round",
            dash_capstyle="butt",
            zorder=3 + index,
            label=name,
            gid=f"series:{name}",
        )[0]
        missing = int((~np.isfinite(values)).sum())
        handles.append(line)
        if gap and missing:
            labels.append(f"{name}\n(gaps: {gap}\nin {missing} of {len(values)} buckets)")
        else:
            labels.append(name)
    return handles, labels


def _heatmap_panel(ax: Axes, name: str, series: StrategySeries, norm: Normalize) -> QuadMesh:
    """Jobs per second of every server and bucket; hatched cells: the server was down."""
    servers, count = series.server_jobs.shape
    edges_t = series.t_s[0] + series.bucket_s * np.arange(count + 1, dtype=np.float64)
    edges_s = np.arange(servers + 1, dtype=np.float64) - 0.5
    mesh = ax.pcolormesh(
        edges_t,
        edges_s,
        series.server_jobs / series.bucket_s,
        cmap=colormaps[_HEATMAP_COLOURMAP],
        norm=norm,
        shading="flat",
        gid="load",
    )
    for server in range(servers):
        down = series.up_fraction[server] <= 0.0
        for first, last in _runs(down):
            ax.add_patch(
                Rectangle(
                    (float(edges_t[first]), server - 0.5),
                    float(edges_t[last + 1] - edges_t[first]),
                    1.0,
                    facecolor=_DOWN_FACE,
                    hatch=_DOWN_HATCH,
                    hatchcolor=_DOWN_HATCH_COLOUR,
                    edgecolor="none",
                    linewidth=0,
                    zorder=2,
                    gid="down",
                )
            )
    ax.set_ylim(-0.5, servers - 0.5)
    if servers <= _MAX_SERVER_TICKS:
        ax.set_yticks(list(range(servers)))
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.set_ylabel(f"{name}\nserver", fontsize=_LABEL_SIZE)
    ax.yaxis.label.set_color("black")
    return mesh


def _heatmap_panel_height(servers: int) -> float:
    """Inches of one heatmap panel: room for a few servers, capped for many."""
    return min(max(0.9 + 0.11 * servers, 1.7), 3.4)


# ------------------------------------------------------------------------- events


@dataclass(frozen=True)
class _ShownEvent:
    """An event clipped to the measured window."""

    mark: EventMark
    start_s: float
    end_s: float | None

    @property
    def anchor_s(self) -> float:
        """Where its label points: the instant, or the middle of the clipped band."""
        return self.start_s if self.end_s is None else (self.start_s + self.end_s) / 2

    @property
    def caption(self) -> str:
        """The label with when it happened, in seconds."""
        mark = self.mark
        if mark.end_s is None:
            return f"{mark.label} ({_seconds(mark.start_s)} s)"
        return f"{mark.label} ({_seconds(mark.start_s)}–{_seconds(mark.end_s)} s)"


def _shown_events(
    marks: Sequence[EventMark], start_s: float, end_s: float
) -> tuple[list[_ShownEvent], list[EventMark]]:
    """The events inside the window (clipped to it) and the ones outside it."""
    shown: list[_ShownEvent] = []
    hidden: list[EventMark] = []
    for mark in marks:
        if mark.end_s is None:
            if start_s <= mark.start_s <= end_s:
                shown.append(_ShownEvent(mark, mark.start_s, None))
            else:
                hidden.append(mark)
        elif mark.start_s < end_s and mark.end_s > start_s:
            shown.append(_ShownEvent(mark, max(mark.start_s, start_s), min(mark.end_s, end_s)))
        else:
            hidden.append(mark)
    return shown, hidden


def _draw_events(ax: Axes, shown: Sequence[_ShownEvent], on_heatmap: bool) -> None:
    """One marker per event: a dash-dot vertical line, or a band for an event that lasts.

    On a heatmap the markers are white with a dark outline (visible on every colour) and
    a band is drawn as an outline only, so it does not change the colours under it.
    """
    outline = [patheffects.withStroke(linewidth=3.2, foreground="black")]
    for item in shown:
        if item.end_s is None:
            if on_heatmap:
                ax.axvline(
                    item.start_s,
                    color="white",
                    linestyle=(0, (5, 3)),
                    linewidth=1.5,
                    zorder=5,
                    path_effects=outline,
                    gid="event",
                )
            else:
                ax.axvline(
                    item.start_s,
                    color=_EVENT_COLOUR,
                    linestyle=(0, (7, 2, 1.5, 2)),  # dash-dot: unlike any strategy's line
                    linewidth=1.4,
                    zorder=2,
                    gid="event",
                )
        elif on_heatmap:
            ax.axvspan(
                item.start_s,
                item.end_s,
                fill=False,
                edgecolor="white",
                linestyle=(0, (5, 3)),
                linewidth=1.5,
                zorder=5,
                path_effects=outline,
                gid="event",
            )
        else:
            ax.axvspan(
                item.start_s,
                item.end_s,
                facecolor=_EVENT_COLOUR,
                alpha=_EVENT_BAND_ALPHA,
                edgecolor="none",
                zorder=1,
                gid="event",
            )


def _label_events(fig: Figure, ax: Axes, shown: Sequence[_ShownEvent], title: str) -> None:
    """Label the events above ``ax``, on as many rows as needed so no two overlap, and
    put ``title`` above the labels.

    Labels are first placed to find the axes' final width, then each goes on the lowest
    row where it does not overlap a label already there, centred on its event (shifted
    inwards at the edges of the axes), with a thin line down to its event.
    """
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    labels: list[tuple[_ShownEvent, Annotation]] = []
    for item in shown:
        annotation = ax.annotate(
            item.caption,
            xy=(item.anchor_s, 1.0),
            xycoords=trans,
            xytext=(0.0, _EVENT_LABEL_BASE_PT),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=_EVENT_LABEL_SIZE,
            color=_EVENT_COLOUR,
            bbox={
                "boxstyle": "round,pad=0.25",
                "facecolor": "white",
                "edgecolor": _EVENT_COLOUR,
                "linewidth": 0.7,
            },
            arrowprops={
                "arrowstyle": "-",
                "color": _EVENT_COLOUR,
                "linewidth": 0.7,
                "shrinkA": 0.0,
                "shrinkB": 0.0,
            },
            annotation_clip=False,
            gid="event-label",
        )
        labels.append((item, annotation))
    rows = 0
    if labels:
        fig.draw_without_rendering()  # runs the layout: the axes' final place and width
        px_per_pt = fig.dpi / 72.0
        box = ax.get_window_extent()
        gap_px = _EVENT_LABEL_GAP_PT * px_per_pt
        row_ends: list[float] = []
        ordered = sorted(labels, key=lambda pair: pair[0].anchor_s)
        for item, annotation in ordered:
            patch = annotation.get_bbox_patch()
            extent = patch.get_window_extent() if patch else annotation.get_window_extent()
            width = extent.width + 2.0  # a pixel of slack on each side
            anchor = float(ax.transData.transform((item.anchor_s, 0.0))[0])
            centre = min(max(anchor, box.x0 + width / 2), box.x1 - width / 2)
            if width > box.width:
                centre = (box.x0 + box.x1) / 2
            left = centre - width / 2
            row = next(
                (index for index, end in enumerate(row_ends) if left >= end + gap_px),
                len(row_ends),
            )
            if row == len(row_ends):
                row_ends.append(0.0)
            row_ends[row] = centre + width / 2
            annotation.xyann = (
                (centre - anchor) / px_per_pt,
                _EVENT_LABEL_BASE_PT + row * _EVENT_LABEL_ROW_PT,
            )
            annotation.set_zorder(20 - row)  # lower rows cover the lines from higher ones
        rows = len(row_ends)
    pad = _EVENT_LABEL_BASE_PT + rows * _EVENT_LABEL_ROW_PT + 4.0 if rows else 8.0
    # About 11 characters per inch of axes at this font size.
    width = max(int((fig.get_figwidth() - 3.0) * 11), 40)
    ax.set_title(textwrap.fill(title, width), fontsize=_LABEL_SIZE, pad=pad)


def _time_label(bucket_s: float, hidden: Sequence[EventMark], heatmap: bool = False) -> str:
    """The x axis label, with the events that fall outside the measured window."""
    if heatmap:
        label = f"simulated time (s); one column per {bucket_s:g}-s bucket"
    else:
        label = f"simulated time (s); one step per {bucket_s:g}-s bucket"
    if hidden:
        listed = "; ".join(
            f"{mark.label} at {_seconds(mark.start_s)} s"
            + (f" to {_seconds(mark.end_s)} s" if mark.end_s is not None else "")
            for mark in hidden
        )
        label += "\n" + textwrap.fill(f"outside the measured window, not drawn: {listed}", 130)
    return label


def _time_window(result: RunResult) -> tuple[float, float, float]:
    """Start and end of the measured window and the bucket width, seconds."""
    for item in result.results:
        if item.series is not None and len(item.series.t_s):
            series = item.series
            start = float(series.t_s[0])
            return start, start + series.bucket_s * len(series.t_s), series.bucket_s
    scenario = result.scenario
    return scenario.warmup_s, scenario.duration_s, scenario.time_bucket_s


def _steps(series: StrategySeries, values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Points for a ``steps-post`` line: every bucket's start, then the end of the last
    one (seconds), with the last value repeated so the last bucket is drawn too."""
    if not len(values):
        return _as_float(series.t_s), values
    edges = np.append(series.t_s, series.t_s[-1] + series.bucket_s)
    return _as_float(edges), _as_float(np.append(values, values[-1]))


def _has_values(line: Line2D) -> bool:
    return bool(np.isfinite(np.asarray(line.get_ydata(), dtype=np.float64)).any())


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """First and last index of every run of ``True`` in ``mask``."""
    runs: list[tuple[int, int]] = []
    first = -1
    for index, value in enumerate(mask.tolist()):
        if value and first < 0:
            first = index
        elif not value and first >= 0:
            runs.append((first, index - 1))
            first = -1
    if first >= 0:
        runs.append((first, len(mask) - 1))
    return runs


def _seconds(value: float) -> str:
    """A time in seconds, to 0.1 s (no decimal when whole)."""
    return f"{round(value, 1):g}"


def _note_centre(ax: Axes, text: str) -> None:
    """Grey italic text in the middle of an empty panel."""
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=_LABEL_SIZE,
        fontstyle="italic",
        color="0.35",
    )


# ------------------------------------------------------------------------- helpers


def _strategy_axis(ax: Axes, names: Sequence[str]) -> None:
    """Strategy names on the x axis, a light y grid, readable ticks."""
    ax.set_xticks(list(range(len(names))), list(names))
    # At least the width of three slots, so one or two strategies do not get giant bars.
    centre, half = (len(names) - 1) / 2, max(len(names), 3) / 2 + 0.1
    ax.set_xlim(centre - half, centre + half)
    ax.tick_params(labelsize=_TICK_SIZE)
    ax.tick_params(axis="x", labelsize=_LABEL_SIZE)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _reference_line(ax: Axes, y: float, label: str, dashed: bool) -> None:
    """A horizontal reference line labelled just outside the right edge of the axes."""
    ax.axhline(
        y,
        color=_REFERENCE_COLOUR,
        linestyle="--" if dashed else "-",
        linewidth=1.4 if dashed else 1.0,
        zorder=3,
    )
    ax.annotate(
        label,
        xy=(1.0, y),
        xycoords=blended_transform_factory(ax.transAxes, ax.transData),
        xytext=(4, 0),
        textcoords="offset points",
        ha="left",
        va="center",
        fontsize=_VALUE_SIZE,
        color=_REFERENCE_COLOUR,
        annotation_clip=False,
    )


def _note(ax: Axes, x: float, text: str) -> None:
    """Grey italic text where a bar would be, for a value that does not exist."""
    ax.text(
        x,
        0.5,
        text,
        transform=blended_transform_factory(ax.transData, ax.transAxes),
        ha="center",
        va="center",
        fontsize=_VALUE_SIZE + 1,
        fontstyle="italic",
        color="0.35",
    )


def _percent_label(rate: float) -> str:
    """A success rate as a percentage that never rounds a near-miss up to 100%."""
    label = f"{rate * 100:.1f}%"
    if rate < 1.0 and label == "100.0%":
        return ">99.9%"
    return label


def _count_label(value: float) -> str:
    """A mean count: one decimal below 100, whole numbers with thousands separators above."""
    if value < 100:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def _ms_label(value: float) -> str:
    """A latency in ms with about three significant digits."""
    if value < 10:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def _suptitle(fig: Figure, title: str, result: RunResult) -> None:
    """The title and a line of the scenario's key settings, wrapped to the figure's width."""
    scenario = result.scenario
    workload = scenario.workload
    servers = scenario.cluster.servers
    facts = (
        f"{servers} server{'s' if servers != 1 else ''} · "
        f"{workload.arrival_rate_per_s:,g} requests/s · {workload.users:,} users · "
        f"{scenario.measured_s:g} s measured · seed {scenario.seed}"
    )
    # About 8 characters per inch at the suptitle's font size.
    width = max(int(fig.get_figwidth() * 8), 30)
    lines = [*textwrap.wrap(title, width), *textwrap.wrap(facts, width)]
    fig.suptitle("\n".join(lines), fontsize=_SUPTITLE_SIZE)


def _save_atomically(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG to ``path`` via a temporary file and a rename."""
    with atomic_file(path) as handle:
        fig.savefig(handle, format="png", dpi=DPI)
    return path


# ------------------------------------------------------------- warm-up (Welch's method)

WELCH_FILE = "welch.png"
COMPARISON_CI_FILE = "comparison_ci.png"

_RAW_COLOUR = "0.45"  # the curve averaged over replications, before smoothing
_REPLICATION_COLOUR = "0.75"  # each replication's own curve
_SUGGESTED_COLOUR = "black"
_CURRENT_COLOUR = "#CC79A7"  # Okabe-Ito reddish purple: not a strategy colour
_BAND_ALPHA = 0.18
_ZOOM_HALF_WIDTHS = 4.0  # the zoom panel shows the level ± this many band half-widths


def welch_figure(result: WelchResult) -> Figure:
    """Welch's graphical method: the curve a warm-up is read from.

    Two panels share the time axis (simulated seconds from the start of each run, when
    every queue is empty):

    - (a) The whole run: each replication's own curve (thin, light grey), their mean
      per bucket (grey steps: "averaged over R replications") and its centred moving
      average over ``2w + 1`` buckets (thick, the strategy's colour). The shaded band is
      the long-run level (mean of the averaged curve over the second half of the run)
      ± the tolerance. A log axis when the values span more than a factor of 20.
    - (b) A zoom on the band (the level ± 4 band half-widths): the suggestion is where
      the smoothed curve enters the band for good.

    Both panels mark the suggested warm-up (solid black vertical line) and the
    scenario's current ``warmup_s`` (dashed purple), each labelled with its value; when
    the curve never settled, a note says so instead of the suggestion's line. The notes
    of the result (why the suggestion may not be trusted) are listed under the x axis.

    Args:
        result: what :func:`simulator.experiments.warmup.welch` returned.

    Returns:
        A new figure (not registered with pyplot), titled with the metric, the
        strategy and the scenario.
    """
    spec = WELCH_METRICS[result.metric]
    scale = 100.0 if spec.percent else 1.0
    t_s = _as_float(result.t_s)
    edges = np.append(t_s, t_s[-1] + result.bucket_s) if len(t_s) else t_s
    averaged = _as_float(result.averaged) * scale
    smoothed = _as_float(result.smoothed) * scale
    replications = _as_float(result.per_replication) * scale
    level = result.level * scale
    low, high = (value * scale for value in result.band)
    colour = strategy_colour(result.strategy)
    fig = _DisplayFigure(figsize=(13.0, 10.0), layout="constrained")
    full, zoom = fig.subplots(2, 1, sharex=True, height_ratios=[3.0, 2.0])
    for ax, replicas in ((full, True), (zoom, False)):
        if replicas:
            for index, values in enumerate(replications):
                ax.plot(
                    edges,
                    _repeat_last(values),
                    drawstyle="steps-post",
                    color=_REPLICATION_COLOUR,
                    linewidth=0.8,
                    zorder=2,
                    label="each replication" if index == 0 else "_nolegend_",
                    gid="welch:replication",
                )
        ax.plot(
            edges,
            _repeat_last(averaged),
            drawstyle="steps-post",
            color=_RAW_COLOUR,
            linewidth=1.4,
            zorder=3,
            label=f"averaged over R = {result.replications} replications",
            gid="welch:averaged",
        )
        ax.plot(
            edges,
            _repeat_last(smoothed),
            drawstyle="steps-post",
            color=colour,
            linewidth=3.0,
            zorder=4,
            label=(
                f"smoothed: moving average of {2 * result.window + 1} buckets (w = {result.window})"
            ),
            gid="welch:smoothed",
        )
        if math.isfinite(level):
            ax.axhspan(
                low,
                high,
                facecolor=colour,
                alpha=_BAND_ALPHA,
                edgecolor="none",
                zorder=1,
                label=f"long-run level {_level_label(level, spec.percent)} ± "
                f"{_band_label(result, scale, spec.percent)} (mean of the second half)",
                gid="welch:band",
            )
            ax.axhline(level, color=colour, linestyle=":", linewidth=1.2, zorder=1.5)
        _welch_lines(ax, result, label=ax is full)
        ax.grid(alpha=0.3)
        ax.set_axisbelow(True)
        ax.tick_params(labelsize=_TICK_SIZE)
        if len(edges):
            ax.set_xlim(float(edges[0]), float(edges[-1]))
        if spec.percent:
            ax.yaxis.set_major_formatter(PercentFormatter(100, decimals=1))
    _welch_full_axis(full, [replications.ravel(), averaged, smoothed], spec.percent)
    _welch_zoom_axis(zoom, level, (high - low) / 2, [averaged, smoothed])
    full.set_ylabel(spec.label.replace(" (ms)", "\n(ms)"), fontsize=_LABEL_SIZE)
    zoom.set_ylabel("zoom on the band", fontsize=_LABEL_SIZE)
    full.set_title(
        f"(a) The whole run, from t = 0 (warmup_s set to 0 for these runs), "
        f"{result.bucket_s:g}-s buckets",
        fontsize=_TITLE_SIZE,
    )
    zoom.set_title(
        f"(b) Zoom: the suggestion is where the smoothed curve enters the band for good "
        f"(level ± {_band_label(result, scale, spec.percent)})",
        fontsize=_TITLE_SIZE,
    )
    xlabel = (
        f"simulated time since the start of the run (s); one step per {result.bucket_s:g}-s bucket"
    )
    for note in result.notes:
        xlabel += "\n" + textwrap.fill(f"note: {note}", 130)
    zoom.set_xlabel(xlabel, fontsize=_LABEL_SIZE)
    full.legend(loc="best", fontsize=_VALUE_SIZE + 1, framealpha=0.92)
    scenario = result.scenario
    if result.suggested_warmup_s is None:
        verdict = "did not settle within the run"
    else:
        verdict = f"suggested warm-up {_seconds(result.suggested_warmup_s)} s"
    title = (
        f"Scenario '{scenario.name}': warm-up by Welch's method, {result.strategy}, "
        f"{result.metric}: {verdict}"
    )
    facts = (
        f"{scenario.cluster.servers} server{'s' if scenario.cluster.servers != 1 else ''} · "
        f"{scenario.workload.arrival_rate_per_s:,g} requests/s · "
        f"{scenario.workload.users:,} users · {scenario.duration_s:g} s per run · "
        f"R = {result.replications} replications · seed {scenario.seed}"
    )
    _facts_suptitle(fig, title, facts)
    return fig


def _repeat_last(values: FloatArray) -> FloatArray:
    """Values for a ``steps-post`` line over bucket edges: the last one repeated."""
    return _as_float(np.append(values, values[-1])) if len(values) else values


def _level_label(value: float, percent: bool) -> str:
    return f"{value:.1f}%" if percent else f"{value:.3g}"


def _band_label(result: WelchResult, scale: float, percent: bool) -> str:
    """The band's half-width as the user gave it: a % of the level, or absolute."""
    if result.absolute_tolerance > result.tolerance * abs(result.level):
        half = result.absolute_tolerance * scale
        return f"{half:.3g}{' points' if percent else ''}"
    return f"{result.tolerance:.0%}"


def _welch_lines(ax: Axes, result: WelchResult, label: bool) -> None:
    """The suggested and the current warm-up as vertical lines, labelled on ``label``."""
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    lines: list[tuple[float, str, str, str | tuple[int, tuple[float, float]], str]] = []
    if result.suggested_warmup_s is not None:
        lines.append(
            (
                result.suggested_warmup_s,
                f"suggested warm-up: {_seconds(result.suggested_warmup_s)} s",
                _SUGGESTED_COLOUR,
                "-",
                "welch:suggested",
            )
        )
    elif label:
        ax.text(
            0.01,
            0.97,
            "the smoothed curve did not settle within the run: no suggestion",
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize=_LABEL_SIZE,
            fontstyle="italic",
            color="0.2",
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "0.6"},
            zorder=21,
            gid="welch:unsettled",
        )
    lines.append(
        (
            result.current_warmup_s,
            f"scenario's warmup_s: {_seconds(result.current_warmup_s)} s",
            _CURRENT_COLOUR,
            (0, (5.0, 3.0)),
            "welch:current",
        )
    )
    for x, text, colour, style, gid in lines:
        row = 0 if gid == "welch:suggested" else 1  # the unsettled note takes row 0 too
        ax.axvline(x, color=colour, linestyle=style, linewidth=2.0, zorder=5, gid=gid)
        if label:
            ax.annotate(
                text,
                xy=(x, 1.0 - 0.09 * row),
                xycoords=trans,
                xytext=(5, -6),
                textcoords="offset points",
                ha="left",
                va="top",
                fontsize=_VALUE_SIZE + 1,
                color=colour,
                fontweight="bold",
                bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": colour},
                zorder=21,
                gid=f"{gid}-label",
            )


def _welch_full_axis(ax: Axes, curves: Sequence[FloatArray], percent: bool) -> None:
    """Y limits of the whole-run panel (a log axis for a wide range)."""
    values = np.concatenate([curve[np.isfinite(curve)] for curve in curves])
    if not values.size:
        ax.set_ylim(0, 1)
        return
    positive = values[values > 0]
    if (
        not percent
        and positive.size
        and positive.size == values.size
        and float(positive.max()) / float(positive.min()) > _LOG_SCALE_RATIO
    ):
        ax.set_yscale("log")
        ax.set_ylim(float(positive.min()) / 1.3, float(positive.max()) * 2.0)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        return
    top = float(values.max())
    bottom = min(float(values.min()), 0.0)
    span = top - bottom if top > bottom else 1.0
    ax.set_ylim(bottom - span * _ZERO_MARGIN, top + span * 0.25)


def _welch_zoom_axis(ax: Axes, level: float, half: float, curves: Sequence[FloatArray]) -> None:
    """Y limits of the zoom panel: the level ± a few band half-widths."""
    if not math.isfinite(level):
        ax.set_ylim(0, 1)
        return
    finite = np.concatenate([curve[np.isfinite(curve)] for curve in curves])
    if half <= 0:
        spread = float(np.abs(finite - level).max(initial=0.0)) if finite.size else 0.0
        half = spread / _ZOOM_HALF_WIDTHS if spread > 0 else max(abs(level) * 0.05, 1e-3)
    bottom, top = level - _ZOOM_HALF_WIDTHS * half, level + _ZOOM_HALF_WIDTHS * half
    if finite.size and float(finite.min()) >= 0 and bottom < 0:
        bottom = -(top - max(bottom, 0.0)) * _ZERO_MARGIN  # a metric that cannot go below 0
    ax.set_ylim(bottom, top)


def _facts_suptitle(fig: Figure, title: str, facts: str) -> None:
    """A title and a line of facts, wrapped to the figure's width (as :func:`_suptitle`)."""
    width = max(int(fig.get_figwidth() * 8), 30)
    lines = [*textwrap.wrap(title, width), *textwrap.wrap(facts, width)]
    fig.suptitle("\n".join(lines), fontsize=_SUPTITLE_SIZE)


# ----------------------------------------------------- replications with intervals

_CI_PERCENTILES: tuple[tuple[str, str, float], ...] = (
    ("latency_ms.p50", "p50 (median)", 0.40),
    ("latency_ms.p95", "p95", 0.70),
    ("latency_ms.p99", "p99", 1.00),
)
_CI_CAPSIZE = 5.0
_PAIRED_METRIC = "latency_ms.mean"
_SIGNIFICANT_COLOUR = "black"
_NOT_SIGNIFICANT_COLOUR = "0.6"


def comparison_ci_figure(replicated: ReplicatedResult) -> Figure:
    """The strategies side by side over R replications, with 95% confidence intervals.

    Each bar is the mean over the replications and its error bar the Student-t 95%
    interval of that mean (``ReplicatedResult.interval``; none with a single
    replication); the number on the bar is ``mean ± half-width``.

    - (a) Success rate, % (dashed: 1/N, where ``local`` lands with no affinity).
    - (b) Latency of served requests, ms: p50, p95 and p99 per strategy (a log axis
      when the values span more than a factor of 20).
    - (c) Load skew as peak-to-mean jobs per server (1 = even).
    - (d) Jain's fairness index of the jobs per server (1 = even, 1/N = one server).
    - (e) Paired differences of mean latency, ``a − b`` per replication (the same
      traffic for both, so the traffic's noise cancels), as horizontal 95% intervals
      with a vertical line at zero: an interval that does not cross zero (black) is a
      difference the replications support; one that does (grey) is not.

    Args:
        replicated: what :func:`simulator.experiments.replications.run_replications` returned.

    Returns:
        A new figure (not registered with pyplot), titled with the scenario's name.
    """
    scenario = replicated.scenario
    servers = scenario.cluster.servers
    names = replicated.strategies
    fig = _DisplayFigure(figsize=(15.0, 14.5), layout="constrained")
    panels = fig.subplot_mosaic([["a", "b"], ["c", "d"], ["e", "e"]], height_ratios=[1, 1, 0.9])
    _ci_bar_panel(
        panels["a"],
        replicated,
        "success_rate",
        scale=100.0,
        fmt=lambda mean, half: f"{mean:.1f}%" + _plus_minus(half, 1),
    )
    _reference_line(panels["a"], 100.0 / servers, f"1/N = {100.0 / servers:.3g}%", dashed=True)
    panels["a"].set_ylim(0, 118)
    panels["a"].yaxis.set_major_formatter(PercentFormatter(100, decimals=0))
    panels["a"].set_ylabel("requests served, no error, no re-login (%)", fontsize=_LABEL_SIZE)
    panels["a"].set_title("(a) Success rate (higher is better)", fontsize=_TITLE_SIZE)
    _ci_latency_panel(panels["b"], replicated)
    highest = _ci_bar_panel(
        panels["c"],
        replicated,
        "load_skew.max_over_mean",
        fmt=lambda mean, half: f"{mean:.2f}×" + _plus_minus(half, 2),
    )
    _reference_line(panels["c"], 1.0, "1 = even", dashed=False)
    panels["c"].set_ylim(0, max(highest * 1.25, 1.5))
    panels["c"].set_ylabel(
        f"busiest server / mean (×)\n1 = even, {servers} = all on one server", fontsize=_LABEL_SIZE
    )
    panels["c"].set_title(
        "(c) Load skew: peak-to-mean jobs per server (lower is better)", fontsize=_TITLE_SIZE
    )
    _ci_bar_panel(
        panels["d"],
        replicated,
        "load_skew.jain",
        fmt=lambda mean, half: f"{mean:.3f}" + _plus_minus(half, 3),
    )
    _reference_line(panels["d"], 1.0, "1 = even", dashed=False)
    if servers > 1:
        _reference_line(panels["d"], 1.0 / servers, f"1/N = {1.0 / servers:.3g}", True)
    panels["d"].set_ylim(0, 1.2)
    panels["d"].set_ylabel("Jain's index (sum x)² / (N · sum x²)", fontsize=_LABEL_SIZE)
    panels["d"].set_title(
        "(d) Load fairness: Jain's index (higher is better)", fontsize=_TITLE_SIZE
    )
    for key in "abcd":
        _strategy_axis(panels[key], names)
    _paired_panel(panels["e"], replicated)
    count = replicated.replications
    if count == 1:
        summary = "one replication: values without intervals (run at least 2)"
    else:
        summary = f"{count} replications, mean and 95% confidence interval"
    title = f"Scenario '{scenario.name}': strategies compared over {summary}"
    facts = (
        f"{servers} server{'s' if servers != 1 else ''} · "
        f"{scenario.workload.arrival_rate_per_s:,g} requests/s · "
        f"{scenario.workload.users:,} users · {scenario.measured_s:g} s measured per run · "
        f"R = {replicated.replications} · seed {scenario.seed}"
    )
    _facts_suptitle(fig, title, facts)
    return fig


def _plus_minus(half: float, decimals: int) -> str:
    """``\n± half`` to ``decimals`` places (``± <0.01`` when smaller; nothing when NaN)."""
    if not math.isfinite(half):
        return ""
    if half == 0:
        return "\n± 0"
    if half < 0.5 * 10.0**-decimals:
        return f"\n± <{10.0**-decimals:.{decimals}f}"
    return f"\n± {half:.{decimals}f}"


def _ci_bar_panel(
    ax: Axes,
    replicated: ReplicatedResult,
    metric: str,
    fmt: Callable[[float, float], str],
    scale: float = 1.0,
) -> float:
    """A bar per strategy at the mean, with its 95% interval; returns the highest top."""
    highest = 0.0
    for x, name in enumerate(replicated.strategies):
        interval = replicated.interval(name, metric)
        if interval.n == 0:
            _note(ax, x, "no value")
            continue
        mean, half = interval.mean * scale, interval.half_width * scale
        bars = ax.bar(x, mean, width=0.6, color=strategy_colour(name), gid=f"ci-bar:{name}")
        if math.isfinite(half):
            ax.errorbar(
                x,
                mean,
                yerr=half,
                fmt="none",
                ecolor="black",
                elinewidth=1.4,
                capsize=_CI_CAPSIZE,
                zorder=4,
                gid=f"ci:{name}",
            )
        highest = max(highest, mean + (half if math.isfinite(half) else 0.0))
        ax.bar_label(bars, labels=[fmt(mean, half)], padding=3, fontsize=_VALUE_SIZE)
    return highest


def _ci_latency_panel(ax: Axes, replicated: ReplicatedResult) -> None:
    """p50, p95 and p99 bars per strategy, each with its interval."""
    names = replicated.strategies
    intervals = {
        (name, metric): replicated.interval(name, metric)
        for name in names
        for metric, _, _ in _CI_PERCENTILES
    }
    values = [
        item.mean
        for item in intervals.values()
        if item.n and math.isfinite(item.mean) and item.mean > 0
    ]
    log = bool(values) and max(values) / min(values) > _LOG_SCALE_RATIO
    if log:
        ax.set_yscale("log")
    width = 0.8 / len(_CI_PERCENTILES)
    tops: list[float] = []
    for x, name in enumerate(names):
        if all(intervals[(name, metric)].n == 0 for metric, _, _ in _CI_PERCENTILES):
            _note(ax, x, "no served\nrequests")
            continue
        for slot, (metric, _, alpha) in enumerate(_CI_PERCENTILES):
            interval = intervals[(name, metric)]
            if interval.n == 0 or (log and interval.mean <= 0):
                continue
            offset = (slot - (len(_CI_PERCENTILES) - 1) / 2) * width
            bars = ax.bar(
                x + offset,
                interval.mean,
                width=width * 0.92,
                color=strategy_colour(name),
                alpha=alpha,
                edgecolor="black",
                linewidth=0.6,
            )
            half = interval.half_width
            if math.isfinite(half):
                # On a log axis the lower whisker stops above zero.
                below = min(half, interval.mean * 0.999) if log else half
                ax.errorbar(
                    x + offset,
                    interval.mean,
                    yerr=[[below], [half]],
                    fmt="none",
                    ecolor="black",
                    elinewidth=1.2,
                    capsize=_CI_CAPSIZE * 0.7,
                    zorder=4,
                    gid=f"ci:{name}:{metric}",
                )
            tops.append(interval.mean + (half if math.isfinite(half) else 0.0))
            ax.bar_label(bars, labels=[_ms_label(interval.mean)], padding=2, fontsize=_VALUE_SIZE)
    _latency_limits_and_legend(
        ax, values, max(tops, default=max(values, default=0.0)), log, _CI_PERCENTILES
    )
    ax.set_ylabel("latency (ms" + (", log scale)" if log else ")"), fontsize=_LABEL_SIZE)
    ax.set_title(
        "(b) Latency of served requests, 95% intervals (lower is better)", fontsize=_TITLE_SIZE
    )


def _paired_panel(ax: Axes, replicated: ReplicatedResult) -> None:
    """Paired differences of mean latency as horizontal intervals around zero."""
    pairs = [pair for pair in replicated.all_paired() if pair.metric == _PAIRED_METRIC]
    ax.axvline(0.0, color=_REFERENCE_COLOUR, linewidth=1.4, zorder=2, gid="zero")
    labels: list[str] = []
    verdicts: list[tuple[str, str]] = []  # (text, colour) at the right of each row
    extent = 0.0
    for y, pair in enumerate(pairs):
        interval = pair.interval
        labels.append(f"{pair.a} − {pair.b}")
        if interval.n == 0 or not math.isfinite(interval.mean):
            verdicts.append(("no value", "0.35"))
            continue
        half = interval.half_width
        known = math.isfinite(half)
        significant = known and interval.excludes(0.0)
        colour = _SIGNIFICANT_COLOUR if significant else _NOT_SIGNIFICANT_COLOUR
        ax.errorbar(
            interval.mean,
            y,
            xerr=half if known else None,
            fmt="o",
            color=colour,
            ecolor=colour,
            elinewidth=2.0,
            capsize=_CI_CAPSIZE,
            markersize=6,
            zorder=4,
            gid=f"paired:{pair.a}-{pair.b}",
        )
        extent = max(extent, abs(interval.mean) + (half if known else 0.0))
        if not known:
            verdict = "one replication: no interval"
        elif significant:
            verdict = "differs"
        else:
            verdict = "no difference shown (interval contains 0)"
        verdicts.append(
            (
                f"{_difference_text(interval.mean, half)}: {verdict}",
                "black" if significant else "0.35",
            )
        )
    # The verdicts are tick labels of a right-hand axis, so the layout makes room for them.
    right = ax.secondary_yaxis("right")
    right.set_yticks(list(range(len(verdicts))), [text for text, _ in verdicts])
    right.tick_params(length=0, labelsize=_VALUE_SIZE)
    for label, (_, colour) in zip(right.get_yticklabels(), verdicts, strict=True):
        label.set_color(colour)
    if not pairs:
        _note_centre(ax, "one strategy only: nothing to pair")
    limit = extent * 1.1 if extent > 0 else 1.0
    ax.set_xlim(-limit, limit)
    ax.set_yticks(list(range(len(pairs))), labels)
    ax.set_ylim(max(len(pairs), 1) - 0.5, -0.5)  # the first pair on top
    ax.tick_params(labelsize=_TICK_SIZE)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_xlabel(
        "difference of mean latency a − b (ms), per replication on the same traffic; "
        "< 0: a is faster",
        fontsize=_LABEL_SIZE,
    )
    ax.set_title(
        "(e) Paired differences of mean latency, 95% intervals (black: the interval "
        "excludes 0; grey: it does not)",
        fontsize=_TITLE_SIZE,
    )


def _difference_text(mean: float, half: float) -> str:
    """``+90.0 ± 6.7 ms``: the mean to the precision of two significant digits of the
    half-width (``+0.56 ms`` with no interval)."""
    if not math.isfinite(half) or half <= 0:
        return f"{mean:+.3g} ms"
    decimals = max(0, 1 - math.floor(math.log10(half)))
    return f"{mean:+.{decimals}f} ± {half:.{decimals}f} ms"


def _latency_limits_and_legend(
    ax: Axes,
    values: list[float],
    top: float,
    log: bool,
    percentiles: Sequence[tuple[str, str, float]],
) -> None:
    """Y limits with headroom above the tallest bar (for its label and the legend), log
    ticks in plain numbers, and a legend of the percentile shades."""
    if values:
        bottom = min(values)
        if log:
            ax.set_ylim(10 ** math.floor(math.log10(bottom) - 0.15), top * 12.0)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        else:
            ax.set_ylim(0, top * 1.35)
    else:
        ax.set_ylim(0, 1)
    legend = [
        Patch(facecolor="0.35", alpha=alpha, edgecolor="black", label=label)
        for _, label, alpha in percentiles
    ]
    ax.legend(
        handles=legend,
        loc="upper center",
        ncols=len(legend),
        fontsize=_VALUE_SIZE + 1,
        framealpha=0.9,
    )


# ------------------------------------------------------------ parameter sweeps

SWEEP_FILE = "sweep_{y}_vs_{x}.png"
"""Default file name of a sweep figure (``y``: the metric, ``x``: the grid key)."""

SWEEP_ID_COLUMNS: tuple[str, ...] = (
    "point",
    "replication",
    "strategy",
    "seed",
    "requests",
    "error",
)
"""Columns of a sweep's ``results.csv`` that are neither a grid key nor a metric."""

_SWEEP_BAND_ALPHA = 0.2
_SWEEP_MARKERS = ("o", "s", "^", "D", "v", "P")

_SWEEP_UNITS: dict[str, str] = {
    "success_rate": "%",
    "forced_relogins": "requests",
    "login_cpu_s": "CPU s",
    "throughput_per_s": "requests/s",
    "load_skew.max_over_mean": "×, 1 = even",
    "load_skew.cv": "dimensionless",
    "load_skew.jain": "1 = even",
    "store.utilisation": "fraction of time busy",
    "store.ops_per_request": "operations per request",
    "credential_bytes": "bytes",
    "refreshes": "tokens renewed",
    "exposure.accepted_after_revocation": "requests",
    "cluster.servers": "servers",
    "workload.arrival_rate_per_s": "requests/s",
    "workload.users": "users",
}


def sweep_figure(
    rows: pd.DataFrame,
    x: str,
    y: str,
    *,
    facet: str | None = None,
    grid_keys: list[str] | None = None,
) -> Figure:
    """One metric of a parameter sweep against one grid key, a line per strategy.

    Each line is the mean of ``y`` over the replications at each value of ``x``, with a
    marker at every grid point and a band for the Student-t 95% confidence interval of
    that mean (:func:`simulator.experiments.replications.mean_interval`; no band with a single
    replication). A numeric ``x`` is drawn at its values, sorted; any other ``x`` as
    ordered categories (a pandas ordered categorical keeps its order, otherwise the
    order of the sweep's points). ``success_rate`` is shown in percent; latencies in ms.

    Artists carry a ``gid``: ``sweep:<strategy>`` (a line) and ``sweep-ci:<strategy>``
    (a band).

    Args:
        rows: a sweep's ``results.csv``: columns ``point``, ``replication``,
            ``strategy``, one per grid key, ``seed``, ``requests``, the metrics and
            ``error``. Rows with a non-empty ``error`` are left out (and counted in a
            footnote).
        x: the grid key on the x axis.
        y: the metric column on the y axis.
        facet: a second grid key: one panel per value of it (sharing the y axis).
        grid_keys: every grid key of the sweep; by default the columns between
            ``strategy`` and ``seed`` (or every column that is neither an id column nor a
            known metric). Each grid key other than ``x`` and ``facet`` must take one
            value only in ``rows``.

    Returns:
        A new figure (not registered with pyplot), one axes per facet value.

    Raises:
        ValueError: a column is missing, ``x`` or ``facet`` is not a grid key, ``y`` is
            not numeric, ``facet`` equals ``x``, or another grid key takes more than one
            value.
    """
    keys = list(grid_keys) if grid_keys is not None else _sweep_grid_keys(rows)
    for role, column in (("x", x), ("y", y), ("facet", facet)):
        if column is not None and column not in rows.columns:
            raise ValueError(f"{role}: no column {column!r} in the sweep's rows")
    for role, key in (("x", x), ("facet", facet)):
        if key is not None and key not in keys:
            raise ValueError(
                f"{role}: {key!r} is not a grid key of the sweep; grid keys: "
                + (", ".join(keys) or "none")
            )
    if facet is not None and facet == x:
        raise ValueError(f"facet: {facet!r} is already the x axis; choose another grid key")
    if y in keys or y in SWEEP_ID_COLUMNS:
        raise ValueError(f"y: {y!r} is not a metric column")
    fixed: list[str] = []
    for key in keys:
        if key in (x, facet) or key not in rows.columns:
            continue
        values = _ordered_values(rows, key)
        if len(values) > 1:
            shown = ", ".join(str(value) for value in values[:6])
            more = ", ..." if len(values) > 6 else ""
            raise ValueError(
                f"grid key {key!r} takes {len(values)} values ({shown}{more}) but is neither "
                f"x nor facet: keep the rows of one value (e.g. rows[rows[{key!r}] == "
                f"{values[0]!r}]) or pass it as facet"
            )
        if values:
            fixed.append(f"{key} = {values[0]}")
    errors = _sweep_error_mask(rows)
    valid = rows.loc[~errors]
    scale = 100.0 if y == "success_rate" else 1.0
    try:
        measured = pd.to_numeric(valid[y], errors="raise").astype("float64") * scale
    except (ValueError, TypeError):
        raise ValueError(f"y: column {y!r} is not numeric") from None
    valid = valid.assign(_y=measured)

    numeric_x = pd.api.types.is_numeric_dtype(rows[x]) and not pd.api.types.is_bool_dtype(rows[x])
    x_values = _ordered_values(rows, x)
    positions: dict[object, float] = {
        value: (float(value) if numeric_x else float(index))  # type: ignore[arg-type]
        for index, value in enumerate(x_values)
    }
    facet_values: list[object] = _ordered_values(rows, facet) if facet is not None else [None]
    strategies = [str(name) for name in pd.unique(rows["strategy"].astype(str))]
    replications = int(valid["replication"].nunique()) if "replication" in valid else 0

    count = max(len(facet_values), 1)
    ncols = min(count, 3)
    nrows = math.ceil(count / ncols)
    fig = _DisplayFigure(figsize=(5.6 * ncols + 2.4, 4.6 * nrows + 1.8), layout="constrained")
    grid = fig.subplots(nrows, ncols, sharey=True, squeeze=False)
    flat: list[Axes] = [ax for row in grid for ax in row]
    for ax in flat[count:]:
        fig.delaxes(ax)
    handles: dict[str, Line2D] = {}
    without_values: set[str] = set(strategies)
    drawn: list[float] = []
    for ax, facet_value in zip(flat, facet_values, strict=False):
        panel = valid if facet is None else valid.loc[valid[facet] == facet_value]
        for name in strategies:
            points = _sweep_points(panel.loc[panel["strategy"].astype(str) == name], x)
            points.sort(key=lambda point: positions[point[0]])
            xs = np.array([positions[value] for value, _ in points], dtype=np.float64)
            means = np.array([interval.mean for _, interval in points], dtype=np.float64)
            halves = np.array([interval.half_width for _, interval in points], dtype=np.float64)
            if not np.isfinite(means).any():
                continue
            without_values.discard(name)
            drawn.extend(means[np.isfinite(means)].tolist())
            colour = strategy_colour(name)
            # Equal values must not hide each other: the first strategy is the widest
            # solid line with the biggest marker, later ones thinner, dashed and smaller.
            order = strategies.index(name)
            later = len(strategies) - 1 - order
            dashes = _DASHES[min(order, len(_DASHES)) - 1] if order else None
            (line,) = ax.plot(
                xs,
                means,
                marker=_SWEEP_MARKERS[order % len(_SWEEP_MARKERS)],
                markersize=5.0 + 1.5 * later,
                linewidth=_THINNEST_LINE + _LINE_WIDTH_STEP * later,
                linestyle=(0, dashes) if dashes else "-",
                dash_capstyle="butt",
                color=colour,
                label=name,
                gid=f"sweep:{name}",
                zorder=3 + order,
            )
            handles.setdefault(name, line)
            if np.isfinite(halves).any():
                ax.fill_between(
                    xs,
                    means - halves,
                    means + halves,
                    color=colour,
                    alpha=_SWEEP_BAND_ALPHA,
                    linewidth=0,
                    gid=f"sweep-ci:{name}",
                    zorder=2,
                )
        if facet is not None:
            ax.set_title(f"{facet} = {facet_value}", fontsize=_TITLE_SIZE)
        if not numeric_x:
            ax.set_xticks([positions[value] for value in x_values], [str(v) for v in x_values])
            ax.set_xlim(-0.5, len(x_values) - 0.5)
        elif len(x_values) <= 12:
            ax.set_xticks([positions[value] for value in x_values])
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.set_xlabel(_sweep_label(x), fontsize=_LABEL_SIZE)
        ax.tick_params(labelsize=_TICK_SIZE)
        ax.grid(alpha=0.3)
        ax.set_axisbelow(True)
        if y == "success_rate":
            ax.yaxis.set_major_formatter(PercentFormatter(100, decimals=0))
    # Lines that differ by more than a factor of 20 (all above 0): a log y axis, so the
    # low lines do not flatten into one.
    log = (
        y != "success_rate"
        and bool(drawn)
        and min(drawn) > 0
        and max(drawn) / min(drawn) > _LOG_SCALE_RATIO
    )
    for row in grid:
        if log:
            row[0].set_yscale("log")
            row[0].yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        label = _sweep_label(y)
        row[0].set_ylabel(label + (", log scale" if log else ""), fontsize=_LABEL_SIZE)
    if handles:
        fig.legend(
            handles=list(handles.values()),
            labels=list(handles),
            loc="outside right center",
            fontsize=_VALUE_SIZE + 1,
            title="strategy",
            title_fontsize=_VALUE_SIZE + 1,
        )
    else:
        _note_centre(flat[0], "no values to plot")
    if replications >= 2:
        summary = f"mean of {replications} replications, 95% confidence band"
    else:
        summary = "one replication: no confidence band"
    title = f"{_sweep_label(y)} vs {x}" + (f", by {facet}" if facet else "")
    _facts_suptitle(fig, title, " · ".join([summary, *fixed]))
    notes: list[str] = []
    ignored = int(errors.sum())
    if ignored:
        notes.append(f"{ignored} row{'s' if ignored != 1 else ''} with an error ignored")
    if without_values and handles:
        notes.append(f"no values of {y}: " + ", ".join(sorted(without_values)))
    if notes:
        fig.supxlabel("; ".join(notes), fontsize=_VALUE_SIZE, color="0.35")
    return fig


def _sweep_grid_keys(rows: pd.DataFrame) -> list[str]:
    """The grid keys of a sweep's rows: the columns between ``strategy`` and ``seed``."""
    columns = [str(column) for column in rows.columns]
    if "strategy" in columns and "seed" in columns:
        start, end = columns.index("strategy"), columns.index("seed")
        if start < end:
            return columns[start + 1 : end]
    known = set(SWEEP_ID_COLUMNS) | set(METRICS)
    return [column for column in columns if column not in known]


def _sweep_error_mask(rows: pd.DataFrame) -> pd.Series[bool]:
    """True for the rows whose ``error`` is set (not empty, not NaN)."""
    if "error" not in rows.columns:
        return pd.Series(False, index=rows.index, dtype=bool)
    error = rows["error"]
    return error.notna() & (error.astype(str).str.strip() != "")


def _ordered_values(rows: pd.DataFrame, key: str) -> list[object]:
    """The distinct values of a column: sorted when numeric, in category order for an
    ordered categorical, else in the order of the sweep's points."""
    column = rows[key]
    if isinstance(column.dtype, pd.CategoricalDtype) and column.dtype.ordered:
        present = set(column.dropna())
        return [value for value in column.cat.categories if value in present]
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return sorted(pd.unique(column.dropna()).tolist())
    ordered = rows.sort_values("point", kind="stable") if "point" in rows.columns else rows
    return list(pd.unique(ordered[key].dropna()))


def _sweep_points(rows: pd.DataFrame, x: str) -> list[tuple[object, Interval]]:
    """(x value, interval of the mean of ``_y`` over replications) per x value."""
    points: list[tuple[object, Interval]] = []
    for value, group in rows.groupby(x, sort=False, observed=True):
        points.append((value, mean_interval(group["_y"].to_numpy(dtype=np.float64).tolist())))
    return points


def _sweep_label(column: str) -> str:
    """A column's name with its unit: a metric, or a grid key (by its suffix)."""
    unit = _SWEEP_UNITS.get(column)
    if unit is None:
        if column.endswith(("_ms", "_ms.mean")) or column.startswith("latency_ms."):
            unit = "ms"
        elif column.endswith("_per_s"):
            unit = "per s"
        elif column.endswith("_s"):
            unit = "s"
    return f"{column} ({unit})" if unit else column
