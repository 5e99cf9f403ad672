"""The testbed's open-loop load generator: the model's own requests, sent for real.

:func:`plan_requests` replays the model's request stream (the same arrivals, users and
service times as :mod:`simulator.model.run`, from the same named random streams);
:func:`run_load` sends each planned request at its scheduled time, whatever happened to
the earlier ones (open loop), as raw HTTP/1.1 over :func:`asyncio.open_connection`, from
the user's own loopback source address (:func:`source_addresses`), and records one
:class:`Row` per planned request.

A client behaves as the model's: it keeps its credential and cookies; a rejected
credential (401) forces a login (``POST /login``) and one retry; a user logs in once at a
time, and its other requests wait for that login (the wait is the person's time, not the
system's: it is left out of their latency, as in the model).

Connections: one fresh connection per HTTP exchange (``Connection: close``). Measured
on loopback with asyncio at both ends in one process, an exchange on a fresh connection
costs about 0.6 ms of CPU against 0.08 ms kept alive: about 0.5 ms more, of which the
client's share (connect, bind, close) is about half. That is small beside service times
of milliseconds and affordable up to several hundred requests per second on one core,
and it keeps every exchange independent: no stale kept-alive connection mistaken for a
server that is down (an ambiguous reset), and the balancer routes every exchange afresh
(``balance source`` sees the user's address on each connection), as the model routes
every job. Above about 1,000 requests per second the generator falls behind, and says so
(:attr:`LoadResult.warning`).

Only loopback addresses (127.0.0.0/8) are ever used, as destination and as source.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simulator.model.rng import Streams
from simulator.model.workload import ArrivalRate, Population, RequestStream
from simulator.scenario.events import TrafficSpike
from simulator.scenario.models import Scenario

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
FIRST_SOURCE = int(ipaddress.ip_address("127.1.0.0"))
"""Source address of client IP 0; client IP ``k`` is ``127.1.0.0 + k`` (127.0.0.0/16,
with 127.0.0.1, is left to the servers)."""
MAX_CLIENT_IPS = int(ipaddress.ip_address("127.255.255.254")) - FIRST_SOURCE + 1
"""Client IPs that fit below 127.255.255.255 (the loopback broadcast address)."""
LOGIN_CONCURRENCY = 16
"""Logins at once while logging every user in before the clock starts."""
MAX_BODY_BYTES = 1 << 20
"""Largest response body read, bytes."""
LAG_P99_WARN_MS = 5.0
LAG_MAX_WARN_MS = 50.0
DISPATCH_LEAD_S = 0.002
"""A request's task is created this long before its scheduled time, seconds."""


@dataclass(frozen=True)
class Planned:
    """One request to send.

    Attributes:
        arrival_s: scheduled send time, seconds after the start of the run.
        user: user index.
        service_ms: business work the server must do for it, ms.
    """

    arrival_s: float
    user: int
    service_ms: float


def plan_requests(
    scenario: Scenario, streams: Streams, duration_s: float | None = None
) -> list[Planned]:
    """The model's requests of one run, built as :meth:`RunInputs.build` builds them
    (traffic spikes included), arrivals up to ``duration_s`` (default: the scenario's)."""
    population = Population.from_config(scenario.workload, streams)
    spikes = [event for event in scenario.events if isinstance(event, TrafficSpike)]
    rate = ArrivalRate(scenario.workload.arrival_rate_per_s, scenario.workload.rate_profile, spikes)
    end_s = scenario.duration_s if duration_s is None else duration_s
    stream = RequestStream(rate, scenario.cluster.service_time_ms, population, streams, end_s)
    plan: list[Planned] = []
    now = 0.0
    for chunk in stream:
        for gap_s, user, service_s in zip(chunk.gaps_s, chunk.users, chunk.service_s, strict=True):
            now += gap_s  # summed one gap at a time, as the model's clock advances
            plan.append(Planned(now, user, service_s * 1000.0))
    return plan


def loopback_address(ip_index: int) -> str:
    """The source address of client IP ``ip_index``: ``127.1.0.0 + ip_index``.

    Consecutive client IPs get consecutive addresses (127.1.0.255 is followed by
    127.1.1.0), as the model's ``consecutive`` layout (10.0.0.0 + index) does.

    Raises:
        ValueError: an index below 0 or beyond :data:`MAX_CLIENT_IPS`.
    """
    if not 0 <= ip_index < MAX_CLIENT_IPS:
        raise ValueError(f"client IP index {ip_index} outside 0..{MAX_CLIENT_IPS - 1}")
    return str(ipaddress.ip_address(FIRST_SOURCE + ip_index))


def source_addresses(population: Population) -> list[str]:
    """Each user's source address: that of its client IP (users behind one NAT share it)."""
    by_ip = [loopback_address(ip) for ip in range(population.ips)]
    return [by_ip[int(ip)] for ip in population.user_ip]


