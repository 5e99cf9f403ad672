"""The fleet sampler (simulator.model.sampling) reads only servers that changed: its
per-bucket sums and last values must be exactly those of reading every server at every
sample, as the sampler did before, through crashes, scale-outs, drains and deploys."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
import simpy

from simulator import load_scenario
from simulator.model.run import RunInputs, StrategyRun
from simulator.results.timeseries import SAMPLES_PER_BUCKET, ServerSampler


def read_everything(run: StrategyRun, sampler: ServerSampler) -> Generator[simpy.Event, Any, None]:
    """The old sampler: every server read at every sample."""
    env, servers, view = run.env, run.servers, run.fleet.view
    step_s = sampler.buckets.width_s / SAMPLES_PER_BUCKET
    yield env.timeout(sampler.buckets.start_s + step_s / 2 - env.now)
    while env.now < sampler.buckets.end_s:
        queues = [len(server.queue) for server in servers]
        sampler.sample(
            env.now,
            queues,
            [server.up for server in servers],
            [server.in_system - queued for server, queued in zip(servers, queues, strict=True)],
            [len(server.sessions) for server in servers],
            [server.state for server in servers],
            [view.is_live(server.index) for server in servers],
        )
        yield env.timeout(step_s)


@pytest.mark.parametrize(
    ("scenario", "strategy", "overrides"),
    [
        ("server-crash", "sticky", {"duration_s": 90}),
        ("server-crash", "local", {"duration_s": 90}),
        ("scale-out-modulo", "sticky", {}),
        ("rolling-deploy", "sticky", {}),
        ("baseline", "jwt", {"duration_s": 30, "warmup_s": 5, "cluster.servers": 40}),
        # a large, lightly loaded fleet: most servers are back where they were at a sample
        ("baseline", "jwt", {"duration_s": 20, "warmup_s": 2, "cluster.servers": 600}),
        ("baseline", "sticky", {"duration_s": 20, "warmup_s": 2, "cluster.servers": 300}),
    ],
)
def test_the_fleet_sampler_equals_reading_every_server(
    scenario: str, strategy: str, overrides: dict[str, Any]
) -> None:
    loaded = load_scenario(scenario, overrides)
    run = StrategyRun(RunInputs.build(loaded), strategy, record_requests=False)
    naive = ServerSampler(run.recorder.buckets)
    run.env.process(read_everything(run, naive))
    run.run()
    lazy = run.recorder.sampler
    assert sum(lazy.samples) > 0
    assert lazy.samples == naive.samples
    assert lazy.queue_sums == naive.queue_sums
    assert lazy.up_sums == naive.up_sums
    assert lazy.busy_sums == naive.busy_sums
    assert lazy.last_sessions == naive.last_sessions
    assert lazy.last_state == naive.last_state
    assert lazy.last_routed == naive.last_routed
