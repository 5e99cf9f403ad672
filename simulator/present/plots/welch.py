"""The warm-up figure (:func:`welch_figure`): Welch's graphical method, the curve a
warm-up is read from, with the suggested and the current warm-up marked.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, PercentFormatter
from matplotlib.transforms import blended_transform_factory

from simulator.experiments.warmup import WELCH_METRICS, WelchResult
from simulator.present.palette import strategy_colour
from simulator.present.plots.style import (
    LABEL_SIZE,
    LOG_SCALE_RATIO,
    TICK_SIZE,
    TITLE_SIZE,
    VALUE_SIZE,
    ZERO_MARGIN,
    DisplayFigure,
    as_float,
    facts_suptitle,
    plain_ticks,
    seconds_text,
    servers_text,
)
from simulator.results.timeseries import FloatArray

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
    t_s = as_float(result.t_s)
    edges = np.append(t_s, t_s[-1] + result.bucket_s) if len(t_s) else t_s
    averaged = as_float(result.averaged) * scale
    smoothed = as_float(result.smoothed) * scale
    replications = as_float(result.per_replication) * scale
    level = result.level * scale
    low, high = (value * scale for value in result.band)
    colour = strategy_colour(result.strategy)
    fig = DisplayFigure(figsize=(13.0, 10.0), layout="constrained")
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
        ax.tick_params(labelsize=TICK_SIZE)
        if len(edges):
            ax.set_xlim(float(edges[0]), float(edges[-1]))
        if spec.percent:
            ax.yaxis.set_major_formatter(PercentFormatter(100, decimals=1))
    _welch_full_axis(full, [replications.ravel(), averaged, smoothed], spec.percent)
    _welch_zoom_axis(zoom, level, (high - low) / 2, [averaged, smoothed])
    full.set_ylabel(spec.label.replace(" (ms)", "\n(ms)"), fontsize=LABEL_SIZE)
    zoom.set_ylabel("zoom on the band", fontsize=LABEL_SIZE)
    full.set_title(
        f"(a) The whole run, from t = 0 (warmup_s set to 0 for these runs), "
        f"{result.bucket_s:g}-s buckets",
        fontsize=TITLE_SIZE,
    )
    zoom.set_title(
        f"(b) Zoom: the suggestion is where the smoothed curve enters the band for good "
        f"(level ± {_band_label(result, scale, spec.percent)})",
        fontsize=TITLE_SIZE,
    )
    xlabel = (
        f"simulated time since the start of the run (s); one step per {result.bucket_s:g}-s bucket"
    )
    for note in result.notes:
        xlabel += "\n" + textwrap.fill(f"note: {note}", 130)
    zoom.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    full.legend(loc="best", fontsize=VALUE_SIZE + 1, framealpha=0.92)
    scenario = result.scenario
    if result.suggested_warmup_s is None:
        verdict = "did not settle within the run"
    else:
        verdict = f"suggested warm-up {seconds_text(result.suggested_warmup_s)} s"
    title = (
        f"Scenario '{scenario.name}': warm-up by Welch's method, {result.strategy}, "
        f"{result.metric}: {verdict}"
    )
    facts = (
        f"{servers_text(scenario.cluster.servers)} · "
        f"{scenario.workload.arrival_rate_per_s:,g} requests/s · "
        f"{scenario.workload.users:,} users · {scenario.duration_s:g} s per run · "
        f"R = {result.replications} replications · seed {scenario.seed}"
    )
    facts_suptitle(fig, title, facts)
    return fig


def _repeat_last(values: FloatArray) -> FloatArray:
    """Values for a ``steps-post`` line over bucket edges: the last one repeated."""
    return as_float(np.append(values, values[-1])) if len(values) else values


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
                f"suggested warm-up: {seconds_text(result.suggested_warmup_s)} s",
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
            fontsize=LABEL_SIZE,
            fontstyle="italic",
            color="0.2",
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "0.6"},
            zorder=21,
            gid="welch:unsettled",
        )
    lines.append(
        (
            result.current_warmup_s,
            f"scenario's warmup_s: {seconds_text(result.current_warmup_s)} s",
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
                fontsize=VALUE_SIZE + 1,
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
        and float(positive.max()) / float(positive.min()) > LOG_SCALE_RATIO
    ):
        ax.set_yscale("log")
        ax.set_ylim(float(positive.min()) / 1.3, float(positive.max()) * 2.0)
        ax.yaxis.set_major_formatter(plain_ticks())
        ax.yaxis.set_minor_formatter(NullFormatter())
        return
    top = float(values.max())
    bottom = min(float(values.min()), 0.0)
    span = top - bottom if top > bottom else 1.0
    ax.set_ylim(bottom - span * ZERO_MARGIN, top + span * 0.25)


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
        bottom = -(top - max(bottom, 0.0)) * ZERO_MARGIN  # a metric that cannot go below 0
    ax.set_ylim(bottom, top)
