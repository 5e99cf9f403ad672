"""How much work a scenario is, estimated before anything is built, and the limits on it.

A typo such as ``--set cluster.servers=1000000000`` or ``--set duration_s=1e9`` would
otherwise allocate gigabytes or run for days. :func:`estimate` sizes a run from the
scenario alone (pure arithmetic, nothing allocated per server, user or request);
:func:`check` refuses a run above a hard limit (:data:`LIMITS`) with one line naming the
limit and how to raise it, and :func:`warning` words the estimate of a run above the
softer thresholds (:data:`WARN_REQUESTS`, :data:`WARN_MEMORY_BYTES`).

The override is ``allow_large=True`` (``authsim ... --allow-large``), or the environment
variable ``AUTHSIM_ALLOW_LARGE=1``, which also reaches the processes of a sweep.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulator.errors import ScenarioError

if TYPE_CHECKING:
    from simulator.scenario.models import Scenario

ALLOW_LARGE_ENV = "AUTHSIM_ALLOW_LARGE"
"""Set to ``1`` to lift the hard limits (what ``--allow-large`` does)."""

ALLOW_LARGE_HINT = "pass --allow-large (allow_large=True in Python) to run it anyway"
"""How a refusal says to lift the limits."""

MAX_SERVERS = 10_000
"""Servers at the largest (``cluster.servers`` plus every scale-out)."""
MAX_USERS = 5_000_000
"""``workload.users``."""
MAX_REQUESTS = 200_000_000
"""Requests simulated, summed over the strategies (about two CPU-hours)."""
MAX_MEMORY_BYTES = 4 * 2**30
"""Estimated memory of the run's data."""
MAX_PERIODIC_STEPS = 10_000_000
"""Steps of one periodic process (health checks, denylist syncs) over the run."""

WARN_REQUESTS = 10_000_000
"""Above this many simulated requests (about five CPU-minutes) a run is announced."""
WARN_MEMORY_BYTES = 2**30
"""Above this estimated memory a run is announced."""

REQUESTS_PER_CPU_S = 30_000
"""Requests simulated per CPU-second, roughly (one strategy, few servers)."""
SERVER_SAMPLE_S = 1e-6
"""CPU time of sampling one server once (``SAMPLES_PER_BUCKET`` times a bucket)."""
SAMPLES_PER_BUCKET = 10
"""Server samples per time-series bucket (as :mod:`simulator.results.timeseries`)."""

# Bytes, measured with ``resource.getrusage`` on runs of the baseline scenario.
USER_BYTES = 48
"""Per user, shared by the strategies: activity weight, IP index and hash."""
USER_STATE_BYTES = 440
"""Per user: its credentials and sessions, in every strategy."""
USER_S = 0.65e-6
"""CPU time per user and strategy (logging everyone in at the start)."""
SERVER_BYTES = 2_048
"""Per server and strategy: the server, its queue and balancer state."""
WORKER_BYTES = 1_024
"""Per worker (one SimPy process)."""
SERVER_BUCKET_BYTES = 80
"""Per server, time-series bucket and strategy: samples and the per-server series."""
BUCKET_BYTES = 2_048
"""Per time-series bucket and strategy: tallies and a latency histogram."""
RING_POINT_BYTES = 120
"""Per point of a consistent-hash ring (``sticky.virtual_nodes`` per server)."""
RECORD_BYTES = 96
"""Per recorded request (record mode): the columns and their table."""


class LimitError(ScenarioError):
    """A run above a hard limit: ``<source>: <key>: <size> is above the limit of <limit>;
    pass --allow-large to run it anyway`` (one line)."""


@dataclass(frozen=True)
class Estimate:
    """The size of a run.

    Attributes:
        requests: requests expected to arrive, summed over the strategies.
        servers: servers at the largest (scale-outs included).
        users: users.
        strategies: strategies run.
        buckets: time-series buckets.
        memory_bytes: estimated memory of the run's data.
        cpu_s: estimated CPU time, seconds.
    """

    requests: float
    servers: int
    users: int
    strategies: int
    buckets: int
    memory_bytes: float
    cpu_s: float

    def summary(self) -> str:
        """``about 12 million requests, 1.3 GB, 7 min``."""
        return (
            f"about {_count(self.requests)} requests, {_bytes(self.memory_bytes)}, "
            f"{_duration(self.cpu_s)} at ~{REQUESTS_PER_CPU_S // 1000}k requests per CPU-second"
        )