def check_loopback(address: str) -> None:
    """Raise ``ValueError`` unless ``address`` is an IPv4 address in 127.0.0.0/8."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError as error:
        raise ValueError(f"{address!r} is not an IP address (only 127.0.0.0/8)") from error
    if parsed not in LOOPBACK:
        raise ValueError(f"{address} is not a loopback address (only 127.0.0.0/8)")


@dataclass
class Row:
    """The final result of one planned request.

    Attributes:
        arrival_s: scheduled arrival, seconds after the start.
        user: user index.
        server: server of the final answer (-1: none).
        outcome: an outcome name (``ok``, ``relogin``, ``unauthorized``, ``server_down``,
            ``overload``, ``store_unavailable``, ``timeout``).
        latency_ms: scheduled arrival to final answer, less ``client_ms``, ms.
        forced_relogin: a credential of the request was rejected (a login was forced).
        relogin_cause: the rejection's reason as the server gave it (``no_session``,
            ``expired``, ``invalid``), or ``None``; see
            :func:`simulator.testbed.measure.model_causes` for the model's cause.
        credential_server: the server that issued the rejected credential (-1: none).
        credential_s: when that credential was issued, seconds after the start
            (``-inf``: before the clock started; NaN: no rejection).
        rejected_by: the server that rejected it (-1: none).
        queued_ms, auth_ms, work_ms: what the final answer reports, ms (NaN: none).
        lag_ms: how late the first send started after the schedule, ms.
        client_ms: time waiting for the user's login run by another request, ms.
        logins: logins this request performed.
        jobs: the server of every answer it got (request, login, retry), in order.
    """

    arrival_s: float
    user: int
    server: int = -1
    outcome: str = "timeout"
    latency_ms: float = math.nan
    forced_relogin: bool = False
    relogin_cause: str | None = None
    credential_server: int = -1
    credential_s: float = math.nan
    rejected_by: int = -1
    queued_ms: float = math.nan
    auth_ms: float = math.nan
    work_ms: float = math.nan
    lag_ms: float = math.nan
    client_ms: float = 0.0
    logins: int = 0
    jobs: list[int] = field(default_factory=list)


@dataclass
class LoadResult:
    """What one run of the load generator measured.

    Attributes:
        rows: one per planned request, in plan order.
        logins: logins during the run (by the planned requests).
        login_auth_ms: the server-reported ``auth_ms`` of each of those logins, ms.
        initial_logins: users logged in before the clock started.
        initial_login_failures: of those, the logins that failed.
        lag_p99_ms, lag_max_ms: how late sends started after their schedule, ms.
        warning: set when the generator fell behind its schedule.
    """

    rows: list[Row]
    logins: int = 0
    login_auth_ms: list[float] = field(default_factory=list)
    initial_logins: int = 0
    initial_login_failures: int = 0
    lag_p99_ms: float = 0.0
    lag_max_ms: float = 0.0
    warning: str | None = None

    def to_frame(self) -> pd.DataFrame:
        """The rows as a table (columns: the :class:`Row` fields)."""
        columns = list(Row.__dataclass_fields__)
        return pd.DataFrame([asdict(row) for row in self.rows], columns=columns)


@dataclass
class _Answer:
    status: int
    server: int
    body: dict[str, Any] | None


class _Client:
    """A user's browser: its credential, cookies and login in progress."""

    __slots__ = ("address", "cookies", "credential", "issued_by", "issued_s", "login")

    def __init__(self, address: str) -> None:
        self.address = address
        self.credential: str | None = None
        self.issued_by = -1  # the server that answered the login
        self.issued_s = -math.inf  # when, seconds after the plan's start
        self.cookies: dict[str, str] = {}
        self.login: asyncio.Future[None] | None = None


