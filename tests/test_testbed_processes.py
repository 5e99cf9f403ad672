"""The testbed's process handling: readiness by line and by callable, early exit and
timeout as one-line errors, nothing left running, kill and restart, and the real parts
(redis-server, HAProxy in front of two tiny HTTP servers, a soft reload)."""

from __future__ import annotations

import os
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from simulator.scenario.models import Scenario
from simulator.testbed.config import HaproxyFiles
from simulator.testbed.haproxy import haproxy_config
from simulator.testbed.processes import (
    Processes,
    TestbedError,
    find_binary,
    free_port,
    port_accepts,
    redis_answers_ping,
    reload_haproxy,
    start_haproxy,
    start_redis,
)

pytestmark = pytest.mark.slow

TINY_SERVER = """
import http.server, sys
name, port = sys.argv[1], int(sys.argv[2])
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", port), Handler)
print("ready", port)
server.serve_forever()
"""
"""A child HTTP server answering every GET with its name; prints ``ready <port>``."""

FORKING = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print("ready", child.pid)
time.sleep(60)
"""
"""A child that forks a grandchild (same process group) and prints its pid."""


def tiny_server(name: str, port: int) -> list[str]:
    return [sys.executable, "-c", TINY_SERVER, name, str(port)]


def get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        return str(response.read().decode())


def gone(pid: int, within_s: float = 3.0) -> bool:
    """Has ``pid`` stopped running within ``within_s``: no such process, or a zombie
    waiting for a parent that is not ours (an orphan waits for PID 1 to reap it)?"""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        status = Path(f"/proc/{pid}/status")
        if status.exists() and "\nState:\tZ" in status.read_text():
            return True
        time.sleep(0.02)
    return False


def test_ready_by_line(tmp_path: Path) -> None:
    port = free_port()
    with Processes(tmp_path) as processes:
        process = processes.start("a", tiny_server("a", port), ready="ready", timeout_s=10)
        assert get(port) == "a"
        assert processes.pids() == {"a": process.pid}
        assert processes.alive("a")
    assert (tmp_path / "a.stdout.log").read_text().strip() == f"ready {port}"
    assert gone(process.pid)


def test_ready_by_callable(tmp_path: Path) -> None:
    port = free_port()
    with Processes(tmp_path) as processes:
        processes.start("b", tiny_server("b", port), ready=lambda: port_accepts(port), timeout_s=10)
        assert get(port) == "b"


def test_early_exit_names_the_process_and_its_last_line(tmp_path: Path) -> None:
    script = (
        "import sys; print('loading'); print('bad config: no port', file=sys.stderr); sys.exit(3)"
    )
    with Processes(tmp_path) as processes:
        with pytest.raises(TestbedError) as caught:
            processes.start("server-0", [sys.executable, "-c", script], ready="ready", timeout_s=10)
        assert processes.pids() == {}
    message = str(caught.value)
    assert message == "server-0 exited with status 3 before it was ready: bad config: no port"


def test_timeout_stops_the_process(tmp_path: Path) -> None:
    script = "import time; print('still starting'); time.sleep(60)"
    with Processes(tmp_path) as processes:
        started = time.monotonic()
        with pytest.raises(TestbedError, match=r"slow was not ready within 0.5 s: still starting"):
            processes.start("slow", [sys.executable, "-c", script], ready="ready", timeout_s=0.5)
        assert time.monotonic() - started < 5
        assert processes.pids() == {}
        assert not processes.alive("slow")


def test_stop_all_leaves_no_process_not_even_a_grandchild(tmp_path: Path) -> None:
    processes = Processes(tmp_path, stop_timeout_s=2)
    processes.start("fork", [sys.executable, "-c", FORKING], ready="ready", timeout_s=10)
    processes.start("a", tiny_server("a", free_port()), ready="ready", timeout_s=10)
    grandchild = int((tmp_path / "fork.stdout.log").read_text().split()[1])
    pids = [*processes.pids().values(), grandchild]
    assert len(pids) == 3
    processes.stop_all()
    assert processes.pids() == {}
    assert all(gone(pid) for pid in pids)


def test_an_exception_in_the_block_stops_everything(tmp_path: Path) -> None:
    pids: dict[str, int] = {}
    with pytest.raises(RuntimeError, match="boom"), Processes(tmp_path) as processes:
        processes.start("a", tiny_server("a", free_port()), ready="ready", timeout_s=10)
        processes.start("b", tiny_server("b", free_port()), ready="ready", timeout_s=10)
        pids = processes.pids()
        raise RuntimeError("boom")
    assert len(pids) == 2
    assert all(gone(pid) for pid in pids.values())


def test_a_keyboard_interrupt_stops_everything(tmp_path: Path) -> None:
    pids: dict[str, int] = {}
    with pytest.raises(KeyboardInterrupt), Processes(tmp_path) as processes:
        processes.start("a", tiny_server("a", free_port()), ready="ready", timeout_s=10)
        pids = processes.pids()
        raise KeyboardInterrupt
    assert all(gone(pid) for pid in pids.values())


def test_kill_then_restart(tmp_path: Path) -> None:
    port = free_port()
    with Processes(tmp_path) as processes:
        first = processes.start("a", tiny_server("a", port), ready="ready", timeout_s=10)
        processes.kill("a")
        assert not processes.alive("a")
        assert processes.pids() == {}
        assert gone(first.pid)
        assert not port_accepts(port)
        second = processes.restart("a")
        assert second.pid != first.pid
        assert processes.alive("a")
        assert get(port) == "a"
        # the restart waited for a new ready line, not the first one in the log
        assert (tmp_path / "a.stdout.log").read_text().split() == ["ready", str(port)] * 2
        processes.stop("a")
        assert not processes.alive("a")
        assert gone(second.pid)


def test_restart_needs_a_start_and_names_are_unique(tmp_path: Path) -> None:
    with Processes(tmp_path) as processes:
        with pytest.raises(TestbedError, match="never started"):
            processes.restart("nobody")
        processes.start("a", tiny_server("a", free_port()), ready="ready", timeout_s=10)
        with pytest.raises(TestbedError, match="already running"):
            processes.start("a", tiny_server("a", free_port()), ready="ready", timeout_s=10)


def test_redis_starts_answers_ping_and_stops(tmp_path: Path) -> None:
    port = free_port()
    with Processes(tmp_path / "logs") as processes:
        url = start_redis(processes, port, tmp_path / "redis")
        assert url == f"redis://127.0.0.1:{port}/0"
        assert redis_answers_ping(port)
        pid = processes.pids()["redis"]
        processes.stop("redis")
        assert not redis_answers_ping(port)
    assert gone(pid)
    assert not list((tmp_path / "redis").glob("*.rdb"))


def write_config(path: Path, ports: list[int], frontend: int) -> Path:
    scenario = Scenario.model_validate({"load_balancer": {"health_check_interval_s": 0.2}})
    servers = [("127.0.0.1", port) for port in ports]
    path.write_text(haproxy_config(scenario, servers, frontend, strategy="local"), "utf-8")
    return path


def test_haproxy_routes_round_robin_reloads_and_stops(tmp_path: Path) -> None:
    haproxy = find_binary("haproxy", "haproxy")  # missing: fail, not skip
    ports = [free_port(), free_port()]
    frontend = free_port()
    with Processes(tmp_path) as processes:
        for name, port in zip("ab", ports, strict=True):
            processes.start(name, tiny_server(name, port), ready="ready", timeout_s=10)
        config = write_config(tmp_path / "haproxy.cfg", ports, frontend)
        old = start_haproxy(processes, haproxy, config)
        assert {get(frontend), get(frontend)} == {"a", "b"}

        only_b = write_config(tmp_path / "haproxy-b.cfg", ports[1:], frontend)
        new = reload_haproxy(processes, haproxy, only_b)
        assert new.pid != old.pid
        assert old.returncode is not None  # the old one finished and exited
        assert processes.pids()["haproxy"] == new.pid
        assert [get(frontend) for _ in range(4)] == ["b"] * 4
        processes.stop("haproxy")
        assert not port_accepts(frontend)
    assert gone(new.pid)
    assert gone(old.pid)


def test_a_failed_reload_keeps_the_old_haproxy(tmp_path: Path) -> None:
    haproxy = find_binary("haproxy", "haproxy")
    port, frontend = free_port(), free_port()
    with Processes(tmp_path) as processes:
        processes.start("a", tiny_server("a", port), ready="ready", timeout_s=10)
        old = start_haproxy(processes, haproxy, write_config(tmp_path / "ok.cfg", [port], frontend))
        bad = tmp_path / "bad.cfg"
        bad.write_text(
            (tmp_path / "ok.cfg").read_text().replace("balance roundrobin", "balance bogus")
        )
        with pytest.raises(TestbedError, match=r"haproxy exited with status \d+ .*ALERT"):
            reload_haproxy(processes, haproxy, bad)
        assert processes.pids()["haproxy"] == old.pid
        assert get(frontend) == "a"


def test_a_seamless_reload_keeps_a_dead_server_down_and_adds_the_new_one(
    tmp_path: Path,
) -> None:
    haproxy = find_binary("haproxy", "haproxy")
    ports = [free_port(), free_port(), free_port()]
    frontend = free_port()
    files = HaproxyFiles(tmp_path / "haproxy.cfg", tmp_path / "admin.sock", tmp_path / "state")
    scenario = Scenario.model_validate({"load_balancer": {"health_check_interval_s": 0.2}})

    def configure(count: int) -> None:
        servers = [("127.0.0.1", port) for port in ports[:count]]
        text = haproxy_config(scenario, servers, frontend, strategy="local", files=files)
        files.config.write_text(text, "utf-8")

    with Processes(tmp_path / "logs") as processes:
        for name, port in zip("abc", ports, strict=True):
            processes.start(name, tiny_server(name, port), ready="ready", timeout_s=10)
        configure(2)
        start_haproxy(processes, haproxy, files.config)
        processes.kill("b")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _answers(frontend, 4) != ["a"] * 4:
            time.sleep(0.05)  # until HAProxy's health check marks b down
        configure(3)  # scale out: c joins
        reload_haproxy(processes, haproxy, files)
        # the new process starts knowing b is down: not one request fails or reaches it
        answers = [get(frontend) for _ in range(6)]
        assert set(answers) == {"a", "c"}
        assert "s1" in files.state_file.read_text()  # the saved state named the servers


def _answers(port: int, count: int) -> list[str]:
    """``count`` answers in a row, or none once one fails."""
    try:
        return [get(port) for _ in range(count)]
    except OSError:
        return []
