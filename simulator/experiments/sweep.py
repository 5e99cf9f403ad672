"""Parameter sweeps: a grid of scenario values × replications, run in parallel.

A sweep takes a scenario and a *grid* (``{"cluster.servers": [3, 5], "jwt.ttl_s": [60,
600]}``), forms every combination (a *point*), and runs each point ``R`` times
(replication ``r`` of every point draws from ``(seed, r)``). One *task* is one
``(point, replication)``: it runs every strategy of the scenario on the same traffic and
gives one row per strategy.

Tasks run on a ``concurrent.futures`` executor: a local process pool by default, or a Dask
cluster (``pip install 'authsim[dask]'``). As each task finishes its rows are appended to
``results.csv`` with a single ``write`` on a file opened with ``O_APPEND`` (then fsynced),
and ``resume=True`` keeps only the tasks with all their rows (a short write can leave part
of one) and runs the others (:mod:`simulator.experiments.sweep_rows`). One sweep at a time
writes to a folder (a lock); a worker process that dies is replaced and its tasks retried.
At the end ``summary.csv`` holds the mean and 95% CI half-width of every metric per point
and strategy (and ``results.parquet`` the rows, when pyarrow is installed).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import itertools
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import BrokenExecutor, Executor, Future, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.atomic import atomic_path, remove_stale
from simulator.errors import ScenarioError, one_line
from simulator.experiments import pools
from simulator.experiments.replications import METRICS, mean_interval
from simulator.experiments.sweep_rows import (
    LOST_ERRORS,
    ResultsFile,
    SweepError,
    folder_lock,
    keep_whole_tasks,
)
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


class SweepIncompleteError(SweepError):
    """Some tasks never finished: their worker process died every time they were tried.
    The others are in ``results.csv``; ``--resume`` runs the missing ones."""


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
        resume: continue the sweep already in ``out_dir``: keep the tasks that have all
            their rows (:func:`~simulator.experiments.sweep_rows.keep_whole_tasks`), run
            the others.
        progress: ``progress(done, total, failures)`` after each task.

    Raises:
        ScenarioError: a grid value the scenario rejects.
        SweepError: ``out_dir`` holds another sweep, or Dask is missing or unreachable.
        SweepLockedError: another sweep is writing to ``out_dir``
            (:func:`~simulator.experiments.sweep_rows.folder_lock`).
        SweepIncompleteError: tasks whose worker died every time they were tried (no summary
            is written; the finished tasks are in ``results.csv``).
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
    if not resume and (results_path.exists() or manifest_path.exists()):
        raise SweepError(f"{out}: already holds a sweep; pass --resume or use another --out")
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out):
        remove_stale(out)  # temporary files of a sweep killed while writing its summary
        if resume and manifest_path.exists():
            _check_manifest(manifest_path, manifest)
        elif results_path.exists() or manifest_path.exists():  # written while we locked
            raise SweepError(f"{out}: already holds a sweep; pass --resume or use another --out")
        if not manifest_path.exists():
            _atomic_write(
                manifest_path,
                lambda path: path.write_text(
                    json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
                ),
            )
        expected = {
            (point.index, replication): [str(name) for name in point.scenario.strategies]
            for point in grid_points
            for replication in range(replications)
        }
        done = keep_whole_tasks(results_path, header, expected)
        todo = [
            (point, replication)
            for point in grid_points
            for replication in range(replications)
            if (point.index, replication) not in done
        ]
        # Longest first: rows are sorted at the end, so the order changes only the wall time.
        todo.sort(key=lambda task: -expected_requests(task[0].scenario))
        total = len(grid_points) * replications
        results = ResultsFile(results_path, header)
        try:
            lost = _run_tasks(todo, total, results, workers, scheduler, progress)
        finally:
            results.close()
        if lost:
            raise SweepIncompleteError(
                f"{lost} of {total} tasks did not finish: a worker process died each of "
                f"the {1 + POOL_RESTARTS} times they were tried (out of memory?); the "
                f"other tasks are in {results_path}; rerun with --resume to run them"
            )
        return _finish(out, list(grid))


POOL_RESTARTS = 2
"""How many times a sweep restarts its pool to retry the tasks of a worker that died."""


def _worker_died(exc: BaseException) -> bool:
    """Whether a task's exception says its worker process died (a broken process pool,
    or Dask's ``KilledWorker``) rather than that the task itself failed."""
    return isinstance(exc, BrokenExecutor) or type(exc).__name__.startswith(LOST_ERRORS)


def _run_tasks(
    todo: Sequence[tuple[SweepPoint, int]],
    total: int,
    results: ResultsFile,
    workers: int | None,
    scheduler: str | None,
    progress: SweepProgress | None,
) -> int:
    """Run ``todo``, appending each task's rows to ``results`` as it finishes.

    A worker process that dies (an OOM kill) breaks a process pool and every task still
    pending on it: the pool is restarted and those tasks retried, at most
    :data:`POOL_RESTARTS` times; a task whose worker died every time is left out of
    ``results`` (``--resume`` runs it), never recorded as a failure.

    Returns:
        How many tasks never finished.
    """
    finished = total - len(todo)
    failures = 0
    if progress is not None:
        progress(finished, total, failures)
    pending = list(todo)
    for _attempt in range(1 + POOL_RESTARTS):
        if not pending:
            break
        lost: list[int] = []  # indices in pending, to retry in the same order
        with _executor(workers, scheduler, len(pending)) as executor:
            futures: dict[Future[list[dict[str, Any]]], int] = {
                executor.submit(
                    run_task,
                    point.scenario.model_dump(mode="json"),
                    point.index,
                    point.values,
                    replication,
                ): index
                for index, (point, replication) in enumerate(pending)
            }
            for future in as_completed(futures):
                point, replication = pending[futures[future]]
                try:
                    rows = future.result()
                except Exception as exc:
                    if _worker_died(exc):
                        lost.append(futures[future])
                        continue
                    base = {"point": point.index, "replication": replication, **point.values}
                    base["seed"] = point.scenario.seed
                    names = [str(name) for name in point.scenario.strategies]
                    rows = _error_rows(base, names, exc)
                results.append(rows)
                finished += 1
                failures += any(row.get("error") for row in rows)
                if progress is not None:
                    progress(finished, total, failures)
        pending = [pending[index] for index in sorted(lost)]
    return len(pending)


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
