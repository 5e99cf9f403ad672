"""The report's opening sentences (:mod:`simulator.present.headline`): computed from the
numbers, ranked by value (never by name), ties and missing values written as such."""

from __future__ import annotations

import math

import pytest

from simulator.model.run import run
from simulator.present import headline as headline_module
from simulator.present.format import MISSING
from simulator.present.headline import headline, rank
from simulator.results.records import EventMark, RunResult, StoreStats, StrategyResult, Window
from simulator.scenario.loading import load_scenario

BASE = load_scenario("baseline", ["duration_s=20", "warmup_s=5"])
OUTAGE = (EventMark("store_outage", "store outage", 12.0, 16.0),)


def make(
    name: str,
    *,
    succeeded: int = 100,
    requests: int = 100,
    p95: float | None = 30.0,
    servers: tuple[int, ...] = (20, 20, 20, 20, 20),
    logged_out: int = 0,
    store: StoreStats | None = None,
    windows: tuple[Window, ...] = (),
    errors: dict[str, int] | None = None,
    events: tuple[EventMark, ...] = (),
) -> StrategyResult:
    """A strategy's result with only what the headline reads set."""
    outcomes = dict.fromkeys(("ok", "relogin", "unauthorized"), 0)
    outcomes.update(
        {"server_down": 0, "overload": 0, "store_unavailable": 0, "timeout": 0, **(errors or {})}
    )
    return StrategyResult(
        strategy=name,
        requests=requests,
        served=succeeded,
        succeeded=succeeded,
        forced_relogins=0,
        logins=0,
        login_cpu_s=0.0,
        outcome_counts=outcomes,
        latency_ms={"mean": p95, "p50": p95, "p95": p95, "p99": p95},
        server_requests=list(servers),
        server_utilisation=[0.1] * len(servers),
        store=store,
        credential_bytes=0,
        sessions_in_servers=0,
        sessions_in_store=0,
        measured_s=10.0,
        users_logged_out=logged_out,
        windows=list(windows),
        events=list(events),
    )


def result_of(*items: StrategyResult) -> RunResult:
    return RunResult(scenario=BASE, results=list(items))


def window(label: str, start: float, end: float, succeeded: int, **causes: int) -> Window:
    return Window(label, start, end, 100, succeeded, dict(causes))


# ------------------------------------------------------------------ ranking


def test_rank_groups_values_that_read_the_same() -> None:
    items = [make("a", succeeded=999, requests=1000), make("b"), make("c", succeeded=50)]
    ranking = rank(
        items, lambda item: item.success_rate, lambda v: f"{100 * v:.1f}%", higher_is_better=True
    )
    assert ranking is not None
    assert ranking.best == ("b",)  # 100.0% beats 99.9%
    assert ranking.runner_up == ("a",) and ranking.runner_up_text == "99.9%"
    rounded = rank(
        items, lambda item: item.success_rate, lambda v: f"{100 * v:.0f}%", higher_is_better=True
    )
    assert rounded is not None and rounded.best == ("a", "b")  # both 100%: a tie, in run order
    assert rounded.runner_up == ("c",)


def test_rank_leaves_missing_values_out() -> None:
    items = [make("a", p95=None), make("b", p95=math.nan), make("c", p95=12.0)]
    ranking = rank(items, lambda item: item.latency_ms["p95"], str, higher_is_better=False)
    assert ranking is not None
    assert ranking.best == ("c",) and ranking.missing == ("a", "b")
    nothing = rank(items[:2], lambda item: item.latency_ms["p95"], str, higher_is_better=False)
    assert nothing is None


# ------------------------------------------------------------------ sentences


def test_three_sentences_name_the_winners_with_their_values() -> None:
    result = result_of(
        make("alpha", succeeded=20, p95=190.0, logged_out=900, servers=(30, 10, 20, 20, 20)),
        make("beta", succeeded=97, p95=35.0),
        make("gamma", succeeded=99, p95=30.1, logged_out=3),
    )
    first, second, third = headline(result)
    assert first == "Highest success rate: gamma, 99.0% (runner-up beta, 97.0%)."
    assert second.startswith("Lowest p95 latency: gamma, 30.1 ms (runner-up beta, 35.0 ms); ")
    assert "most even load: beta and gamma, tied at Jain's index 1.000" in second
    assert second.endswith("fewest users logged out: beta, 0.")
    assert third.startswith("Main caveat: this run had no failure")
    assert all(sentence.endswith(".") for sentence in (first, second, third))


def test_ties_are_said_as_ties() -> None:
    result = result_of(make("a"), make("b"), make("c", succeeded=21))
    first, second, _ = headline(result)
    assert first == "Highest success rate: a and b, tied at 100.0% (runner-up c, 21.0%)."
    assert second.startswith("P95 latency: the same for every strategy, 30.0 ms;")
    assert "load evenness: the same for every strategy, Jain's index 1.000" in second


