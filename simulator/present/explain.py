"""What happened in a run, in plain language, computed from its numbers.

:func:`explain` turns a :class:`~simulator.results.records.RunResult` into a few short
paragraphs (what was run, success, latency, load, errors, each event, forced re-logins,
the store, revocation). Every number in the text comes from the result, its scenario or
:mod:`simulator.experiments.theory`; a sentence whose subject is absent from the run (events,
a store, a revocation, an error kind) is left out rather than written as "none".

    from simulator.present.explain import explain
    for paragraph in explain(result):
        print(paragraph.topic, paragraph.text)

The functions are pure: same result, same text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from simulator import outcomes
from simulator.experiments import theory
from simulator.results.records import EventMark, RunResult, StrategyResult, Window

SUCCESS_NEAR_TOTAL = 0.995
"""A success rate at least this high (a fraction) counts as "served nearly everything"."""

THEORY_CLOSE = 0.15
"""A measured value within this relative distance of theory is "close to" it."""

RATE_CHANGE_PP = 1.0
"""A change of success rate between two event windows smaller than this (percentage
points) is reported as "held"."""

EVEN_MAX_OVER_MEAN = 1.15
"""Peak-to-mean load at or below this (dimensionless) counts as even."""

EVEN_JAIN = 0.98
"""Jain's index at or above this (dimensionless) counts as even."""

BUSY_UTILISATION = 0.7
"""A server or store busy at least this fraction of the time is called busy (queues
grow quickly beyond it: waits scale like rho / (1 - rho))."""

SLOWER_FACTOR = 2.0
"""A mean latency this many times the fastest one is described as a multiple."""

CAUSE_MEANINGS: dict[str, str] = {
    "wrong_server": "the session was in another server's memory",
    "session_lost": "the memory that held the session was gone (crash, restart, "
    "scale-in or a store that lost its data)",
    "expired": "the token's lifetime had ended",
    "revoked": "the credential had been revoked",
    "key_rotated": "the token was signed with a key that no longer verifies",
}
"""Why a credential was rejected, for readers (keys: :data:`simulator.outcomes.CAUSES`)."""

ERROR_MEANINGS: dict[str, str] = {
    "server_down": "sent to a server that was down",
    "overload": "refused by a full queue",
    "store_unavailable": "the session store was unreachable",
    "timeout": "answered too late",
    "unauthorized": "rejected again after the forced re-login",
}
"""What each error outcome means, for readers."""

COST_SOURCES: dict[str, str] = {
    "scenario": "as set in the scenario",
    "calibration": "measured on this machine by authsim calibrate",
    "reference": "the reference figure",
}
"""Where an authentication cost came from, for readers."""


@dataclass(frozen=True)
class Paragraph:
    """One topic of the explanation.

    Attributes:
        topic: a short heading (``Success``, ``Latency``...).
        sentences: the sentences, in order, each ending with a full stop.
    """

    topic: str
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        """The sentences joined by spaces."""
        return " ".join(self.sentences)


