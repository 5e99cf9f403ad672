"""The cheat sheet's "How to answer a design question" (requirements, numbers, the
trade-off, failure modes, what to monitor) and its "Back-of-envelope capacity": how much
one core or one store shard does per second, and how many the scenario's request rate
needs.

Every figure is arithmetic on the baseline study's scenario and run (:func:`capacity_numbers`,
:func:`answer_numbers`): the token check's CPU the run used (reference, calibration or
``jwt.verify_ms``), the store's ``op_time_ms`` and ``rtt_ms``, the login's CPU and the
arrival rate. Change a setting and the figure follows it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from simulator.costs import sources
from simulator.costs.sources import SOURCES
from simulator.present.cheatsheet_costs import login_source
from simulator.present.format import count, number, percent, times
from simulator.results.records import RunResult
from simulator.scenario.models import Scenario

ANSWER_STEPS: tuple[str, ...] = (
    "1. Requirements",
    "2. Numbers",
    "3. The trade-off",
    "4. Failure modes",
    "5. What to monitor",
)
"""The scaffold's headings, in the order to answer in."""

VERIFY_SOURCES: dict[str, str] = {
    "reference": "reference figure: PyJWT 2.15.1 `decode` on a 2-core VM "
    "(simulator/costs/reference.py)",
    "calibration": "calibrated on this machine (`authsim calibrate`)",
    "scenario": "`jwt.verify_ms` set for these runs",
}
"""Where the run's token-check cost came from (:attr:`AuthCost.source`) -> how the page
says so."""


def per_second(cost_ms: float) -> float:
    """How many operations of ``cost_ms`` one core (or one single-threaded process) does
    per second: ``1000 / cost_ms``, infinite for a free operation."""
    return 1000.0 / cost_ms if cost_ms > 0 else math.inf


def capacity_numbers(baseline: Scenario, result: RunResult) -> dict[str, float]:
    """The back-of-envelope figures of ``baseline`` and its run (which must include
    ``shared_store`` and ``jwt``; ``local`` adds its measured login CPU).

    Keys start with ``capacity.``: ``rate_per_s``; ``jwt.verify_ms``,
    ``jwt.verifies_per_core_s``, ``jwt.cores``; ``store.op_time_ms``,
    ``store.ops_per_shard_s``, ``store.ops_per_request``, ``store.ops_per_s``,
    ``store.shards_busy``, ``store.ops_per_connection_s``, ``store.connections``,
    ``store.pool_ops_per_s``; ``login.login_ms``, ``login.hashes_per_core_s``,
    ``login.storm_cores``, ``login.local_cores``; ``work_cores``, ``fleet_cores``;
    ``rotation.cpu_s``, ``rotation.fleet_s``.
    """
    rate = baseline.workload.arrival_rate_per_s
    store = baseline.shared_store
    jwt_cost = result["jwt"].auth_cost
    verify_ms = jwt_cost.verify_ms if jwt_cost is not None else 0.0
    login_ms = jwt_cost.login_ms if jwt_cost is not None else baseline.cluster.login_cpu_ms
    stats = result["shared_store"].store
    ops_per_request = stats.ops_per_request if stats and stats.ops_per_request else 0.0
    per_connection = per_second(store.rtt_ms + store.op_time_ms)
    connections = baseline.cluster.servers * store.pool_size
    fleet_cores = baseline.cluster.servers * (
        baseline.cluster.cpu_cores or baseline.cluster.workers_per_server
    )
    rotation_cpu_s = baseline.workload.users * login_ms / 1000.0
    numbers = {
        "rate_per_s": rate,
        "jwt.verify_ms": verify_ms,
        "jwt.verifies_per_core_s": per_second(verify_ms),
        "jwt.cores": rate * verify_ms / 1000.0,
        "store.op_time_ms": store.op_time_ms,
        "store.ops_per_shard_s": per_second(store.op_time_ms),
        "store.ops_per_request": ops_per_request,
        "store.ops_per_s": rate * ops_per_request,
        "store.shards_busy": rate * ops_per_request * store.op_time_ms / 1000.0,
        "store.ops_per_connection_s": per_connection,
        "store.connections": connections,
        "store.pool_ops_per_s": connections * per_connection,
        "login.login_ms": login_ms,
        "login.hashes_per_core_s": per_second(login_ms),
        "login.storm_cores": rate * login_ms / 1000.0,
        "work_cores": rate * baseline.cluster.service_time_ms.mean / 1000.0,
        "fleet_cores": fleet_cores,
        "rotation.cpu_s": rotation_cpu_s,
        "rotation.fleet_s": rotation_cpu_s / fleet_cores,
    }
    if "local" in result.strategies:
        local = result["local"]
        numbers["login.local_cores"] = local.login_cpu_s / max(local.measured_s, 1e-9)
    return {f"capacity.{key}": value for key, value in numbers.items()}


