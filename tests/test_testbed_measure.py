"""The real run's metrics, from hand-made load generator rows."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from simulator.results.records import StrategyResult
from simulator.testbed.loadgen import LoadResult, Row
from simulator.testbed.measure import model_causes, real_metrics, window_metrics


def _frame(rows: list[Row]) -> pd.DataFrame:
    return LoadResult(rows=rows).to_frame()


def test_metrics_of_hand_made_rows() -> None:
    rows = [
        Row(0.5, 0, server=0, outcome="ok", latency_ms=10.0, jobs=[0]),  # in the warm-up
        Row(1.0, 0, server=0, outcome="ok", latency_ms=10.0, jobs=[0]),
        Row(1.1, 1, server=0, outcome="ok", latency_ms=20.0, jobs=[0]),
        Row(1.2, 2, server=0, outcome="ok", latency_ms=30.0, jobs=[0]),
        Row(
            1.3,
            1,
            server=0,
            outcome="relogin",
            latency_ms=40.0,
            forced_relogin=True,
            relogin_cause="session_lost",
            logins=1,
            jobs=[0, 0, 0],
        ),
        Row(
            1.4,
            1,
            server=0,
            outcome="unauthorized",
            latency_ms=5.0,
            forced_relogin=True,
            relogin_cause="revoked",
            logins=1,
            jobs=[0, 0, 0],
        ),
        Row(1.5, 2, server=-1, outcome="server_down", latency_ms=1.0),
        Row(1.6, 3, server=0, outcome="overload", latency_ms=1.0, jobs=[0]),
        Row(1.7, 3, outcome="timeout", latency_ms=math.nan),
    ]
    metrics = real_metrics(_frame(rows), servers=4, warmup_s=1.0, measured_s=2.0)
    assert metrics["requests"] == 8
    assert metrics["served"] == 4
    assert metrics["succeeded"] == 3
    assert metrics["success_rate"] == pytest.approx(3 / 8)
    assert metrics["latency_ms"]["p50"] == pytest.approx(25.0)
    assert metrics["latency_ms"]["mean"] == pytest.approx(25.0)
    assert metrics["forced_relogins"] == 2
    assert metrics["users_logged_out"] == 1
    assert metrics["forced_relogins_by_cause"]["session_lost"] == 1
    assert metrics["forced_relogins_by_cause"]["revoked"] == 1
    assert metrics["forced_relogins_by_cause"]["expired"] == 0
    assert metrics["logins"] == 2
    assert metrics["errors"] == {
        "server_down": 1,
        "overload": 1,
        "store_unavailable": 0,
        "timeout": 1,
        "unauthorized": 1,
    }
    assert metrics["server_requests"] == [10, 0, 0, 0]
    assert metrics["load_skew"]["jain"] == pytest.approx(1 / 4)  # all on one server: 1/N
    assert metrics["load_skew"]["max_over_mean"] == pytest.approx(4.0)
    assert metrics["throughput_per_s"] == pytest.approx(2.0)
    assert sum(metrics["outcome_counts"].values()) == 8


def test_even_load_and_final_servers_without_jobs() -> None:
    rows = [Row(float(i), i, server=i % 3, outcome="ok", latency_ms=float(i)) for i in range(9)]
    frame = _frame(rows).drop(columns=["jobs", "logins"])
    metrics = real_metrics(frame, servers=3)
    assert metrics["server_requests"] == [3, 3, 3]
    assert metrics["load_skew"]["jain"] == pytest.approx(1.0)
    assert metrics["success_rate"] == 1.0
    assert metrics["users_logged_out"] == 0
    assert metrics["latency_ms"]["p50"] == pytest.approx(4.0)
    assert "logins" not in metrics and metrics["throughput_per_s"] is None


def test_keys_pair_with_the_models() -> None:
    rows = [Row(0.0, 0, server=0, outcome="ok", latency_ms=1.0, jobs=[0])]
    metrics = real_metrics(_frame(rows), servers=2)
    model_keys = set(StrategyResult.__dataclass_fields__) | {
        "success_rate",
        "errors",
        "load_skew",
        "throughput_per_s",
    }
    assert set(metrics) <= model_keys


def test_no_requests_and_unknown_outcomes() -> None:
    empty = real_metrics(_frame([]), servers=2)
    assert empty["requests"] == 0 and empty["success_rate"] is None
    assert empty["latency_ms"]["p99"] is None and empty["load_skew"]["jain"] is None
    with pytest.raises(ValueError, match="unknown outcomes"):
        real_metrics(_frame([Row(0.0, 0, outcome="weird")]), servers=1)


def _rejected(
    arrival_s: float, user: int, issuer: int, rejecter: int, issued_s: float, reason: str
) -> Row:
    return Row(
        arrival_s,
        user,
        server=rejecter,
        outcome="relogin",
        latency_ms=5.0,
        forced_relogin=True,
        relogin_cause=reason,
        credential_server=issuer,
        credential_s=issued_s,
        rejected_by=rejecter,
        jobs=[rejecter, rejecter, rejecter],
    )


def test_model_causes_name_why_a_session_was_missing() -> None:
    frame = _frame(
        [
            Row(1.0, 0, server=0, outcome="ok", latency_ms=3.0),  # no re-login: no cause
            _rejected(2.0, 1, issuer=0, rejecter=1, issued_s=-math.inf, reason="no_session"),
            _rejected(6.0, 2, issuer=2, rejecter=0, issued_s=1.0, reason="no_session"),
            _rejected(7.0, 3, issuer=2, rejecter=2, issued_s=1.0, reason="no_session"),
            _rejected(8.0, 4, issuer=2, rejecter=1, issued_s=5.5, reason="no_session"),
            _rejected(9.0, 5, issuer=1, rejecter=1, issued_s=1.0, reason="expired"),
            _rejected(9.5, 6, issuer=1, rejecter=0, issued_s=1.0, reason="invalid"),
        ]
    )
    losses: list[tuple[float, int | None]] = [(5.0, 2)]  # server 2 crashed at 5 s
    causes = model_causes(frame, losses, sessions_in_store=False).tolist()
    assert causes == [
        None,
        "wrong_server",  # server 0 still holds it; server 1 rejected it
        "session_lost",  # its server crashed after issuing it, whoever rejects it
        "session_lost",  # the restarted issuer itself
        "wrong_server",  # issued by server 2 after its crash: still there
        "expired",
        "invalid",  # a reason the model has no cause for is kept as it is
    ]


def test_model_causes_for_sessions_in_the_store() -> None:
    frame = _frame(
        [
            _rejected(2.0, 1, issuer=0, rejecter=1, issued_s=1.0, reason="no_session"),
            _rejected(6.0, 2, issuer=0, rejecter=1, issued_s=1.0, reason="no_session"),
        ]
    )
    # a server crash loses nothing of the store's; the store coming back empty does
    causes = model_causes(frame, [(1.5, 0), (3.0, None)], sessions_in_store=True).tolist()
    assert causes == ["session_lost", "session_lost"]
    assert model_causes(frame, [], sessions_in_store=False).tolist() == ["wrong_server"] * 2


def test_real_metrics_count_the_model_causes_when_given() -> None:
    frame = _frame(
        [_rejected(2.0, 1, issuer=0, rejecter=1, issued_s=-math.inf, reason="no_session")]
    )
    frame["model_cause"] = model_causes(frame, [], sessions_in_store=False)
    metrics = real_metrics(frame, servers=2)
    assert metrics["forced_relogins_by_cause"]["wrong_server"] == 1
    assert "no_session" not in metrics["forced_relogins_by_cause"]


def test_window_metrics_cut_the_run_by_arrival() -> None:
    frame = _frame(
        [
            Row(1.0, 0, server=0, outcome="ok", latency_ms=3.0),
            Row(4.9, 1, server=0, outcome="ok", latency_ms=3.0),
            _rejected(5.0, 2, issuer=2, rejecter=0, issued_s=1.0, reason="no_session"),
            Row(6.0, 3, server=-1, outcome="server_down", latency_ms=1.0),
            Row(9.0, 3, server=1, outcome="ok", latency_ms=3.0),
        ]
    )
    windows = window_metrics(frame, [("before crash", 0.0, 5.0), ("after crash", 5.0, 10.0)])
    assert [window["requests"] for window in windows] == [2, 3]
    assert windows[0]["success_rate"] == pytest.approx(1.0)
    assert windows[1]["success_rate"] == pytest.approx(1 / 3)
    assert windows[1]["users_logged_out"] == 1
    assert windows[1]["forced_relogins"] == 1
    assert windows[1]["label"] == "after crash"
