"""Metrics over simulated time (:func:`timeseries_figure`): a line per strategy, with the
run's events marked; :func:`timeseries_values` gives the numbers a line is drawn from.

Artists carry a ``gid`` to find them by: ``series:<strategy>`` (a strategy's line),
``reference`` (the arrivals) and ``event`` (an event's line or band).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, NullFormatter, PercentFormatter

from simulator.present.palette import strategy_colour
from simulator.present.plots.events import (
    draw_events,
    label_events,
    shown_events,
    time_label,
    time_window,
)
from simulator.present.plots.style import (
    DASHES,
    LABEL_SIZE,
    LINE_WIDTH_STEP,
    LOG_SCALE_RATIO,
    REFERENCE_COLOUR,
    THINNEST_LINE,
    TICK_SIZE,
    VALUE_SIZE,
    ZERO_MARGIN,
    DisplayFigure,
    as_float,
    centre_note,
    plain_ticks,
    run_suptitle,
)
from simulator.results.records import RunResult
from simulator.results.timeseries import FloatArray, StrategySeries

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
    start_s, end_s, bucket_s = time_window(result)
    drawn = [(item.strategy, item.series) for item in result.results if item.series]
    shown, hidden = shown_events(result.events, start_s, end_s)
    if metric == "latency":
        fig = DisplayFigure(figsize=(13.0, 10.5), layout="constrained")
        axes: list[Axes] = list(fig.subplots(3, 1, sharex=True, sharey=True))
        handles, labels = _latency_panels(axes, drawn)
    else:
        fig = DisplayFigure(figsize=(13.0, 6.8), layout="constrained")
        axes = [fig.subplots()]
        handles, labels = _metric_panel(axes[0], spec, drawn, bucket_s)
    for ax in axes:
        draw_events(ax, shown, on_heatmap=False)
        ax.set_xlim(start_s, end_s)
        ax.tick_params(labelsize=TICK_SIZE)
        ax.grid(alpha=0.3)
        ax.set_axisbelow(True)
        if not drawn:
            centre_note(ax, "no time series in this result")
    axes[-1].set_xlabel(time_label(bucket_s, hidden), fontsize=LABEL_SIZE)
    if handles:
        fig.legend(
            handles=handles,
            labels=labels,
            loc="outside right upper",
            fontsize=VALUE_SIZE + 1,
            title="strategy",
            title_fontsize=VALUE_SIZE + 1,
        )
    run_suptitle(fig, f"Scenario '{result.scenario.name}': {spec.title}", result)
    meaning = spec.meaning.format(bucket=f"{bucket_s:g}-s")
    label_events(fig, axes[0], shown, meaning)
    return fig


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


_METRICS: dict[str, _Metric] = {
    "success_rate": _Metric(
        title="success rate over time (%)",
        meaning=(
            "Requests served with no error and no forced re-login, in % of the requests "
            "that arrived in each {bucket} bucket (higher is better)"
        ),
        ylabel="success rate (%)",
        values=lambda series: as_float(series.success_rate * 100.0),
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
        values=lambda series: as_float(series.served / series.bucket_s),
        arrivals=True,
    ),
    "latency": _Metric(
        title="latency of served requests over time (ms)",
        meaning=(
            "Arrival-to-answer time of the requests served in each {bucket} bucket: "
            "p50, p95 and p99 (lower is better)"
        ),
        ylabel="latency (ms)",
        values=lambda series: as_float(series.latency_ms[1]),
        gap="nothing served",
    ),
    "forced_relogins": _Metric(
        title="forced re-logins over time (per bucket)",
        meaning=(
            "Requests whose credential was rejected, forcing the user to log in again, "
            "per {bucket} bucket by arrival time (lower is better)"
        ),
        ylabel="forced re-logins per bucket",
        values=lambda series: as_float(series.forced_relogins),
        counts=True,
    ),
    "login_cpu": _Metric(
        title="login CPU over time (s per bucket): the login storm",
        meaning=(
            "CPU seconds spent hashing passwords for forced logins that finished in each "
            "{bucket} bucket; right axis: the same as CPU cores kept busy"
        ),
        ylabel="login CPU (s per bucket)",
        values=lambda series: as_float(series.login_cpu_s),
        cores=True,
    ),
    "queue_length": _Metric(
        title="queue length over time (jobs waiting)",
        meaning=(
            "Jobs waiting for a free worker, summed over all servers "
            "(mean of the samples in each {bucket} bucket; lower is better)"
        ),
        ylabel="jobs waiting (all servers)",
        values=lambda series: as_float(series.queue_length.sum(axis=0)),
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
        ax.set_ylim(-105 * ZERO_MARGIN, 105)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        ax.yaxis.set_major_formatter(PercentFormatter(100, decimals=0))
    else:
        finite = [float(np.nanmax(line.get_ydata())) for line in handles if _has_values(line)]
        top = max(finite, default=0.0)
        if spec.arrivals and drawn:
            series = drawn[0][1]
            arrivals = as_float(series.requests / series.bucket_s)
            top = max(top, float(arrivals.max(initial=0.0)))
            reference = ax.plot(
                *_steps(series, arrivals),
                drawstyle="steps-post",
                color=REFERENCE_COLOUR,
                linestyle=(0, (4, 2)),
                linewidth=1.2,
                zorder=2.5,  # under the strategies: it shows where they fall short
                gid="reference",
            )[0]
            handles.append(reference)
            labels.append("arrivals per second\n(the same traffic for all)")
        top = top * 1.08 if top > 0 else 1.0
        ax.set_ylim(-top * ZERO_MARGIN, top)
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
        cores.set_ylabel("CPU cores busy hashing\n(s of CPU per s)", fontsize=LABEL_SIZE)
        cores.tick_params(labelsize=TICK_SIZE)
    ax.set_ylabel(spec.ylabel, fontsize=LABEL_SIZE)
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
    log = bool(values) and max(values) / min(values) > LOG_SCALE_RATIO
    handles: list[Line2D] = []
    labels: list[str] = []
    for ax, (row, name) in zip(axes, _LATENCY_PANELS, strict=True):
        panel = [(strategy, series, as_float(series.latency_ms[row])) for strategy, series in drawn]
        lines, texts = _strategy_lines(ax, panel, _METRICS["latency"].gap)
        if not handles:
            handles, labels = lines, texts
        ax.set_ylabel(f"{name}\nlatency (ms{', log' if log else ''})", fontsize=LABEL_SIZE)
    ax = axes[0]
    if log:
        ax.set_yscale("log")
        ax.set_ylim(10 ** math.floor(math.log10(min(values)) - 0.05), max(values) * 1.6)
        for panel_ax in axes:
            panel_ax.yaxis.set_major_formatter(plain_ticks())
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
        width = THINNEST_LINE + LINE_WIDTH_STEP * (count - 1 - index)
        dashes = DASHES[min(index, len(DASHES)) - 1] if index else None
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


def _steps(series: StrategySeries, values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Points for a ``steps-post`` line: every bucket's start, then the end of the last
    one (seconds), with the last value repeated so the last bucket is drawn too."""
    if not len(values):
        return as_float(series.t_s), values
    edges = np.append(series.t_s, series.t_s[-1] + series.bucket_s)
    return as_float(edges), as_float(np.append(values, values[-1]))


def _has_values(line: Line2D) -> bool:
    return bool(np.isfinite(np.asarray(line.get_ydata(), dtype=np.float64)).any())
