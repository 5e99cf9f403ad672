"""The figures of one run: the strategies side by side (:func:`comparison_figure`), the
jobs each server received (:func:`server_load_figure`), and :func:`save_figures`, which
writes every figure of a run as a PNG file under the names of :mod:`simulator.results.io`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from simulator.present.format import count as count_text
from simulator.present.format import percent
from simulator.present.palette import strategy_colour
from simulator.present.plots.heatmap import server_heatmap_figure
from simulator.present.plots.style import (
    LABEL_SIZE,
    LOG_SCALE_RATIO,
    MAX_SERVER_TICKS,
    TICK_SIZE,
    TITLE_SIZE,
    VALUE_SIZE,
    DisplayFigure,
    bar_note,
    latency_limits_and_legend,
    ms_label,
    reference_line,
    run_suptitle,
    save_png,
    strategy_axis,
)
from simulator.present.plots.timeseries import TIMESERIES_METRICS, timeseries_figure
from simulator.results.io import COMPARISON_PNG, SERVER_HEATMAP_PNG, SERVER_LOAD_PNG, TIMESERIES_PNG
from simulator.results.records import RunResult, StrategyResult

_PERCENTILES: tuple[tuple[str, str, float], ...] = (
    # (key in latency_ms, legend label, bar opacity)
    ("p50", "p50 (median)", 0.40),
    ("p95", "p95", 0.70),
    ("p99", "p99", 1.00),
)

_MAX_SERVER_VALUES = 8  # write the job count on each bar up to this many servers
_MAX_SERVER_EDGES = 12  # outline bars up to this many servers (thin bars stay plain)


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
    fig = DisplayFigure(figsize=(15.0, 10.0), layout="constrained")
    axes = fig.subplots(2, 2)
    _success_panel(axes[0, 0], result.results, servers)
    _latency_panel(axes[0, 1], result.results)
    _peak_to_mean_panel(axes[1, 0], result.results, servers)
    _jain_panel(axes[1, 1], result.results, servers)
    run_suptitle(fig, f"Scenario '{result.scenario.name}': login-state strategies compared", result)
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
    fig = DisplayFigure(
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
            ax.set_ylabel("jobs received\n(requests + logins + retries)", fontsize=LABEL_SIZE)
    run_suptitle(fig, f"Scenario '{result.scenario.name}': jobs received per server", result)
    return fig


def save_figures(result: RunResult, out_dir: Path) -> list[Path]:
    """Draw the run's figures and write them as PNG files.

    Writes, at :data:`~simulator.present.plots.style.DPI` dots per inch and in this
    order: ``comparison.png`` (:func:`comparison_figure`), ``server_load.png``
    (:func:`server_load_figure`), one ``timeseries_<metric>.png`` per metric of
    :data:`TIMESERIES_METRICS` (:func:`timeseries_figure`), and ``server_heatmap.png``
    (:func:`server_heatmap_figure`), under the names of :mod:`simulator.results.io`.
    Each file is written to a temporary file in ``out_dir`` and then renamed over the
    target, so an interrupted run never leaves a half-written PNG behind.

    Args:
        result: the run to draw.
        out_dir: folder to write into; created if missing.

    Returns:
        The paths written, in the order above.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    makers: list[tuple[str, Callable[[RunResult], Figure]]] = [
        (COMPARISON_PNG, comparison_figure),
        (SERVER_LOAD_PNG, server_load_figure),
    ]
    makers += [
        (TIMESERIES_PNG.format(metric=metric), functools.partial(_timeseries_maker, metric))
        for metric in TIMESERIES_METRICS
    ]
    makers.append((SERVER_HEATMAP_PNG, server_heatmap_figure))
    written: list[Path] = []
    for filename, make in makers:
        fig = make(result)
        try:
            written.append(save_png(fig, out_dir / filename))
        finally:
            fig.clear()  # not registered with pyplot: clearing and dropping it frees it
            del fig
    return written


def _timeseries_maker(metric: str, result: RunResult) -> Figure:
    """:func:`timeseries_figure` with the metric first, for :func:`functools.partial`."""
    return timeseries_figure(result, metric)


def _success_panel(ax: Axes, strategies: Sequence[StrategyResult], servers: int) -> None:
    names = [s.strategy for s in strategies]
    positions = list(range(len(names)))
    for x, strategy in zip(positions, strategies, strict=True):
        rate = strategy.success_rate
        if rate is None:
            bar_note(ax, x, "no requests")
            continue
        bars = ax.bar(x, rate * 100.0, width=0.6, color=strategy_colour(strategy.strategy))
        ax.bar_label(bars, labels=[_percent_label(rate)], padding=3, fontsize=VALUE_SIZE + 1)
    reference_line(ax, 100.0 / servers, f"1/N = {100.0 / servers:.3g}%", dashed=True)
    ax.set_ylim(0, 112)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_formatter(PercentFormatter(100, decimals=0))
    strategy_axis(ax, names)
    ax.set_ylabel("requests served, no error, no re-login (%)", fontsize=LABEL_SIZE)
    ax.set_title("(a) Success rate (higher is better)", fontsize=TITLE_SIZE)