def expected_requests(scenario: Scenario) -> float:
    """Requests expected to arrive in one strategy's run: the arrival rate integrated over
    ``[0, duration_s)``, with the rate profile and the traffic spikes."""
    import numpy as np  # noqa: PLC0415 (its limits are read by the command line's --help)

    from simulator.scenario.events import TrafficSpike  # noqa: PLC0415 (as numpy)

    duration_s = scenario.duration_s
    spikes = [event for event in scenario.events if isinstance(event, TrafficSpike)]
    edges = {0.0, duration_s}
    for spike in spikes:
        edges.update(
            min(max(t, 0.0), duration_s) for t in (spike.at_s, spike.at_s + spike.duration_s)
        )
    ordered = sorted(edges)
    profile = scenario.workload.rate_profile
    total = 0.0
    for start_s, end_s in itertools.pairwise(ordered):
        if end_s <= start_s:
            continue
        # midpoints: a spike is constant inside a segment, a profile is smooth
        steps = 64
        offsets = (np.arange(steps) + 0.5) * ((end_s - start_s) / steps)
        times = (start_s + offsets).astype(np.float64)
        mean = float(np.mean(profile.multiplier(times)))
        middle = (start_s + end_s) / 2
        for spike in spikes:
            if spike.at_s <= middle < spike.at_s + spike.duration_s:
                mean *= spike.multiplier
        total += mean * (end_s - start_s)
    return scenario.workload.arrival_rate_per_s * total


def most_servers(scenario: Scenario) -> int:
    """Servers at the largest: ``cluster.servers`` plus every scale-out."""
    from simulator.scenario.events import ScaleOut  # noqa: PLC0415 (see expected_requests)

    added = sum(event.count for event in scenario.events if isinstance(event, ScaleOut))
    return scenario.cluster.servers + added


def estimate(
    scenario: Scenario,
    strategies: Iterable[str] | None = None,
    *,
    record_requests: bool = False,
) -> Estimate:
    """Size a run of ``scenario`` without building any of it.

    Args:
        scenario: the validated scenario.
        strategies: the strategies to run (default: ``scenario.strategies``).
        record_requests: record mode (one row kept per measured request).
    """
    names = list(strategies) if strategies is not None else list(scenario.strategies)
    count = max(1, len(names))
    per_run = expected_requests(scenario)
    requests = per_run * count
    servers = most_servers(scenario)
    users = scenario.workload.users
    measured_s = scenario.measured_s
    buckets = max(1, math.ceil(measured_s / scenario.time_bucket_s - 1e-9))
    cluster = scenario.cluster
    memory = float(users) * (USER_BYTES + USER_STATE_BYTES)
    memory += servers * count * (SERVER_BYTES + cluster.workers_per_server * WORKER_BYTES)
    memory += float(servers) * buckets * count * SERVER_BUCKET_BYTES
    memory += float(buckets) * count * BUCKET_BYTES
    if "sticky" in names and scenario.sticky.affinity == "consistent_hash":
        memory += float(servers) * scenario.sticky.virtual_nodes * RING_POINT_BYTES
    if record_requests:
        memory += requests * (measured_s / scenario.duration_s) * RECORD_BYTES
    samples = float(servers) * buckets * SAMPLES_PER_BUCKET * count
    cpu_s = requests / REQUESTS_PER_CPU_S + samples * SERVER_SAMPLE_S + users * count * USER_S
    return Estimate(requests, servers, users, count, buckets, memory, cpu_s)


def large_allowed(allow_large: bool | None = None) -> bool:
    """``allow_large`` if given, else whether ``AUTHSIM_ALLOW_LARGE`` is set (not ``0``)."""
    if allow_large is not None:
        return allow_large
    return os.environ.get(ALLOW_LARGE_ENV, "").strip().lower() not in {"", "0", "false", "no"}


