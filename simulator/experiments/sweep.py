"""Parameter sweeps: a grid of scenario values × replications, run in parallel.

A sweep takes a scenario and a *grid* (``{"cluster.servers": [3, 5], "jwt.ttl_s": [60,
600]}``), forms every combination (a *point*), and runs each point ``R`` times
(replication ``r`` of every point draws from ``(seed, r)``). One *task* is one
``(point, replication)``: it runs every strategy of the scenario on the same traffic and
gives one row per strategy.

Tasks run on a ``concurrent.futures`` executor: a local process pool by default, or a Dask
cluster (``pip install 'authsim[dask]'``). As each task finishes its rows are appended to
``results.csv`` with a single ``write`` on a file opened with ``O_APPEND``, so a sweep that
is killed leaves only whole tasks behind, and ``resume=True`` runs only the missing ones.
At the end ``summary.csv`` holds the mean and 95% CI half-width of every metric per point
and strategy (and ``results.parquet`` the rows, when pyarrow is installed).
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import importlib.util
import io
import itertools
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.atomic import atomic_path
from simulator.errors import AuthsimError, ScenarioError, one_line
from simulator.experiments import pools
from simulator.experiments.replications import METRICS, mean_interval
from simulator.model.run import run
from simulator.results.io import (
    FLOAT_FORMAT,
    SWEEP_MANIFEST,
    SWEEP_RESULTS_CSV,
    SWEEP_RESULTS_PARQUET,
    SWEEP_SUMMARY_CSV,
)
from simulator.scenario import budget, overrides
from simulator.scenario.loading import validate_scenario
from simulator.scenario.models import Scenario

ID_COLUMNS: tuple[str, ...] = ("point", "replication", "strategy", "seed", "requests", "error")
"""The columns of ``results.csv`` that are neither a grid key nor a metric."""

DASK_HINT = "pip install 'authsim[dask]' (or pip install -e '.[dask]' in a checkout)"

SweepProgress = Callable[[int, int, int], None]
"""``progress(done, total, failures)``: tasks (point × replication) finished so far."""


class SweepError(AuthsimError):
    """A sweep that cannot start: a missing extra, a scheduler, an output folder."""


@dataclass(frozen=True)
class SweepPoint:
    """One combination of grid values.

    Attributes:
        index: position in :func:`points` order, from 0.
        values: grid key -> value at this point.
        scenario: the scenario with those values applied.
    """

    index: int
    values: dict[str, Any]
    scenario: Scenario


@dataclass(frozen=True)
class SweepResult:
    """What a finished sweep left in its folder.

    Attributes:
        out_dir: the folder holding ``results.csv``, ``summary.csv`` and ``sweep.json``.
        rows: every row of ``results.csv`` (one per point, replication and strategy).
        summary: the rows of ``summary.csv``.
        failures: failed tasks (point × replication), as recorded in ``results.csv``.
    """

    out_dir: Path
    rows: pd.DataFrame
    summary: pd.DataFrame
    failures: int


# ---------------------------------------------------------------- grid


def _split_values(raw: str) -> list[str]:
    """Split ``a,b,[c,d]`` on the commas outside brackets and braces."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in raw:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(depth - 1, 0)
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts]


def parse_grid(options: Sequence[str], scenario: Scenario) -> dict[str, list[Any]]:
    """Parse ``--grid dotted.key=v1,v2,...`` options, checking every key and value.

    Values are read as YAML scalars (``10``, ``0.5``, ``true``, ``jwt``); a value in
    brackets (``[jwt,local]``) stays one value.

    Raises:
        ScenarioError: a malformed option, an unknown key (with the closest valid key
            suggested), a key given twice, or a value the scenario rejects.
    """
    grid: dict[str, list[Any]] = {}
    for option in options:
        key, sep, raw = option.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ScenarioError("--grid", option, "expected dotted.key=value1,value2,...")
        overrides.check_key(key, "--grid")  # unknown key -> suggestion
        if key in grid:
            raise ScenarioError("--grid", key, "given twice")
        texts = _split_values(raw)
        if any(not text for text in texts):
            raise ScenarioError("--grid", key, f"empty value in {raw!r}")
        values: list[Any] = []
        for text in texts:
            value = overrides.read_value(key, text)
            scenario.with_overrides({key: value}, source="--grid")
            if value in values:
                raise ScenarioError("--grid", key, f"lists {text!r} twice")
            values.append(value)
        grid[key] = values
    return grid


