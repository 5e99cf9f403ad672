"""The validation set: the model agrees with theory, and a wrong theory is caught."""

from __future__ import annotations

import math
from typing import Any

import pytest
from typer.testing import CliRunner

import simulator.cli.experiments
from simulator.cli.app import app
from simulator.experiments import theory
from simulator.experiments.replications import Interval
from simulator.experiments.validation import CaseResult, case_names, routing, validate
from simulator.model.balancer import ConsistentHash

runner = CliRunner()


@pytest.fixture(scope="module")
def fast_rows() -> list[CaseResult]:
    return validate(fast=True)


@pytest.mark.slow
def test_fast_set_agrees_with_theory(fast_rows: list[CaseResult]) -> None:
    failed = [
        f"{row.case} {row.quantity}: {row.simulated} vs {row.theory:.4g}"
        for row in fast_rows
        if not row.passed
    ]
    assert not failed
    assert {row.case for row in fast_rows} == set(case_names())
    for row in fast_rows:
        assert abs(row.relative_error) < 0.03, row
        assert row.simulated.n >= 2
        assert math.isfinite(row.simulated.half_width)
        assert row.simulated.half_width / abs(row.theory) < 0.05, row  # tight enough to mean it


@pytest.mark.slow
def test_fast_set_rows_have_the_documented_form(fast_rows: list[CaseResult]) -> None:
    quantities = [(row.case, row.quantity) for row in fast_rows]
    assert ("mm1", "mean response time") in quantities
    assert ("mmc", "mean response time") in quantities
    assert ("store", "store op latency") in quantities
    assert ("local", "success rate") in quantities
    little = [row for row in fast_rows if row.case == "little"]
    assert len(little) == 2  # one row per server
    by_quantity = {row.quantity: row for row in fast_rows}
    assert by_quantity["ip_hash keys moved 9→10"].theory == pytest.approx(0.9)
    assert by_quantity["consistent_hash keys moved 9→10"].theory == pytest.approx(0.1)
    document = fast_rows[0].to_dict()
    assert {"case", "quantity", "checks", "simulated", "theory", "relative_error"} <= set(document)
    assert document["passed"] is True


@pytest.mark.slow
def test_cli_prints_the_table_and_exits_0(
    fast_rows: list[CaseResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the rows of the fast set computed once by the fixture (the set takes ~10 s)
    calls: list[dict[str, Any]] = []

    def already_run(**options: Any) -> list[CaseResult]:
        calls.append(options)
        return fast_rows

    monkeypatch.setattr(simulator.cli.experiments, "run_validation", already_run)
    result = runner.invoke(app, ["validate", "--fast"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert calls[0]["fast"] is True
    assert calls[0]["cases"] is None
    out = result.stdout
    assert "Validation: simulation against theory (fast set)" in out
    for name in case_names():
        assert name in out
    assert out.count("PASS") == len(fast_rows) + 1  # every row and the verdict
    assert "FAIL" not in out
    assert "20.00 ms" in out  # the M/M/1 theory, 4 significant digits
    assert f"all {len(fast_rows)} checks agree with theory" in out.splitlines()[-1]


def test_cli_end_to_end_exits_0() -> None:
    result = runner.invoke(app, ["validate", "--fast", "--case", "remap"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "ip_hash keys moved 9→10" in result.stdout
    assert "90.00%" in result.stdout
    assert "all 2 checks agree with theory" in result.stdout.splitlines()[-1]


def test_a_wrong_theory_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    right = theory.mm1_mean_response

    def doubled(arrival_rate: float, service_rate: float) -> float:
        return 2 * right(arrival_rate, service_rate)

    monkeypatch.setattr(theory, "mm1_mean_response", doubled)
    result = runner.invoke(app, ["validate", "--fast", "--case", "mm1"])
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "FAIL" in result.stdout
    assert "1 of 2 checks disagree" in result.stdout
    assert "mm1 mean response time" in result.stdout.splitlines()[-1]


def test_a_wrong_hashing_theory_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(theory, "consistent_hash_remap_fraction", lambda before, after: 0.2)
    rows = validate(fast=True, cases=["remap"])  # only the selected case runs
    verdict = {row.quantity: row.passed for row in rows}
    assert verdict == {
        "ip_hash keys moved 9→10": True,
        "consistent_hash keys moved 9→10": False,
    }


def test_unknown_case() -> None:
    with pytest.raises(ValueError, match="unknown validation case 'mm2'"):
        validate(cases=["mm2"])
    result = runner.invoke(app, ["validate", "--case", "little_law"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --case: unknown case 'little_law'")
    assert "did you mean" in result.stderr


def test_bulk_ring_points_are_the_balancers() -> None:
    points = routing.ring_points([3, 17], 50)
    for (server, replica), value in list(points.items())[::7]:
        assert value == ConsistentHash.point(server, replica)


def interval(mean: float, half_width: float) -> Interval:
    return Interval(mean, half_width, 10)


@pytest.mark.parametrize(
    ("mean", "half_width", "passed"),
    [
        (101.0, 2.0, True),  # 1% off, inside the interval
        (102.5, 1.5, True),  # outside the 95% interval, inside twice it
        (102.5, 1.0, False),  # under 3% but more than 2 half-widths off: a bias
        (104.0, 10.0, False),  # inside a wide interval but 4% off
        (97.5, math.nan, True),  # one replication: only the tolerance applies
    ],
)
def test_pass_rule(mean: float, half_width: float, passed: bool) -> None:
    row = CaseResult("x", "q", "checks", interval(mean, half_width), 100.0, "ms")
    assert row.passed is passed
    assert row.relative_error == pytest.approx((mean - 100.0) / 100.0)


def test_an_exact_quantity_is_held_to_its_own_tolerance_only() -> None:
    # the hop case: the same in every replication, its interval is float rounding
    exact = CaseResult("hop", "q", "checks", interval(5.0 + 1e-12, 1e-14), 5.0, "ms", 1e-6)
    assert exact.exact and exact.passed and not exact.theory_in_ci
    off = CaseResult("hop", "q", "checks", interval(5.001, 1e-14), 5.0, "ms", 1e-6)
    assert off.exact and not off.passed  # 2e-4 relative: beyond its 1e-6
    noisy = CaseResult("x", "q", "checks", interval(5.0, 0.01), 5.0, "ms")
    assert not noisy.exact
