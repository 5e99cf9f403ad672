"""The testbed's scale and the costs measured inside a real run, turned into the model.

A laptop cannot hash 2,000 passwords at 140 ms each before a one-minute run, so the
testbed runs a scaled copy of the scenario (:func:`scaled_scenario`): fewer users, a
cheaper password hash, a bounded rate. The model is then run on that same scaled
scenario with the costs the real servers reported (:func:`model_scenario`), so the two
sides differ only in what the model leaves out.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from simulator.scenario.models import Z_99, Scenario
from simulator.testbed.server import hash_password


@dataclass(frozen=True)
class Scale:
    """How far the testbed scales a scenario down.

    Attributes:
        duration_s: run length, seconds (the scenario's when shorter).
        warmup_s: requests before this are not compared, seconds.
        max_users: users at most.
        max_rate_per_s: arrival rate at most, requests per second.
        max_servers: servers at most.
        login_ms: the password hash's target cost, ms (sets the PBKDF2 iterations).
    """

    duration_s: float
    warmup_s: float
    max_users: int
    max_rate_per_s: float
    max_servers: int
    login_ms: float


QUICK = Scale(
    duration_s=20.0, warmup_s=4.0, max_users=200, max_rate_per_s=30.0, max_servers=3, login_ms=5.0
)
"""``--quick``: about a minute for three strategies on a 2-core laptop."""

FULL = Scale(
    duration_s=60.0,
    warmup_s=10.0,
    max_users=500,
    max_rate_per_s=60.0,
    max_servers=4,
    login_ms=10.0,
)
"""The full mode: a few minutes."""


PROBE_ITERATIONS = 20_000
"""PBKDF2 iterations timed to size the login (a few ms)."""


def hash_cpu_ms(iterations: int, repeats: int = 3) -> float:
    """One password hash of ``iterations``, in this thread's CPU time, ms (median of
    ``repeats``): CPU time, so a busy machine does not inflate it."""
    times_ms = []
    for repeat in range(repeats):
        started = time.thread_time()
        hash_password(repeat, iterations)
        times_ms.append((time.thread_time() - started) * 1000.0)
    return statistics.median(times_ms)


def pbkdf2_iterations(scale: Scale) -> tuple[int, float]:
    """PBKDF2-SHA256 iterations that cost about ``scale.login_ms`` of CPU on this machine,
    and the cost measured at that count, ms (at least 1,000 iterations)."""
    per_iteration_ms = hash_cpu_ms(PROBE_ITERATIONS) / PROBE_ITERATIONS
    iterations = max(1_000, round(scale.login_ms / max(per_iteration_ms, 1e-6)))
    return iterations, hash_cpu_ms(iterations)


def scaled_scenario(scenario: Scenario, scale: Scale, login_ms: float) -> Scenario:
    """The scenario as the testbed runs it (and the model with it), its login costing
    ``login_ms`` (see :func:`pbkdf2_iterations`)."""
    data = scenario.model_dump(mode="python")
    # a timeline is kept whole (its times are what the lesson is about): the run lasts
    # until 15 s after its last event, the scenario's duration at most
    last_s = max((_event_end_s(event) + 15.0 for event in data["events"]), default=0.0)
    data["duration_s"] = min(scenario.duration_s, max(scale.duration_s, last_s))
    first_s = min((event["at_s"] for event in data["events"]), default=math.inf)
    data["warmup_s"] = min(scale.warmup_s, data["duration_s"] / 2, first_s)
    data["events"] = [event for event in data["events"] if event["at_s"] < data["duration_s"]]
    workload, cluster = data["workload"], data["cluster"]
    workload["users"] = min(workload["users"], scale.max_users)
    workload["arrival_rate_per_s"] = min(workload["arrival_rate_per_s"], scale.max_rate_per_s)
    cluster["servers"] = min(cluster["servers"], scale.max_servers)
    cluster["login_cpu_ms"] = login_ms
    return Scenario.model_validate(data)


def _event_end_s(event: dict[str, Any]) -> float:
    return float(event["at_s"]) + float(event.get("duration_s") or 0.0)


@dataclass(frozen=True)
class MeasuredCosts:
    """Costs the real servers reported during one strategy's run, ms.

    Attributes:
        login_ms: a login's password hash, CPU time measured before the run, ms.
        login_in_run_ms: mean server time of a login during the run (waiting for a CPU
            included), ms.
        check_ms: mean server time of a credential check on a served request (a dict
            lookup, a Redis GET, a JWT verification), ms.
        overhead_mean_ms: per request, the latency outside the server's own work (the
            balancer, HTTP, the loopback and the load generator), mean, ms.
        overhead_p99_ms: its 99th percentile, ms.
    """

    login_ms: float
    login_in_run_ms: float
    check_ms: float
    overhead_mean_ms: float
    overhead_p99_ms: float

    def to_dict(self) -> dict[str, float | None]:
        """JSON form (``None`` for a cost not measured)."""
        values = {
            "login_ms": self.login_ms,
            "login_in_run_ms": self.login_in_run_ms,
            "check_ms": self.check_ms,
            "overhead_mean_ms": self.overhead_mean_ms,
            "overhead_p99_ms": self.overhead_p99_ms,
        }
        return {key: None if math.isnan(value) else value for key, value in values.items()}


def measure_costs(
    frame: pd.DataFrame, login_auth_ms: list[float], login_ms: float
) -> MeasuredCosts:
    """What the servers reported: logins from ``login_auth_ms``, checks and the overhead
    from the served requests that needed no login (``ok`` rows); ``login_ms`` is the
    hash's cost timed before the run."""
    in_run_ms = float(pd.Series(login_auth_ms).mean()) if login_auth_ms else math.nan
    plain = frame[(frame["outcome"] == "ok") & (frame["logins"] == 0)]
    if plain.empty:
        return MeasuredCosts(login_ms, in_run_ms, 0.0, 0.0, 0.0)
    inside = plain["queued_ms"] + plain["auth_ms"] + plain["work_ms"]
    outside = (plain["latency_ms"] - inside).clip(lower=0.0)
    return MeasuredCosts(
        login_ms=login_ms,
        login_in_run_ms=in_run_ms,
        check_ms=float(plain["auth_ms"].mean()),
        overhead_mean_ms=float(outside.mean()),
        overhead_p99_ms=float(outside.quantile(0.99)),
    )