def explain(result: RunResult) -> list[Paragraph]:
    """Explain a run in plain language.

    Args:
        result: the run (summary mode is enough: no per-request records are needed).

    Returns:
        The paragraphs, in reading order: what was run, success, latency, load, errors,
        events (only when the run had events), forced re-logins, the store (only for a
        strategy that used it) and revocation (only when users were revoked). Empty for a
        result with no strategy.
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
        f"Scenario '{scenario.name}' ran {_count_noun(len(names), 'strategy', 'strategies')} "
        f"({join_words(names)}) on the same traffic: {_count_noun(cluster.servers, 'server')} × "
        f"{_count_noun(cluster.workers_per_server, 'worker')} behind a "
        f"{scenario.load_balancer.policy.replace('_', '-')} balancer, "
        f"{_count_noun(workload.users, 'user')} sending {workload.arrival_rate_per_s:,g} "
        f"requests/s, {scenario.measured_s:g} s measured after a {scenario.warmup_s:g} s "
        f"warm-up (seed {scenario.seed})."
    ]
    requests = sorted({item.requests for item in result.results})
    if len(requests) == 1:
        sentences.append(
            f"Each strategy received the same {_count_noun(requests[0], 'request')} "
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
            f"The timeline had {_count_noun(len(events), 'event')}: "
            + "; ".join(_event_when(mark) for mark in events)
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
    if "local" in result.strategies:
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
            f"so with {_count_noun(servers, 'server')} and no affinity a request finds it "
            f"about 1 time in {servers}: theory gives 1/N = {percent(expected)}, "
            f"and the run measured {percent(measured)} ({_against(measured, expected)})."
        )
        if _changes_fleet(result.events) and _relative(measured, expected) > THEORY_CLOSE:
            sentences.append("The events changed the number of live servers during the run.")
    if local.forced_relogins:
        login_ms = local.auth_cost.login_ms if local.auth_cost else scenario.cluster.login_cpu_ms
        sentence = (
            f"Its {local.forced_relogins:,} forced re-logins spent "
            f"{local.login_cpu_s:,.1f} CPU-seconds hashing passwords ({_ms(login_ms)} each)"
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
        part = f"{item.strategy} {_ms(mean)}"
        if item is fastest:
            part += " (the fastest)"
        elif mean >= SLOWER_FACTOR * fastest_ms:
            part += f" ({mean / fastest_ms:.1f}× the fastest)"
        else:
            part += f" (+{_ms(mean - fastest_ms)})"
        parts.append(part)
    sentences.append("Mean latency of served requests: " + ", ".join(parts) + ".")
    tails = [
        f"{item.strategy} {_ms(p95)}"
        for item, _ in timed
        if (p95 := item.latency_ms.get("p95")) is not None
    ]
    if tails:
        sentences.append("95% of served requests took at most: " + ", ".join(tails) + ".")
    by_name = {item.strategy: mean for item, mean in timed}
    scenario = result.scenario
    if "shared_store" in by_name:
        store_item = result["shared_store"]
        store = store_item.store
        if store is not None and store.mean_latency_ms is not None:
            sentence = (
                f"shared_store asks the store on every request: an operation took "
                f"{_ms(store.mean_latency_ms)} on average (a {_ms(scenario.shared_store.rtt_ms)} "
                f"round trip, {_ms(scenario.shared_store.op_time_ms)} of store work, and any "
                "queueing)"
            )
            if store.ops_per_request is not None:
                sentence += f", {store.ops_per_request:.2f} operations per request"
            other = "jwt" if "jwt" in by_name else None
            if other is not None:
                difference = by_name["shared_store"] - by_name[other]
                direction = "above" if difference >= 0 else "below"
                sentence += f"; its mean latency was {_ms(abs(difference))} {direction} {other}'s"
            sentences.append(sentence + ".")
    if "jwt" in by_name:
        cost = result["jwt"].auth_cost
        if cost is not None:
            sentences.append(
                f"jwt checks the token's {scenario.jwt.algorithm} signature on every request: "
                f"{_us(cost.verify_ms)} of CPU ({COST_SOURCES.get(cost.source, cost.source)})."
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
        login_ms = item.auth_cost.login_ms if item.auth_cost else scenario.cluster.login_cpu_ms
        sentences.append(
            f"{item.strategy} is slow because {percent(share)} of its requests forced a login "
            f"first: {_ms(login_ms)} of password hashing each, on the same workers as every "
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
        if "sticky" in {item.strategy for item, _, _ in uneven}:
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


def explain_events(result: RunResult) -> Paragraph | None:
    """What each event did to each strategy: success rate and forced re-logins in every
    window between events, against the window before.

    Args:
        result: the run.

    Returns:
        The paragraph, or ``None`` when the run had no events.
    """
    if not result.events:
        return None
    first = result.results[0].windows
    if not first:
        return None
    sentences = []
    opening = first[0]
    rates = [
        f"{item.strategy} {percent(item.windows[0].success_rate)}"
        for item in result.results
        if item.windows and item.windows[0].success_rate is not None
    ]
    if rates:
        sentences.append(
            f"{_capital(opening.label)} ({_span(opening)}), success was " + ", ".join(rates) + "."
        )
    for position in range(1, len(first)):
        window = first[position]
        changes = []
        held = []
        for item in result.results:
            if position >= len(item.windows):
                continue
            now = item.windows[position]
            before = item.windows[position - 1]
            text = _window_change(item.strategy, before, now)
            if text is None:
                held.append((item.strategy, now))
            elif text:
                changes.append(text)
        if held:
            names = [name for name, _ in held]
            values = sorted({percent(now.success_rate) for _, now in held})
            at = values[0] if len(values) == 1 else "the same rate as before"
            changes.append(f"{join_words(names)} held at {at} with no forced re-login")
        if changes:
            sentences.append(
                f"{_capital(window.label)} ({_span(window)}): " + "; ".join(changes) + "."
            )
    return Paragraph("What each event did", tuple(sentences))


def _window_change(name: str, before: Window, now: Window) -> str | None:
    """How ``name`` fared in ``now`` against ``before``: a clause, ``None`` for "held with
    no forced re-login", ``""`` for nothing to say (no request in the window)."""
    rate = now.success_rate
    if rate is None:
        return ""
    previous = before.success_rate
    relogins = now.forced_relogins
    if previous is not None:
        change_pp = (rate - previous) * 100
        if abs(change_pp) < RATE_CHANGE_PP and not relogins:
            return None
        if change_pp <= -RATE_CHANGE_PP:
            clause = f"{name} fell from {percent(previous)} to {percent(rate)}"
        elif change_pp >= RATE_CHANGE_PP:
            clause = f"{name} rose from {percent(previous)} to {percent(rate)}"
        else:
            clause = f"{name} held at {percent(rate)}"
    else:
        clause = f"{name} {percent(rate)}"
    if relogins:
        clause += (
            f" ({relogins:,} forced {_plural(relogins, 're-login')}: "
            + _causes(now.forced_relogins_by_cause)
            + ")"
        )
    return clause