def points(scenario: Scenario, grid: Mapping[str, Sequence[Any]]) -> list[SweepPoint]:
    """Every combination of grid values, the last key varying fastest.

    Raises:
        ScenarioError: a combination the scenario rejects (e.g. warm-up past the end).
    """
    keys = list(grid)
    found: list[SweepPoint] = []
    for index, combo in enumerate(itertools.product(*(grid[key] for key in keys))):
        values = dict(zip(keys, combo, strict=True))
        found.append(SweepPoint(index, values, scenario.with_overrides(values, source="--grid")))
    return found


def expected_requests(scenario: Scenario) -> float:
    """A task's size: the requests it is expected to simulate over every strategy
    (:func:`simulator.scenario.budget.expected_requests`, with the rate profile and spikes).

    Used only to order tasks longest first, so the last task to finish is a short one and
    workers do not wait on a long straggler.
    """
    return budget.expected_requests(scenario) * max(1, len(scenario.strategies))


# ---------------------------------------------------------------- one task


def columns(grid_keys: Sequence[str]) -> list[str]:
    """The columns of ``results.csv``, in order: the grid keys come between ``strategy``
    and ``seed`` (:func:`read_grid_keys`), the metrics after ``requests``."""
    names = ["point", "replication", "strategy", *grid_keys, "seed", "requests", *METRICS]
    return [*dict.fromkeys(names), "error"]


def read_grid_keys(out_dir: Path | str, header: Sequence[str]) -> list[str]:
    """The grid keys of the sweep in ``out_dir``, whose ``results.csv`` has ``header``.

    Read from ``sweep.json``; without it, the columns between ``strategy`` and ``seed``.

    Raises:
        SweepError: ``sweep.json`` cannot be read or has no ``grid`` mapping.
    """
    manifest = Path(out_dir) / SWEEP_MANIFEST
    if manifest.is_file():
        try:
            grid = json.loads(manifest.read_text(encoding="utf-8")).get("grid")
        except (OSError, ValueError, AttributeError) as exc:
            raise SweepError(f"{manifest}: cannot read the sweep's grid: {exc}") from None
        if not isinstance(grid, dict):
            raise SweepError(f"{manifest}: no 'grid' mapping")
        return [str(key) for key in grid]
    names = list(header)
    if "strategy" in names and "seed" in names:
        return names[names.index("strategy") + 1 : names.index("seed")]
    return []


def run_task(
    scenario_data: dict[str, Any], point: int, values: dict[str, Any], replication: int
) -> list[dict[str, Any]]:
    """Run one point × replication: every strategy, on the same traffic.

    Takes plain data, so it can be sent to another process or machine. Never raises: a
    failure gives one row per strategy with the error message and no metrics.
    """
    base: dict[str, Any] = {"point": point, "replication": replication, **values}
    strategies = [str(name) for name in scenario_data.get("strategies") or []]
    base["seed"] = scenario_data.get("seed", "")
    try:
        scenario = validate_scenario(scenario_data, "sweep")
        strategies = [str(name) for name in scenario.strategies]
        result = run(scenario, replication=replication, record_requests=False)
        return [
            {
                **base,
                "strategy": item.strategy,
                "seed": scenario.seed,
                "requests": item.requests,
                **{name: metric(item) for name, metric in METRICS.items()},
                "error": "",
            }
            for item in result.results
        ]
    except Exception as exc:  # a failed task is recorded, never fatal
        return _error_rows(base, strategies, exc)


def _error_rows(
    base: dict[str, Any], strategies: Sequence[str], exc: BaseException
) -> list[dict[str, Any]]:
    message = one_line(f"{type(exc).__name__}: {exc}") if str(exc) else type(exc).__name__
    return [{**base, "strategy": name, "error": message} for name in strategies or ["?"]]


# ---------------------------------------------------------------- results file


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest exact form: rows read back bit for bit
    if isinstance(value, list | dict):
        return json.dumps(value)
    return one_line(str(value))


def _encode(rows: Sequence[Mapping[str, Any]], header: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in header])
    return buffer.getvalue().encode("utf-8")


def _write_all(fd: int, data: bytes) -> None:
    """One ``write`` call for the whole chunk (loop only if the kernel wrote less)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class _ResultsFile:
    """``results.csv``, appended one whole task at a time (``O_APPEND``, one write)."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self.path = path
        self.header = list(header)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if os.fstat(self.fd).st_size == 0:
            _write_all(self.fd, _encode([dict(zip(self.header, self.header, strict=True))], header))

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        _write_all(self.fd, _encode(rows, self.header))

    def close(self) -> None:
        os.close(self.fd)