def answer_numbers(result: RunResult) -> dict[str, float]:
    """The scaffold's own figures from the baseline run: p99 latencies and the writes
    (logins and refreshes) per 1000 requests of each strategy (keys ``answer.<strategy>.
    latency_p99_ms`` and ``answer.<strategy>.writes_per_1000``)."""
    numbers: dict[str, float] = {}
    for item in result.results:
        p99 = item.latency_ms.get("p99")
        numbers[f"answer.{item.strategy}.latency_p99_ms"] = math.nan if p99 is None else p99
        numbers[f"answer.{item.strategy}.writes_per_1000"] = (
            1000 * (item.logins + item.refreshes) / max(1, item.requests)
        )
    return numbers


# ------------------------------------------------------------------------ the page


def _cores(value: float, unit: str = "cores") -> str:
    """A number of cores (or shards): two significant figures below 10, whole ones above,
    with the unit (``1 core``, ``0.0031 cores``)."""
    text = number(value, ",.0f" if value >= 10 else ".2g")
    return f"{text} {unit.removesuffix('s') if text == '1' else unit}"


def _share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else math.nan


def _per_s(value: float) -> str:
    return "unlimited (no cost set)" if math.isinf(value) else f"{count(value)}/s"


def _ms(value: float) -> str:
    """Milliseconds as the rest of the page writes them (``140 ms``, ``29.6 ms``,
    ``0.47 ms``)."""
    spec = ".0f" if value >= 100 else ".1f" if value >= 10 else ".2f"
    return f"{number(value, spec)} ms"


def _us(value_ms: float) -> str:
    return f"{number(1000 * value_ms, ',.0f')} µs"


def _op_time_source(baseline: Scenario) -> str:
    dotted = "shared_store.op_time_ms"
    if baseline.shared_store.op_time_ms == sources.default(dotted):
        return SOURCES[dotted].source
    return f"`{dotted}` set for these runs"