def explain_relogins(result: RunResult) -> Paragraph:
    """Forced re-logins over the whole measured window, by cause, with their CPU cost, and
    the refreshes that avoided one.

    Args:
        result: the run.

    Returns:
        The paragraph (always present; says so when nobody was forced to log in again).
    """
    forced = [item for item in result.results if item.forced_relogins]
    sentences: list[str] = []
    if not forced:
        sentences.append("No strategy forced a user to log in again.")
    else:
        sentences.append(
            "Forced re-logins by cause: "
            + "; ".join(
                f"{item.strategy} {item.forced_relogins:,} "
                f"({_causes(item.forced_relogins_by_cause)})"
                for item in forced
            )
            + "."
        )
        causes = [
            cause
            for cause in outcomes.CAUSES
            if any(item.forced_relogins_by_cause.get(cause, 0) for item in forced)
        ]
        sentences.append(
            "Here "
            + "; ".join(
                f"{cause.replace('_', ' ')} means {CAUSE_MEANINGS[cause]}" for cause in causes
            )
            + "."
        )
        cpu = [item for item in forced if item.login_cpu_s > 0]
        if cpu:
            sentences.append(
                "Password hashing for them cost "
                + ", ".join(f"{item.strategy} {item.login_cpu_s:,.1f}" for item in cpu)
                + " CPU-seconds over the measured window."
            )
        clean = [item.strategy for item in result.results if not item.forced_relogins]
        if clean:
            sentences.append(f"{join_words(clean)} forced no re-login.")
    for item in result.results:
        if item.refreshes:
            sentences.append(
                f"{item.strategy} renewed {item.refreshes:,} expired access "
                f"{_plural(item.refreshes, 'token')} with a refresh token instead of a "
                "password login."
            )
    return Paragraph("Forced re-logins", tuple(sentences))


def explain_store(result: RunResult) -> Paragraph | None:
    """The shared store's utilisation and latency, against the M/M/1 response time at the
    measured load (:func:`simulator.experiments.theory.mm1_mean_response`).

    Args:
        result: the run.

    Returns:
        The paragraph, or ``None`` when no strategy sent anything to the store.
    """
    users = [(item, item.store) for item in result.results if item.store and item.store.ops]
    if not users:
        return None
    config = result.scenario.shared_store
    sentences = []
    for item, store in users:
        rho = store.utilisation
        sentence = (
            f"With {item.strategy}{_store_use(result, item.strategy)} the store handled "
            f"{store.ops:,} operations"
            + (f" ({store.ops_per_request:.2f} per request)" if store.ops_per_request else "")
            + f" and was busy {percent(rho)} of the time (utilisation ρ = {rho:.2f})"
        )
        if store.mean_latency_ms is not None:
            sentence += f"; an operation took {_ms(store.mean_latency_ms)} from send to reply"
        sentences.append(sentence + ".")
        if 0 < rho < 1:
            expected_ms = config.rtt_ms + theory.mm1_mean_response(
                rho / config.op_time_ms, 1 / config.op_time_ms
            )
            sentences.append(
                f"For a single-threaded store at this load, M/M/1 theory gives "
                f"{_ms(config.rtt_ms)} + {_ms(config.op_time_ms)}/(1 − ρ) = {_ms(expected_ms)}"
                + (
                    ": it is close to saturation, where every extra request adds a lot of waiting."
                    if rho >= BUSY_UTILISATION
                    else ": far from saturation, queueing adds little."
                )
            )
    return Paragraph("The session store", tuple(sentences))


