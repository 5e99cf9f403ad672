"""Running a built-in scenario for its lesson: the checks every such run must pass, and
the windows and rates the lesson tests read (used by tests/test_scenarios.py and
tests/test_store_scenarios.py)."""

from __future__ import annotations

from typing import Any

from simulator import RunResult, Scenario, StrategyResult, load_scenario, run
from simulator.results.records import Window


def checked_run(
    scenario: Scenario | str,
    overrides: dict[str, Any] | None = None,
    strategies: list[str] | None = None,
    *,
    record_requests: bool = False,
) -> RunResult:
    """Run a scenario (no plots) and check what every run must satisfy."""
    if isinstance(scenario, str):
        scenario = load_scenario(scenario)
    if overrides:
        scenario = scenario.with_overrides(overrides)
    result = run(scenario, strategies, record_requests=record_requests)
    expected = strategies or [str(name) for name in scenario.strategies]
    assert result.strategies == expected
    assert len(result.events) == len(scenario.events), "one event mark per scenario event"
    for item in result.results:
        assert item.requests > 0
        assert item.served > 0
        assert sum(item.outcome_counts.values()) == item.requests
        assert sum(window.requests for window in item.windows) == item.requests
        assert item.forced_relogins == sum(item.forced_relogins_by_cause.values())
    return result


def window(item: StrategyResult, opened_by: str) -> Window:
    """The one window whose label starts with ``opened_by`` (``before``, ``during``...)."""
    (found,) = [found for found in item.windows if found.label.startswith(opened_by)]
    return found


def success(item: StrategyResult | Window) -> float:
    value = item.success_rate
    assert value is not None
    return float(value)
