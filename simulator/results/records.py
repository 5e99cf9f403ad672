"""Per-strategy summaries and the result of a run (the per-request log is
:mod:`simulator.results.request_log`'s, re-exported here)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simulator import outcomes
from simulator.results.metrics import clean_float, load_skew, success_rate
from simulator.results.regions import RegionStats
from simulator.results.request_log import REQUEST_COLUMNS, RequestLog
from simulator.results.timeseries import StrategySeries
from simulator.scenario.models import Scenario

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "REQUEST_COLUMNS",
    "AuthCost",
    "EventMark",
    "Exposure",
    "RequestLog",
    "RunResult",
    "StoreStats",
    "StrategyResult",
    "Window",
]


@dataclass(frozen=True)
class StoreStats:
    """The shared store over the measured window.

    Attributes:
        utilisation: fraction of the measured window the store was busy (at most 1;
            below saturation it estimates the load rho).
        mean_latency_ms: mean time from sending an operation to its reply, ms
            (connection wait, network round trip, queueing and the operation itself).
        ops: operations sent.
        ops_per_request: operations per measured request (the store load a strategy
            causes: 1 for a session lookup per request, near 0 for tokens).
    """

    utilisation: float
    mean_latency_ms: float | None
    ops: int
    ops_per_request: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "utilisation": clean_float(self.utilisation),
            "mean_latency_ms": clean_float(self.mean_latency_ms),
            "ops": self.ops,
            "ops_per_request": clean_float(self.ops_per_request),
        }


@dataclass(frozen=True)
class Exposure:
    """What revocation left open: requests accepted on credentials issued before their
    user was revoked.

    Attributes:
        revoked_users: users revoked during the run.
        accepted_after_revocation: requests accepted on such credentials.
        mean_window_s: over revoked users, the time from revocation to the last request
            accepted on an old credential (0 for a user refused at once), seconds.
        max_window_s: the largest such window, seconds.
        mean_remaining_ttl_s: over revoked users, how long their credential had left to
            live when it was revoked (0 for credentials that do not expire), seconds: the
            window a token opens when nothing refuses it.
    """

    revoked_users: int
    accepted_after_revocation: int
    mean_window_s: float
    max_window_s: float
    mean_remaining_ttl_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "revoked_users": self.revoked_users,
            "accepted_after_revocation": self.accepted_after_revocation,
            "mean_window_s": clean_float(self.mean_window_s),
            "max_window_s": clean_float(self.max_window_s),
            "mean_remaining_ttl_s": clean_float(self.mean_remaining_ttl_s),
        }


@dataclass(frozen=True)
class AuthCost:
    """The authentication costs a strategy ran with.

    Attributes:
        verify_ms: CPU per credential check, ms (a token's signature check; 0 for a
            session lookup).
        login_ms: CPU per password login, ms.
        source: where the verify cost came from: ``scenario``, ``calibration`` or
            ``reference``.
    """

    verify_ms: float
    login_ms: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "verify_ms": clean_float(self.verify_ms),
            "login_ms": clean_float(self.login_ms),
            "source": self.source,
        }


@dataclass(frozen=True)
class EventMark:
    """An event as it happened in one run (for plots and per-event windows).

    Attributes:
        kind: the event kind (``server_crash``...).
        label: a short caption (``crash server 2``).
        start_s: when it started, seconds.
        end_s: when it ended, for events that last (an outage, a deploy); else ``None``.
    """

    kind: str
    label: str
    start_s: float
    end_s: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "kind": self.kind,
            "label": self.label,
            "start_s": clean_float(self.start_s),
            "end_s": clean_float(self.end_s),
        }


@dataclass(frozen=True)
class Window:
    """Requests that arrived between two events (or the start or end of the run).

    Attributes:
        label: ``before <first event>`` or ``after <event>``.
        start_s: start of the window, seconds.
        end_s: end of the window, seconds.
        requests: requests that arrived in it.
        succeeded: of those, the ``ok`` ones.
        forced_relogins_by_cause: of those, the forced re-logins by cause.
        users_logged_out: distinct users forced to log in again by a request of the window
            (a user forced several times counts once; one logged out in two windows counts
            in both).
    """

    label: str
    start_s: float
    end_s: float
    requests: int
    succeeded: int
    forced_relogins_by_cause: dict[str, int]
    users_logged_out: int = 0

    @property
    def success_rate(self) -> float | None:
        """``succeeded / requests``."""
        return success_rate(self.succeeded, self.requests)

    @property
    def forced_relogins(self) -> int:
        """Forced re-logins of every cause."""
        return sum(self.forced_relogins_by_cause.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "label": self.label,
            "start_s": clean_float(self.start_s),
            "end_s": clean_float(self.end_s),
            "requests": self.requests,
            "success_rate": clean_float(self.success_rate),
            "forced_relogins": self.forced_relogins,
            "users_logged_out": self.users_logged_out,
            "forced_relogins_by_cause": dict(self.forced_relogins_by_cause),
        }


@dataclass(frozen=True)
class StrategyResult:
    """Everything measured for one strategy in one run.

    Attributes:
        strategy: the strategy's name.
        requests: requests that arrived in the measured window.
        served: requests that got their page (``ok`` + ``relogin``).
        succeeded: requests served with no error and no forced re-login (``ok``).
        forced_relogins: requests whose credential was rejected, forcing a new login.
        users_logged_out: distinct users with at least one such request (a logout a person
            sees; a user forced to log in again several times counts once).
        logins: logins performed (first logins and forced ones).
        login_cpu_s: CPU seconds spent on forced re-logins.
        outcome_counts: requests per outcome name.
        latency_ms: mean, p50, p95, p99 of served requests, ms.
        server_requests: jobs (requests, logins, retries) each server received.
        server_utilisation: fraction of worker time each server was occupied (CPU and
            waits on the store).
        store: the shared store's statistics, for strategies that use it.
        credential_bytes: bytes of the credential on every request.
        sessions_in_servers: sessions held in server memory at the end.
        sessions_in_store: sessions held in the store at the end.
        measured_s: length of the measured window, seconds.
        forced_relogins_by_cause: forced re-logins by cause (see ``outcomes.CAUSES``).
        server_up_s: seconds each server was up in the measured window.
        events: the events as they happened.
        windows: the measured window split at every event.
        refreshes: expired access tokens renewed with a refresh token.
        exposure: requests accepted after their user was revoked (``None``: nobody was).
        auth_cost: the authentication costs used.
        regions: what each region's users saw (``None``: a scenario without regions; then
            the JSON has no ``regions`` key).
        series: the time series (not part of the JSON; see
            :meth:`RunResult.timeseries_frame`).
        engine: what computed it: ``des`` (the discrete-event simulation) or ``vector``
            (the exact numpy engine, :mod:`simulator.model.vector`). In the run's JSON
            document under ``engines`` (strategy: engine), not in this result's own JSON:
            its numbers are the same either way.
        engine_note: with ``engine: auto``, why the DES ran rather than the vector
            engine (empty when the vector engine ran or the DES was asked for).
    """

    strategy: str
    requests: int
    served: int
    succeeded: int
    forced_relogins: int
    logins: int
    login_cpu_s: float
    outcome_counts: dict[str, int]
    latency_ms: dict[str, float | None]
    server_requests: list[int]
    server_utilisation: list[float]
    store: StoreStats | None
    credential_bytes: int
    sessions_in_servers: int
    sessions_in_store: int
    measured_s: float
    forced_relogins_by_cause: dict[str, int] = field(default_factory=dict)
    users_logged_out: int = 0
    server_up_s: list[float] = field(default_factory=list)
    events: list[EventMark] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    refreshes: int = 0
    exposure: Exposure | None = None
    auth_cost: AuthCost | None = None
    series: StrategySeries | None = field(default=None, compare=False, repr=False)
    regions: list[RegionStats] | None = None
    engine: str = field(default="des", compare=False)
    engine_note: str = field(default="", compare=False)

    @property
    def success_rate(self) -> float | None:
        """``succeeded / requests``."""
        return success_rate(self.succeeded, self.requests)

    @property
    def errors(self) -> dict[str, int]:
        """Requests per error kind (every outcome but ``ok`` and ``relogin``)."""
        return {name: self.outcome_counts[name] for name in (*outcomes.ERRORS, "unauthorized")}

    @property
    def server_rates_per_s(self) -> list[float]:
        """Jobs per second of up time of each server that was up while measuring."""
        if not self.server_up_s:
            return [count / self.measured_s for count in self.server_requests]
        return [
            count / up_s
            for count, up_s in zip(self.server_requests, self.server_up_s, strict=True)
            if up_s > 0
        ]

    @property
    def load_skew(self) -> dict[str, float | None]:
        """Skew of the servers' job rates (see :func:`simulator.results.metrics.load_skew`).

        Rates (jobs per second of up time) rather than counts, so a server that joined
        late or died early is not mistaken for an idle one.
        """
        return load_skew(self.server_rates_per_s)

    @property
    def throughput_per_s(self) -> float:
        """Served requests per second of measured time."""
        return self.served / self.measured_s

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the ``results`` items of ``authsim run --json``)."""
        return {
            "strategy": self.strategy,
            "requests": self.requests,
            "served": self.served,
            "succeeded": self.succeeded,
            "success_rate": clean_float(self.success_rate),
            "forced_relogins": self.forced_relogins,
            "users_logged_out": self.users_logged_out,
            "logins": self.logins,
            "login_cpu_s": clean_float(self.login_cpu_s),
            "errors": self.errors,
            "latency_ms": {key: clean_float(value) for key, value in self.latency_ms.items()},
            "load_skew": {key: clean_float(value) for key, value in self.load_skew.items()},
            "server_requests": list(self.server_requests),
            "server_utilisation": [clean_float(value) for value in self.server_utilisation],
            "store": self.store.to_dict() if self.store is not None else None,
            "throughput_per_s": clean_float(self.throughput_per_s),
            "credential_bytes": self.credential_bytes,
            "sessions_in_servers": self.sessions_in_servers,
            "sessions_in_store": self.sessions_in_store,
            "forced_relogins_by_cause": dict(self.forced_relogins_by_cause),
            "events": [mark.to_dict() for mark in self.events],
            "windows": [window.to_dict() for window in self.windows],
            "refreshes": self.refreshes,
            "exposure": self.exposure.to_dict() if self.exposure else None,
            "auth_cost": self.auth_cost.to_dict() if self.auth_cost else None,
        } | ({"regions": [region.to_dict() for region in self.regions]} if self.regions else {})

    def summary_row(self) -> dict[str, Any]:
        """One flat row for :meth:`RunResult.summary_frame`."""
        row: dict[str, Any] = {
            "strategy": self.strategy,
            "requests": self.requests,
            "served": self.served,
            "success_rate": self.success_rate,
            "forced_relogins": self.forced_relogins,
            "users_logged_out": self.users_logged_out,
            "login_cpu_s": self.login_cpu_s,
        }
        row |= {f"{name}_errors": count for name, count in self.errors.items()}
        row |= {f"latency_{key}_ms": value for key, value in self.latency_ms.items()}
        row |= dict(self.load_skew)
        row["store_utilisation"] = self.store.utilisation if self.store else None
        row["store_latency_ms"] = self.store.mean_latency_ms if self.store else None
        return row