def capacity_lines(
    numbers: Mapping[str, float], baseline: Scenario, result: RunResult
) -> list[str]:
    """The "Back-of-envelope capacity" section: per core, per shard, and what the
    baseline's request rate needs, each figure with its source."""
    n = {key.removeprefix("capacity."): value for key, value in numbers.items()}
    rate = n["rate_per_s"]
    jwt_cost = result["jwt"].auth_cost
    verify_source = VERIFY_SOURCES.get(jwt_cost.source if jwt_cost else "", "the run's cost")
    algorithm = baseline.jwt.algorithm
    store = baseline.shared_store
    local = (
        f" `local`, which logs in again on most requests, spent {_cores(n['login.local_cores'])} "
        "on it in this run."
        if "login.local_cores" in n
        else ""
    )
    return [
        "## Back-of-envelope capacity",
        "",
        f"Per core = 1000 / cost in ms; cores needed = rate × cost, at `baseline`'s "
        f"{rate:g} requests/s.",
        "",
        "| what | cost | per core (or shard) | needed at the rate | source |",
        "|---|---:|---:|---:|---|",
        f"| verify a JWT ({algorithm}) | {_us(n['jwt.verify_ms'])} "
        f"| {_per_s(n['jwt.verifies_per_core_s'])} "
        f"| {_cores(n['jwt.cores'])} | {verify_source} |",
        f"| a Redis operation | {_us(n['store.op_time_ms'])} "
        f"| {_per_s(n['store.ops_per_shard_s'])} per shard "
        f"| {_cores(n['store.shards_busy'], 'shards')} ({count(n['store.ops_per_s'])} ops/s: "
        f"{n['store.ops_per_request']:.2f} per `shared_store` request) "
        f"| {_op_time_source(baseline)} |",
        f"| hash a password (login) | {_ms(n['login.login_ms'])} "
        f"| {_per_s(n['login.hashes_per_core_s'])} "
        f"| {_cores(n['login.storm_cores'])} if every request were a login "
        f"| {login_source(n['login.login_ms'], baseline)} |",
        "",
        f"- For scale: the requests' own work is {rate:g}/s × "
        f"{baseline.cluster.service_time_ms.mean:g} ms = {_cores(n['work_cores'])}; "
        f"checking tokens adds {percent(_share(n['jwt.cores'], n['work_cores']))} of that.",
        f"- A Redis shard is one thread, so its figure is per shard, and it is a ceiling: "
        f"the network and the client bind first. A connection that waits for each reply does "
        f"1000 / ({store.rtt_ms:g} ms round trip + {store.op_time_ms:g} ms) = "
        f"{_per_s(n['store.ops_per_connection_s'])}, so {baseline.cluster.servers} servers × "
        f"{store.pool_size} pooled connections top out at {_per_s(n['store.pool_ops_per_s'])} "
        "without pipelining, and client libraries spend more CPU per call than Redis does.",
        f"- Password hashing is the expensive path: a login storm (a key rotation, a lost "
        f"session store) at {rate:g} requests/s needs {_cores(n['login.storm_cores'])} "
        f"against {_cores(n['jwt.cores'])} for verifying tokens.{local}",
    ]


