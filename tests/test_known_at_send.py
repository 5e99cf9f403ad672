"""A check settled when its store read is sent (``Service``, ``SessionStore.answer_at``).

In a run without events, ``shared_store``'s check needs no event for its read's answer:
the store's queue gives the answer's time when the read is sent. These tests run the
same scenarios with that path and without it (``answers_in_order`` forced off) and
compare every request, time series, count and store figure exactly; they check that
the path is taken where it may be (one event fewer per request) and refused where it
may not, and that a read still on its way when the run stops is not counted as answered.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import numpy as np
import pytest

import simulator
from simulator.model.environment import StreamEnvironment
from simulator.model.service import Service
from simulator.model.store import SessionStore
from simulator.results.records import RunResult

STRATEGY = "shared_store"


def _run(overrides: dict[str, Any], known: bool, monkeypatch: pytest.MonkeyPatch) -> RunResult:
    """Run ``baseline`` with ``overrides``, with checks known at sending or not."""
    with monkeypatch.context() as patch:
        if not known:
            patch.setattr(SessionStore, "answers_in_order", lambda self, workers: False)
        scenario = simulator.load_scenario("baseline", {"strategies": [STRATEGY], **overrides})
        return simulator.run(scenario, engine="des")


def _same(expected: Any, actual: Any, where: str) -> None:
    """Assert two values are identical (arrays element by element, floats exactly)."""
    if dataclasses.is_dataclass(expected) and not isinstance(expected, type):
        for item in dataclasses.fields(expected):
            _same(getattr(expected, item.name), getattr(actual, item.name), f"{where}.{item.name}")
    elif isinstance(expected, dict):
        assert expected.keys() == actual.keys(), where
        for key in expected:
            _same(expected[key], actual[key], f"{where}[{key}]")
    elif isinstance(expected, np.ndarray) and expected.dtype.kind == "f":
        assert np.array_equal(expected, actual, equal_nan=True), where
    elif isinstance(expected, (list, tuple, np.ndarray)):
        assert len(expected) == len(actual), where
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            _same(left, right, f"{where}[{index}]")
    else:
        assert expected == actual, f"{where}: {expected!r} != {actual!r}"


def _compare(overrides: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> RunResult:
    with_path = _run(overrides, True, monkeypatch)
    without = _run(overrides, False, monkeypatch)
    _same(without[STRATEGY], with_path[STRATEGY], STRATEGY)
    log, log_with = without.logs[STRATEGY], with_path.logs[STRATEGY]
    for column in ("arrival_s", "user", "server", "outcome", "latency_ms", "cause"):
        assert np.array_equal(getattr(log, column), getattr(log_with, column)), column
    return with_path


CASES: dict[str, dict[str, Any]] = {
    "baseline": {"duration_s": 20, "warmup_s": 5},
    # users log in during the run (writes on the keys the checks read), three shards
    "logins and shards": {
        "duration_s": 20,
        "warmup_s": 3,
        "workload.logged_in_at_start": False,
        "workload.users": 300,
        "shared_store.shards": 3,
    },
    # constant service, one worker per server, a slower store
    "constant service": {
        "duration_s": 15,
        "warmup_s": 2,
        "cluster.workers_per_server": 1,
        "cluster.service_time_ms": {"distribution": "constant", "mean": 20},
        "shared_store.op_time_ms": 0.5,
    },
    # a saturated store (30 ms a read, 20 workers): reads wait about 0.6 s, requests
    # time out after 0.2 s, and the run stops (at 8.4 s) with reads sent while measuring
    # still on their way (without taking those back, the store's figures would differ)
    "saturated store": {
        "duration_s": 8,
        "warmup_s": 1,
        "shared_store.op_time_ms": 30,
        "cluster.request_timeout_ms": 200,
        "workload.relogin_delay_s": {"distribution": "constant", "mean_s": 0},
    },
}


@pytest.mark.parametrize("case", list(CASES))
def test_same_numbers_with_and_without(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _compare(CASES[case], monkeypatch)
    assert result[STRATEGY].requests > 500


def _drawn_case(seed: int) -> dict[str, Any]:
    """A small run drawn from a seed: few or many users, logins during the run or not,
    one to three shards, short timeouts that stop runs with reads on their way, full
    queues, constant, exponential or lognormal service."""
    draw = random.Random(seed)
    workers = draw.choice([1, 2, 4])
    return {
        "duration_s": draw.choice([4, 6]),
        "warmup_s": draw.choice([0, 1, 2.5]),
        "seed": draw.randrange(1000),
        "cluster.servers": draw.choice([1, 2, 5]),
        "cluster.workers_per_server": workers,
        "cluster.queue_limit": draw.choice([2, 100]),
        "cluster.request_timeout_ms": draw.choice([100, 500, 30_000]),
        "cluster.service_time_ms": {
            "distribution": draw.choice(["constant", "exponential", "lognormal"]),
            "mean": draw.choice([1, 10, 30]),
        },
        "shared_store.pool_size": workers + draw.choice([0, 1, 5]),
        "shared_store.shards": draw.choice([1, 2, 3]),
        "shared_store.op_time_ms": draw.choice([0.01, 0.5, 5, 20]),
        "shared_store.rtt_ms": draw.choice([0, 0.5, 2]),
        "workload.users": draw.choice([5, 50, 2000]),
        "workload.logged_in_at_start": draw.choice([True, False]),
        "workload.arrival_rate_per_s": draw.choice([50, 100, 300]),
        "workload.relogin_delay_s": {"distribution": "constant", "mean_s": draw.choice([0, 0.5])},
    }


@pytest.mark.parametrize("seed", range(8))
def test_same_numbers_on_drawn_runs(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    case = _drawn_case(seed)
    assert _known(case)  # (so the comparison compares two different paths)
    _compare(case, monkeypatch)


def test_the_saturated_run_stops_with_reads_on_their_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stop case is exercised (the comparison above then shows it is right): the
    run stops with reads settled at sending whose answers are not back, and takes them
    back."""
    taken_back: list[float] = []
    original = SessionStore.forget_answer

    def forget(self: SessionStore, sent_s: float, answer_s: float) -> None:
        taken_back.append(answer_s - sent_s)
        original(self, sent_s, answer_s)

    monkeypatch.setattr(SessionStore, "forget_answer", forget)
    result = _run(CASES["saturated store"], True, monkeypatch)[STRATEGY]
    assert result.outcome_counts["timeout"] > 0
    assert len(taken_back) > 10
    assert min(taken_back) > 0


