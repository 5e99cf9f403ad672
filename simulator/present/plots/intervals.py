"""The strategies compared over replications, with 95% confidence intervals
(:func:`comparison_ci_figure`): bars with error bars, and the paired differences of mean
latency.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from simulator.experiments.replications import ReplicatedResult
from simulator.present.palette import strategy_colour
from simulator.present.plots.style import (
    LABEL_SIZE,
    LOG_SCALE_RATIO,
    REFERENCE_COLOUR,
    TICK_SIZE,
    TITLE_SIZE,
    VALUE_SIZE,
    DisplayFigure,
    bar_note,
    centre_note,
    facts_suptitle,
    latency_limits_and_legend,
    ms_label,
    reference_line,
    servers_text,
    strategy_axis,
)

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
    fig = DisplayFigure(figsize=(15.0, 14.5), layout="constrained")
    panels = fig.subplot_mosaic([["a", "b"], ["c", "d"], ["e", "e"]], height_ratios=[1, 1, 0.9])
    _ci_bar_panel(
        panels["a"],
        replicated,
        "success_rate",
        scale=100.0,
        fmt=lambda mean, half: f"{mean:.1f}%" + _plus_minus(half, 1),
    )
    reference_line(panels["a"], 100.0 / servers, f"1/N = {100.0 / servers:.3g}%", dashed=True)
    panels["a"].set_ylim(0, 118)
    panels["a"].yaxis.set_major_formatter(PercentFormatter(100, decimals=0))
    panels["a"].set_ylabel("requests served, no error, no re-login (%)", fontsize=LABEL_SIZE)
    panels["a"].set_title("(a) Success rate (higher is better)", fontsize=TITLE_SIZE)
    _ci_latency_panel(panels["b"], replicated)
    highest = _ci_bar_panel(
        panels["c"],
        replicated,
        "load_skew.max_over_mean",
        fmt=lambda mean, half: f"{mean:.2f}×" + _plus_minus(half, 2),
    )
    reference_line(panels["c"], 1.0, "1 = even", dashed=False)
    panels["c"].set_ylim(0, max(highest * 1.25, 1.5))
    panels["c"].set_ylabel(
        f"busiest server / mean (×)\n1 = even, {servers} = all on one server", fontsize=LABEL_SIZE
    )
    panels["c"].set_title(
        "(c) Load skew: peak-to-mean jobs per server (lower is better)", fontsize=TITLE_SIZE
    )
    _ci_bar_panel(
        panels["d"],
        replicated,
        "load_skew.jain",
        fmt=lambda mean, half: f"{mean:.3f}" + _plus_minus(half, 3),
    )
    reference_line(panels["d"], 1.0, "1 = even", dashed=False)
    if servers > 1:
        reference_line(panels["d"], 1.0 / servers, f"1/N = {1.0 / servers:.3g}", True)
    panels["d"].set_ylim(0, 1.2)
    panels["d"].set_ylabel("Jain's index (sum x)² / (N · sum x²)", fontsize=LABEL_SIZE)
    panels["d"].set_title("(d) Load fairness: Jain's index (higher is better)", fontsize=TITLE_SIZE)
    for key in "abcd":
        strategy_axis(panels[key], names)
    _paired_panel(panels["e"], replicated)
    count = replicated.replications
    if count == 1:
        summary = "one replication: values without intervals (run at least 2)"
    else:
        summary = f"{count} replications, mean and 95% confidence interval"
    title = f"Scenario '{scenario.name}': strategies compared over {summary}"
    facts = (
        f"{servers_text(servers)} · "
        f"{scenario.workload.arrival_rate_per_s:,g} requests/s · "
        f"{scenario.workload.users:,} users · {scenario.measured_s:g} s measured per run · "
        f"R = {replicated.replications} · seed {scenario.seed}"
    )
    facts_suptitle(fig, title, facts)
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
            bar_note(ax, x, "no value")
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
        ax.bar_label(bars, labels=[fmt(mean, half)], padding=3, fontsize=VALUE_SIZE)
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
    log = bool(values) and max(values) / min(values) > LOG_SCALE_RATIO
    if log:
        ax.set_yscale("log")
    width = 0.8 / len(_CI_PERCENTILES)
    tops: list[float] = []
    for x, name in enumerate(names):
        if all(intervals[(name, metric)].n == 0 for metric, _, _ in _CI_PERCENTILES):
            bar_note(ax, x, "no served\nrequests")
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
            ax.bar_label(bars, labels=[ms_label(interval.mean)], padding=2, fontsize=VALUE_SIZE)
    latency_limits_and_legend(
        ax, values, max(tops, default=max(values, default=0.0)), log, _CI_PERCENTILES
    )
    ax.set_ylabel("latency (ms" + (", log scale)" if log else ")"), fontsize=LABEL_SIZE)
    ax.set_title(
        "(b) Latency of served requests, 95% intervals (lower is better)", fontsize=TITLE_SIZE
    )


def _paired_panel(ax: Axes, replicated: ReplicatedResult) -> None:
    """Paired differences of mean latency as horizontal intervals around zero."""
    pairs = [pair for pair in replicated.all_paired() if pair.metric == _PAIRED_METRIC]
    ax.axvline(0.0, color=REFERENCE_COLOUR, linewidth=1.4, zorder=2, gid="zero")
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
    right.tick_params(length=0, labelsize=VALUE_SIZE)
    for label, (_, colour) in zip(right.get_yticklabels(), verdicts, strict=True):
        label.set_color(colour)
    if not pairs:
        centre_note(ax, "one strategy only: nothing to pair")
    limit = extent * 1.1 if extent > 0 else 1.0
    ax.set_xlim(-limit, limit)
    ax.set_yticks(list(range(len(pairs))), labels)
    ax.set_ylim(max(len(pairs), 1) - 0.5, -0.5)  # the first pair on top
    ax.tick_params(labelsize=TICK_SIZE)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_xlabel(
        "difference of mean latency a − b (ms), per replication on the same traffic; "
        "< 0: a is faster",
        fontsize=LABEL_SIZE,
    )
    ax.set_title(
        "(e) Paired differences of mean latency, 95% intervals (black: the interval "
        "excludes 0; grey: it does not)",
        fontsize=TITLE_SIZE,
    )


def _difference_text(mean: float, half: float) -> str:
    """``+90.0 ± 6.7 ms``: the mean to the precision of two significant digits of the
    half-width (``+0.56 ms`` with no interval)."""
    if not math.isfinite(half) or half <= 0:
        return f"{mean:+.3g} ms"
    decimals = max(0, 1 - math.floor(math.log10(half)))
    return f"{mean:+.{decimals}f} ± {half:.{decimals}f} ms"
