"""A parameter sweep's figure (:func:`sweep_figure`): one metric against one grid key,
a line per strategy with its 95% confidence band, optionally a panel per value of a
second key.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from simulator.experiments.replications import METRICS, Interval, mean_interval
from simulator.present.format import plural
from simulator.present.labels import (
    metric_label,
    parameter_label,
    parameter_name,
    parameter_value,
)
from simulator.present.palette import strategy_colour
from simulator.present.plots.style import (
    DASHES,
    LABEL_SIZE,
    LINE_WIDTH_STEP,
    LOG_SCALE_RATIO,
    THINNEST_LINE,
    TICK_SIZE,
    TITLE_SIZE,
    VALUE_SIZE,
    DisplayFigure,
    centre_note,
    facts_suptitle,
    plain_ticks,
)

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
    Titles and axes name metrics and grid keys in words, with their units
    (:mod:`simulator.present.labels`): "p95 latency (ms) vs servers", never the dotted keys.

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
            fixed.append(parameter_value(key, values[0]))
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
    fig = DisplayFigure(figsize=(5.6 * ncols + 2.4, 4.6 * nrows + 1.8), layout="constrained")
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
            dashes = DASHES[min(order, len(DASHES)) - 1] if order else None
            (line,) = ax.plot(
                xs,
                means,
                marker=_SWEEP_MARKERS[order % len(_SWEEP_MARKERS)],
                markersize=5.0 + 1.5 * later,
                linewidth=THINNEST_LINE + LINE_WIDTH_STEP * later,
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
            ax.set_title(parameter_value(facet, facet_value), fontsize=TITLE_SIZE)
        if not numeric_x:
            ax.set_xticks([positions[value] for value in x_values], [str(v) for v in x_values])
            ax.set_xlim(-0.5, len(x_values) - 0.5)
        elif len(x_values) <= 12:
            ax.set_xticks([positions[value] for value in x_values])
            ax.xaxis.set_major_formatter(plain_ticks())
        ax.set_xlabel(parameter_label(x), fontsize=LABEL_SIZE)
        ax.tick_params(labelsize=TICK_SIZE)
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
        and max(drawn) / min(drawn) > LOG_SCALE_RATIO
    )
    for row in grid:
        if log:
            row[0].set_yscale("log")
            row[0].yaxis.set_major_formatter(plain_ticks())
        label = metric_label(y)
        row[0].set_ylabel(label + (", log scale" if log else ""), fontsize=LABEL_SIZE)
    if handles:
        fig.legend(
            handles=list(handles.values()),
            labels=list(handles),
            loc="outside right center",
            fontsize=VALUE_SIZE + 1,
            title="strategy",
            title_fontsize=VALUE_SIZE + 1,
        )
    else:
        centre_note(flat[0], "no values to plot")
    if replications >= 2:
        summary = f"mean of {replications} replications, 95% confidence band"
    else:
        summary = "one replication: no confidence band"
    title = f"{metric_label(y)} vs {parameter_name(x)}, one line per strategy" + (
        f", one panel per {parameter_name(facet)}" if facet else ""
    )
    facts_suptitle(fig, title, " · ".join([summary, *fixed]))
    notes: list[str] = []
    ignored = int(errors.sum())
    if ignored:
        notes.append(f"{ignored} {plural(ignored, 'row')} with an error ignored")
    if without_values and handles:
        notes.append(f"no values of {metric_label(y)}: " + ", ".join(sorted(without_values)))
    if notes:
        fig.supxlabel("; ".join(notes), fontsize=VALUE_SIZE, color="0.35")
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