def answer_lines(numbers: Mapping[str, float], scenarios: Mapping[str, Scenario]) -> list[str]:
    """The "How to answer a design question" scaffold: five steps, each with example
    sentences in the runs' numbers."""
    n = numbers
    baseline = scenarios["baseline"]
    rate, users = baseline.workload.arrival_rate_per_s, baseline.workload.users
    servers = int(n["servers"])
    one, two, three, four, five = (f"### {step}" for step in ANSWER_STEPS)
    return [
        "## How to answer a design question",
        "",
        "Five steps, in this order; the sentences are examples in this run's numbers.",
        "",
        one,
        "",
        "Ask for users, requests/s, the read/write mix, the latency target and how fast a "
        "logout or a ban must take effect.",
        "",
        f'- "{users:,} users, {rate:g} requests/s, and nearly all of it is reads: '
        f"`shared_store` reads the store {n['shared_store.store_ops_per_request']:.2f} times "
        f"per request, while writes (logins, refreshes) are "
        f'{n["answer.jwt.writes_per_1000"]:.1f} per 1000 requests for `jwt`."',
        f'- "What is the latency target? At this load `shared_store` has p95 '
        f"{_ms(n['shared_store.latency_p95_ms'])} and p99 "
        f"{_ms(n['answer.shared_store.latency_p99_ms'])}. Must a ban be instant? Tokens "
        f"without a denylist accepted {count(n['revocation.jwt.accepted'])} more requests "
        f'from revoked users."',
        "",
        two,
        "",
        f'- "{rate:g} requests/s × {_us(n["capacity.jwt.verify_ms"])} = '
        f"{_cores(n['capacity.jwt.cores'])} to verify tokens; × "
        f"{n['capacity.store.ops_per_request']:.2f} store operations = "
        f"{count(n['capacity.store.ops_per_s'])} ops/s on a shard good for about "
        f'{count(n["capacity.store.ops_per_shard_s"])}."',
        f'- "The expensive path is logging in: {_ms(n["capacity.login.login_ms"])} of '
        f"hashing, {count(n['capacity.login.hashes_per_core_s'])} per core per second, so a "
        f'login storm at full rate needs {_cores(n["capacity.login.storm_cores"])}."',
        "",
        three,
        "",
        f'- "State in a store buys instant logout and a small cookie for a round trip per '
        f"request (+{_ms(n['shared_store.extra_ms'])}) and a dependency; tokens buy stateless "
        f"scale-out for {n['jwt.credential_bytes']:.0f} B and {_us(n['jwt.verify_ms'])} per "
        f'request, and a revocation window as long as the token lives."',
        "",
        four,
        "",
        f"- Crash: `sticky` logs out about 1/N "
        f"({percent(n['crash.sticky.relogin_fraction'])} of active users with "
        f"{int(n['crash.servers'])} servers); tokens and a store do not care.",
        f"- Deploy: a rolling restart is a crash of each server in turn, drained; `sticky` "
        f"loses about 1/{servers} of its sessions per restart, so nearly every user logs in "
        "again once per deploy (`rolling-deploy`); `jwt` and `shared_store` do not notice.",
        f"- Store outage: `shared_store` served {percent(n['outage.shared_store.success_rate'])}"
        f" during a {n['outage.duration_s']:.0f} s outage, `jwt` "
        f"{percent(n['outage.jwt.success_rate'])} (only refreshes need the store).",
        f"- Key rotation without overlap: every `jwt` user logs in again, {users:,} × "
        f"{_ms(n['capacity.login.login_ms'])} = {count(n['capacity.rotation.cpu_s'])} "
        f"CPU-seconds, {number(n['capacity.rotation.fleet_s'], '.0f')} s of all "
        f"{int(n['capacity.fleet_cores'])} cores of the fleet (`key-rotation`); keep the old "
        "key verifying until its tokens expire.",
        f"- NAT hotspot: with `ip_hash` the busiest server carries "
        f"{times(n['nat.sticky.max_over_mean'])} the mean load "
        f"({int(n['nat.users_per_ip'])} users per address).",
        "",
        five,
        "",
        f"- Success rate ({percent(n['shared_store.success_rate'])} on `baseline`; "
        f"{percent(n['crash.sticky.success_rate'])} for `sticky` after a crash).",
        f"- Forced re-logins by cause: `session_lost` (crash, deploy), `wrong_server` "
        f"(scale-out: {percent(n['modulo.remapped'])} moved with modulo hashing), "
        f"`refresh_failed`, `stale_read` ({count(n['replica_lag.shared_store.stale_read'])} "
        "reading a lagging replica), `key_rotated`.",
        f"- p95 and p99 latency: `jwt` p95 {_ms(n['jwt.latency_p95_ms'])}, p99 "
        f"{_ms(n['answer.jwt.latency_p99_ms'])}; under NAT `sticky`'s p95 was "
        f"{_ms(n['nat.sticky.latency_p95_ms'])}.",
        f"- The store's latency and ops/s: an operation takes "
        f"{_ms(n['saturation.idle_store_latency_ms'])} idle and "
        f"{_ms(n['saturation.store_latency_ms'])} at "
        f"{percent(n['saturation.store_utilisation'])} busy (`store-saturation`).",
        f"- Load skew, busiest server over mean: {times(n['sticky.max_over_mean'])} on "
        f"`baseline`, {times(n['nat.sticky.max_over_mean'])} under NAT.",
        f"- Token refresh failures: {count(n['outage.jwt.refresh_failed'])} refreshes "
        f"refused (`refresh_failed`) in a {n['outage.duration_s']:.0f} s store outage.",
    ]