def test_the_ranking_follows_the_numbers_not_the_names() -> None:
    swapped = {}
    for names in (("jwt", "local"), ("local", "jwt")):
        result = result_of(make(names[0], succeeded=40), make(names[1], succeeded=90))
        swapped[names] = headline(result)[0]
    assert swapped[("jwt", "local")].startswith("Highest success rate: local, 90.0%")
    assert swapped[("local", "jwt")].startswith("Highest success rate: jwt, 90.0%")


def test_a_single_strategy() -> None:
    sentences = headline(result_of(make("solo", succeeded=97, p95=None, logged_out=1)))
    assert sentences == (
        "Only one strategy was run, solo: its success rate was 97.0%.",
        f"Its p95 latency was {MISSING}, its load had a Jain's index of 1.000 (1 = even), "
        "and it logged out 1 user.",
        "Main caveat: this run had no failure, so it shows no strategy under one.",
    )


def test_missing_values_are_dashes_never_nan() -> None:
    result = result_of(
        make("a", requests=0, succeeded=0, p95=None, servers=(0, 0, 0)),
        make("b", requests=0, succeeded=0, p95=math.nan, servers=(0, 0, 0)),
    )
    text = " ".join(headline(result))
    assert "nan" not in text.lower() and "None" not in text
    assert f"Success rate: {MISSING} for every strategy." in text
    assert f"P95 latency: {MISSING} for every strategy" in text
    mixed = " ".join(headline(result_of(make("a", p95=None), make("b", p95=12.5))))
    assert f"Lowest p95 latency: b, 12.5 ms (a {MISSING})" in mixed
    assert headline(RunResult(scenario=BASE, results=[])) == ()


def test_the_caveat_of_a_run_without_events_names_store_dependence() -> None:
    every = StoreStats(utilisation=0.1, mean_latency_ms=0.5, ops=100, ops_per_request=1.0)
    rarely = StoreStats(utilisation=0.0, mean_latency_ms=0.5, ops=1, ops_per_request=0.01)
    result = result_of(make("a", store=every), make("b", store=rarely), make("c"))
    caveat = headline(result)[2]
    assert caveat == (
        "Main caveat: this run had no failure, so it shows no strategy under one; a needed "
        "the session store on every request (1.00 operations per request), so it is only as "
        "available as the store (the store-outage scenario shows an outage)."
    )
    assert headline_module.STORE_EVERY_REQUEST > 0.01


def test_the_caveat_of_a_fault_run_is_the_largest_fall() -> None:
    lost = (
        window("before store outage", 5, 12, 100),
        window("during store outage", 12, 16, 0),
        window("after store outage", 16, 20, 100),
    )
    dented = (
        window("before store outage", 5, 12, 100),
        window("during store outage", 12, 16, 96, refresh_failed=4),
        window("after store outage", 16, 20, 100),
    )
    result = result_of(
        make("a", succeeded=70, windows=lost, errors={"store_unavailable": 30}, events=OUTAGE),
        make("b", succeeded=99, windows=dented, logged_out=4),
    )
    assert result.events
    caveat = headline(result)[2]
    assert caveat == (
        "Main caveat: during store outage (12–16 s), a's success rate fell from 100.0% to "
        "0.0%, mostly store unavailable errors: the session store was unreachable."
    )


def test_a_fall_by_forced_relogins_names_the_cause() -> None:
    crashed = (
        window("before crash server 2", 5, 12, 100),
        window("after crash server 2", 12, 20, 80, session_lost=20),
    )
    crash = (EventMark("server_crash", "crash server 2", 12.0, None),)
    result = result_of(make("a", windows=crashed, events=crash), make("b"))
    caveat = headline(result)[2]
    assert "after crash server 2 (12–20 s), a's success rate fell from 100.0% to 80.0%" in caveat
    assert "mostly forced re-logins with cause session lost, meaning the memory" in caveat


def test_events_that_change_nothing_say_so() -> None:
    steady = (window("before deploy", 5, 12, 100), window("after deploy", 12, 20, 100))
    crash = (EventMark("server_crash", "crash server 1", 12.0, None),)
    result = result_of(make("a", windows=steady, events=crash), make("b", windows=steady))
    assert headline(result)[2] == (
        "Main caveat: no event moved any strategy's success rate by 1 point or more, so this "
        "run does not separate them on failures."
    )


@pytest.mark.parametrize(
    ("name", "overrides", "expected"),
    [
        ("baseline", ["duration_s=20", "warmup_s=5"], "this run had no failure"),
        (
            "server-crash",
            [
                "duration_s=30",
                "warmup_s=5",
                "events=[{at_s: 12, kind: server_crash, server: 2}, "
                "{at_s: 20, kind: server_recover, server: 2}]",
            ],
            "after crash server 2 (12–20 s), sticky's success rate fell",
        ),
    ],
)
def test_real_runs_fault_and_no_fault(name: str, overrides: list[str], expected: str) -> None:
    result = run(load_scenario(name, overrides), record_requests=False)
    sentences = headline(result)
    assert len(sentences) == 3
    assert expected in sentences[2]
    best = max(item.success_rate or 0.0 for item in result.results)
    assert f"{100 * best:.1f}%" in sentences[0]
    assert headline(result) == sentences  # pure
