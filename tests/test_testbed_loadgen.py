"""The testbed's load generator: the model's plan, loopback sources, and a run against a
fake server (HTTP contract of ``simulator.testbed.server``)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from simulator.model.rng import Streams
from simulator.model.run import RunInputs
from simulator.model.workload import Population
from simulator.scenario.loading import load_scenario
from simulator.testbed.loadgen import (
    LoadResult,
    Planned,
    loopback_address,
    plan_requests,
    run_load,
    run_load_sync,
    source_addresses,
)

# ----------------------------------------------------------------- the plan


@pytest.mark.parametrize("name", ["baseline", "traffic-spike"])
def test_plan_is_the_models_request_stream(name: str) -> None:
    scenario = load_scenario(name, {"duration_s": 60, "warmup_s": 5})
    inputs = RunInputs.build(scenario)
    expected: list[tuple[float, int, float]] = []
    now = 0.0
    for chunk in inputs.requests:
        for gap_s, user, service_s in zip(chunk.gaps_s, chunk.users, chunk.service_s, strict=True):
            now += gap_s
            expected.append((now, user, service_s * 1000.0))
    plan = plan_requests(scenario, Streams(scenario.seed))
    assert [(item.arrival_s, item.user, item.service_ms) for item in plan] == expected
    assert len(plan) > 1000
    assert all(0 <= item.arrival_s < 60 for item in plan)


def test_plan_duration_overrides_the_scenarios() -> None:
    scenario = load_scenario("traffic-spike", {"duration_s": 85})
    short = plan_requests(scenario, Streams(scenario.seed), duration_s=50.0)
    full = plan_requests(scenario, Streams(scenario.seed))
    assert short == full[: len(short)]
    assert short[-1].arrival_s < 50.0 <= full[len(short)].arrival_s
    rate_in_spike = sum(42 <= item.arrival_s < 57 for item in full) / 15
    rate_before = sum(20 <= item.arrival_s < 42 for item in full) / 22
    assert rate_in_spike > 2.3 * rate_before  # the spike triples the rate


# ----------------------------------------------------------- source addresses


def _population(users: int, per_ip: int) -> Population:
    scenario = load_scenario("baseline", {"workload.users": users, "workload.users_per_ip": per_ip})
    return Population.from_config(scenario.workload, Streams(scenario.seed))


def test_source_addresses_are_loopback_and_nat_users_share() -> None:
    population = _population(2000, 4)
    addresses = source_addresses(population)
    assert len(addresses) == 2000
    loopback = ipaddress.ip_network("127.0.0.0/8")
    assert all(ipaddress.ip_address(a) in loopback for a in addresses)
    assert "127.0.0.1" not in addresses
    by_ip: dict[int, set[str]] = {}
    for user, ip in enumerate(population.user_ip):
        by_ip.setdefault(int(ip), set()).add(addresses[user])
    assert all(len(shared) == 1 for shared in by_ip.values())  # one NAT, one address
    assert len(set(addresses)) == population.ips == 500
    counts = Counter(addresses)
    assert set(counts.values()) == {4}


def test_source_addresses_distinct_and_consecutive() -> None:
    addresses = source_addresses(_population(2000, 1))
    assert len(set(addresses)) == 2000
    numbers = sorted(int(ipaddress.ip_address(a)) for a in addresses)
    assert numbers == list(range(numbers[0], numbers[0] + 2000))
    assert loopback_address(0) == "127.1.0.0"
    assert loopback_address(255) == "127.1.0.255"
    assert loopback_address(256) == "127.1.1.0"
    assert loopback_address(65536) == "127.2.0.0"
    with pytest.raises(ValueError):
        loopback_address(-1)
    with pytest.raises(ValueError):
        loopback_address(255 * 65536)


def test_only_loopback_addresses() -> None:
    plan = [Planned(0.0, 0, 1.0)]
    with pytest.raises(ValueError, match="loopback"):
        run_load_sync(plan, host="10.0.0.1", port=80, addresses=["127.1.0.0"])
    with pytest.raises(ValueError, match="loopback"):
        run_load_sync(plan, host="127.0.0.1", port=80, addresses=["192.168.1.2"])
    with pytest.raises(ValueError, match="address"):
        run_load_sync(plan, host="127.0.0.1", port=80, addresses=[])


# ------------------------------------------------------------ a fake server


@dataclass
class FakeServer:
    """The servers' HTTP contract, behind one port. User 1's first credential is
    rejected (``session_lost``), user 2 is always refused (503 overload), user 3's
    credentials are always rejected (``revoked``), user 5 meets the balancer's own 503
    (HTML). ``/work`` takes ``work_s``; a login ``login_s``; ``hang`` never answers."""

    work_s: float = 0.05
    login_s: float = 0.08
    hang: bool = False
    logins: Counter[int] = field(default_factory=Counter)
    in_login: Counter[int] = field(default_factory=Counter)
    max_in_login: Counter[int] = field(default_factory=Counter)
    peers: dict[int, set[str]] = field(default_factory=dict)
    cookies_seen: list[tuple[int, str]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ")
            headers = {}
            for line in head[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if self.hang:
                await asyncio.sleep(3600)
            status, payload, extra = await self.answer(method, path, headers, body, writer)
            content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            kind = "text/html" if isinstance(payload, bytes) else "application/json"
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(content)}\r\n{extra}Connection: close\r\n\r\n".encode()
                + content
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def answer(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        writer: asyncio.StreamWriter,
    ) -> tuple[int, Any, str]:
        if method == "POST" and path == "/login":
            user = int(json.loads(body)["user"])
        else:
            user = int(headers["x-user"])
        self.peers.setdefault(user, set()).add(writer.get_extra_info("peername")[0])
        server = user % 3
        if user == 5:
            return 503, b"<html>503 Service Unavailable</html>", ""
        if method == "POST" and path == "/login":
            self.in_login[user] += 1
            self.max_in_login[user] = max(self.max_in_login[user], self.in_login[user])
            await asyncio.sleep(self.login_s)
            self.in_login[user] -= 1
            self.logins[user] += 1
            credential = f"c{user}-{self.logins[user]}"
            answer = {"server": server, "credential": credential, "auth_ms": 7.0}
            return 200, answer | {"queued_ms": 0.0, "work_ms": 0.0}, f"Set-Cookie: S=s{server}\r\n"
        assert path == "/work"
        self.cookies_seen.append((user, headers.get("cookie", "")))
        await asyncio.sleep(self.work_s)
        credential = headers["authorization"].removeprefix("Bearer ")
        if user == 2:
            return 503, {"server": server, "error": "overload"}, ""
        if user == 3 or (user == 1 and credential == "c1-1"):
            reason = "revoked" if user == 3 else "session_lost"
            return 401, {"server": server, "error": "unauthorized", "reason": reason}, ""
        service_ms = float(headers["x-service-ms"])
        answer = {"server": server, "queued_ms": 0.5, "auth_ms": 0.25, "work_ms": service_ms}
        return 200, answer, ""


async def _serve_and_load(fake: FakeServer, plan: list[Planned], **options: Any) -> LoadResult:
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await run_load(plan, host="127.0.0.1", port=port, **options)
    finally:
        server.close()


ADDRESSES = [loopback_address(user) for user in range(7)]


@pytest.mark.slow
def test_end_to_end_against_a_fake_server() -> None:
    plan = [Planned(0.0, 1, 3.0), Planned(0.01, 1, 3.0)]  # user 1: both rejected at once
    plan += [Planned(0.02 + 0.02 * i, i % 7, 2.0) for i in range(35)]
    plan.sort(key=lambda item: item.arrival_s)
    fake = FakeServer()
    fractions: list[float] = []
    result = asyncio.run(
        _serve_and_load(
            fake,
            plan,
            addresses=ADDRESSES,
            logged_in_at_start=True,
            timeout_s=2.0,
            max_in_flight=64,
            progress=fractions.append,
        )
    )
    frame = result.to_frame()
    assert len(result.rows) == len(plan)
    assert [row.arrival_s for row in result.rows] == [item.arrival_s for item in plan]
    by_user = {user: frame[frame["user"] == user] for user in range(7)}
    assert set(by_user[0]["outcome"]) == {"ok"}
    assert set(by_user[2]["outcome"]) == {"overload"}
    assert set(by_user[3]["outcome"]) == {"unauthorized"}
    assert set(by_user[5]["outcome"]) == {"server_down"}
    assert (by_user[5]["server"] == -1).all()
    # user 1: both early requests rejected, one login, both retried and served
    first_two = by_user[1].iloc[:2]
    assert list(first_two["outcome"]) == ["relogin", "relogin"]
    assert list(first_two["relogin_cause"]) == ["session_lost", "session_lost"]
    later = by_user[1][by_user[1]["arrival_s"] > 0.3]  # sent once the new login was done
    assert len(later) > 2 and set(later["outcome"]) == {"ok"}
    assert fake.logins[1] == 2  # the initial login and one forced one
    assert max(fake.max_in_login.values()) == 1  # one login at a time per user
    waited = first_two.iloc[1]["client_ms"]
    assert waited > 20  # the second waited for the first's login ...
    assert first_two.iloc[0]["client_ms"] == 0
    # ... and that wait is left out of its latency: 401 (50) + retry (50), not + login
    assert 100 <= first_two.iloc[1]["latency_ms"] < 100 + fake.login_s * 1000 - 10
    assert 100 + fake.login_s * 1000 <= first_two.iloc[0]["latency_ms"]
    served = frame[frame["outcome"].isin(["ok", "relogin"])]
    assert (served["latency_ms"] >= 50).all()  # from the schedule, with the 50 ms of work
    assert (served["latency_ms"] < 1000).all()
    service = {index: item.service_ms for index, item in enumerate(plan)}
    assert all(served["work_ms"] == [service[index] for index in served.index])
    assert served["server"].tolist() == (served["user"] % 3).tolist()
    assert list(by_user[1]["jobs"].iloc[0]) == [1, 1, 1]  # 401, login, retry
    assert by_user[1]["logins"].sum() == 1
    assert by_user[3]["forced_relogin"].all() and by_user[3]["logins"].sum() >= 1
    assert result.logins == int(frame["logins"].sum())
    assert result.initial_logins == 7 and result.initial_login_failures == 1  # user 5
    # every user was seen from its own loopback address, and sent its cookie back
    assert fake.peers == {user: {ADDRESSES[user]} for user in range(7)}
    assert all(cookie == f"S=s{user % 3}" for user, cookie in fake.cookies_seen if user != 5)
    assert result.lag_max_ms < 1000
    assert fractions[-1] == 1.0


@pytest.mark.slow
def test_first_login_when_not_logged_in_at_start() -> None:
    plan = [Planned(0.0, 0, 1.0), Planned(0.005, 0, 1.0), Planned(0.01, 4, 1.0)]
    fake = FakeServer(work_s=0.0, login_s=0.05)
    result = asyncio.run(
        _serve_and_load(fake, plan, addresses=ADDRESSES, logged_in_at_start=False, timeout_s=2.0)
    )
    assert [row.outcome for row in result.rows] == ["ok", "ok", "ok"]
    assert [row.forced_relogin for row in result.rows] == [False, False, False]
    assert fake.logins == Counter({0: 1, 4: 1})  # user 0 logged in once for both
    assert result.rows[1].client_ms > 30
    assert result.rows[0].latency_ms >= 50  # its own login is the system's time
    assert result.logins == 2 and result.initial_logins == 0


@pytest.mark.slow
def test_a_hanging_server_gives_timeouts_within_the_bound() -> None:
    plan = [Planned(0.01 * i, i % 3, 1.0) for i in range(20)]
    fake = FakeServer(hang=True)
    started = time.perf_counter()
    result = asyncio.run(
        _serve_and_load(fake, plan, addresses=ADDRESSES, logged_in_at_start=False, timeout_s=0.3)
    )
    elapsed = time.perf_counter() - started
    assert elapsed < plan[-1].arrival_s + 2 * 0.3 + 0.5
    assert [row.outcome for row in result.rows] == ["timeout"] * 20
    assert all(row.server == -1 for row in result.rows)
    assert all(not math.isnan(row.latency_ms) for row in result.rows)


@pytest.mark.slow
def test_lag_at_200_requests_per_second() -> None:
    generator = np.random.default_rng(7)
    times = np.cumsum(generator.exponential(1 / 200, 600))
    plan = [Planned(float(t), (0, 4, 6)[i % 3], 1.0) for i, t in enumerate(times)]
    fake = FakeServer(work_s=0.002)
    result = asyncio.run(
        _serve_and_load(fake, plan, addresses=ADDRESSES, logged_in_at_start=True, timeout_s=2.0)
    )
    assert {row.outcome for row in result.rows} == {"ok"}
    print(f"lag p99 {result.lag_p99_ms:.2f} ms, max {result.lag_max_ms:.2f} ms")
    assert result.lag_p99_ms < 50


def test_run_load_sync_works_where_an_event_loop_already_runs() -> None:
    # a Jupyter kernel runs a loop in the notebook's thread; asyncio.run would refuse
    async def in_a_running_loop() -> int:
        result = run_load_sync([], host="127.0.0.1", port=9, addresses=[])
        return len(result.rows)

    assert asyncio.run(in_a_running_loop()) == 0
