"""Output folders: the name of every file authsim writes, and the writing of a run's folder.

The command line, the notebooks and the sweeps all write their files under these names;
files are written through :mod:`simulator.atomic`, so a failed or interrupted run leaves
no half-written file. :func:`write_outputs` (a run), :func:`write_replicated_outputs`
(``--replications``) and :func:`write_welch_outputs` (``authsim warmup``) fill a folder;
a notebook calls them as the command line does::

    from simulator.results.io import write_outputs

    write_outputs(result, "results/my-run")

Figures are drawn by :mod:`simulator.present.plots`, imported only when one is written:
importing this module does not import matplotlib.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from simulator.atomic import write_folder
from simulator.errors import AuthsimError

if TYPE_CHECKING:
    from simulator.experiments.replications import ReplicatedResult
    from simulator.experiments.warmup import WelchResult
    from simulator.results.records import RunResult

FLOAT_FORMAT: Final = "%.6g"
"""How the CSV files write floating-point numbers (six significant digits)."""

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
REQUESTS_TABLES: Final[Mapping[str, str]] = {"csv": REQUESTS_CSV, "parquet": REQUESTS_PARQUET}
"""The per-request table's file name for each format (``--format``)."""

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
SWEEP_DIR: Final = "results/sweep-{scenario}"
"""Default folder of ``authsim sweep``."""
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


class OutputError(AuthsimError):
    """An output that cannot be written as asked (a missing optional dependency)."""


def require_pyarrow() -> None:
    """Check that Parquet can be written.

    Raises:
        OutputError: pyarrow, the Parquet writer, is not installed.
    """
    try:
        import pyarrow  # type: ignore[import-not-found,unused-ignore]  # noqa: F401, PLC0415
    except ImportError:
        raise OutputError(
            "--format parquet needs pyarrow: pip install 'authsim[parquet]' "
            "(or pip install -e '.[parquet]' in a checkout)"
        ) from None


def write_outputs(
    result: RunResult, out_dir: Path | str, *, plots: bool = True, table_format: str = "csv"
) -> list[Path]:
    """Write a run's folder: ``results.json``, the per-request table, the time series and,
    with ``plots``, the figures.

    The per-request table is ``requests.csv`` or, with ``table_format="parquet"``,
    ``requests.parquet``; the time series are ``timeseries.csv`` (one row per strategy and
    time bucket) and ``server_timeseries.csv`` (one row per strategy, time bucket and
    server). Each file is complete or absent (:func:`simulator.atomic.write_folder`).

    Returns:
        The paths written, sorted by name.

    Raises:
        ValueError: an unknown ``table_format``.
        OutputError: Parquet asked for without pyarrow.
    """
    table_name = REQUESTS_TABLES.get(table_format)
    if table_name is None:
        raise ValueError(
            f"table_format: {table_format!r} is not one of {', '.join(REQUESTS_TABLES)}"
        )
    if table_name == REQUESTS_PARQUET:
        require_pyarrow()

    def write(staging: Path) -> None:
        (staging / RESULTS_JSON).write_text(result.to_json(), encoding="utf-8")
        frame = result.requests_frame()
        if table_name == REQUESTS_PARQUET:
            frame.to_parquet(staging / table_name, index=False)
        else:
            frame.to_csv(staging / table_name, index=False, float_format=FLOAT_FORMAT)
        result.timeseries_frame().to_csv(
            staging / TIMESERIES_CSV, index=False, float_format=FLOAT_FORMAT
        )
        result.server_timeseries_frame().to_csv(
            staging / SERVER_TIMESERIES_CSV, index=False, float_format=FLOAT_FORMAT
        )
        if plots:
            from simulator.present import plots as figures  # noqa: PLC0415 (matplotlib is slow)

            figures.save_figures(result, staging)

    return write_folder(out_dir, write)


def write_replicated_outputs(
    replicated: ReplicatedResult, out_dir: Path | str, *, plots: bool = True
) -> list[Path]:
    """Write ``results.json`` (means, ``ci95``, ``paired``), ``replications.csv`` (one row
    per replication and strategy) and, with ``plots``, ``comparison_ci.png``; each file
    complete or absent, as for a single run.

    Returns:
        The paths written, sorted by name.
    """

    def write(staging: Path) -> None:
        (staging / RESULTS_JSON).write_text(replicated.to_json(), encoding="utf-8")
        replicated.frame().to_csv(
            staging / REPLICATIONS_CSV, index=False, float_format=FLOAT_FORMAT
        )
        if plots:
            from simulator.present import plots as figures  # noqa: PLC0415 (matplotlib is slow)

            figure = figures.comparison_ci_figure(replicated)
            figure.savefig(staging / COMPARISON_CI_PNG, dpi=figures.DPI)

    return write_folder(out_dir, write)


def write_welch_outputs(result: WelchResult, out_dir: Path | str) -> list[Path]:
    """Write ``welch.png``, the figure of a warm-up study (``authsim warmup --out``).

    Returns:
        The paths written.
    """

    def write(staging: Path) -> None:
        from simulator.present import plots as figures  # noqa: PLC0415 (matplotlib is slow)

        figures.welch_figure(result).savefig(staging / WELCH_PNG, dpi=figures.DPI)

    return write_folder(out_dir, write)