def explain_exposure(result: RunResult) -> Paragraph | None:
    """What revocation left open: requests accepted on credentials issued before their
    user was revoked, and for how long.

    Args:
        result: the run.

    Returns:
        The paragraph, or ``None`` when nobody was revoked.
    """
    revoked = [
        (item, item.exposure)
        for item in result.results
        if item.exposure is not None and item.exposure.revoked_users
    ]
    if not revoked:
        return None
    sentences = []
    refused = []
    for item, exposure in revoked:
        if not exposure.accepted_after_revocation:
            refused.append(item.strategy)
            continue
        sentence = (
            f"After {_count_noun(exposure.revoked_users, 'user')} "
            f"{'was' if exposure.revoked_users == 1 else 'were'} revoked, {item.strategy} still "
            f"accepted {exposure.accepted_after_revocation:,} requests on their old "
            f"credentials, for {exposure.mean_window_s:.1f} s on average "
            f"(at most {exposure.max_window_s:.1f} s)"
        )
        if exposure.mean_remaining_ttl_s:
            sentence += (
                f"; their tokens had {exposure.mean_remaining_ttl_s:.1f} s left to live on average"
            )
        sentences.append(sentence + ".")
    if refused:
        verb = "refuses" if len(refused) == 1 else "refuse"
        sentences.append(
            f"{join_words(refused)} {verb} a revoked credential at once (no request was accepted "
            "after the revocation)."
        )
    return Paragraph("Revocation", tuple(sentences))


def _store_use(result: RunResult, strategy: str) -> str:
    """Why a strategy other than ``shared_store`` talks to the store: `` (refresh
    tokens)``, `` (the denylist)`` or both; empty for ``shared_store``."""
    if strategy != "jwt":
        return ""
    config = result.scenario.jwt
    uses = []
    if config.refresh:
        uses.append("refresh tokens")
    if config.denylist == "store":
        uses.append("the denylist")
    return f" ({join_words(uses)})" if uses else ""


# ------------------------------------------------------------------ wording


def percent(rate: float | None, digits: int = 1) -> str:
    """A fraction as a percentage (``0.196`` -> ``19.6%``); an en dash when missing."""
    return "–" if rate is None else f"{100 * rate:.{digits}f}%"


def _ms(value: float) -> str:
    """Milliseconds with a precision that suits the size."""
    if abs(value) >= 100:
        return f"{value:,.0f} ms"
    if abs(value) >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def _us(value_ms: float) -> str:
    """Milliseconds as microseconds."""
    return f"{value_ms * 1000:,.0f} µs"


def join_words(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return word if count == 1 else (plural or f"{word}s")


def _count_noun(count: int, word: str, plural: str | None = None) -> str:
    """``1 server``, ``5 servers``, ``2,000 users``."""
    return f"{count:,} {_plural(count, word, plural)}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _relative(measured: float, expected: float) -> float:
    return abs(measured - expected) / expected if expected else float("inf")


def _against(measured: float, expected: float) -> str:
    """``close to theory``, ``below theory`` or ``above theory``."""
    if _relative(measured, expected) <= THEORY_CLOSE:
        return "close to theory"
    return "below theory" if measured < expected else "above theory"


def _causes(by_cause: dict[str, int]) -> str:
    """``1,755 wrong server, 167 session lost`` (causes with a count only)."""
    return ", ".join(
        f"{count:,} {cause.replace('_', ' ')}" for cause, count in by_cause.items() if count
    )


def _event_when(mark: EventMark) -> str:
    if mark.end_s is None:
        return f"{mark.label} at {mark.start_s:g} s"
    return f"{mark.label} from {mark.start_s:g} s to {mark.end_s:g} s"


def _span(window: Window) -> str:
    return f"{window.start_s:g}–{window.end_s:.4g} s"


_FLEET_EVENTS = frozenset(
    {"server_crash", "server_recover", "scale_out", "scale_in", "rolling_restart"}
)


def _changes_fleet(events: Iterable[EventMark]) -> bool:
    return any(mark.kind in _FLEET_EVENTS for mark in events)


def window_rows(result: RunResult, missing: str = "–") -> list[tuple[str, ...]]:
    """The between-events table as text: per window its label, start and end (s), then per
    strategy its success rate and forced re-logins by cause (``missing`` where a strategy
    has no such window).

    Args:
        result: the run.
        missing: the text of an empty cell.

    Returns:
        One row per window of the first strategy (none for a run without windows).
    """
    first = result.results[0].windows if result.results else []
    rows = []
    for position, window in enumerate(first):
        cells = [window.label, f"{window.start_s:g}", f"{window.end_s:.4g}"]
        for item in result.results:
            if position >= len(item.windows):
                cells += [missing, missing]
                continue
            own = item.windows[position]
            rate = own.success_rate
            causes = ", ".join(
                f"{count:,} {cause.replace('_', ' ')}"
                for cause, count in own.forced_relogins_by_cause.items()
                if count
            )
            cells += [missing if rate is None else f"{100 * rate:.1f}%", causes or "0"]
        rows.append(tuple(cells))
    return rows
