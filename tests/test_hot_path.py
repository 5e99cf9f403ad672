"""The functions every request runs make no closures.

A function that makes a closure (a ``lambda`` or a nested ``def`` that reads its
variables) keeps the captured variables in cells, and creates those cells on *every*
call, whether the closure is made or not; each read of them is then an indirection
too. Three per request (a job's start, its check and the server's hand-over) cost about
8% of ``jwt``'s CPU time on the standard workload (README, *Speed*). Such a closure
belongs in a helper the rare branch calls, or in a ``functools.partial``.

Structural, not timed: the speed itself is measured by ``benchmarks/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from simulator.model.balancer import SPREADING_POLICIES, ConsistentHash, CookieAffinity, IpHash
from simulator.model.cluster import Server
from simulator.model.environment import StreamEnvironment
from simulator.model.recorder import Recorder
from simulator.model.run import StrategyRun
from simulator.model.service import Service
from simulator.model.store import SessionStore
from simulator.model.strategies import STRATEGIES

HOT: list[Callable[..., Any]] = [
    StreamEnvironment.step,
    StreamEnvironment.call_at,
    StreamEnvironment.call_later,
    StreamEnvironment.peek,
    StrategyRun._arrive,
    StrategyRun.route,
    StrategyRun.on_done,
    StrategyRun.finish,
    Service.serve,
    Service._check,
    Service._ask_store,
    Service._replied,
    Service._worked,
    Service._answer,
    Server.submit,
    Server.finish,
    Recorder.finished,
    SessionStore.round_trip,
    *(policy.choose for policy in SPREADING_POLICIES.values()),
    CookieAffinity.choose,
    IpHash.choose,
    ConsistentHash.choose,
    *(strategy.check for strategy in STRATEGIES.values()),
    *(strategy.has_credential for strategy in STRATEGIES.values()),
]


@pytest.mark.parametrize("function", HOT, ids=lambda function: function.__qualname__)
def test_a_function_every_request_runs_makes_no_closure(function: Callable[..., Any]) -> None:
    cells = function.__code__.co_cellvars
    assert not cells, (
        f"{function.__qualname__} keeps {', '.join(cells)} in cells (made on every call) "
        "for a closure: make it in a helper the rare branch calls, or use functools.partial"
    )