@dataclass
class RunResult:
    """The result of running one scenario: one :class:`StrategyResult` per strategy.

    Attributes:
        scenario: the scenario that was run (overrides applied).
        results: per-strategy results, in the order the strategies were run.
        logs: per-strategy request records (empty when requests were not recorded).
    """

    scenario: Scenario
    results: list[StrategyResult]
    logs: dict[str, RequestLog] = field(default_factory=dict)

    def __getitem__(self, strategy: str) -> StrategyResult:
        for result in self.results:
            if result.strategy == strategy:
                return result
        raise KeyError(strategy)

    @property
    def strategies(self) -> list[str]:
        """Names of the strategies run."""
        return [result.strategy for result in self.results]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``authsim run --json``."""
        return {
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "duration_s": self.scenario.duration_s,
            "warmup_s": self.scenario.warmup_s,
            # what computed each strategy's numbers (the numbers are the same either way)
            "engines": {result.strategy: result.engine for result in self.results},
            "results": [result.to_dict() for result in self.results],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text: same scenario and seed, same bytes."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def summary_frame(self) -> pd.DataFrame:
        """One row per strategy with the headline metrics as columns."""
        import pandas as pd  # noqa: PLC0415 (slow to import: only for frames)

        return pd.DataFrame([result.summary_row() for result in self.results])

    @property
    def events(self) -> list[EventMark]:
        """The events of the run, as they happened for the first strategy."""
        return self.results[0].events if self.results else []

    def timeseries_frame(self) -> pd.DataFrame:
        """Every strategy's metrics per time bucket (columns ``timeseries.SERIES_COLUMNS``)."""
        import pandas as pd  # noqa: PLC0415 (slow to import: only for frames)

        frames = [item.series.to_frame(item.strategy) for item in self.results if item.series]
        frame: pd.DataFrame = pd.concat(frames, ignore_index=True)
        return frame

    def server_timeseries_frame(self) -> pd.DataFrame:
        """Every strategy's per-server load per time bucket
        (columns ``timeseries.SERVER_SERIES_COLUMNS``)."""
        import pandas as pd  # noqa: PLC0415 (slow to import: only for frames)

        frames = [item.series.server_frame(item.strategy) for item in self.results if item.series]
        return pd.concat(frames, ignore_index=True)

    def relogin_share(
        self, strategy: str, since_s: float, cause: str | None = None
    ) -> float | None:
        """Of ``strategy``'s users who sent a request at or after ``since_s``, the fraction
        forced to log in again (see :meth:`RequestLog.relogin_share`).

        Raises:
            ValueError: the run did not record requests, or an unknown cause.
            KeyError: ``strategy`` was not run.
        """
        if not self.logs:
            raise ValueError("this run did not record requests (record_requests=False)")
        return self.logs[strategy].relogin_share(since_s, cause)

    def requests_frame(self) -> pd.DataFrame:
        """The tidy per-request table of every strategy (columns :data:`REQUEST_COLUMNS`).

        Raises:
            ValueError: the run did not record requests.
        """
        import pandas as pd  # noqa: PLC0415 (slow to import: only for frames)

        if not self.logs:
            raise ValueError("this run did not record requests (record_requests=False)")
        frames = [log.to_frame(name) for name, log in self.logs.items()]
        frame = pd.concat(frames, ignore_index=True)
        frame["strategy"] = pd.Categorical(frame["strategy"], categories=list(self.logs))
        return frame