def _latency_panel(ax: Axes, strategies: Sequence[StrategyResult]) -> None:
    names = [s.strategy for s in strategies]
    values = [
        v
        for s in strategies
        for key, _, _ in _PERCENTILES
        if (v := s.latency_ms.get(key)) is not None and v > 0
    ]
    log = bool(values) and max(values) / min(values) > LOG_SCALE_RATIO
    if log:
        ax.set_yscale("log")
    width = 0.8 / len(_PERCENTILES)
    for x, strategy in enumerate(strategies):
        colour = strategy_colour(strategy.strategy)
        if all(strategy.latency_ms.get(key) is None for key, _, _ in _PERCENTILES):
            bar_note(ax, x, "no served\nrequests")
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
            ax.bar_label(bars, labels=[ms_label(value)], padding=2, fontsize=VALUE_SIZE)
    latency_limits_and_legend(ax, values, max(values, default=0.0), log, _PERCENTILES)
    strategy_axis(ax, names)
    ax.set_ylabel("latency (ms" + (", log scale)" if log else ")"), fontsize=LABEL_SIZE)
    ax.set_title("(b) Latency of served requests (lower is better)", fontsize=TITLE_SIZE)


def _peak_to_mean_panel(ax: Axes, strategies: Sequence[StrategyResult], servers: int) -> None:
    names = [s.strategy for s in strategies]
    highest = 1.0
    for x, strategy in enumerate(strategies):
        value = strategy.load_skew.get("max_over_mean")
        if value is None:
            bar_note(ax, x, "no load")
            continue
        highest = max(highest, value)
        bars = ax.bar(x, value, width=0.6, color=strategy_colour(strategy.strategy))
        ax.bar_label(bars, labels=[f"{value:.2f}×"], padding=3, fontsize=VALUE_SIZE + 1)
    reference_line(ax, 1.0, "1 = even", dashed=False)
    ax.set_ylim(0, max(highest * 1.18, 1.5))
    strategy_axis(ax, names)
    ax.set_ylabel(
        f"busiest server / mean (×)\n1 = even, {servers} = all on one server", fontsize=LABEL_SIZE
    )
    ax.set_title(
        "(c) Load skew: peak-to-mean jobs per server (lower is better)", fontsize=TITLE_SIZE
    )


def _jain_panel(ax: Axes, strategies: Sequence[StrategyResult], servers: int) -> None:
    names = [s.strategy for s in strategies]
    for x, strategy in enumerate(strategies):
        value = strategy.load_skew.get("jain")
        if value is None:
            bar_note(ax, x, "no load")
            continue
        bars = ax.bar(x, value, width=0.6, color=strategy_colour(strategy.strategy))
        ax.bar_label(bars, labels=[f"{value:.3f}"], padding=3, fontsize=VALUE_SIZE + 1)
    reference_line(ax, 1.0, "1 = even", dashed=False)
    if servers > 1:
        reference_line(ax, 1.0 / servers, f"1/N = {1.0 / servers:.3g}\n(one server)", True)
    ax.set_ylim(0, 1.15)
    strategy_axis(ax, names)
    ax.set_ylabel("Jain's index (sum x)² / (N · sum x²)", fontsize=LABEL_SIZE)
    ax.set_title("(d) Load fairness: Jain's index (higher is better)", fontsize=TITLE_SIZE)


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
        ax.bar_label(bars, labels=labels, padding=2, fontsize=VALUE_SIZE)
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
        fontsize=VALUE_SIZE + 1,
        bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "0.7"},
    )
    ax.set_xlim(-0.6, max(count, 1) - 0.4)
    if count <= MAX_SERVER_TICKS:
        ax.set_xticks(positions)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    # Room above the tallest bar (of any panel: the y axis is shared) for the text box.
    ax.set_ylim(0, peak * 1.3 if peak > 0 else 1)
    ax.yaxis.set_major_locator(MaxNLocator(nbins="auto", integer=True, steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.tick_params(labelsize=TICK_SIZE)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_xlabel("server (index)", fontsize=LABEL_SIZE)
    ax.set_title(strategy.strategy, fontsize=TITLE_SIZE, fontweight="bold")


def _percent_label(rate: float) -> str:
    """A success rate as a percentage that never rounds a near-miss up to 100%."""
    label = percent(rate)
    if rate < 1.0 and label == "100.0%":
        return ">99.9%"
    return label


def _count_label(value: float) -> str:
    """A mean count: one decimal below 100, whole numbers with thousands separators above."""
    if value < 100:
        return f"{value:.1f}"
    return count_text(value)
