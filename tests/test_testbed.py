"""``authsim testbed`` end to end: a real HAProxy, real server processes, the model beside
them (simulator.testbed.runner, simulator.cli.testbed), and nothing left running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import load_scenario
from simulator.errors import AuthsimError
from simulator.testbed.compare import COMPARED, INSIDE, OFF, WITHIN
from simulator.testbed.costs import Scale
from simulator.testbed.runner import run_testbed

pytestmark = pytest.mark.slow

TINY = Scale(
    duration_s=8.0, warmup_s=2.0, max_users=40, max_rate_per_s=20.0, max_servers=2, login_ms=2.0
)
"""A run of a few seconds: enough for every part to start, serve and stop."""


def children() -> set[int]:
    """PIDs of this process's descendants still alive (from /proc)."""
    found: set[int] = set()
    parents = {os.getpid()}
    changed = True
    while changed:
        changed = False
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in found:
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            state, parent = fields[0], int(fields[1])
            if parent in parents and state != "Z":
                found.add(int(entry.name))
                parents.add(int(entry.name))
                changed = True
    return found


def test_one_strategy_runs_on_a_real_cluster_and_stops_every_process(tmp_path: Path) -> None:
    before = children()
    result = run_testbed(
        load_scenario("baseline"), ["local"], TINY, tmp_path, replications=3, progress=None
    )
    assert children() == before  # every server, HAProxy and redis-server stopped
    (item,) = result.strategies
    assert item.strategy == "local"
    assert [row.metric.key for row in item.rows] == [metric.key for metric in COMPARED]
    assert {row.verdict for row in item.rows} <= {INSIDE, WITHIN, OFF}
    assert item.real["requests"] == len(item.requests[item.requests["arrival_s"] >= 2.0])
    assert item.real["requests"] > 50
    # local under round robin over 2 servers: about half the checks find the session
    assert 0.2 < item.real["success_rate"] < 0.8
    assert item.real["forced_relogins"] > 0
    assert item.costs.login_ms > 0 and item.costs.overhead_mean_ms > 0
    config = (tmp_path / "local" / "haproxy.cfg").read_text()
    assert "balance roundrobin" in config
    assert all(
        "127.0.0.1" in line for line in config.splitlines() if line.strip().startswith("server")
    )
    document = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert document["strategies"][0]["comparison"][0]["metric"] == "success_rate"


def test_a_scenario_with_fault_events_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(AuthsimError, match="does not play fault events yet"):
        run_testbed(load_scenario("server-crash"), ["jwt"], TINY, tmp_path)


def test_cli_refusal_is_one_line_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    # (a missing haproxy takes the same path: tests/test_testbed_haproxy.py checks its hint)
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "testbed", "server-crash", "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "does not play fault events yet" in done.stderr
    assert not (tmp_path / "o").exists()
