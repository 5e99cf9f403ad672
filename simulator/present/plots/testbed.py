"""Real against model (:func:`real_vs_model_figure`): one panel per metric, each strategy's
model interval as a bar with its 95% error bar and the real run as a diamond.

Drawn from the JSON form of a testbed run (``TestbedResult.to_dict()``, the
``results.json`` of ``authsim testbed --out``), so the presentation layer needs nothing
from the testbed itself.
"""

from __future__ import annotations

import math
from typing import Any

from matplotlib.figure import Figure

from simulator.present.palette import strategy_colour
from simulator.present.plots.style import (
    LABEL_SIZE,
    TICK_SIZE,
    TITLE_SIZE,
    DisplayFigure,
    facts_suptitle,
    strategy_axis,
)

PANELS: tuple[tuple[str, str, float], ...] = (
    ("success_rate", "success rate (%)", 100.0),
    ("forced_relogins", "forced re-logins", 1.0),
    ("latency_ms.p50", "p50 latency (ms)", 1.0),
    ("latency_ms.p95", "p95 latency (ms)", 1.0),
    ("latency_ms.p99", "p99 latency (ms)", 1.0),
    ("load_skew.jain", "jobs per server, Jain's index", 1.0),
)
"""The metrics drawn, their axis labels and the factor to the plotted unit."""

_VERDICT_MARK = {"inside CI": "✓", "within tolerance": "≈", "off": "✗"}


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def real_vs_model_figure(document: dict[str, Any]) -> Figure:
    """Each metric of each strategy: the model's mean and 95% interval (bar and error
    bar) beside the real run (a black diamond), with the verdict above it (✓ inside the
    interval, ≈ within tolerance, ✗ off).

    Args:
        document: a testbed run's JSON form (``TestbedResult.to_dict()``).

    Returns:
        A new figure (not registered with pyplot).
    """
    strategies = document["strategies"]
    names = [item["strategy"] for item in strategies]
    fig = DisplayFigure(figsize=(15.0, 9.0), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    for ax, (key, label, factor) in zip(axes, PANELS, strict=True):
        for position, item in enumerate(strategies):
            row = next((row for row in item["comparison"] if row["metric"] == key), None)
            if row is None:
                continue
            model = row["model"]
            mean = _number(model.get("mean")) * factor
            half = _number(model.get("half_width")) * factor
            real = _number(row["real"]) * factor
            ax.bar(
                position,
                mean,
                yerr=None if math.isnan(half) else half,
                color=strategy_colour(item["strategy"]),
                alpha=0.75,
                capsize=6,
                label="model" if position == 0 else None,
            )
            if not math.isnan(real):
                ax.plot(position, real, "D", color="black", label="real" if position == 0 else None)
                ax.annotate(
                    _VERDICT_MARK.get(row["verdict"], "?"),
                    (position, max(v for v in (real, mean, mean + half) if not math.isnan(v))),
                    textcoords="offset points",
                    xytext=(0, 8),
                    ha="center",
                    fontsize=LABEL_SIZE,
                )
        strategy_axis(ax, names)
        ax.set_title(label, fontsize=TITLE_SIZE)
        ax.tick_params(labelsize=TICK_SIZE)
        ax.margins(y=0.2)
    axes[0].legend(fontsize=TICK_SIZE, loc="lower left")
    machine = document["machine"]
    facts_suptitle(
        fig,
        f"Real cluster vs model: {document['scenario']}",
        f"one real run (◆) against the model's mean and 95% interval (bars) · "
        f"✓ inside · ≈ within tolerance · ✗ off · load average "
        f"{machine['load_average']:.1f} on {machine['cores']} cores",
    )
    return fig
