"""Every scenario file in scenarios/ loads, explains itself, and runs briefly."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import load_scenario, run
from simulator.config import builtin_scenarios

SCENARIO_FILES = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))


def test_there_are_scenarios_and_all_are_builtins() -> None:
    assert SCENARIO_FILES
    assert {path.stem for path in SCENARIO_FILES} <= set(builtin_scenarios())
    assert "baseline" in builtin_scenarios()


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda path: path.stem)
def test_scenario_loads_and_runs(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert len(scenario.description) > 80, "say what the scenario shows and what to look for"
    short = scenario.with_overrides({"duration_s": 6, "warmup_s": 1})
    result = run(short, record_requests=False)
    assert result.strategies == [str(name) for name in scenario.strategies]
    for item in result.results:
        assert item.requests > 0
        assert item.served > 0
