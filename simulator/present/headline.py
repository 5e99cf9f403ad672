"""The answer first: three sentences that open the HTML report, computed from the run.

1. Which strategy had the highest success rate, with its value and the runner-up's.
2. Which had the lowest p95 latency (and the runner-up), the most even load (Jain's
   index) and the fewest users logged out.
3. The main caveat: with events, the largest fall of a strategy's success rate in a
   window after an event, and what caused it; without events, that the run shows no
   failure, naming the strategies whose requests depended on the session store.

Strategies are ranked by their numbers, never by their names. Two values that read the
same once written (``100.0%`` and ``100.0%``) are a tie: a difference the page cannot
show is no win. A missing value (``None``, NaN: nothing served, no request) takes no
rank and is written :data:`~simulator.present.format.MISSING`, never ``nan``.

    from simulator.present.headline import headline
    for sentence in headline(result):
        print(sentence)

The functions are pure: same result, same text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from simulator.present.explain_base import CAUSE_MEANINGS, ERROR_MEANINGS, RATE_CHANGE_PP
from simulator.present.format import (
    MISSING,
    capital,
    count_noun,
    is_missing,
    join_words,
    number,
    percent,
    span,
    words,
)
from simulator.results.records import RunResult, StrategyResult, Window

__all__ = ["STORE_EVERY_REQUEST", "Ranking", "headline", "rank"]

STORE_EVERY_REQUEST = 0.5
"""A strategy sending the store at least this many operations per request (a session
lookup is 1) depends on it for its requests; below, only now and then (a refresh)."""


@dataclass(frozen=True)
class Ranking:
    """Strategies ranked on one metric, best first.

    Attributes:
        best: the strategies sharing the best value (several: a tie).
        best_text: that value, written.
        runner_up: the strategies sharing the next value (empty: none).
        runner_up_text: that value, written (empty: none).
        missing: the strategies with no value.
    """

    best: tuple[str, ...]
    best_text: str
    runner_up: tuple[str, ...] = ()
    runner_up_text: str = ""
    missing: tuple[str, ...] = ()


def rank(
    items: Sequence[StrategyResult],
    value: Callable[[StrategyResult], float | None],
    text: Callable[[float], str],
    *,
    higher_is_better: bool,
) -> Ranking | None:
    """Rank strategies on one metric; values written alike share a rank.

    Args:
        items: the strategies' results.
        value: the metric of a result (``None`` or NaN: none).
        text: how a value is written (ties are decided on this text).
        higher_is_better: whether the largest value wins.

    Returns:
        The ranking; ``None`` when no strategy has a value.
    """
    found = [(item.strategy, value(item)) for item in items]
    valued = [
        (name, amount) for name, amount in found if amount is not None and not is_missing(amount)
    ]
    missing = tuple(name for name, amount in found if is_missing(amount))
    if not valued:
        return None
    valued.sort(key=lambda pair: -pair[1] if higher_is_better else pair[1])
    order = {item.strategy: position for position, item in enumerate(items)}
    groups: list[tuple[str, list[str]]] = []
    for name, amount in valued:
        written = text(amount)
        if groups and groups[-1][0] == written:
            groups[-1][1].append(name)
        else:
            groups.append((written, [name]))
    for _, names in groups:  # a tie in the run's order, not by hidden decimals
        names.sort(key=order.__getitem__)
    best_text, best = groups[0]
    if len(groups) == 1:
        return Ranking(tuple(best), best_text, missing=missing)
    runner_text, runner = groups[1]
    return Ranking(tuple(best), best_text, tuple(runner), runner_text, missing)


def headline(result: RunResult) -> tuple[str, ...]:
    """The three sentences that open the report (none for a run with no strategy).

    Args:
        result: the run (summary mode is enough).

    Returns:
        Success; latency, load and logouts; the main caveat.
    """
    items = result.results
    if not items:
        return ()
    if len(items) == 1:
        return (*_single(items[0]), _caveat(result))
    return (_success(items), _latency_and_load(items), _caveat(result))


# ------------------------------------------------------------------ sentences


def _success(items: Sequence[StrategyResult]) -> str:
    ranking = rank(items, _success_rate, percent, higher_is_better=True)
    return capital(_clause(ranking, "highest success rate", "success rate", runner_up=True)) + "."


def _latency_and_load(items: Sequence[StrategyResult]) -> str:
    latency = rank(items, _p95, _ms_text, higher_is_better=False)
    even = rank(items, _jain, _jain_text, higher_is_better=True)
    logged_out = rank(items, _logged_out, _count_text, higher_is_better=False)
    clauses = [
        _clause(latency, "lowest p95 latency", "p95 latency", runner_up=True),
        _clause(even, "most even load", "load evenness", prefix="Jain's index "),
        _clause(logged_out, "fewest users logged out", "users logged out"),
    ]
    return capital("; ".join(clauses)) + "."


def _single(item: StrategyResult) -> tuple[str, str]:
    name = item.strategy
    return (
        f"Only one strategy was run, {name}: its success rate was {percent(item.success_rate)}.",
        f"Its p95 latency was {_ms_text(_p95(item))}, its load had a Jain's index of "
        f"{_jain_text(_jain(item))} (1 = even), and it logged out "
        f"{count_noun(item.users_logged_out, 'user')}.",
    )


def _clause(
    ranking: Ranking | None,
    superlative: str,
    metric: str,
    *,
    runner_up: bool = False,
    prefix: str = "",
) -> str:
    """``lowest p95 latency: jwt, 28.5 ms (runner-up sticky, 28.6 ms)``, a tie (``sticky
    and jwt, tied at 28.5 ms``), the same value for all, or :data:`MISSING` for all."""
    if ranking is None:
        return f"{metric}: {MISSING} for every strategy"
    value = prefix + ranking.best_text
    if not ranking.runner_up and not ranking.missing and len(ranking.best) > 1:
        return f"{metric}: the same for every strategy, {value}"
    if len(ranking.best) > 1:
        text = f"{superlative}: {join_words(ranking.best)}, tied at {value}"
    else:
        text = f"{superlative}: {ranking.best[0]}, {value}"
    notes = []
    if runner_up and ranking.runner_up:
        notes.append(f"runner-up {join_words(ranking.runner_up)}, {ranking.runner_up_text}")
    if ranking.missing:
        notes.append(f"{join_words(ranking.missing)} {MISSING}")
    return text + (f" ({'; '.join(notes)})" if notes else "")


def _caveat(result: RunResult) -> str:
    """The main caveat: the worst fall after an event, else what a run without
    failures cannot show."""
    fall = _largest_fall(result)
    if fall is not None:
        item, before, window = fall
        return (
            f"Main caveat: {window.label} ({span(window.start_s, window.end_s)}), "
            f"{item.strategy}'s success rate fell from {percent(before.success_rate)} to "
            f"{percent(window.success_rate)}{_why(item, window)}."
        )
    if result.events:
        return (
            f"Main caveat: no event moved any strategy's success rate by "
            f"{RATE_CHANGE_PP:g} point or more, so this run does not separate them on "
            "failures."
        )
    dependent = [
        item
        for item in result.results
        if item.store is not None
        and item.store.ops_per_request is not None
        and item.store.ops_per_request >= STORE_EVERY_REQUEST
    ]
    sentence = "Main caveat: this run had no failure, so it shows no strategy under one"
    if dependent:
        names = join_words([item.strategy for item in dependent])
        pronoun = "it is" if len(dependent) == 1 else "they are"
        sentence += (
            f"; {names} needed the session store on every request "
            f"({_ops_text(dependent)}), so {pronoun} only as available as the store "
            "(the store-outage scenario shows an outage)"
        )
    return sentence + "."


def _largest_fall(result: RunResult) -> tuple[StrategyResult, Window, Window] | None:
    """The strategy and window after the first whose success rate fell furthest below
    that of the first window, by at least :data:`RATE_CHANGE_PP` points."""
    worst: tuple[StrategyResult, Window, Window] | None = None
    drop = RATE_CHANGE_PP / 100
    for item in result.results:
        if len(item.windows) < 2:  # a window before an event and one after
            continue
        before = item.windows[0]
        if before.success_rate is None:
            continue
        for window in item.windows[1:]:
            rate = window.success_rate
            if rate is not None and before.success_rate - rate >= drop:
                drop = before.success_rate - rate
                worst = (item, before, window)
    return worst


def _why(item: StrategyResult, window: Window) -> str:
    """``, mostly forced re-logins with cause session lost, meaning ...`` or the error
    kind of the strategy's run; empty when nothing can be named."""
    failed = window.requests - window.succeeded
    if failed <= 0:
        return ""
    causes = {cause: amount for cause, amount in window.forced_relogins_by_cause.items() if amount}
    if causes and 2 * window.forced_relogins >= failed:
        cause = max(causes, key=lambda key: causes[key])
        meaning = CAUSE_MEANINGS.get(cause)
        text = f", mostly forced re-logins with cause {words(cause)}"
        return text + (f", meaning {meaning}" if meaning else "")
    errors = {kind: amount for kind, amount in item.errors.items() if amount}
    if not errors:
        return ""
    kind = max(errors, key=lambda key: errors[key])
    meaning = ERROR_MEANINGS.get(kind)
    return f", mostly {words(kind)} errors" + (f": {meaning}" if meaning else "")


# ------------------------------------------------------------------ metrics and numbers


def _success_rate(item: StrategyResult) -> float | None:
    return item.success_rate


def _p95(item: StrategyResult) -> float | None:
    return item.latency_ms.get("p95")


def _jain(item: StrategyResult) -> float | None:
    return item.load_skew.get("jain")


def _logged_out(item: StrategyResult) -> float | None:
    return float(item.users_logged_out)


def _ms_text(value: float | None) -> str:
    return MISSING if is_missing(value) else f"{number(value, ',.1f')} ms"


def _jain_text(value: float | None) -> str:
    return number(value, ".3f")


def _count_text(value: float) -> str:
    return number(value, ",.0f")


def _ops_text(items: Sequence[StrategyResult]) -> str:
    parts = []
    for item in items:
        ops = item.store.ops_per_request if item.store is not None else None
        parts.append(f"{number(ops, '.2f')} operations per request")
    if len(set(parts)) == 1:
        return parts[0]
    return ", ".join(f"{item.strategy} {part}" for item, part in zip(items, parts, strict=True))
