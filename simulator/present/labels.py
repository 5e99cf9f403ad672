"""What a sweep's metrics and parameters are called where a person reads them.

A sweep's files keep the dotted keys (``latency_ms.p95``, ``workload.arrival_rate_per_s``):
they are what ``--grid``, ``--y`` and pandas need. Figures, tables and notebooks say
"p95 latency (ms)" and "arrival rate (requests/s)" instead, through these functions:
:func:`metric_label` (a metric with its unit), :func:`parameter_name` (a grid key, no unit),
:func:`parameter_label` (with its unit, for an axis), :func:`parameter_value` (a value of a
grid key: ``arrival rate = 200 requests/s``), and :func:`dashed` (a table whose missing cells
read :data:`~simulator.present.format.MISSING`, never ``NaN``).

A key not listed below still reads as words: its unit suffix becomes the unit and its
underscores and dots become spaces (``shared_store.pool_size`` -> ``shared store pool
size``). Pure functions: nothing heavy imported but pandas.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import pandas as pd

from simulator.present.format import MISSING, is_missing, words

METRIC_LABELS: Final[Mapping[str, str]] = {
    "success_rate": "success rate (%)",
    "forced_relogins": "forced re-logins (requests)",
    "users_logged_out": "users logged out (users)",
    "login_cpu_s": "login CPU (CPU s)",
    "throughput_per_s": "throughput (requests/s)",
    "latency_ms.mean": "mean latency (ms)",
    "latency_ms.p50": "median latency (ms)",
    "latency_ms.p95": "p95 latency (ms)",
    "latency_ms.p99": "p99 latency (ms)",
    "load_skew.max_over_mean": "load skew (busiest server / mean, 1 = even)",
    "load_skew.cv": "load skew (coefficient of variation, 0 = even)",
    "load_skew.jain": "load fairness (Jain's index, 1 = even)",
    "store.utilisation": "store utilisation (fraction of time busy)",
    "store.mean_latency_ms": "store operation time, send to reply (ms)",
    "store.ops_per_request": "store operations per request",
    "auth_cost.verify_ms": "token verification (ms)",
    "credential_bytes": "credential size (bytes)",
    "refreshes": "token refreshes (tokens renewed)",
    "exposure.accepted_after_revocation": "requests accepted after revocation",
    "exposure.mean_window_s": "revocation window (s)",
}
"""Every replicated metric (:data:`simulator.experiments.replications.METRICS`) as words,
with its unit in parentheses."""

PARAMETERS: Final[Mapping[str, tuple[str, str]]] = {
    "seed": ("seed", ""),
    "duration_s": ("run length", "s"),
    "warmup_s": ("warm-up", "s"),
    "strategies": ("strategies", ""),
    "workload.users": ("users", ""),
    "workload.arrival_rate_per_s": ("arrival rate", "requests/s"),
    "workload.user_weights": ("user weights", ""),
    "workload.zipf_exponent": ("Zipf exponent", ""),
    "workload.users_per_ip": ("users per IP address", ""),
    "workload.client_addresses": ("client addresses", ""),
    "cluster.servers": ("servers", ""),
    "cluster.workers_per_server": ("workers per server", ""),
    "cluster.queue_limit": ("queue limit", "requests"),
    "cluster.service_time_ms.mean": ("mean service time", "ms"),
    "cluster.login_cpu_ms": ("login CPU", "ms"),
    "cluster.request_timeout_ms": ("request timeout", "ms"),
    "cluster.cpu_cores": ("CPU cores", ""),
    "load_balancer.policy": ("balancer policy", ""),
    "load_balancer.health_check_interval_s": ("health-check interval", "s"),
    "sticky.affinity": ("sticky affinity", ""),
    "shared_store.rtt_ms": ("store round trip", "ms"),
    "shared_store.op_time_ms": ("store operation time", "ms"),
    "shared_store.pool_size": ("store connections per server", ""),
    "shared_store.shards": ("store shards", ""),
    "shared_store.replicas": ("store replicas", ""),
    "shared_store.failover_s": ("store failover", "s"),
    "shared_store.cross_region_rtt_ms": ("cross-region round trip", "ms"),
    "jwt.algorithm": ("JWT algorithm", ""),
    "jwt.ttl_s": ("access token lifetime", "s"),
    "jwt.refresh": ("refresh tokens", ""),
    "jwt.denylist": ("JWT denylist", ""),
    "jwt.sync_s": ("denylist sync interval", "s"),
}
"""Scenario keys often swept: ``key -> (name, unit)`` (unit ``""``: a count or a choice)."""

_SUFFIX_UNITS: Final = (("_per_s", "per s"), ("_ms", "ms"), ("_s", "s"), ("_bytes", "bytes"))


def _split(key: str) -> tuple[str, str]:
    """``(name, unit)`` of a key that is not listed: the unit from the last part with a unit
    suffix (``_ms``, ``_s``, ``_per_s``, ``_bytes``), the rest as words."""
    parts = key.split(".")
    unit = ""
    for index, part in enumerate(parts):
        for suffix, found in _SUFFIX_UNITS:
            if part.endswith(suffix) and len(part) > len(suffix):
                parts[index], unit = part.removesuffix(suffix), found
                break
    return words(" ".join(parts)), unit


def _with_unit(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit else name


def metric_label(key: str) -> str:
    """A metric as a person reads it, with its unit: ``latency_ms.p95`` -> ``p95 latency
    (ms)``. Unknown keys read as words (``queue_ms.p90`` -> ``queue p90 (ms)``)."""
    if key in METRIC_LABELS:
        return METRIC_LABELS[key]
    return _with_unit(*_split(key))


def parameter_name(key: str) -> str:
    """A scenario key as words, without its unit: ``cluster.servers`` -> ``servers``."""
    if key in PARAMETERS:
        return PARAMETERS[key][0]
    return _split(key)[0]


def parameter_unit(key: str) -> str:
    """A scenario key's unit (``""`` for a count or a choice)."""
    if key in PARAMETERS:
        return PARAMETERS[key][1]
    return _split(key)[1]


