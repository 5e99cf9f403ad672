"""Every scenario file in scenarios/ loads, explains itself, runs and draws its plots."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import load_scenario, run
from simulator.present.plots import save_figures, timeseries_figure
from simulator.scenario.models import builtin_scenarios

SCENARIO_FILES = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))
LIBRARY = {
    "baseline",
    "server-crash",
    "rolling-deploy",
    "scale-out-modulo",
    "scale-out-consistent",
    "store-outage",
    "store-saturation",
    "nat-hotspot",
    "heavy-users",
    "traffic-spike",
    "revocation",
    "key-rotation",
}


def test_the_library_is_complete_and_builtin() -> None:
    names = {path.stem for path in SCENARIO_FILES}
    assert names >= LIBRARY
    assert names <= set(builtin_scenarios())


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda path: path.stem)
def test_scenario_runs_and_writes_its_plots(path: Path, tmp_path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert len(scenario.description) > 80, "say what the scenario shows and what to look for"
    # Keep the timeline, thin the traffic: a quarter of the rate (at most 100 requests/s).
    rate = min(scenario.workload.arrival_rate_per_s / 4, 100.0)
    short = scenario.with_overrides({"workload.arrival_rate_per_s": rate})
    result = run(short, record_requests=False)
    assert result.strategies == [str(name) for name in scenario.strategies]
    for item in result.results:
        assert item.requests > 0
        assert item.served > 0
        assert sum(item.outcome_counts.values()) == item.requests
    assert len(result.events) == len(scenario.events)
    # every event inside the measured window is drawn on the time series
    inside = [mark for mark in result.events if mark.start_s >= scenario.warmup_s]
    figure = timeseries_figure(result, "success_rate")
    markers = [
        artist
        for ax in figure.axes
        for artist in [*ax.lines, *ax.patches]
        if artist.get_gid() == "event"
    ]
    assert len(markers) >= len(inside)
    written = save_figures(result, tmp_path)
    assert {path.name for path in written} >= {"comparison.png", "server_heatmap.png"}
    for png in written:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