def _latency(mean_ms: float, p99_ms: float) -> dict[str, Any]:
    """A ``Latency`` for a measured mean and p99: lognormal when one fits, else constant."""
    if mean_ms <= 0:
        return {"distribution": "constant", "mean": 0.0}
    ratio = p99_ms / mean_ms
    if 1.01 < ratio < math.exp(Z_99**2 / 2) * 0.999:
        return {"distribution": "lognormal", "mean": mean_ms, "p99": p99_ms}
    return {"distribution": "constant", "mean": mean_ms}


def model_scenario(scenario: Scenario, strategy: str, costs: MeasuredCosts) -> Scenario:
    """The scaled scenario with the costs measured in the real run.

    The login's cost is the password hash timed in CPU time before the run (contention
    during the run is for the model to show, not to absorb); the load generator logs in
    again at once, so ``relogin_delay_s`` is 0; the check's cost goes where the strategy
    pays it (``jwt.verify_ms``, or the store's round trip for ``shared_store``); the time
    outside the servers becomes ``load_balancer.hop_ms``. Each server is one Python
    process: its busy loops share one core (the interpreter lock), so ``cpu_cores`` is 1.
    ``ip_hash`` routes as HAProxy's map-based ``balance source`` does over the load
    generator's consecutive 127.x addresses: ``sticky.hash: modulo`` over
    ``client_addresses: consecutive``.
    """
    data = scenario.model_dump(mode="python")
    data["strategies"] = [strategy]
    data["cluster"]["login_cpu_ms"] = costs.login_ms
    data["cluster"]["cpu_cores"] = 1
    data["workload"]["relogin_delay_s"]["mean_s"] = 0.0
    data["load_balancer"]["hop_ms"] = _latency(costs.overhead_mean_ms, costs.overhead_p99_ms)
    if data["sticky"]["affinity"] == "ip_hash":
        # HAProxy's map-based `balance source` over the generator's consecutive addresses
        data["sticky"]["hash"] = "modulo"
        data["workload"]["client_addresses"] = "consecutive"
    if strategy == "jwt":
        data["jwt"]["verify_ms"] = costs.check_ms
    elif strategy == "shared_store":
        store = data["shared_store"]
        store["rtt_ms"] = max(0.0, costs.check_ms - store["op_time_ms"])
    return Scenario.model_validate(data)


def flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """``{"latency_ms": {"p50": 3.0}}`` as ``{"latency_ms.p50": 3.0}`` (numbers only; a
    list of dicts by position: ``windows.0.success_rate``)."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
            for index, item in enumerate(value):
                flat.update(flatten(item, f"{name}.{index}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = float(value)
        elif value is None:
            flat[name] = math.nan
    return flat