def parameter_label(key: str) -> str:
    """A scenario key with its unit, for an axis or a column: ``arrival rate
    (requests/s)``."""
    return _with_unit(parameter_name(key), parameter_unit(key))


def parameter_value(key: str, value: Any) -> str:
    """One value of a scenario key, for a panel's title: ``arrival rate = 200
    requests/s``, ``servers = 4``, ``balancer policy = ip_hash``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    unit = parameter_unit(key)
    return f"{parameter_name(key)} = {value}" + (f" {unit}" if unit else "")


def dashed(
    frame: pd.DataFrame, formats: Mapping[str, str] | str = ".2f", *, labels: bool = False
) -> pd.DataFrame:
    """A table to show: every number written with its format (one format spec for all
    columns, or one per column, by name or by the first level of a MultiIndex column;
    ``""`` leaves a value as it is; with one spec for all,
    whole numbers of an integer column are written ``1,234``) and every missing value
    (NaN, None, infinite) as :data:`~simulator.present.format.MISSING`, never ``NaN``.

    ``labels``: also rename metric columns to :func:`metric_label` and grid-key columns to
    :func:`parameter_label`.
    """

    def cell(value: Any, spec: str) -> Any:
        if value is None or (isinstance(value, float) and is_missing(value)):
            return MISSING
        if isinstance(value, bool) or not isinstance(value, int | float) or not spec:
            return value
        return format(value, spec)

    shown = frame.copy()
    for column in shown.columns:
        if isinstance(formats, str):
            whole = pd.api.types.is_integer_dtype(frame[column].dtype)
            spec = ",d" if whole else formats
        else:  # a column of a MultiIndex also matches by its first level
            first = column[0] if isinstance(column, tuple) else column
            spec = formats.get(str(column), formats.get(str(first), ".2f"))
        shown[column] = [cell(value, spec) for value in frame[column].tolist()]
    if labels:
        shown = shown.rename(columns=readable_name)
        shown.index.names = [readable_name(name) for name in shown.index.names]
        shown.columns.names = [readable_name(name) for name in shown.columns.names]
    return shown


def readable_name(key: Any) -> Any:
    """A metric's label, a grid key's label, or ``key`` itself (a strategy, a title)."""
    if not isinstance(key, str):
        return key
    if key in METRIC_LABELS:
        return METRIC_LABELS[key]
    if key in PARAMETERS:
        return parameter_label(key)
    return key
