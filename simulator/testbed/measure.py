"""The real run's metrics, computed as the model computes its own.

:func:`real_metrics` turns the load generator's rows (:meth:`LoadResult.to_frame
<simulator.testbed.loadgen.LoadResult.to_frame>`) into the figures of
:meth:`StrategyResult.to_dict <simulator.results.records.StrategyResult.to_dict>`, under
the same key names, with the project's own functions
(:mod:`simulator.results.metrics`), so a table can set the model and the real run side
by side.
"""

from __future__ import annotations

import math
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


def model_causes(
    frame: pd.DataFrame,
    losses: list[tuple[float, int | None]],
    *,
    sessions_in_store: bool,
) -> pd.Series:
    """The model's cause (:data:`simulator.outcomes.CAUSES`) of every forced re-login.

    The servers give a reason (``no_session``, ``expired``, ``invalid``); the model names
    why (``wrong_server``, ``session_lost``, ...). A ``no_session`` is ``session_lost``
    when whatever held the session lost its memory between the credential's issue and its
    rejection (the issuing server crashed, or the store came back empty), else
    ``wrong_server`` when another server than the issuer rejected it (sessions in a
    server's memory), else ``session_lost``. ``expired`` stays ``expired``; any other
    reason is kept as it is (a cause the model does not have).

    Args:
        frame: the load generator's rows, with ``forced_relogin``, ``relogin_cause``,
            ``credential_server``, ``credential_s``, ``rejected_by`` and ``arrival_s``.
        losses: ``(at_s, server)`` of every loss of session memory (``None``: the store),
            see :func:`simulator.testbed.faults.memory_losses`.
        sessions_in_store: the strategy keeps sessions in the store, not in the servers.

    Returns:
        One cause per row (``None`` where no re-login was forced), indexed as ``frame``.
    """

    def cause(row: Any) -> str | None:
        if not row.forced_relogin:
            return None
        reason = str(row.relogin_cause)
        if reason != "no_session":
            return reason
        holder = None if sessions_in_store else int(row.credential_server)
        issued_s = float(row.credential_s)
        answered_ms = float(row.latency_ms)
        rejected_s = row.arrival_s + (answered_ms / 1000.0 if math.isfinite(answered_ms) else 0.0)
        lost = any(server == holder and issued_s <= at_s <= rejected_s for at_s, server in losses)
        if lost:
            return "session_lost"
        if not sessions_in_store and int(row.rejected_by) != holder:
            return "wrong_server"
        return "session_lost"

    return pd.Series([cause(row) for row in frame.itertuples()], index=frame.index, dtype=object)


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
            ``latency_ms``, ``forced_relogin`` and ``relogin_cause`` (or, preferred,
            ``model_cause``: see :func:`model_causes`); optionally
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
    cause_column = "model_cause" if "model_cause" in measured.columns else "relogin_cause"
    causes = measured.loc[forced, cause_column].astype(str)
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


def window_metrics(
    frame: pd.DataFrame, windows: list[tuple[str, float, float]]
) -> list[dict[str, Any]]:
    """The real run cut into the model's windows (requests by arrival time).

    Args:
        frame: the load generator's rows, as for :func:`real_metrics`.
        windows: ``(label, start_s, end_s)`` of every window, as the model's
            :class:`~simulator.results.records.Window`.

    Returns:
        Per window, the keys of ``Window.to_dict()``: ``label``, ``start_s``, ``end_s``,
        ``requests``, ``success_rate``, ``forced_relogins``, ``users_logged_out`` and
        ``forced_relogins_by_cause``.
    """
    found: list[dict[str, Any]] = []
    for label, start_s, end_s in windows:
        inside = frame[(frame["arrival_s"] >= start_s) & (frame["arrival_s"] < end_s)]
        metrics = real_metrics(inside, 0, warmup_s=start_s)
        found.append(
            {
                "label": label,
                "start_s": start_s,
                "end_s": end_s,
                "requests": metrics["requests"],
                "success_rate": metrics["success_rate"],
                "forced_relogins": metrics["forced_relogins"],
                "users_logged_out": metrics["users_logged_out"],
                "forced_relogins_by_cause": metrics["forced_relogins_by_cause"],
            }
        )
    return found
