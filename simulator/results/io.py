"""Output folders: the name of every file authsim writes, in one place.

The command line, the notebooks and the sweeps all write their files under these names;
files are written through :mod:`simulator.atomic`, so a failed or interrupted run leaves
no half-written file.
"""

from __future__ import annotations

from typing import Final

# ------------------------------------------------------------ a run (`authsim run --out`)
RESULTS_JSON: Final = "results.json"
"""The JSON document of a run (the same as ``--json``)."""
REQUESTS_CSV: Final = "requests.csv"
"""One row per measured request."""
REQUESTS_PARQUET: Final = "requests.parquet"
"""The same table as :data:`REQUESTS_CSV`, as Parquet (``--format parquet``)."""
TIMESERIES_CSV: Final = "timeseries.csv"
"""One row per strategy and time bucket."""
SERVER_TIMESERIES_CSV: Final = "server_timeseries.csv"
"""One row per strategy, time bucket and server."""

# ------------------------------------------------------------------------- figures
COMPARISON_PNG: Final = "comparison.png"
SERVER_LOAD_PNG: Final = "server_load.png"
SERVER_HEATMAP_PNG: Final = "server_heatmap.png"
TIMESERIES_PNG: Final = "timeseries_{metric}.png"
"""The figure of one metric over time (``metric``: a name of ``plots.TIMESERIES_METRICS``)."""
WELCH_PNG: Final = "welch.png"
COMPARISON_CI_PNG: Final = "comparison_ci.png"
SWEEP_PNG: Final = "sweep_{y}_vs_{x}.png"
"""A sweep figure: metric ``y`` against grid key ``x``."""

# ------------------------------------------------------ replications (`--replications`)
REPLICATIONS_CSV: Final = "replications.csv"
"""One row per replication and strategy."""

# ---------------------------------------------------------------- a sweep's folder
SWEEP_RESULTS_CSV: Final = "results.csv"
"""One row per grid point, replication and strategy (the schema: ``experiments.sweep``)."""
SWEEP_SUMMARY_CSV: Final = "summary.csv"
"""Mean and confidence interval per grid point and strategy."""
SWEEP_RESULTS_PARQUET: Final = "results.parquet"
SWEEP_MANIFEST: Final = "sweep.json"
"""What the sweep was asked to run (for ``--resume``)."""

# ----------------------------------------------------------- documents and animations
REPORT_HTML: Final = "results/report-{scenario}.html"
"""Default path of ``authsim report``."""
ANIMATION_GIF: Final = "results/animate-{scenario}.gif"
"""Default path of ``authsim animate``."""