async def _exchange(
    host: str,
    port: int,
    client: _Client,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes = b"",
) -> _Answer:
    """One HTTP/1.1 exchange on a fresh connection from the client's address; stores the
    cookies the answer sets. Connection errors propagate (``OSError``...)."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(client.address, 0))
    try:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if client.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in client.cookies.items()))
        if body or method == "POST":
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        length: int | None = None
        chunked = False
        for line in head[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _, cookie = pair.partition("=")
                client.cookies[key.strip()] = cookie.strip()
        if chunked:
            content = b""
            while len(content) <= MAX_BODY_BYTES:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    break
                content += await reader.readexactly(size + 2)
                content = content[:-2]
        elif length is not None:
            content = await reader.readexactly(min(length, MAX_BODY_BYTES))
        else:
            content = await reader.read(MAX_BODY_BYTES)
    finally:
        writer.close()
    parsed: dict[str, Any] | None = None
    try:
        value = json.loads(content)
        if isinstance(value, dict):
            parsed = value
    except ValueError:
        pass
    server = parsed.get("server", -1) if parsed else -1
    return _Answer(status, server if isinstance(server, int) else -1, parsed)


def _error_outcome(answer: _Answer) -> str:
    """The outcome of an answer that is neither a success nor a 401."""
    error = answer.body.get("error") if answer.body else None
    if answer.status == 503 and error in ("overload", "store_unavailable"):
        return str(error)
    return "server_down"  # the balancer's own 503 (no server up), 502, 504, anything else


class _Run:
    """The state of one :func:`run_load`."""

    def __init__(self, host: str, port: int, timeout_s: float, max_in_flight: int) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.slots = asyncio.Semaphore(max_in_flight)
        self.logins = 0
        self.login_auth_ms: list[float] = []
        self.start: float | None = None  # the plan's time 0, on the loop's clock

    async def call(
        self,
        client: _Client,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        left_s: float,
    ) -> _Answer | str:
        """An exchange within ``left_s`` seconds: the answer, or an outcome name."""
        if left_s <= 0:
            return "timeout"
        try:
            return await asyncio.wait_for(
                _exchange(self.host, self.port, client, method, path, headers, body), left_s
            )
        except TimeoutError:
            return "timeout"
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
            IndexError,
        ):
            return "server_down"  # refused, reset, or a garbled answer

    async def log_in(
        self, client: _Client, user: int, left_s: float, row: Row | None
    ) -> str | None:
        """Log ``client`` in (the only login of this user in flight); ``None`` on success,
        else the outcome of the failed login."""
        pending: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        client.login = pending
        try:
            body = json.dumps({"user": user}).encode()
            answer = await self.call(client, "POST", "/login", {}, body, left_s)
            if isinstance(answer, str):
                return answer
            if row is not None:
                row.jobs.append(answer.server)
                row.server = answer.server
            if answer.status == 200 and answer.body and "credential" in answer.body:
                client.credential = str(answer.body["credential"])
                client.issued_by = answer.server
                loop_now = asyncio.get_running_loop().time()
                client.issued_s = -math.inf if self.start is None else loop_now - self.start
                if row is not None:
                    row.logins += 1
                    self.logins += 1
                    self.login_auth_ms.append(float(answer.body.get("auth_ms", math.nan)))
                return None
            client.credential = None
            return "unauthorized" if answer.status == 401 else _error_outcome(answer)
        finally:
            pending.set_result(None)
            client.login = None

    async def request(self, planned: Planned, client: _Client, start: float, row: Row) -> None:
        """Send one planned request at its time and fill its row."""
        loop = asyncio.get_running_loop()
        scheduled = start + planned.arrival_s
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        async with self.slots:
            row.lag_ms = (loop.time() - scheduled) * 1000.0
            waited = 0.0  # seconds spent waiting for another request's login

            def left_s() -> float:
                return self.timeout_s - (loop.time() - scheduled - waited)

            async def wait_login() -> None:
                nonlocal waited
                while client.login is not None:
                    since = loop.time()
                    await asyncio.shield(client.login)
                    waited += loop.time() - since

            headers = {"X-User": str(planned.user), "X-Service-Ms": repr(planned.service_ms)}
            retried = False
            outcome: str | None = None
            for _ in range(5):  # at most: a login, a request, a forced login, a retry
                await wait_login()
                if client.credential is None:
                    failed = await self.log_in(client, planned.user, left_s(), row)
                    if failed is not None:
                        outcome = failed
                        break
                    continue
                headers["Authorization"] = f"Bearer {client.credential}"
                issued = (client.issued_by, client.issued_s)  # of the credential sent
                answer = await self.call(client, "GET", "/work", headers, b"", left_s())
                if isinstance(answer, str):
                    outcome = answer
                    break
                row.jobs.append(answer.server)
                row.server = answer.server
                if answer.status == 200 and answer.body is not None:
                    outcome = "relogin" if row.forced_relogin else "ok"
                    for name in ("queued_ms", "auth_ms", "work_ms"):
                        setattr(row, name, float(answer.body.get(name, math.nan)))
                    break
                if answer.status != 401:
                    outcome = _error_outcome(answer)
                    break
                if retried:
                    outcome = "unauthorized"
                    break
                retried = True
                row.forced_relogin = True
                reason = answer.body.get("reason") if answer.body else None
                row.relogin_cause = str(reason) if reason else "unknown"
                row.credential_server, row.credential_s = issued
                row.rejected_by = answer.server
                if client.login is None and client.credential == headers["Authorization"][7:]:
                    client.credential = None  # rejected: log in again (unless another did)
            row.client_ms = waited * 1000.0
            row.latency_ms = (loop.time() - scheduled - waited) * 1000.0
            if outcome in ("ok", "relogin") and row.latency_ms > self.timeout_s * 1000.0:
                outcome = "timeout"
            row.outcome = outcome or "timeout"


async def run_load(
    plan: Sequence[Planned],
    *,
    host: str,
    port: int,
    addresses: Sequence[str],
    logged_in_at_start: bool = True,
    timeout_s: float = 10.0,
    max_in_flight: int = 4096,
    progress: Callable[[float], None] | None = None,
    on_start: Callable[[float], None] | None = None,
) -> LoadResult:
    """Send ``plan`` to ``host:port`` on schedule; one :class:`Row` per planned request.

    Args:
        plan: the requests, in arrival order (see :func:`plan_requests`).
        host: the balancer's address (in 127.0.0.0/8).
        port: the balancer's port.
        addresses: each user's source address (see :func:`source_addresses`).
        logged_in_at_start: log every user in before the clock starts.
        timeout_s: a request not fully answered this long after its scheduled time (its
            wait for another request's login left out) is a ``timeout``, seconds.
        max_in_flight: requests in flight at once; more wait (and count as lag).
        progress: called with the fraction of the plan sent so far.
        on_start: called once, when the plan's clock is set, with its time 0 on
            :func:`time.monotonic`'s clock (what a fault player schedules from).

    Raises:
        ValueError: a non-loopback address, or a plan user without an address.
    """
    check_loopback(host)
    for address in set(addresses):
        check_loopback(address)
    if plan and max(item.user for item in plan) >= len(addresses):
        raise ValueError("every user of the plan needs a source address")
    loop = asyncio.get_running_loop()
    state = _Run(host, port, timeout_s, max_in_flight)
    clients = [_Client(address) for address in addresses]
    result = LoadResult(rows=[Row(item.arrival_s, item.user) for item in plan])
    if logged_in_at_start:
        gate = asyncio.Semaphore(LOGIN_CONCURRENCY)

        async def first_login(user: int) -> bool:
            async with gate:
                return await state.log_in(clients[user], user, timeout_s, None) is None

        users = sorted({item.user for item in plan} | set(range(len(addresses))))
        done = await asyncio.gather(*(first_login(user) for user in users))
        result.initial_logins = len(done)
        result.initial_login_failures = done.count(False)
    start = loop.time() + 0.05
    state.start = start
    if on_start is not None:
        on_start(start - loop.time() + time.monotonic())
    deadline = start + (plan[-1].arrival_s if plan else 0.0) + 2 * timeout_s
    tasks: set[asyncio.Task[None]] = set()
    step = max(1, len(plan) // 100)

    async def dispatch() -> None:
        for index, item in enumerate(plan):
            delay = start + item.arrival_s - DISPATCH_LEAD_S - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = loop.create_task(
                state.request(item, clients[item.user], start, result.rows[index])
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if progress is not None and (index + 1) % step == 0:
                progress((index + 1) / len(plan))

    dispatcher = loop.create_task(dispatch())
    try:
        await asyncio.wait_for(asyncio.shield(dispatcher), max(0.0, deadline - loop.time()))
        while tasks and loop.time() < deadline:
            await asyncio.wait(set(tasks), timeout=deadline - loop.time())
    except TimeoutError:
        pass
    finally:
        dispatcher.cancel()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(dispatcher, *tasks, return_exceptions=True)
    now = loop.time()
    for row in result.rows:  # cut short: a timeout, measured to the deadline
        if row.outcome == "timeout" and math.isnan(row.latency_ms):
            row.latency_ms = (min(now, deadline) - start - row.arrival_s) * 1000.0
    result.logins, result.login_auth_ms = state.logins, state.login_auth_ms
    lags = np.array([row.lag_ms for row in result.rows if not math.isnan(row.lag_ms)])
    if lags.size:
        result.lag_p99_ms = float(np.percentile(lags, 99))
        result.lag_max_ms = float(lags.max())
    if result.lag_p99_ms > LAG_P99_WARN_MS or result.lag_max_ms > LAG_MAX_WARN_MS:
        result.warning = (
            f"the load generator fell behind its schedule by up to {result.lag_max_ms:.0f} ms"
            f" (p99 {result.lag_p99_ms:.1f} ms): the machine is too busy; results are"
            " pessimistic"
        )
    if progress is not None:
        progress(1.0)
    return result


def run_load_sync(plan: Sequence[Planned], **options: Any) -> LoadResult:
    """:func:`run_load` in a fresh event loop (same keyword arguments).

    Called where an event loop already runs in this thread (a Jupyter kernel runs one),
    the fresh loop runs in a worker thread instead, since a thread has at most one
    running loop; the call still blocks until the load is done.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop here: the usual case
        return asyncio.run(run_load(plan, **options))
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="loadgen") as pool:
        return pool.submit(asyncio.run, run_load(plan, **options)).result()
