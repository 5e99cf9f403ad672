"""What happened in a run, in plain language, computed from its numbers.

:func:`explain` turns a :class:`~simulator.results.records.RunResult` into a few short
paragraphs (what was run, success, latency, load, errors, each event, forced re-logins,
the store, revocation). Every number in the text comes from the result, its scenario or
:mod:`simulator.experiments.theory`; a sentence whose subject is absent from the run (events,
a store, a revocation, an error kind) is left out rather than written as "none".

The paragraphs about the run as a whole are here; those about what changed during it
(events, forced re-logins, the store, revocation) are in
:mod:`simulator.present.explain_events`, and what they share (:class:`Paragraph`, the
thresholds) in :mod:`simulator.present.explain_base`. Numbers and words are written by
:mod:`simulator.present.format`.

    from simulator.present.explain import explain
    for paragraph in explain(result):
        print(paragraph.topic, paragraph.text)

The functions are pure: same result, same text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from simulator.experiments import theory
from simulator.present.explain_base import (
    BUSY_UTILISATION,
    COST_SOURCES,
    ERROR_MEANINGS,
    EVEN_JAIN,
    EVEN_MAX_OVER_MEAN,
    SLOWER_FACTOR,
    SUCCESS_NEAR_TOTAL,
    THEORY_CLOSE,
    Paragraph,
    event_when,
)
from simulator.present.explain_costs import explain_costs, explain_regions
from simulator.present.explain_events import (
    explain_events,
    explain_exposure,
    explain_relogins,
    explain_store,
    window_rows,
)
from simulator.present.format import count_noun, join_words, ms, percent, us
from simulator.results.records import EventMark, RunResult, StrategyResult

__all__ = [
    "Paragraph",
    "explain",
    "explain_errors",
    "explain_events",
    "explain_exposure",
    "explain_latency",
    "explain_load",
    "explain_relogins",
    "explain_setup",
    "explain_store",
    "explain_success",
    "explanation_text",
    "join_words",
    "percent",
    "window_rows",
]
# percent and join_words belong to simulator.present.format; they stay importable from
# here (listed above) only for the modules that still import them from this one.


def explain(result: RunResult) -> list[Paragraph]:
    """Explain a run in plain language.

    Args:
        result: the run (summary mode is enough: no per-request records are needed).

    Returns:
        The paragraphs, in reading order: what was run, success, latency, load, errors,
        events (only when the run had events), forced re-logins, the store (only for a
        strategy that used it), revocation (only when users were revoked), regions (only
        with regions) and where the figures come from. Empty for a result with no strategy.
    """
    if not result.results:
        return []
    makers: tuple[Callable[[RunResult], Paragraph | None], ...] = (
        explain_setup,
        explain_success,
        explain_latency,
        explain_load,
        explain_errors,
        explain_events,
        explain_relogins,
        explain_store,
        explain_exposure,
        explain_regions,
        explain_costs,
    )
    return [paragraph for make in makers if (paragraph := make(result)) is not None]


def explanation_text(result: RunResult) -> str:
    """:func:`explain` as plain text: one paragraph per line, each led by its topic."""
    return "\n".join(f"{p.topic}: {p.text}" for p in explain(result))


# ------------------------------------------------------------------ paragraphs


def explain_setup(result: RunResult) -> Paragraph:
    """What was run: the fleet, the traffic, the measured window and the timeline.

    Args:
        result: the run.

    Returns:
        The paragraph (always present).
    """
    scenario = result.scenario
    cluster = scenario.cluster
    workload = scenario.workload
    names = result.strategies
    sentences = [
        f"Scenario '{scenario.name}' ran {count_noun(len(names), 'strategy', 'strategies')} "
        f"({join_words(names)}) on the same traffic: {count_noun(cluster.servers, 'server')} × "
        f"{count_noun(cluster.workers_per_server, 'worker')} behind a "
        f"{scenario.load_balancer.policy.replace('_', '-')} balancer, "
        f"{count_noun(workload.users, 'user')} sending {workload.arrival_rate_per_s:,g} "
        f"requests/s, {scenario.measured_s:g} s measured after a {scenario.warmup_s:g} s "
        f"warm-up (seed {scenario.seed})."
    ]
    requests = sorted({item.requests for item in result.results})
    if len(requests) == 1:
        sentences.append(
            f"Each strategy received the same {count_noun(requests[0], 'request')} "
            "in the measured window."
        )
    else:
        sentences.append(
            f"The strategies received {requests[0]:,} to {requests[-1]:,} requests in the "
            "measured window."
        )
    events = result.events
    if events:
        sentences.append(
            f"The timeline had {count_noun(len(events), 'event')}: "
            + "; ".join(event_when(mark) for mark in events)
            + "."
        )
    return Paragraph("What was run", tuple(sentences))


def explain_success(result: RunResult) -> Paragraph:
    """Success rates, and ``local`` against the theory of 1/N.

    The success rate is the fraction of requests served with no error and no forced
    re-login. For ``local`` the expected value under routing that ignores where the
    session lives is ``1/N`` (:func:`simulator.experiments.theory.local_success_rate`), with N the
    scenario's servers.

    Args:
        result: the run.

    Returns:
        The paragraph (always present).
    """
    rates = [(item.strategy, item.success_rate) for item in result.results]
    sentences = [
        "Success rate (served with no error and no forced re-login): "
        + ", ".join(f"{name} {percent(rate)}" for name, rate in rates)
        + "."
    ]
    near_total = [name for name, rate in rates if rate is not None and rate >= SUCCESS_NEAR_TOTAL]
    if near_total and len(near_total) < len(rates):
        verb = "serves" if len(near_total) == 1 else "serve"
        sentences.append(
            f"{join_words(near_total)} {verb} nearly everything "
            f"(at least {percent(SUCCESS_NEAR_TOTAL)})."
        )
    if "local" in result.strategies:  # local's lesson: 1/N without affinity
        sentences += _local_sentences(result, result["local"])
    return Paragraph("Success", tuple(sentences))


def _local_sentences(result: RunResult, local: StrategyResult) -> list[str]:
    scenario = result.scenario
    servers = scenario.cluster.servers
    expected = theory.local_success_rate(servers)
    measured = local.success_rate
    sentences = []
    if measured is not None:
        sentences.append(
            "local keeps a session only in the memory of the server that handled the login, "
            f"so with {count_noun(servers, 'server')} and no affinity a request finds it "
            f"about 1 time in {servers}: theory gives 1/N = {percent(expected)}, "
            f"and the run measured {percent(measured)} ({_against(measured, expected)})."
        )
        if _changes_fleet(result.events) and _relative(measured, expected) > THEORY_CLOSE:
            sentences.append("The events changed the number of live servers during the run.")
    if local.forced_relogins:
        sentence = (
            f"Its {local.forced_relogins:,} forced re-logins hit "
            f"{count_noun(local.users_logged_out, 'user')} and spent {local.login_cpu_s:,.1f} "
            f"CPU-seconds hashing passwords ({ms(_login_ms(result, local))} each)"
        )
        unauthorized = local.outcome_counts.get("unauthorized", 0)
        if unauthorized:
            sentence += (
                f", and {unauthorized:,} retries after a re-login landed on yet another "
                "server and were rejected again (unauthorized)"
            )
        sentences.append(sentence + ".")
    return sentences


def explain_latency(result: RunResult) -> Paragraph:
    """Latency of served requests: the fastest strategy, how far the others are, and the
    per-request costs behind the differences (a store round trip, a signature check,
    forced logins).

    Args:
        result: the run.

    Returns:
        The paragraph (always present; says so when nothing was served).
    """
    timed = [
        (item, mean) for item in result.results if (mean := item.latency_ms.get("mean")) is not None
    ]
    silent = [item.strategy for item in result.results if item.latency_ms.get("mean") is None]
    sentences: list[str] = []
    if silent:
        sentences.append(
            f"{join_words(silent)} served no request, so there is no latency to report."
        )
    if not timed:
        return Paragraph("Latency", tuple(sentences))
    fastest, fastest_ms = min(timed, key=lambda pair: pair[1])
    parts = []
    for item, mean in timed:
        part = f"{item.strategy} {ms(mean)}"
        if item is fastest:
            part += " (the fastest)"
        elif mean >= SLOWER_FACTOR * fastest_ms:
            part += f" ({mean / fastest_ms:.1f}× the fastest)"
        else:
            part += f" (+{ms(mean - fastest_ms)})"
        parts.append(part)
    sentences.append("Mean latency of served requests: " + ", ".join(parts) + ".")
    tails = [
        f"{item.strategy} {ms(p95)}"
        for item, _ in timed
        if (p95 := item.latency_ms.get("p95")) is not None
    ]
    if tails:
        sentences.append("95% of served requests took at most: " + ", ".join(tails) + ".")
    by_name = {item.strategy: mean for item, mean in timed}
    scenario = result.scenario
    # shared_store's lesson (a store round trip on every request, set against jwt) and
    # jwt's (its scenario.jwt signature on every request)
    if "shared_store" in by_name:
        store_item = result["shared_store"]
        store = store_item.store
        if store is not None and store.mean_latency_ms is not None:
            sentence = (
                f"shared_store asks the store on every request: an operation took "
                f"{ms(store.mean_latency_ms)} on average (a {ms(scenario.shared_store.rtt_ms)} "
                f"round trip, {ms(scenario.shared_store.op_time_ms)} of store work, and any "
                "queueing)"
            )
            if store.ops_per_request is not None:
                sentence += f", {store.ops_per_request:.2f} operations per request"
            other = "jwt" if "jwt" in by_name else None
            if other is not None:
                difference = by_name["shared_store"] - by_name[other]
                direction = "above" if difference >= 0 else "below"
                sentence += f"; its mean latency was {ms(abs(difference))} {direction} {other}'s"
            sentences.append(sentence + ".")
    if "jwt" in by_name:
        cost = result["jwt"].auth_cost
        if cost is not None:
            sentences.append(
                f"jwt checks the token's {scenario.jwt.algorithm} signature on every request: "
                f"{us(cost.verify_ms)} of CPU ({COST_SOURCES.get(cost.source, cost.source)})."
            )
    slow = [
        item
        for item, mean in timed
        if mean >= SLOWER_FACTOR * fastest_ms
        and item.requests
        and item.forced_relogins / item.requests >= 0.05
    ]
    for item in slow:
        share = item.forced_relogins / item.requests
        sentences.append(
            f"{item.strategy} is slow because {percent(share)} of its requests forced a login "
            f"first: {ms(_login_ms(result, item))} of password hashing each, on the same "
            "workers as every "
            "other request."
        )
    return Paragraph("Latency", tuple(sentences))


def explain_load(result: RunResult) -> Paragraph | None:
    """How evenly each strategy spread the jobs over the servers, and the busiest server.

    Load skew is measured on jobs per second of up time per server: peak-to-mean
    (1 = even) and Jain's index (1 = even, 1/N = all on one server).

    Args:
        result: the run.

    Returns:
        The paragraph, or ``None`` when no strategy has a load to compare.
    """
    measured = [
        (item, skew["max_over_mean"], skew["jain"])
        for item in result.results
        for skew in [item.load_skew]
        if skew["max_over_mean"] is not None and skew["jain"] is not None
    ]
    if not measured:
        return None
    servers = result.scenario.cluster.servers
    uneven = [
        (item, peak, jain)
        for item, peak, jain in measured
        if peak is not None and jain is not None and (peak > EVEN_MAX_OVER_MEAN or jain < EVEN_JAIN)
    ]
    sentences: list[str] = []
    if not uneven:
        peak = max(value for _, value, _ in measured if value is not None)
        jain = min(value for _, _, value in measured if value is not None)
        sentences.append(
            f"Load was spread evenly by every strategy: the busiest server received at most "
            f"{peak:.2f}× the mean jobs per second, and Jain's index was at least {jain:.3f} "
            "(1 = even)."
        )
    else:
        for item, peak, jain in uneven:
            sentences.append(
                f"{item.strategy} spread its load unevenly: the busiest server received "
                f"{peak:.2f}× the mean jobs per second (Jain's index {jain:.3f}; 1 = even, "
                f"1/N = {1 / servers:.3f} = everything on one of {servers})."
            )
        even = [
            item.strategy for item, _, _ in measured if all(item is not u for u, _, _ in uneven)
        ]
        if even:
            verb = "was" if len(even) == 1 else "were"
            sentences.append(
                f"{join_words(even)} {verb} even (peak-to-mean at most {EVEN_MAX_OVER_MEAN:.2f})."
            )
        if "sticky" in {item.strategy for item, _, _ in uneven}:  # its scenario.sticky affinity
            sentences.append(_affinity_reason(result))
    busy = [
        (item, max(item.server_utilisation))
        for item in result.results
        if item.server_utilisation and max(item.server_utilisation) >= BUSY_UTILISATION
    ]
    for item, utilisation in busy:
        sentences.append(
            f"{item.strategy}'s busiest server kept its workers occupied "
            f"{percent(utilisation)} of the time: close to saturation, where queues grow fast."
        )
    return Paragraph("Load on the servers", tuple(sentences))


def _affinity_reason(result: RunResult) -> str:
    scenario = result.scenario
    affinity = scenario.sticky.affinity
    workload = scenario.workload
    reasons = {
        "cookie": "sticky pins each user to one server (cookie affinity)",
        "ip_hash": "sticky sends every user of a client IP to the server its hash picks "
        "(ip_hash affinity)",
        "consistent_hash": "sticky sends every user of a client IP to its server on a hash "
        "ring (consistent_hash affinity)",
    }
    reason = reasons[affinity]
    if workload.users_per_ip > 1 and affinity != "cookie":
        reason += f", and {workload.users_per_ip:,} users share each client IP (NAT)"
    if workload.user_weights == "zipf":
        reason += (
            f", and Zipf-weighted users (exponent {workload.zipf_exponent:g}) make a few "
            "users send most requests"
        )
    return reason + ": whatever lands on a server stays there."


def explain_errors(result: RunResult) -> Paragraph:
    """Requests that ended in an error, by kind and strategy.

    Args:
        result: the run.

    Returns:
        The paragraph (always present; says so when no request failed).
    """
    failing = [(item, {k: v for k, v in item.errors.items() if v}) for item in result.results]
    failing = [(item, errors) for item, errors in failing if errors]
    if not failing:
        return Paragraph("Errors", ("No request ended in an error.",))
    parts = []
    kinds: list[str] = []
    for item, errors in failing:
        total = sum(errors.values())
        detail = ", ".join(f"{count:,} {kind}" for kind, count in errors.items())
        parts.append(f"{item.strategy} {total:,} ({percent(total / item.requests)}: {detail})")
        kinds += [kind for kind in errors if kind not in kinds]
    sentences = ["Requests that ended in an error: " + "; ".join(parts) + "."]
    meanings = []
    for kind in kinds:
        meaning = ERROR_MEANINGS.get(kind, "")
        if kind == "timeout":
            meaning += f" (after {result.scenario.cluster.request_timeout_ms:,g} ms)"
        if kind == "server_down":
            meaning += (
                " (the balancer notices a dead server only at its next health check, every "
                f"{result.scenario.load_balancer.health_check_interval_s:g} s)"
            )
        meanings.append(f"{kind} means {meaning}")
    sentences.append("Here " + "; ".join(meanings) + ".")
    clean = [item.strategy for item in result.results if not any(item.errors.values())]
    if clean:
        sentences.append(f"{join_words(clean)} had no error.")
    return Paragraph("Errors", tuple(sentences))


# ------------------------------------------------------------------ helpers


def _relative(measured: float, expected: float) -> float:
    return abs(measured - expected) / expected if expected else float("inf")


def _against(measured: float, expected: float) -> str:
    """``close to theory``, ``below theory`` or ``above theory``."""
    if _relative(measured, expected) <= THEORY_CLOSE:
        return "close to theory"
    return "below theory" if measured < expected else "above theory"


_FLEET_EVENTS = frozenset(
    {"server_crash", "server_recover", "scale_out", "scale_in", "rolling_restart"}
)


def _changes_fleet(events: Iterable[EventMark]) -> bool:
    return any(mark.kind in _FLEET_EVENTS for mark in events)


def _login_ms(result: RunResult, item: StrategyResult) -> float:
    """CPU per password login, ms: the cost the run used, else the scenario's."""
    return item.auth_cost.login_ms if item.auth_cost else result.scenario.cluster.login_cpu_ms