def _events_made(overrides: dict[str, Any], known: bool, monkeypatch: pytest.MonkeyPatch) -> int:
    """Entries pushed on the event queue by ``call_at`` and ``call_later`` in one run."""
    made = [0]
    with monkeypatch.context() as patch:
        for name in ("call_at", "call_later"):
            original = getattr(StreamEnvironment, name)

            def counted(self: StreamEnvironment, *args: Any, _original: Any = original) -> None:
                made[0] += 1
                _original(self, *args)

            patch.setattr(StreamEnvironment, name, counted)
        result = _run(overrides, known, monkeypatch)
    return made[0] - result[STRATEGY].requests  # about one a request either way


def test_one_event_fewer_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    overrides = {"duration_s": 10, "warmup_s": 0}
    requests = _run(overrides, True, monkeypatch)[STRATEGY].requests
    saved = _events_made(overrides, False, monkeypatch) - _events_made(overrides, True, monkeypatch)
    assert saved == pytest.approx(requests, rel=0.01)


def _known(overrides: dict[str, Any], strategy: str = STRATEGY) -> bool:
    flags: list[bool] = []
    original = Service.attach

    def attach(self: Service, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        flags.append(self.checks_known_at_send)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Service, "attach", attach)
        scenario = simulator.load_scenario(
            "baseline", {"strategies": [strategy], "duration_s": 2, "warmup_s": 0, **overrides}
        )
        simulator.run(scenario, engine="des")
    return flags == [True]


def test_taken_on_the_plain_store() -> None:
    assert _known({})
    assert _known({"shared_store.shards": 4, "shared_store.replicas": 2})


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"shared_store.read_from": "replicas"}, "a lagging replica answers reads"),
        ({"shared_store.rtt_distribution": "exponential"}, "answers overtake each other"),
        ({"shared_store.pool_size": 2}, "a worker may wait for a connection (4 workers)"),
        ({"cluster.overhead_ms": {"distribution": "constant", "mean": 1}}, "work before it"),
        ({"cluster.cpu_cores": 1}, "shared cores"),
        (
            {"events": [{"kind": "store_outage", "at_s": 1, "duration_s": 0.5}]},
            "an event may change the answer",
        ),
    ],
)
def test_refused_where_the_answer_is_not_known(overrides: dict[str, Any], why: str) -> None:
    assert not _known(overrides), why


def test_not_for_a_token_check() -> None:
    """``jwt`` with a store denylist makes a store read per request, but its check reads
    the token, which a refresh or a login without a store write changes."""
    assert not _known({"jwt.denylist": "store"}, "jwt")


def _check_during_login(monkeypatch: pytest.MonkeyPatch, guarded: bool) -> tuple[Any, Any]:
    """A login of user 7 sends its store write; a check of user 7 and one of user 8
    (who holds no session: nobody logged in at start here) start while it is on its way.
    Returns the two checks."""
    from simulator.model.request import LOGIN, REQUEST, Request  # noqa: PLC0415
    from simulator.model.run import RunInputs, StrategyRun  # noqa: PLC0415

    if not guarded:
        monkeypatch.setattr(Service, "_note_write", lambda self, user: None)
        monkeypatch.setattr(Service, "_note_written", lambda self, user: None)
    scenario = simulator.load_scenario(
        "baseline", {"strategies": [STRATEGY], "duration_s": 1, "warmup_s": 0}
    )
    run = StrategyRun(RunInputs.build(scenario), STRATEGY, record_requests=False)
    env, server = run.env, run.servers[0]
    assert run.service.checks_known_at_send

    def submit(user: int, phase: int) -> Request:
        job = Request(user, env.now, 0.01, True)
        job.phase, job.server = phase, server.index
        assert server.submit(job, -1) is None
        env.run(until=env.now + 1e-6)  # the worker starts it
        return job

    login = submit(7, LOGIN)
    env.run(until=0.1402)  # its password is hashed (140 ms): its write is on its way
    assert login.trips == 0 and login.started_s == 0.0
    check, other = submit(7, REQUEST), submit(8, REQUEST)
    env.run(until=0.2)
    return check, other


def test_a_check_waits_for_a_login_write_on_its_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """While a login of the same user has a store write on its way, the check's answer
    is not known when its read is sent: it takes the round trip, and the write (which
    reaches the store first) lets it in."""
    from simulator.model.request import ACCEPTED, REJECTED  # noqa: PLC0415

    check, other = _check_during_login(monkeypatch, guarded=True)
    assert check.answer_s == 0.0  # not settled at sending
    assert check.result == ACCEPTED
    assert other.answer_s > 0.14  # another user's check is settled at sending
    assert other.result == REJECTED  # (user 8 never logged in)
    # without the guard the check would be settled before the write and turned away
    unguarded, _ = _check_during_login(monkeypatch, guarded=False)
    assert unguarded.answer_s > 0.14
    assert unguarded.result == REJECTED
