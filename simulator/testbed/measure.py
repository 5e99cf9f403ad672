"""The real run's metrics, computed as the model computes its own.

:func:`real_metrics` turns the load generator's rows (:meth:`LoadResult.to_frame
<simulator.testbed.loadgen.LoadResult.to_frame>`) into the figures of
:meth:`StrategyResult.to_dict <simulator.results.records.StrategyResult.to_dict>`, under
the same key names, with the project's own functions
(:mod:`simulator.results.metrics`), so a table can set the model and the real run side
by side.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from simulator import outcomes
from simulator.results.metrics import clean_float, latency_summary, load_skew, success_rate


def _server_requests(frame: pd.DataFrame, servers: int) -> list[int]:
    """Jobs each server answered: every answer of every request (request, login, retry)
    when the frame has the ``jobs`` column, else one per request by its final server."""
    counts = [0] * servers
    if "jobs" in frame.columns:
        answered = [server for jobs in frame["jobs"] for server in jobs]
    else:
        answered = frame["server"].astype(int).tolist()
    for server in answered:
        if 0 <= server < servers:
            counts[server] += 1
    return counts


def _rates(jobs: list[int], up_s: list[float] | None) -> list[float]:
    """Jobs per second of up time (servers never up left out), or the counts."""
    if up_s is None:
        return [float(count) for count in jobs]
    return [count / up for count, up in zip(jobs, up_s, strict=True) if up > 0]


def real_metrics(
    frame: pd.DataFrame,
    servers: int,
    *,
    warmup_s: float = 0.0,
    measured_s: float | None = None,
    up_s: list[float] | None = None,
) -> dict[str, Any]:
    """The model's metrics of a real run (see :class:`~simulator.results.records.StrategyResult`).

    Args:
        frame: one row per request, with at least the columns ``arrival_s`` (s),
            ``user``, ``server``, ``outcome`` (a name of ``outcomes.NAMES``),
            ``latency_ms``, ``forced_relogin`` and ``relogin_cause``; optionally
            ``logins`` (logins each request performed) and ``jobs`` (the server of each
            answer it got).
        servers: servers in the cluster (servers that answered nothing count as 0 jobs).
        warmup_s: requests scheduled before this time (s) are left out, as the model's
            warm-up is.
        measured_s: length of the measured window, seconds (for ``throughput_per_s``;
            ``None``: left out).
        up_s: seconds each server was up in the measured window; with it, the skew is
            over jobs per second of up time, as the model's is (a crashed server is not
            "underloaded" while it is down).

    Returns:
        A plain dict with the keys of ``StrategyResult.to_dict()`` that a real run can
        measure: ``requests``, ``served``, ``succeeded``, ``success_rate``,
        ``forced_relogins``, ``users_logged_out``, ``logins`` (when the frame has them),
        ``errors``, ``latency_ms`` (mean, p50, p95, p99 of served requests, ms),
        ``load_skew`` (over jobs per second of up time with ``up_s``, else over job
        counts; the model's rates per second of up time are
        proportional to them when every server is up throughout), ``server_requests``,
        ``throughput_per_s`` and ``forced_relogins_by_cause``; and ``outcome_counts``.
    """
    measured = frame[frame["arrival_s"] >= warmup_s]
    names = measured["outcome"].astype(str)
    counts = {name: int((names == name).sum()) for name in outcomes.NAMES}
    unknown = set(names.unique()) - set(outcomes.NAMES)
    if unknown:
        raise ValueError(f"unknown outcomes {sorted(unknown)}; outcomes: {outcomes.NAMES}")
    requests = len(measured)
    served_mask = names.isin(["ok", "relogin"])
    served = int(served_mask.sum())
    forced = measured["forced_relogin"].astype(bool)
    causes = measured.loc[forced, "relogin_cause"].astype(str)
    by_cause = {cause: int((causes == cause).sum()) for cause in outcomes.CAUSES}
    for cause in sorted(set(causes.unique()) - set(outcomes.CAUSES)):
        by_cause[cause] = int((causes == cause).sum())  # a reason the model does not know
    latency = latency_summary(measured.loc[served_mask, "latency_ms"].to_numpy(np.float64))
    jobs = _server_requests(measured, servers)
    skew = load_skew(_rates(jobs, up_s))
    result: dict[str, Any] = {
        "requests": requests,
        "served": served,
        "succeeded": counts["ok"],
        "success_rate": clean_float(success_rate(counts["ok"], requests)),
        "forced_relogins": int(forced.sum()),
        "users_logged_out": int(measured.loc[forced, "user"].nunique()),
        "errors": {name: counts[name] for name in (*outcomes.ERRORS, "unauthorized")},
        "latency_ms": {key: clean_float(value) for key, value in latency.items()},
        "load_skew": {key: clean_float(value) for key, value in skew.items()},
        "server_requests": jobs,
        "throughput_per_s": clean_float(served / measured_s) if measured_s else None,
        "forced_relogins_by_cause": by_cause,
        "outcome_counts": counts,
    }
    if "logins" in measured.columns:
        result["logins"] = int(measured["logins"].sum())
    return result
