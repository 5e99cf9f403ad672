"""The explanation's paragraphs about what changed during a run: each event, forced
re-logins, the session store and revocation, and the between-events table as text.

Part of :func:`simulator.present.explain.explain`; pure functions of the result.
"""

from __future__ import annotations

from simulator import outcomes
from simulator.experiments import theory
from simulator.present.explain_base import (
    BUSY_UTILISATION,
    CAUSE_MEANINGS,
    RATE_CHANGE_PP,
    Paragraph,
)
from simulator.present.format import (
    MISSING,
    capital,
    count_noun,
    counted_causes,
    join_words,
    ms,
    percent,
    plural,
    span,
    words,
)
from simulator.results.records import RunResult, Window
from simulator.scenario.models import SharedStore


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
            f"{capital(opening.label)} ({span(opening.start_s, opening.end_s)}), success was "
            + ", ".join(rates)
            + "."
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
                f"{capital(window.label)} ({span(window.start_s, window.end_s)}): "
                + "; ".join(changes)
                + "."
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
            f" ({relogins:,} forced {plural(relogins, 're-login')}: "
            + counted_causes(now.forced_relogins_by_cause)
            + ")"
        )
        if now.users_logged_out:
            clause += f" and logged out {count_noun(now.users_logged_out, 'user')}"
    return clause


def explain_relogins(result: RunResult) -> Paragraph:
    """Forced re-logins over the whole measured window, by cause, the distinct users they
    logged out, their CPU cost, and the refreshes that avoided one.

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
                f"({counted_causes(item.forced_relogins_by_cause)})"
                for item in forced
            )
            + "."
        )
        total = result.scenario.workload.users
        sentences.append(
            f"Users logged out (each counted once, however often forced), of the {total:,}: "
            + ", ".join(f"{item.strategy} {item.users_logged_out:,}" for item in forced)
            + "."
        )
        causes = [
            cause
            for cause in outcomes.CAUSES
            if any(item.forced_relogins_by_cause.get(cause, 0) for item in forced)
        ]
        sentences.append(
            "Here "
            + "; ".join(f"{words(cause)} means {CAUSE_MEANINGS[cause]}" for cause in causes)
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
                f"{plural(item.refreshes, 'token')} with a refresh token instead of a "
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
    several = config.shards > 1 or (config.replicas > 0 and config.read_from == "replicas")
    sentences = [_topology(config)]
    for item, store in users:
        rho = store.utilisation
        sentence = (
            f"With {item.strategy}{_store_use(result, item.strategy)} the store handled "
            f"{store.ops:,} operations"
            + (f" ({store.ops_per_request:.2f} per request)" if store.ops_per_request else "")
            + (" and its busiest node" if several else " and")
            + f" was busy {percent(rho)} of the time (utilisation ρ = {rho:.2f})"
        )
        if store.mean_latency_ms is not None:
            sentence += f"; an operation took {ms(store.mean_latency_ms)} from send to reply"
        sentences.append(sentence + ".")
        if 0 < rho < 1:
            expected_ms = config.rtt_ms + theory.mm1_mean_response(
                rho / config.op_time_ms, 1 / config.op_time_ms
            )
            sentences.append(
                f"For a single-threaded {'node' if several else 'store'} at this load, "
                f"M/M/1 theory gives "
                f"{ms(config.rtt_ms)} + {ms(config.op_time_ms)}/(1 − ρ) = {ms(expected_ms)}"
                + (
                    ": it is close to saturation, where every extra request adds a lot of waiting."
                    if rho >= BUSY_UTILISATION
                    else ": far from saturation, queueing adds little."
                )
            )
    return Paragraph("The session store", tuple(sentences))


def _topology(config: SharedStore) -> str:
    """The store's layout in one sentence."""
    replicas = count_noun(config.replicas, "replica")
    layout = (
        f"one single-threaded primary with {replicas}"
        if config.shards == 1
        else f"{config.shards} shards, each a single-threaded primary with {replicas}"
    )
    reads = "its replicas" if config.read_from == "replicas" and config.replicas else "the primary"
    failover = (
        f", and a failed primary is replaced after {config.failover_s:g} s"
        if config.replicas
        else ""
    )
    return f"The store: {layout}; reads go to {reads}{failover}."


def _store_use(result: RunResult, strategy: str) -> str:
    """Why ``jwt`` talks to the store: `` (refresh tokens)``, `` (the denylist)`` or both
    (its own settings); empty for every other strategy, whose store use needs no
    reason."""
    if strategy != "jwt":
        return ""
    config = result.scenario.jwt
    uses = []
    if config.refresh:
        uses.append("refresh tokens")
    if config.denylist == "store":
        uses.append("the denylist")
    return f" ({join_words(uses)})" if uses else ""


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
            f"After {count_noun(exposure.revoked_users, 'user')} "
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


def window_rows(result: RunResult, missing: str = MISSING) -> list[tuple[str, ...]]:
    """The between-events table as text: per window its label, start and end (s), then per
    strategy three cells: its success rate, its forced re-logins by cause and the distinct
    users they logged out (``missing`` where a strategy has no such window).

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
                cells += [missing, missing, missing]
                continue
            own = item.windows[position]
            rate = own.success_rate
            causes = counted_causes(own.forced_relogins_by_cause)
            cells += [
                missing if rate is None else percent(rate),
                causes or "0",
                f"{own.users_logged_out:,}",
            ]
        rows.append(tuple(cells))
    return rows
