"""What one strategy run measured: counts, causes, exposure and event marks.

The request life cycle (:mod:`simulator.model.run`) tells the recorder what happened to
each measured request; the recorder keeps the tallies and, at the end, turns them and
the fleet's state into a :class:`~simulator.results.records.StrategyResult`. Nothing here
schedules a SimPy event except :meth:`Recorder.sample_servers`, which reads the fleet at
regular moments for the per-server time series.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from simulator import outcomes
from simulator.model.balancer import ClusterView
from simulator.model.cluster import Server
from simulator.model.sampling import FleetSampler
from simulator.model.store import SessionStore
from simulator.model.strategies import Strategy
from simulator.results.metrics import latency_summary
from simulator.results.records import (
    AuthCost,
    EventMark,
    Exposure,
    RequestLog,
    StoreStats,
    StrategyResult,
)
from simulator.results.regions import RegionTally
from simulator.results.timeseries import (
    Buckets,
    ServerSampler,
    StrategySeries,
    Tally,
)
from simulator.results.windows import event_windows
from simulator.scenario.models import Scenario

FLUSH_EVERY = 4096
"""Finished requests buffered before they are counted together."""
_FIELDS = 6  # buffered per finished request: arrival, user, server, outcome, latency, cause
_FLUSH_FIELDS = FLUSH_EVERY * _FIELDS


class Recorder:
    """Tallies of one strategy run's measured requests (those arriving after warm-up).

    Args:
        scenario: the validated scenario.
        record_requests: keep one row per measured request (exact percentiles, the
            request table); otherwise summary mode (histogram percentiles, bounded memory).

    Attributes:
        requests: measured requests that arrived.
        logins: logins of measured requests (forced or first).
        login_cpu_s: password-hashing CPU of forced logins, seconds.
        refreshes: access tokens renewed with a refresh token.
        log: the per-request table (empty in summary mode).
        buckets: the time buckets of the series.
        tally: per-bucket and per-window counts and latencies, and the users logged out
            (overall and per window).
        marks: the events as they happened.
    """

    def __init__(self, scenario: Scenario, record_requests: bool) -> None:
        self.scenario = scenario
        self.record_requests = record_requests
        self.requests = 0
        self.logins = 0
        self.login_cpu_s = 0.0
        self.refreshes = 0
        self.counts = [0] * len(outcomes.NAMES)
        self.causes = [0] * len(outcomes.CAUSES)
        self.log = RequestLog()
        self.buckets = Buckets(scenario.warmup_s, scenario.duration_s, scenario.time_bucket_s)
        self.sampler = ServerSampler(self.buckets)
        self.tally = Tally(self.buckets, scenario.workload.users)
        self.marks: list[EventMark] = []
        self.revoked_at: dict[int, float] = {}  # user -> when it was revoked, seconds
        self._exposed_requests = 0
        self._exposed_until: dict[int, float] = {}
        self._remaining_s: dict[int, float] = {}  # credential lifetime left at revocation
        self.regions: RegionTally | None = None
        # the buffered requests, flat: six fields each (see finished); a flat list keeps
        # no tuple per request and splits into columns by slicing
        self._pending: list[float | int] = []
        self._fleet_sampler: FleetSampler | None = None

    # ----------------------------------------------------------- what happened

    def finished(
        self,
        arrival_s: float,
        user: int,
        server: int,
        outcome: int,
        latency_ms: float,
        cause: int,
    ) -> None:
        """A measured request of ``user`` that arrived at ``arrival_s`` (seconds) got its
        final answer from ``server`` (-1: none): its ``outcome`` code, its latency (ms) and
        the ``cause`` code of its forced re-login (``outcomes.VALID``: none; any other means
        ``user`` was logged out, whatever the final outcome).

        Buffered: the requests are counted in blocks of :data:`FLUSH_EVERY` (with numpy),
        and at the latest by :meth:`result`.
        """
        pending = self._pending
        pending += (arrival_s, user, server, outcome, latency_ms, cause)
        if len(pending) >= _FLUSH_FIELDS:
            self.flush()

    def flush(self) -> None:
        """Count the buffered finished requests (in the order they finished)."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        arrival_s, user, server, outcome, latency_ms, cause = (
            pending[field::_FIELDS] for field in range(_FIELDS)
        )
        codes = np.array(outcome, dtype=np.int64)
        for code, count in enumerate(np.bincount(codes, minlength=len(self.counts)).tolist()):
            self.counts[code] += count
        self.tally.record_many(
            np.array(arrival_s, dtype=np.float64),
            np.array(user, dtype=np.int64),
            codes,
            np.array(latency_ms, dtype=np.float64),
            np.array(cause, dtype=np.int64),
        )
        if self.regions is not None:
            record = self.regions.record
            for one_user, one_outcome, latency in zip(user, outcome, latency_ms, strict=True):
                record(int(one_user), int(one_outcome), latency)
        if self.record_requests:
            self.log.record_many(arrival_s, user, server, outcome, latency_ms, cause)

    def logged_in(self, now_s: float, forced: bool, login_s: float) -> None:
        """A measured request's login succeeded (``forced``: its credential was rejected)."""
        self.logins += 1
        if forced:
            self.login_cpu_s += login_s
            self.sampler.add_login_cpu(now_s, login_s)

    def forced_relogin(self, cause: int) -> None:
        """A measured request's credential was rejected for ``cause``: a login follows."""
        self.causes[cause] += 1

    def revoked(self, user: int, now_s: float, expires_at_s: float | None) -> None:
        """The credential ``user`` holds was revoked at ``now_s``; watch for its use."""
        self.revoked_at[user] = now_s
        self._remaining_s[user] = (
            max(0.0, expires_at_s - now_s) if expires_at_s is not None else 0.0
        )

    def exposed(self, user: int, now_s: float) -> None:
        """A credential ``user`` was issued before their revocation was accepted at ``now_s``."""
        self._exposed_requests += 1
        self._exposed_until[user] = now_s

    def mark(self, kind: str, label: str, start_s: float, end_s: float | None) -> int:
        """Record an event for the plots and the per-event windows; returns its handle."""
        self.marks.append(EventMark(kind, label, start_s, end_s))
        self.tally.add_edge(start_s)
        if end_s is not None:
            self.tally.add_edge(end_s)
        return len(self.marks) - 1

    def close_mark(self, handle: int, end_s: float) -> None:
        """Set the end of a lasting event (a deploy) once it is known."""
        mark = self.marks[handle]
        self.marks[handle] = EventMark(mark.kind, mark.label, mark.start_s, end_s)
        self.tally.add_edge(end_s)

    def sample_servers(
        self, env: simpy.Environment, servers: list[Server], view: ClusterView
    ) -> Generator[simpy.Event, Any, None]:
        """A process: sample every server's queue, state and sessions, a few times a
        bucket (see :class:`~simulator.model.sampling.FleetSampler`)."""
        self._fleet_sampler = FleetSampler(self.sampler, servers, view)
        return self._fleet_sampler.process(env)

    # ----------------------------------------------------------------- results

    def exposure(self) -> Exposure | None:
        """Requests accepted after their user's revocation, and for how long (``None``:
        nobody was revoked)."""
        if not self.revoked_at:
            return None
        windows = [
            self._exposed_until.get(user, revoked_s) - revoked_s
            for user, revoked_s in self.revoked_at.items()
        ]
        remaining = list(self._remaining_s.values())
        return Exposure(
            revoked_users=len(windows),
            accepted_after_revocation=self._exposed_requests,
            mean_window_s=sum(windows) / len(windows),
            max_window_s=max(windows),
            mean_remaining_ttl_s=sum(remaining) / len(remaining),
        )

    def result(
        self,
        strategy: Strategy,
        servers: list[Server],
        store: SessionStore,
        login_s: float,
    ) -> StrategyResult:
        """Summarise the run of ``strategy`` on ``servers`` (and ``store``)."""
        self.flush()
        if self._fleet_sampler is not None:
            self._fleet_sampler.settle()
        scenario = self.scenario
        measured_s = scenario.measured_s
        start_s, end_s = scenario.warmup_s, scenario.duration_s
        counts = dict(zip(outcomes.NAMES, self.counts, strict=True))
        store_stats = None
        if strategy.uses_store:
            answered = store.answered
            store_stats = StoreStats(
                utilisation=store.busy_s / measured_s,
                mean_latency_ms=store.latency_s / answered * 1000.0 if answered else None,
                ops=store.ops,
                ops_per_request=store.ops / self.requests if self.requests else None,
            )
        verify_ms, source = strategy.verify_cost()
        workers = scenario.cluster.workers_per_server
        up_s = [server.up_seconds(start_s, end_s) for server in servers]
        marks = sorted(self.marks, key=lambda mark: (mark.start_s, mark.label))
        return StrategyResult(
            strategy=strategy.name,
            requests=self.requests,
            served=counts["ok"] + counts["relogin"],
            succeeded=counts["ok"],
            forced_relogins=sum(self.causes),
            logins=self.logins,
            login_cpu_s=self.login_cpu_s,
            outcome_counts=counts,
            latency_ms=(
                latency_summary(self.log.served_latency_ms())
                if self.record_requests
                else self.tally.overall.summary()
            ),
            server_requests=[server.jobs for server in servers],
            server_utilisation=[
                server.busy_s / (up * workers) if up > 0 else 0.0
                for server, up in zip(servers, up_s, strict=True)
            ],
            store=store_stats,
            credential_bytes=strategy.credential_bytes,
            sessions_in_servers=sum(len(server.sessions) for server in servers),
            sessions_in_store=len(store.data),
            measured_s=measured_s,
            forced_relogins_by_cause=dict(zip(outcomes.CAUSES, self.causes, strict=True)),
            users_logged_out=len(self.tally.logged_out),
            server_up_s=up_s,
            events=marks,
            windows=event_windows(
                marks, start_s, end_s, self.tally.window_counts, self.tally.window_users
            ),
            refreshes=self.refreshes,
            exposure=self.exposure(),
            regions=self.regions.stats() if self.regions is not None else None,
            auth_cost=AuthCost(verify_ms, login_s * 1000.0, source),
            series=StrategySeries.from_tally(
                self.tally, [server.bucket_jobs for server in servers], self.sampler
            ),
        )