def problems(scenario: Scenario, found: Estimate) -> list[tuple[str | None, str]]:
    """Each hard limit the run is above: the key to blame (or ``None``) and the problem."""
    size = f"(about {_bytes(found.memory_bytes)})"
    over: list[tuple[str | None, str]] = []
    if found.servers > MAX_SERVERS:
        key = "cluster.servers" if scenario.cluster.servers > MAX_SERVERS else "events"
        over.append((key, f"{found.servers} servers is above the limit of {MAX_SERVERS:,} {size}"))
    if found.users > MAX_USERS:
        over.append(
            ("workload.users", f"{found.users} users is above the limit of {MAX_USERS:,} {size}")
        )
    if found.requests > MAX_REQUESTS:
        over.append(
            (
                "duration_s",
                f"about {_count(found.requests)} requests (arrival rate × duration_s × "
                f"{found.strategies} strategies) is above the limit of "
                f"{_count(MAX_REQUESTS)} (about {_duration(found.cpu_s)})",
            )
        )
    periods = [
        ("load_balancer.health_check_interval_s", scenario.load_balancer.health_check_interval_s),
        ("jwt.sync_s", scenario.jwt.sync_s),
    ]
    for key, period_s in periods:
        steps = scenario.duration_s / period_s
        if steps > MAX_PERIODIC_STEPS:
            over.append(
                (
                    key,
                    f"every {period_s:g} s for {scenario.duration_s:g} s is "
                    f"{_count(steps)} steps, above the limit of {_count(MAX_PERIODIC_STEPS)}",
                )
            )
    if not over and found.memory_bytes > MAX_MEMORY_BYTES:
        over.append(
            (
                None,
                f"about {_bytes(found.memory_bytes)} of memory ({found.servers} servers, "
                f"{found.users} users, {found.buckets} time buckets) is above the limit of "
                f"{_bytes(MAX_MEMORY_BYTES)}",
            )
        )
    return over


REQUEST_KEYS = ("duration_s", "workload.arrival_rate_per_s", "workload.rate_profile", "events")
"""The keys that set how many requests arrive, in the order a refusal blames them."""


def check(
    scenario: Scenario,
    strategies: Sequence[str] | None = None,
    *,
    record_requests: bool = False,
    allow_large: bool | None = None,
    source: str = "scenario",
    overridden: Iterable[str] = (),
) -> Estimate:
    """Estimate a run and refuse it above a hard limit.

    Args:
        scenario: the validated scenario.
        strategies: the strategies to run (default: ``scenario.strategies``).
        record_requests: record mode.
        allow_large: lift the limits (``None``: as ``AUTHSIM_ALLOW_LARGE`` says).
        source: where the scenario came from (a file), named first in the error.
        overridden: dotted keys set by ``--set``: a limit they crossed names ``--set``.

    Returns:
        The estimate.

    Raises:
        LimitError: above a limit, unless allowed; one line.
    """
    found = estimate(scenario, strategies, record_requests=record_requests)
    over = problems(scenario, found)
    if not over or large_allowed(allow_large):
        return found
    key, problem = over[0]
    keys = list(overridden)
    if key == "duration_s":
        key = next((k for k in REQUEST_KEYS if _touches(keys, k)), key)
    blamed = "--set" if key is not None and _touches(keys, key) else source
    raise LimitError(blamed, key, f"{problem}; {ALLOW_LARGE_HINT}")


def _touches(keys: Sequence[str], key: str) -> bool:
    """Whether one of ``keys`` sets ``key``, a section holding it, or a key inside it."""
    return any(k == key or key.startswith(f"{k}.") or k.startswith(f"{key}.") for k in keys)


def warning(found: Estimate) -> str | None:
    """One line announcing a large run (above a soft threshold), or ``None``."""
    if found.requests <= WARN_REQUESTS and found.memory_bytes <= WARN_MEMORY_BYTES:
        return None
    return f"warning: a large run: {found.summary()}"


def _count(value: float) -> str:
    for size, word in ((1e9, "billion"), (1e6, "million")):
        if value >= size:
            return f"{value / size:.3g} {word}"
    return f"{value:,.0f}"


def _bytes(value: float) -> str:
    for size, unit in ((2**40, "TB"), (2**30, "GB"), (2**20, "MB")):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value / 2**10:.3g} KB"


def _duration(seconds: float) -> str:
    for size, unit in ((86_400, "days"), (3_600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.2g} s"
