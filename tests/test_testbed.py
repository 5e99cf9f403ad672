"""``authsim testbed`` end to end: a real HAProxy, real server processes, the model beside
them (simulator.testbed.runner, simulator.cli.testbed), and nothing left running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulator import load_scenario
from simulator.cli import INTERRUPTED_EXIT_CODE
from simulator.errors import AuthsimError
from simulator.testbed.compare import COMPARED, INSIDE, OFF, WITHIN
from simulator.testbed.costs import Scale
from simulator.testbed.runner import run_testbed

pytestmark = pytest.mark.slow

TINY = Scale(
    duration_s=8.0, warmup_s=2.0, max_users=40, max_rate_per_s=20.0, max_servers=2, login_ms=2.0
)
"""A run of a few seconds: enough for every part to start, serve and stop."""


def children(root: int | None = None) -> set[int]:
    """PIDs of the descendants of ``root`` (default: this process) still alive (from
    /proc)."""
    found: set[int] = set()
    parents = {os.getpid() if root is None else root}
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
    keys = [row.metric.key for row in item.rows]
    no_store = [metric.key for metric in COMPARED if not metric.key.startswith("store.")]
    assert keys[: len(no_store)] == no_store  # local has no store: no store row
    # no event: every forced re-login is a session on another server, on both sides
    assert keys[len(no_store) :] == ["forced_relogins_by_cause.wrong_server"]
    by_cause = item.real["forced_relogins_by_cause"]
    assert by_cause["wrong_server"] == item.real["forced_relogins"]
    assert item.model["forced_relogins_by_cause.wrong_server"].mean > 0
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
        "127.0.0.1" in line for line in config.splitlines() if line.strip().startswith("server ")
    )
    document = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert document["strategies"][0]["comparison"][0]["metric"] == "success_rate"


def test_cli_refusal_is_one_line_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    # (a missing haproxy takes the same path: tests/test_testbed_haproxy.py checks its hint)
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "testbed", "rolling-deploy", "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "cannot play 'rolling_restart'" in done.stderr
    assert not (tmp_path / "o").exists()


def test_a_crash_and_a_recovery_are_played_on_the_real_processes(tmp_path: Path) -> None:
    before = children()
    events = [
        {"kind": "server_crash", "at_s": 4.0, "server": 1},
        {"kind": "server_recover", "at_s": 8.0, "server": 1},
    ]
    scenario = load_scenario(
        "baseline",
        {
            "events": events,
            "duration_s": 14,
            "warmup_s": 2,
            "load_balancer.health_check_interval_s": 1,
        },
    )
    said: list[str] = []
    result = run_testbed(scenario, ["sticky"], TINY, tmp_path, replications=3, progress=said.append)
    assert children() == before
    assert any("at 4 s, crash server 1" in line for line in said)
    assert any("at 8 s, recover server 1" in line for line in said)
    (item,) = result.strategies
    # the users pinned to server 1 lost their sessions with it: real and model alike
    assert item.real["forced_relogins"] > 0
    assert item.model["forced_relogins"].mean > 0
    served_by = item.requests.loc[item.requests["arrival_s"] >= 9.5, "server"]
    assert (served_by == 1).any()  # back in rotation after its recovery
    # named as the model names it, and compared window by window
    assert item.real["forced_relogins_by_cause"]["session_lost"] > 0
    assert item.model["forced_relogins_by_cause.session_lost"].mean > 0
    labels = [row.metric.label for row in item.rows]
    assert "success, after crash server 1" in labels
    assert [window["label"] for window in item.real["windows"]] == [
        "before crash server 1",
        "after crash server 1",
        "after recover server 1",
    ]


def test_a_scale_out_starts_a_server_and_reloads_haproxy(tmp_path: Path) -> None:
    before = children()
    scenario = load_scenario(
        "baseline",
        {
            "events": [{"kind": "scale_out", "at_s": 5.0}],
            "duration_s": 12,
            "warmup_s": 2,
            "sticky.affinity": "ip_hash",
            "workload.users_per_ip": 1,
            "load_balancer.health_check_interval_s": 1,
        },
    )
    said: list[str] = []
    result = run_testbed(scenario, ["sticky"], TINY, tmp_path, replications=3, progress=said.append)
    assert children() == before
    assert any("at 5 s, scale out 2→3" in line for line in said)
    (item,) = result.strategies
    # the new server serves, and `balance source` over 3 servers moved users off their
    # old one (modulo: about 2 in 3), as the model's modulo hash does
    assert (item.requests.loc[item.requests["arrival_s"] >= 7, "server"] == 2).any()
    assert item.real["forced_relogins_by_cause"]["wrong_server"] > 0
    assert item.model["forced_relogins_by_cause.wrong_server"].mean > 0
    assert len(item.real["server_requests"]) == 3
    assert "server s2 127.0.0.1:" in (tmp_path / "sticky" / "haproxy.cfg").read_text()


def _gone(pid: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return f"pid {pid}"


def test_ctrl_c_stops_every_process_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "testbed", "--quick", "-s", "local", "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    seen: list[str] = []
    for line in process.stderr:
        seen.append(line)
        if "requests over" in line:  # the cluster is up and the load has begun
            break
    else:
        pytest.fail("the load never began:\n" + "".join(seen))
    # the command's own processes only: this test worker may hold others (a fixture's
    # redis-server, say) that are not the testbed's
    started = children(process.pid)
    assert len(started) >= 4  # three servers and HAProxy, at least
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == INTERRUPTED_EXIT_CODE, "".join(seen) + rest
    assert "Traceback" not in rest
    left = [pid for pid in started if not _gone(pid)]
    assert not left, [_command_line(pid) for pid in left]
    assert not out.exists()


def test_an_event_the_testbed_cannot_play_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    before = children()
    with pytest.raises(AuthsimError, match="cannot play 'rolling_restart'"):
        run_testbed(load_scenario("rolling-deploy"), ["jwt"], TINY, tmp_path)
    assert children() == before


def test_cli_writes_the_results_the_figure_and_the_configs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "simulator", "testbed", "--quick", "-s", "jwt", "-r", "2"]
    done = subprocess.run(
        [*command, "--json", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert [item["strategy"] for item in printed["strategies"]] == ["jwt"]
    compared = [row["metric"] for row in printed["strategies"][0]["comparison"]]
    assert "success_rate" in compared
    assert not [key for key in compared if key.startswith("store.")]  # jwt asks no store here
    names = sorted(path.name for path in out.iterdir())
    assert names == ["comparison.png", "haproxy-jwt.cfg", "requests-jwt.csv", "results.json"]
    assert json.loads((out / "results.json").read_text()) == printed
    assert (out / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
