"""authsim: a session-vs-token scaling simulator.

The Python API for notebooks and scripts::

    from simulator import load_scenario, run

    scenario = load_scenario("baseline", {"cluster.servers": 10})
    result = run(scenario)
    result.summary_frame()      # one row per strategy
    result.requests_frame()     # one row per measured request
"""

from __future__ import annotations

from simulator.errors import AuthsimError, ScenarioError
from simulator.model.run import run
from simulator.results.records import RunResult, StrategyResult
from simulator.scenario.loading import builtin_scenarios, load_scenario
from simulator.scenario.models import Scenario, StrategyName

__version__ = "0.1.0"

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
