"""The interview cheat sheet: the strategies, when each wins, how each fails, how to
answer, the capacity figures and the store's high-availability options, and the numbers
to quote, computed from fresh runs of the scenarios that show them.

Nothing on the page is a typed-in number: each comes from a :class:`Study` (a built-in
scenario, the strategies it needs, and the study's own settings) run through
:func:`simulator.model.run.run`, or from the authentication costs those runs used
(reference figures, or a calibration profile given with ``calibration=...``). Overrides
apply to every study, so ``cluster.servers=10`` changes every number that depends on it.

    sheet = build_cheatsheet(["cluster.servers=10"], quick=True)
    print(sheet.markdown())
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from simulator import __version__
from simulator.costs.reference import JWT_TOKEN_BYTES, SESSION_ID_BYTES, AuthCosts
from simulator.experiments import theory
from simulator.model.run import run
from simulator.model.strategies import STRATEGIES, about
from simulator.present.cheatsheet_answer import (
    answer_lines,
    answer_numbers,
    capacity_lines,
    capacity_numbers,
)
from simulator.present.cheatsheet_costs import cost_source_lines
from simulator.present.cheatsheet_store import store_lines, store_numbers
from simulator.present.format import capital, count, number, percent, times
from simulator.results.records import RunResult, StrategyResult, Window
from simulator.scenario.calibration import load_profile
from simulator.scenario.loading import load_scenario
from simulator.scenario.models import Scenario

QUICK_WARMUP_S = 5.0
"""Warm-up of every study in quick mode, seconds."""
QUICK_TAIL_S = 30.0
"""Quick mode measures this long after the last event ends (or after the warm-up)."""

CheatsheetProgress = Callable[[str, int, int], None]
"""``progress(scenario, done, total)`` before each study runs."""


@dataclass(frozen=True)
class Study:
    """One run the sheet takes numbers from.

    Attributes:
        name: its key in :attr:`Cheatsheet.results`.
        scenario: the built-in scenario it runs.
        strategies: the strategies it needs.
        settings: the study's own overrides, applied after the user's (a variant such as
            ``jwt.denylist: store``).
        record_requests: keep per-request rows (to count distinct users).
        shows: what it shows, for the sources line.
    """

    name: str
    scenario: str
    strategies: tuple[str, ...]
    shows: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    record_requests: bool = False


TRIO, PAIR, STICKY = ("sticky", "shared_store", "jwt"), ("shared_store", "jwt"), ("sticky",)
STUDIES: tuple[Study, ...] = (
    Study("baseline", "baseline", tuple(STRATEGIES), "the steady state"),
    Study("nat", "nat-hotspot", ("sticky", "jwt"), "affinity under NAT"),
    Study("crash", "server-crash", TRIO, "a server crash", record_requests=True),
    Study("outage", "store-outage", PAIR, "a store outage"),
    Study("failover", "store-failover", PAIR, "a store primary's crash", record_requests=True),
    Study("sharded", "store-sharded", PAIR, "a shard's primary crash"),
    Study("replica_lag", "read-replica-lag", PAIR, "reads from a lagging replica"),
    Study("saturation", "store-saturation", PAIR, "a saturated store"),
    Study("revocation", "revocation", TRIO, "revocation"),
    Study(
        "denylist", "revocation", ("jwt",), "revocation with a denylist", {"jwt.denylist": "store"}
    ),
    Study("modulo", "scale-out-modulo", STICKY, "scale-out by modulo", record_requests=True),
    Study(
        "consistent",
        "scale-out-consistent",
        STICKY,
        "scale-out on a hash ring",
        record_requests=True,
    ),
)


def shortened(scenario: Scenario) -> Scenario:
    """The scenario with a 5 s warm-up, measured until 30 s after its last event ends.

    Never longer than the original. Used by quick mode: the events and their times stay
    as they are, only the quiet stretches before and after them are cut.
    """
    ends = [event.at_s + (event.lasts_s or 0.0) for event in scenario.events]
    warmup_s = min(scenario.warmup_s, QUICK_WARMUP_S)
    duration_s = min(scenario.duration_s, max([warmup_s, *ends]) + QUICK_TAIL_S)
    return scenario.with_overrides({"warmup_s": warmup_s, "duration_s": duration_s})


@dataclass(frozen=True)
class Cheatsheet:
    """The runs behind a cheat sheet, the numbers taken from them, and the page.

    Attributes:
        scenarios: study name -> the scenario it ran.
        results: study name -> its result.
        overrides: the user's overrides, as given.
        quick: whether the studies were shortened (see :func:`shortened`).
        numbers: every number on the page, by a dotted name (``local.success_rate``,
            ``sticky.crash_relogin_fraction``...); rates are fractions, times in ms or s
            as the name says.
    """

    scenarios: dict[str, Scenario]
    results: dict[str, RunResult]
    overrides: tuple[str, ...]
    quick: bool
    numbers: dict[str, float]

    def markdown(self) -> str:
        """The one-page cheat sheet, in Markdown."""
        return _render(self)


def build_cheatsheet(
    overrides: Sequence[str] | Mapping[str, Any] = (),
    *,
    quick: bool = False,
    studies: Iterable[Study] = STUDIES,
    progress: CheatsheetProgress | None = None,
) -> Cheatsheet:
    """Run every study and collect the numbers of the sheet.

    Args:
        overrides: dotted-key overrides for every study (``["cluster.servers=10"]`` or a
            mapping), applied before each study's own settings.
        quick: shorten each study (see :func:`shortened`).
        studies: the studies to run (default: :data:`STUDIES`; the page needs them all).
        progress: called before each study with its scenario name, the studies done and
            the total.

    Raises:
        ScenarioError: an override that a study's scenario rejects (the message names the
            scenario file and the key).
    """
    chosen = list(studies)
    given = (
        tuple(f"{key}={value}" for key, value in overrides.items())
        if isinstance(overrides, Mapping)
        else tuple(overrides)
    )
    scenarios: dict[str, Scenario] = {}
    for study in chosen:  # validate every study before running any
        scenario = load_scenario(study.scenario, overrides)
        if study.settings:
            scenario = scenario.with_overrides(study.settings, source=f"{study.name} study")
        scenarios[study.name] = shortened(scenario) if quick else scenario
    results: dict[str, RunResult] = {}
    for done, study in enumerate(chosen):
        if progress is not None:
            progress(study.scenario, done, len(chosen))
        results[study.name] = run(
            scenarios[study.name], study.strategies, record_requests=study.record_requests
        )
    numbers = _numbers(scenarios, results)
    numbers |= capacity_numbers(scenarios["baseline"], results["baseline"])
    numbers |= answer_numbers(results["baseline"])
    numbers |= store_numbers(scenarios, results)
    return Cheatsheet(scenarios, results, given, quick, numbers)


# ------------------------------------------------------------------------ the numbers


def _window(result: StrategyResult, prefix: str) -> Window:
    """The first event window whose label starts with ``prefix``."""
    for window in result.windows:
        if window.label.startswith(prefix):
            return window
    raise LookupError(f"{result.strategy}: no window {prefix!r}")


def _rate(value: float | None) -> float:
    return float("nan") if value is None else value


def _moved_share(run_result: RunResult, strategy: str, cause: str) -> float:
    """Users forced to log in again with ``cause`` after the run's first event, over the
    users who sent a request after it."""
    event_s = run_result[strategy].events[0].start_s
    return _rate(run_result.relogin_share(strategy, event_s, cause))


def _numbers(
    scenarios: Mapping[str, Scenario], results: Mapping[str, RunResult]
) -> dict[str, float]:
    numbers: dict[str, float] = {}
    base = results["baseline"]
    base_scenario = scenarios["baseline"]
    servers = base_scenario.cluster.servers
    numbers["servers"] = servers
    numbers["local.success_theory"] = theory.local_success_rate(servers)
    for item in base.results:
        name = item.strategy
        numbers[f"{name}.success_rate"] = _rate(item.success_rate)
        numbers[f"{name}.latency_mean_ms"] = _rate(item.latency_ms["mean"])
        numbers[f"{name}.latency_p95_ms"] = _rate(item.latency_ms["p95"])
        numbers[f"{name}.relogins_per_1000"] = 1000 * item.forced_relogins / max(1, item.requests)
        numbers[f"{name}.login_cpu_s"] = item.login_cpu_s
        numbers[f"{name}.credential_bytes"] = item.credential_bytes
        numbers[f"{name}.store_ops_per_request"] = _rate(
            item.store.ops_per_request if item.store else 0.0
        )
        numbers[f"{name}.max_over_mean"] = _rate(item.load_skew["max_over_mean"])
        numbers[f"{name}.verify_ms"] = item.auth_cost.verify_ms if item.auth_cost else 0.0
        numbers[f"{name}.users_logged_out"] = item.users_logged_out
    numbers["login_ms"] = next(
        (item.auth_cost.login_ms for item in base.results if item.auth_cost is not None),
        base_scenario.cluster.login_cpu_ms,
    )
    numbers["shared_store.extra_ms"] = (
        numbers["shared_store.latency_mean_ms"] - numbers["jwt.latency_mean_ms"]
    )
    numbers["shared_store.rtt_ms"] = base_scenario.shared_store.rtt_ms
    numbers["shared_store.op_time_ms"] = base_scenario.shared_store.op_time_ms
    numbers["shared_store.capacity_ops_per_s"] = 1000.0 / base_scenario.shared_store.op_time_ms
    numbers["jwt.ttl_s"] = base_scenario.jwt.ttl_s
    numbers["relogin_delay_s"] = base_scenario.workload.relogin_delay_s.mean_s

    nat, nat_scenario = results["nat"], scenarios["nat"]
    numbers["nat.users_per_ip"] = nat_scenario.workload.users_per_ip
    numbers["nat.servers"] = nat_scenario.cluster.servers
    for name in ("sticky", "jwt"):
        numbers[f"nat.{name}.max_over_mean"] = _rate(nat[name].load_skew["max_over_mean"])
        numbers[f"nat.{name}.latency_p95_ms"] = _rate(nat[name].latency_ms["p95"])
        numbers[f"nat.{name}.busiest_utilisation"] = max(nat[name].server_utilisation)

    crash = results["crash"]
    numbers["crash.servers"] = scenarios["crash"].cluster.servers
    numbers["crash.sticky.relogin_fraction"] = _moved_share(crash, "sticky", "session_lost")
    for name in ("sticky", "shared_store", "jwt"):
        window = _window(crash[name], "after crash")
        numbers[f"crash.{name}.success_rate"] = _rate(window.success_rate)
        numbers[f"crash.{name}.server_down"] = crash[name].outcome_counts.get("server_down", 0)

    outage = results["outage"]
    outage_event = outage["shared_store"].events[0]
    numbers["outage.duration_s"] = (outage_event.end_s or outage_event.start_s) - (
        outage_event.start_s
    )
    for name in ("shared_store", "jwt"):
        window = _window(outage[name], "during store outage")
        numbers[f"outage.{name}.success_rate"] = _rate(window.success_rate)
        numbers[f"outage.{name}.users_logged_out"] = window.users_logged_out
        numbers[f"outage.{name}.refresh_failed"] = window.forced_relogins_by_cause["refresh_failed"]
    numbers["outage.shared_store.forced_relogins"] = outage["shared_store"].forced_relogins
    # an access token expires once per ttl, so an outage of D seconds meets D / ttl of them
    numbers["outage.jwt.ttl_s"] = ttl_s = scenarios["outage"].jwt.ttl_s
    users = scenarios["outage"].workload.users
    numbers["outage.jwt.expected_logged_out"] = users * numbers["outage.duration_s"] / ttl_s

    failover = results["failover"]
    numbers["failover.failover_s"] = scenarios["failover"].shared_store.failover_s
    for name in ("shared_store", "jwt"):
        window = _window(failover[name], "during")
        numbers[f"failover.{name}.success_rate"] = _rate(window.success_rate)
        numbers[f"failover.{name}.users_logged_out"] = window.users_logged_out
    frame = failover.requests_frame().query("strategy == 'shared_store'")
    failed = frame.loc[frame["outcome"] == "store_unavailable", "arrival_s"]  # first to last
    numbers["failover.shared_store.failing_s"] = failed.max() - failed.min()  # NaN: none failed

    saturation, saturation_scenario = results["saturation"], scenarios["saturation"]
    store = saturation["shared_store"].store
    numbers["saturation.op_time_ms"] = saturation_scenario.shared_store.op_time_ms
    numbers["saturation.store_utilisation"] = store.utilisation if store else float("nan")
    numbers["saturation.store_latency_ms"] = _rate(store.mean_latency_ms if store else None)
    numbers["saturation.idle_store_latency_ms"] = (
        saturation_scenario.shared_store.rtt_ms + saturation_scenario.shared_store.op_time_ms
    )
    for name in ("shared_store", "jwt"):
        numbers[f"saturation.{name}.latency_mean_ms"] = _rate(saturation[name].latency_ms["mean"])

    revocation = results["revocation"]
    numbers["revocation.ttl_s"] = scenarios["revocation"].jwt.ttl_s
    for name in ("sticky", "shared_store", "jwt"):
        exposure = revocation[name].exposure
        numbers[f"revocation.{name}.accepted"] = (
            exposure.accepted_after_revocation if exposure else 0
        )
        numbers[f"revocation.{name}.window_s"] = exposure.mean_window_s if exposure else 0.0
    jwt_exposure = revocation["jwt"].exposure
    numbers["revocation.revoked_users"] = jwt_exposure.revoked_users if jwt_exposure else 0
    numbers["revocation.jwt.remaining_ttl_s"] = (
        jwt_exposure.mean_remaining_ttl_s if jwt_exposure else 0.0
    )
    denied = results["denylist"]["jwt"]
    numbers["denylist.jwt.accepted"] = (
        denied.exposure.accepted_after_revocation if denied.exposure else 0
    )
    numbers["denylist.jwt.window_s"] = denied.exposure.mean_window_s if denied.exposure else 0.0
    numbers["denylist.jwt.store_ops_per_request"] = _rate(
        denied.store.ops_per_request if denied.store else 0.0
    )

    for study, theory_of in (
        ("modulo", theory.modulo_remap_fraction),
        ("consistent", theory.consistent_hash_remap_fraction),
    ):
        scenario = scenarios[study]
        before = scenario.cluster.servers
        after = before + sum(getattr(event, "count", 0) for event in scenario.events)
        numbers[f"{study}.before"] = before
        numbers[f"{study}.after"] = after
        numbers[f"{study}.remapped"] = _moved_share(results[study], "sticky", "wrong_server")
        numbers[f"{study}.remapped_theory"] = theory_of(before, after)
    return numbers


# ------------------------------------------------------------------------ the page


def _ms(value: float) -> str:
    """Milliseconds as this page has always written them: whole milliseconds from 100 up,
    with no thousands separator (``1085 ms``, where :func:`~simulator.present.format.ms`
    writes ``1,085 ms``)."""
    spec = ".0f" if value >= 100 else ".1f" if value >= 10 else ".2f"
    return f"{number(value, spec)} ms"


def _us(value_ms: float) -> str:
    """A time in milliseconds written in whole microseconds with no thousands separator
    (``1234 µs``, where :func:`~simulator.present.format.us` writes ``1,234 µs``)."""
    return f"{number(1000 * value_ms, '.0f')} µs"


def _jwt_outage_sentence(sheet: Cheatsheet) -> str:
    """What the store outage did to ``jwt``: with refresh tokens, the users whose access
    token expired during it could not renew it."""
    n, ttl_s = sheet.numbers, sheet.numbers["outage.jwt.ttl_s"]
    refresh = sheet.scenarios["outage"].jwt.refresh
    lifetime = f"{ttl_s / 60:g}-minute" if ttl_s % 60 == 0 else f"{ttl_s:g}-second"
    asks = "only to renew an access token" if refresh else "nothing (no refresh token)"
    lost = (
        f"could not refresh it ({count(n['outage.jwt.refresh_failed'])} requests refused, cause "
        "`refresh_failed`) and were logged out"
        if refresh
        else "typed their password again"
    )
    return (
        f"a {n['outage.duration_s']:.0f} s store outage: `jwt` asks the store {asks}, so it "
        f"served {percent(n['outage.jwt.success_rate'])} during it; the "
        f"{count(n['outage.jwt.users_logged_out'])} users whose {lifetime} "
        f"access token expired in it {lost}: about users × outage / ttl = "
        f"{count(n['outage.jwt.expected_logged_out'])}. Longer outages reach more users."
    )


def _failover_sentence(sheet: Cheatsheet) -> str:
    """What a crash of the store's primary did, with or without a replica."""
    n = sheet.numbers
    how = (
        f"its replica took over after `failover_s` = {n['failover.failover_s']:g} s"
        if sheet.scenarios["failover"].shared_store.replicas
        else "with no replica the shard waited for the process to restart"
    )
    return (
        f"a crash of the store's primary: {how}, so `shared_store` requests failed for "
        f"{number(n['failover.shared_store.failing_s'], '.0f')} s (success in that window "
        f"{percent(n['failover.shared_store.success_rate'])}); `jwt` kept "
        f"{percent(n['failover.jwt.success_rate'])} and logged out "
        f"{count(n['failover.jwt.users_logged_out'])} users."
    )


