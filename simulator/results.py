"""Columnar request records, per-strategy summaries, and the result of a run.

Requests are recorded into typed arrays (one column per field, no object per request);
they become a tidy pandas DataFrame only when asked for.
"""

from __future__ import annotations

import json
from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from simulator import outcomes
from simulator.config import Scenario
from simulator.metrics import clean_float, load_skew, success_rate

REQUEST_COLUMNS: tuple[str, ...] = (
    "strategy",
    "arrival_s",
    "user",
    "server",
    "outcome",
    "latency_ms",
    "forced_relogin",
)
"""Columns of the per-request table, in order."""


class RequestLog:
    """Measured requests of one strategy run, one typed array per column.

    Attributes:
        arrival_s: arrival time, seconds of simulated time.
        user: user index.
        server: the server that gave the final answer (-1: none was reached).
        outcome: outcome code (see :mod:`simulator.outcomes`).
        latency_ms: arrival to final answer, ms.
        forced: 1 when the request forced a re-login.
    """

    def __init__(self) -> None:
        self.arrival_s = array("d")
        self.user = array("q")
        self.server = array("q")
        self.outcome = array("b")
        self.latency_ms = array("d")
        self.forced = array("b")

    def __len__(self) -> int:
        return len(self.outcome)

    def record(
        self,
        arrival_s: float,
        user: int,
        server: int,
        outcome: int,
        latency_ms: float,
        forced: bool,
    ) -> None:
        """Append one finished request."""
        self.arrival_s.append(arrival_s)
        self.user.append(user)
        self.server.append(server)
        self.outcome.append(outcome)
        self.latency_ms.append(latency_ms)
        self.forced.append(forced)

    def outcome_counts(self) -> npt.NDArray[np.int64]:
        """Requests per outcome code."""
        codes = np.frombuffer(self.outcome, dtype=np.int8)
        return np.bincount(codes, minlength=len(outcomes.NAMES)).astype(np.int64)

    def served_latency_ms(self) -> npt.NDArray[np.float64]:
        """Latencies of the served requests (``ok`` and ``relogin``), ms."""
        codes = np.frombuffer(self.outcome, dtype=np.int8)
        latency = np.frombuffer(self.latency_ms, dtype=np.float64)
        served: npt.NDArray[np.float64] = latency[
            (codes == outcomes.OK) | (codes == outcomes.RELOGIN)
        ]
        return served

    def to_frame(self, strategy: str) -> pd.DataFrame:
        """The tidy per-request table (columns :data:`REQUEST_COLUMNS`)."""
        codes = np.frombuffer(self.outcome, dtype=np.int8)
        return pd.DataFrame(
            {
                "strategy": pd.Categorical([strategy] * len(codes)),
                "arrival_s": np.frombuffer(self.arrival_s, dtype=np.float64).copy(),
                "user": np.frombuffer(self.user, dtype=np.int64).copy(),
                "server": np.frombuffer(self.server, dtype=np.int64).copy(),
                "outcome": pd.Categorical.from_codes(
                    codes.astype(np.int64), categories=pd.Index(outcomes.NAMES)
                ),
                "latency_ms": np.frombuffer(self.latency_ms, dtype=np.float64).copy(),
                "forced_relogin": np.frombuffer(self.forced, dtype=np.int8).astype(bool),
            },
            columns=list(REQUEST_COLUMNS),
        )


@dataclass(frozen=True)
class StoreStats:
    """The shared store over the measured window.

    Attributes:
        utilisation: fraction of time the store was busy (its load, rho).
        mean_latency_ms: mean time from sending an operation to its reply, ms
            (connection wait, network round trip, queueing and the operation itself).
        ops: operations sent.
    """

    utilisation: float
    mean_latency_ms: float | None
    ops: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "utilisation": clean_float(self.utilisation),
            "mean_latency_ms": clean_float(self.mean_latency_ms),
            "ops": self.ops,
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

    @property
    def success_rate(self) -> float | None:
        """``succeeded / requests``."""
        return success_rate(self.succeeded, self.requests)

    @property
    def errors(self) -> dict[str, int]:
        """Requests per error kind (every outcome but ``ok`` and ``relogin``)."""
        return {name: self.outcome_counts[name] for name in (*outcomes.ERRORS, "unauthorized")}

    @property
    def load_skew(self) -> dict[str, float | None]:
        """Skew of :attr:`server_requests` (see :func:`simulator.metrics.load_skew`)."""
        return load_skew(self.server_requests)

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
        }

    def summary_row(self) -> dict[str, Any]:
        """One flat row for :meth:`RunResult.summary_frame`."""
        row: dict[str, Any] = {
            "strategy": self.strategy,
            "requests": self.requests,
            "served": self.served,
            "success_rate": self.success_rate,
            "forced_relogins": self.forced_relogins,
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
            "results": [result.to_dict() for result in self.results],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text: same scenario and seed, same bytes."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def summary_frame(self) -> pd.DataFrame:
        """One row per strategy with the headline metrics as columns."""
        return pd.DataFrame([result.summary_row() for result in self.results])

    def requests_frame(self) -> pd.DataFrame:
        """The tidy per-request table of every strategy (columns :data:`REQUEST_COLUMNS`).

        Raises:
            ValueError: the run did not record requests.
        """
        if not self.logs:
            raise ValueError("this run did not record requests (record_requests=False)")
        frames = [log.to_frame(name) for name, log in self.logs.items()]
        frame = pd.concat(frames, ignore_index=True)
        frame["strategy"] = pd.Categorical(frame["strategy"], categories=list(self.logs))
        return frame
