"""Figures of a run: the strategies side by side, the load on each server, and the
metrics over time with the run's events (crashes, outages, deploys...) marked; the
warm-up, replications and sweep figures.

This is the only package that imports matplotlib. It never imports
:mod:`matplotlib.pyplot` and never selects a backend: figures are plain
:class:`matplotlib.figure.Figure` objects, drawn and saved without touching global state,
so importing it from a script, a test or a notebook changes nothing. In Jupyter a returned
figure displays inline: it renders itself as a PNG (``_repr_png_``), since with no pyplot
no inline backend may have registered a display hook for figures.

Every figure gives a strategy the same colour (:data:`STRATEGY_COLOURS`, from
:mod:`simulator.present.palette`: the Okabe-Ito palette, which stays distinguishable with
the common forms of colour blindness).

One job per module:

- :mod:`~simulator.present.plots.style`: resolution (:data:`DPI`), font sizes, the
  figure class, the PNG savers and the helpers every figure draws with.
- :mod:`~simulator.present.plots.run`: the figures of one run and :func:`save_figures`.
- :mod:`~simulator.present.plots.timeseries`: metrics over time.
- :mod:`~simulator.present.plots.heatmap`: the load on each server over time.
- :mod:`~simulator.present.plots.events`: the run's events on a time axis.
- :mod:`~simulator.present.plots.welch`: the warm-up figure (Welch's method).
- :mod:`~simulator.present.plots.intervals`: replications with confidence intervals.
- :mod:`~simulator.present.plots.sweep`: a parameter sweep.

:data:`DPI` here is a copy: the savers read ``simulator.present.plots.style.DPI`` when
they run (patch that one).
"""

from __future__ import annotations

from simulator.present.palette import FALLBACK_COLOUR, STRATEGY_COLOURS, strategy_colour
from simulator.present.plots.heatmap import server_heatmap_figure
from simulator.present.plots.intervals import comparison_ci_figure
from simulator.present.plots.run import comparison_figure, save_figures, server_load_figure
from simulator.present.plots.style import DISPLAY_DPI, DPI, figure_png
from simulator.present.plots.sweep import SWEEP_ID_COLUMNS, sweep_figure
from simulator.present.plots.timeseries import (
    TIMESERIES_METRICS,
    timeseries_figure,
    timeseries_values,
)
from simulator.present.plots.welch import welch_figure
from simulator.results.timeseries import FloatArray

__all__ = [
    "DISPLAY_DPI",
    "DPI",
    "FALLBACK_COLOUR",
    "STRATEGY_COLOURS",
    "SWEEP_ID_COLUMNS",
    "TIMESERIES_METRICS",
    "FloatArray",
    "comparison_ci_figure",
    "comparison_figure",
    "figure_png",
    "save_figures",
    "server_heatmap_figure",
    "server_load_figure",
    "strategy_colour",
    "sweep_figure",
    "timeseries_figure",
    "timeseries_values",
    "welch_figure",
]