def _sources(sheet: Cheatsheet) -> list[str]:
    lines = ["## Where these numbers come from", ""]
    for study in STUDIES:
        if study.name not in sheet.scenarios:
            continue
        scenario = sheet.scenarios[study.name]
        settings = "".join(f", `{key}: {value}`" for key, value in study.settings.items())
        lines.append(
            f"- {study.shows}: `{scenario.name}`{settings} "
            f"({', '.join(study.strategies)}; seed {scenario.seed}, "
            f"{scenario.measured_s:g} s measured)"
        )
    settings = ", ".join(f"`{item}`" for item in sheet.overrides) or "none"
    lines += [
        "",
        f"Overrides for every run: {settings}."
        + (" Quick mode: runs shortened around their events." if sheet.quick else ""),
        f"Made by `authsim cheatsheet` (authsim {__version__}); same settings, same page.",
    ]
    return lines


def _algorithm_rows(sheet: Cheatsheet) -> list[str]:
    calibration = sheet.scenarios["baseline"].calibration
    costs = AuthCosts(load_profile(calibration) if calibration else None)
    source = "calibrated on this machine" if calibration else "reference figures"
    rows = [
        "| algorithm | verify (per request) | sign (per login, refresh) | token | source |",
        "|---|---:|---:|---:|---|",
    ]
    for algorithm in JWT_TOKEN_BYTES:
        rows.append(
            f"| {algorithm} | {_us(costs.verify_ms(algorithm))} "
            f"| {_us(costs.sign_ms(algorithm))} "
            f"| {costs.token_bytes(algorithm)} B | {source} |"
        )
    return rows