def _repair(path: Path) -> None:
    """Cut a trailing partial line (a write torn by a crash), if any."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def _done_tasks(path: Path, header: Sequence[str]) -> set[tuple[int, int]]:
    """The (point, replication) pairs already in ``results.csv``."""
    if not path.exists() or path.stat().st_size == 0:
        return set()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        found = next(reader, None)
        if found != list(header):
            raise SweepError(f"{path}: columns differ from this sweep's; use another --out")
        return {(int(row[0]), int(row[1])) for row in reader if row}


def read_rows(path: Path) -> pd.DataFrame:
    """Read ``results.csv`` back (``error`` is an empty string on success)."""
    frame = pd.read_csv(path, dtype={"strategy": str, "error": str})
    frame["error"] = frame["error"].fillna("")
    return frame


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    with atomic_path(path) as staging:
        write(staging)


def summarize(rows: pd.DataFrame, grid_keys: Sequence[str]) -> pd.DataFrame:
    """Mean and 95% CI half-width per point and strategy of every metric (failures left
    out); ``replications`` counts the successful ones."""
    records: list[dict[str, Any]] = []
    ok = rows[rows["error"] == ""]
    for (point, strategy), group in rows.groupby(["point", "strategy"], sort=False):
        first = group.iloc[0]
        record: dict[str, Any] = {"point": point, "strategy": strategy}
        record.update({key: first[key] for key in grid_keys})
        good = ok[(ok["point"] == point) & (ok["strategy"] == strategy)]
        record["replications"] = len(good)
        record["failures"] = len(group) - len(good)
        for name in METRICS:
            interval = mean_interval(good[name].astype(float).tolist())
            record[name] = interval.mean
            record[f"{name}_ci95"] = interval.half_width
        records.append(record)
    return pd.DataFrame.from_records(records)


# ---------------------------------------------------------------- executors


def _dask(scheduler: str) -> Any:
    """The ``distributed`` module, or a one-line error naming the extra to install."""
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise SweepError(f"--scheduler {scheduler}: Dask is not installed; {DASK_HINT}") from None


@contextlib.contextmanager
def _executor(workers: int | None, scheduler: str | None, tasks: int) -> Iterator[Executor]:
    """A process pool or a Dask executor, whose every process is gone when the block ends.

    The process pool is :func:`simulator.experiments.pools.process_pool`: joined on a
    normal end, its workers terminated at once on any exception (Ctrl-C, and SIGTERM as
    :class:`~simulator.experiments.pools.SweepTerminated`), and each worker ending by
    itself if the sweep's process is killed outright. A Dask ``LocalCluster`` is closed,
    its workers with it, on every way out of the block.
    """
    with pools.sigterm_raises():
        if scheduler is None:
            count = max(1, min(workers or os.cpu_count() or 1, tasks))
            with pools.process_pool(count, preload=[__name__]) as pool:
                yield pool
        else:
            with _dask_executor(workers, scheduler) as executor:
                yield executor


@contextlib.contextmanager
def _dask_executor(workers: int | None, scheduler: str) -> Iterator[Executor]:
    distributed = _dask(scheduler)
    with contextlib.ExitStack() as stack:
        try:
            if scheduler == "local":
                cluster = stack.enter_context(
                    distributed.LocalCluster(
                        processes=True,
                        n_workers=workers or os.cpu_count() or 1,
                        threads_per_worker=1,
                        dashboard_address=None,
                    )
                )
                client = stack.enter_context(distributed.Client(cluster))
            else:
                client = stack.enter_context(distributed.Client(scheduler, timeout="10s"))
        except (OSError, TimeoutError, ValueError) as exc:
            raise SweepError(
                f"--scheduler {scheduler}: cannot connect: {one_line(str(exc))}"
            ) from None
        executor = client.get_executor(pure=False)
        try:
            yield executor
        finally:
            executor.shutdown(wait=False)


# ---------------------------------------------------------------- the sweep


def _manifest(scenario: Scenario, grid: Mapping[str, Sequence[Any]], replications: int) -> Any:
    data = {
        "scenario": scenario.model_dump(mode="json"),
        "grid": {key: list(values) for key, values in grid.items()},
        "replications": replications,
    }
    return json.loads(json.dumps(data))


def _check_manifest(path: Path, wanted: Any) -> None:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SweepError(f"{path}: cannot read the sweep description: {exc}") from None
    for item in ("grid", "scenario", "replications"):
        if not isinstance(stored, dict) or stored.get(item) != wanted[item]:
            raise SweepError(
                f"{path.parent}: cannot resume: this sweep was started with a different "
                f"{item}; use another --out"
            )


def run_sweep(
    scenario: Scenario,
    grid: Mapping[str, Sequence[Any]],
    replications: int,
    out_dir: Path | str,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    progress: SweepProgress | None = None,
) -> SweepResult:
    """Run every point of ``grid`` ``replications`` times; write the results to ``out_dir``.

    Args:
        scenario: the base scenario; every strategy in it runs at every point.
        grid: dotted key -> values (see :func:`parse_grid`).
        replications: replications per point (replication ``r`` uses streams ``(seed, r)``).
        out_dir: folder for ``results.csv``, ``summary.csv``, ``sweep.json`` (and
            ``results.parquet`` with pyarrow).
        workers: parallel processes (default: the CPU count).
        scheduler: ``None`` (a local process pool), ``"local"`` (a Dask LocalCluster) or
            the address of a Dask scheduler (``tcp://host:8786``).
        resume: continue the sweep already in ``out_dir``, running only missing tasks.
        progress: ``progress(done, total, failures)`` after each task.

    Raises:
        ScenarioError: a grid value the scenario rejects.
        SweepError: ``out_dir`` holds another sweep, or Dask is missing or unreachable.
    """
    if replications < 1:
        raise SweepError(f"--replications: must be >= 1 (got {replications})")
    if workers is not None and workers < 1:
        raise SweepError(f"--workers: must be >= 1 (got {workers})")
    if scheduler is not None:
        _dask(scheduler)  # before anything is written
    out = Path(out_dir)
    grid_points = points(scenario, grid)
    header = columns(list(grid))
    manifest = _manifest(scenario, grid, replications)
    results_path = out / SWEEP_RESULTS_CSV
    manifest_path = out / SWEEP_MANIFEST
    if resume and manifest_path.exists():
        _check_manifest(manifest_path, manifest)
        _repair(results_path)
    elif results_path.exists() or manifest_path.exists():
        raise SweepError(f"{out}: already holds a sweep; pass --resume or use another --out")
    out.mkdir(parents=True, exist_ok=True)
    if not manifest_path.exists():
        _atomic_write(
            manifest_path,
            lambda path: path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8"),
        )
    done = _done_tasks(results_path, header)
    todo = [
        (point, replication)
        for point in grid_points
        for replication in range(replications)
        if (point.index, replication) not in done
    ]
    # Longest first: rows are sorted at the end, so the order changes only the wall time.
    todo.sort(key=lambda task: -expected_requests(task[0].scenario))
    total = len(grid_points) * replications
    finished = total - len(todo)
    failures = 0
    results = _ResultsFile(results_path, header)
    try:
        if progress is not None:
            progress(finished, total, failures)
        if todo:
            with _executor(workers, scheduler, len(todo)) as executor:
                futures: dict[Future[list[dict[str, Any]]], tuple[SweepPoint, int]] = {
                    executor.submit(
                        run_task,
                        point.scenario.model_dump(mode="json"),
                        point.index,
                        point.values,
                        replication,
                    ): (point, replication)
                    for point, replication in todo
                }
                for future in as_completed(futures):
                    point, replication = futures[future]
                    try:
                        rows = future.result()
                    except Exception as exc:  # the worker itself died
                        base = {"point": point.index, "replication": replication, **point.values}
                        base["seed"] = point.scenario.seed
                        names = [str(name) for name in point.scenario.strategies]
                        rows = _error_rows(base, names, exc)
                    results.append(rows)
                    finished += 1
                    failures += any(row.get("error") for row in rows)
                    if progress is not None:
                        progress(finished, total, failures)
    finally:
        results.close()
    return _finish(out, list(grid))


def _finish(out: Path, grid_keys: list[str]) -> SweepResult:
    rows = read_rows(out / SWEEP_RESULTS_CSV)
    rows = rows.sort_values(["point", "replication"], kind="stable", ignore_index=True)
    summary = summarize(rows, grid_keys)
    _atomic_write(
        out / SWEEP_SUMMARY_CSV,
        lambda path: summary.to_csv(path, index=False, float_format=FLOAT_FORMAT),
    )
    if importlib.util.find_spec("pyarrow") is not None:
        _atomic_write(out / SWEEP_RESULTS_PARQUET, lambda path: rows.to_parquet(path, index=False))
    failed = rows.loc[rows["error"] != "", ["point", "replication"]].drop_duplicates()
    return SweepResult(out_dir=out, rows=rows, summary=summary, failures=len(failed))
