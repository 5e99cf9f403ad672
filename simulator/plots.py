"""Figures of a run: the strategies side by side, and the load on each server.

This is the only module that imports matplotlib. It never imports
:mod:`matplotlib.pyplot` and never selects a backend: figures are plain
:class:`matplotlib.figure.Figure` objects, drawn and saved without touching global state,
so importing this module from a script, a test or a notebook changes nothing. In Jupyter
a returned figure displays inline: it renders itself as a PNG (``_repr_png_``), since with
no pyplot no inline backend may have registered a display hook for figures.

Every figure gives a strategy the same colour (:data:`STRATEGY_COLOURS`, taken from the
Okabe-Ito palette, which stays distinguishable with the common forms of colour blindness).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import secrets
import textwrap
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter, PercentFormatter
from matplotlib.transforms import blended_transform_factory

from simulator.results import RunResult, StrategyResult

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


def save_figures(result: RunResult, out_dir: Path) -> list[Path]:
    """Draw the run's figures and write them as PNG files.

    Writes ``comparison.png`` (:func:`comparison_figure`) and ``server_load.png``
    (:func:`server_load_figure`) at :data:`DPI` dots per inch. Each file is written to a
    temporary file in ``out_dir`` and then renamed over the target, so an interrupted run
    never leaves a half-written PNG behind.

    Args:
        result: the run to draw.
        out_dir: folder to write into; created if missing.

    Returns:
        The paths written, in the order above.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for filename, make in (
        (COMPARISON_FILE, comparison_figure),
        (SERVER_LOAD_FILE, server_load_figure),
    ):
        fig = make(result)
        try:
            written.append(_save_atomically(fig, out_dir / filename))
        finally:
            fig.clear()  # not registered with pyplot: clearing and dropping it frees it
            del fig
    return written


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
    if values:
        top, bottom = max(values), min(values)
        # Headroom above the tallest bar for its label and the legend.
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
        for _, label, alpha in _PERCENTILES
    ]
    ax.legend(
        handles=legend,
        loc="upper center",
        ncols=len(legend),
        fontsize=_VALUE_SIZE + 1,
        framealpha=0.9,
    )
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
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never reuse an existing file; 0o666 lets the umask decide permissions.
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            fig.savefig(handle, format="png", dpi=DPI)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    return path