def _strategy_rows(sheet: Cheatsheet) -> list[str]:
    """The table of the strategies, one row per strategy the baseline study ran: where its
    proof lives and what each request costs (from the strategy's own description,
    :func:`simulator.model.strategies.about`), with this run's store operations for a
    strategy that used the store and its CPU for one with a verification cost."""
    n = sheet.numbers
    algorithm = sheet.scenarios["baseline"].jwt.algorithm
    rows = []
    for item in sheet.results["baseline"].results:
        name = item.strategy
        described = about(name)
        details = []
        if item.auth_cost is not None and item.auth_cost.verify_ms > 0:
            details.append(f"{algorithm}, {_us(n[f'{name}.verify_ms'])} of CPU")
        if item.store is not None:
            details.append(f"{n[f'{name}.store_ops_per_request']:.2f} ops/request")
        costs = described.each_request_costs + (f" ({'; '.join(details)})" if details else "")
        rows.append(
            f"| `{name}` | {described.proof_lives} | {costs} "
            f"| {percent(n[f'{name}.success_rate'])} "
            f"| {_ms(n[f'{name}.latency_mean_ms'])} / {_ms(n[f'{name}.latency_p95_ms'])} "
            f"| {n[f'{name}.relogins_per_1000']:.0f} "
            f"| {count(n[f'{name}.users_logged_out'])} |"
        )
    return rows


NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def in_words(amount: int) -> str:
    """A small count in words (``4`` -> ``four``), larger ones in digits."""
    return NUMBER_WORDS[amount] if 0 <= amount < len(NUMBER_WORDS) else f"{amount:,}"


def _render(sheet: Cheatsheet) -> str:
    n = sheet.numbers
    servers = int(n["servers"])
    baseline = sheet.scenarios["baseline"]
    strategies = in_words(len(sheet.results["baseline"].strategies))
    lines = [
        "# Sessions or tokens? An interview cheat sheet",
        "",
        f"{capital(strategies)} ways for a fleet of servers to remember who is logged in, how "
        "to answer the question, and the numbers to quote, measured by fresh simulation runs "
        "(listed at the end).",
        "",
        f"## The {strategies} strategies",
        "",
        f"On `baseline`: {servers} servers behind a round-robin balancer, "
        f"{baseline.workload.arrival_rate_per_s:g} requests/s, "
        f"{baseline.cluster.service_time_ms.mean:g} ms of work per request.",
        "",
        "| strategy | the login lives in | each request also costs | success | "
        "mean / p95 latency | forced logins per 1000 requests | users logged out |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    lines += _strategy_rows(sheet)
    lines += [
        "",
        *answer_lines(n, sheet.scenarios),
        "",
        *capacity_lines(n, baseline, sheet.results["baseline"]),
        "",
        "## When each wins, and how each fails",
        "",
        "**`local`** wins only with one server. With "
        f"{servers} and no affinity a request finds its session "
        f"{percent(n['local.success_rate'])} of the time (theory 1/N = "
        f"{percent(n['local.success_theory'])}); every miss is a forced login "
        f"({_ms(n['login_ms'])} of password hashing, {n['local.login_cpu_s']:.0f} CPU-seconds "
        "in this run).",
        "",
        "**`sticky`** wins for a small, stable fleet: no new infrastructure, memory-speed "
        "lookups. It fails when the server a user is pinned to changes:",
        f"- a crash of one of {int(n['crash.servers'])} servers forced "
        f"{percent(n['crash.sticky.relogin_fraction'])} of the users active afterwards to log in "
        f"again (about 1/N); success until it recovered {percent(n['crash.sticky.success_rate'])} "
        f"(`jwt`: {percent(n['crash.jwt.success_rate'])}).",
        f"- scaling out {int(n['modulo.before'])} to {int(n['modulo.after'])} servers with "
        f"modulo hashing moved {percent(n['modulo.remapped'])} of active users (theory "
        f"{percent(n['modulo.remapped_theory'])}); a consistent-hash ring moved "
        f"{percent(n['consistent.remapped'])} (theory {percent(n['consistent.remapped_theory'])}).",
        f"- {int(n['nat.users_per_ip'])} users behind each NAT address with `ip_hash`: the "
        f"busiest server carries {times(n['nat.sticky.max_over_mean'])} the mean load "
        f"(`jwt`: {times(n['nat.jwt.max_over_mean'])}), "
        f"{percent(n['nat.sticky.busiest_utilisation'])} busy, "
        f"p95 {_ms(n['nat.sticky.latency_p95_ms'])} against "
        f"{_ms(n['nat.jwt.latency_p95_ms'])}.",
        "",
        "**`shared_store`** wins when any server must serve anyone and logouts must take "
        "effect at once. It pays on every request and adds a critical dependency:",
        f"- +{_ms(n['shared_store.extra_ms'])} per request against `jwt` on `baseline`: the "
        f"{_ms(n['shared_store.rtt_ms'])} network round trip is nearly all of it, a healthy Redis "
        f"spends {_us(n['shared_store.op_time_ms'])} on the operation (one instance serves about "
        f"{count(n['shared_store.capacity_ops_per_s'])} operations/s).",
        f"- a slow store (`store-saturation`, {_ms(n['saturation.op_time_ms'])} per operation: a "
        "SQL session table or an overloaded Redis) at "
        f"{percent(n['saturation.store_utilisation'])} utilisation: an operation takes "
        f"{_ms(n['saturation.store_latency_ms'])} instead of "
        f"{_ms(n['saturation.idle_store_latency_ms'])} idle (waits grow like rho/(1-rho)); "
        f"requests average {_ms(n['saturation.shared_store.latency_mean_ms'])} against "
        f"{_ms(n['saturation.jwt.latency_mean_ms'])} for `jwt`. Shards split the queue.",
        f"- a {n['outage.duration_s']:.0f} s store outage: success during it "
        f"{percent(n['outage.shared_store.success_rate'])}, every request fails, but "
        f"{count(n['outage.shared_store.users_logged_out'])} users were logged out: the sessions "
        "wait in the store.",
        f"- {_failover_sentence(sheet)}",
        "",
        "**`jwt`** wins for stateless scale-out and many services: any server verifies "
        "with the key alone, no store lookup per request, no affinity. It pays in CPU, bytes "
        "and revocation:",
        f"- every request carries {n['jwt.credential_bytes']:.0f} B of token against "
        f"{SESSION_ID_BYTES} B of session cookie.",
        f"- {_jwt_outage_sentence(sheet)}",
        f"- revoking {int(n['revocation.revoked_users'])} users with no denylist: "
        f"{count(n['revocation.jwt.accepted'])} requests were still accepted, for "
        f"{n['revocation.jwt.window_s']:.1f} s on average (tokens had "
        f"{n['revocation.jwt.remaining_ttl_s']:.1f} s left of a {n['revocation.ttl_s']:.0f} s "
        f"TTL); `sticky` accepted {count(n['revocation.sticky.accepted'])}, `shared_store` "
        f"{count(n['revocation.shared_store.accepted'])}.",
        f"- with a denylist in the store: {count(n['denylist.jwt.accepted'])} accepted, "
        f"a {n['denylist.jwt.window_s']:.1f} s window, but "
        f"{n['denylist.jwt.store_ops_per_request']:.2f} store operations per request: "
        "the state is back.",
        "",
        *store_lines(n, sheet.scenarios),
        "",
        "## Token costs per algorithm",
        "",
        *_algorithm_rows(sheet),
        "",
        "## Say it in one line",
        "",
        f"- In-memory sessions behind N servers without affinity succeed about 1/N of the "
        f"time ({percent(n['local.success_rate'])} with {servers}).",
        f"- Sticky sessions are cheap until the fleet changes: a crash logs out about 1/N of users "
        f"({percent(n['crash.sticky.relogin_fraction'])}); use a hash ring when scaling "
        f"({percent(n['consistent.remapped'])} moved, not {percent(n['modulo.remapped'])}).",
        f"- A session store costs a round trip per request (+{_ms(n['shared_store.extra_ms'])}"
        ") and becomes the bottleneck near saturation; its outage is your outage, shortened by a "
        f"replica's failover ({n['failover.failover_s']:g} s) and shrunk by sharding.",
        f"- A JWT costs {_us(n['jwt.verify_ms'])} of CPU and "
        f"{n['jwt.credential_bytes']:.0f} B per request and cannot be taken back before it "
        "expires without a denylist, which brings back a lookup: keep access tokens short "
        f"and refresh them; then a store outage logs out about users × outage / ttl "
        f"({count(n['outage.jwt.users_logged_out'])} here). Day-long tokens with no refresh "
        "(`long-lived-jwt`) ride out any outage only because nothing is ever checked.",
        "",
        *cost_source_lines(sheet.numbers, sheet.scenarios["baseline"]),
        "",
        *_sources(sheet),
        "",
    ]
    return "\n".join(lines)
