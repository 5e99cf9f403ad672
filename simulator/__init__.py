"""authsim: a session-vs-token scaling simulator.

The Python API for notebooks and scripts::

    from simulator import load_scenario, run

    scenario = load_scenario("baseline", {"cluster.servers": 10})
    result = run(scenario)
    result.summary_frame()      # one row per strategy
    result.requests_frame()     # one row per measured request

The names below are imported when first used, so ``import simulator`` (and the command
line's start, which must handle Ctrl-C before anything slow is imported) costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.errors import AuthsimError, ScenarioError
    from simulator.model.run import run
    from simulator.results.records import RunResult, StrategyResult
    from simulator.scenario.loading import builtin_scenarios, load_scenario
    from simulator.scenario.models import Scenario, StrategyName

__version__ = "0.1.0"

_HOMES: dict[str, str] = {
    "AuthsimError": "simulator.errors",
    "ScenarioError": "simulator.errors",
    "run": "simulator.model.run",
    "RunResult": "simulator.results.records",
    "StrategyResult": "simulator.results.records",
    "builtin_scenarios": "simulator.scenario.loading",
    "load_scenario": "simulator.scenario.loading",
    "Scenario": "simulator.scenario.models",
    "StrategyName": "simulator.scenario.models",
}
"""Where each public name lives."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


__all__ = [
    "AuthsimError",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "StrategyName",
    "StrategyResult",
    "__version__",
    "builtin_scenarios",
    "load_scenario",
    "run",
]
