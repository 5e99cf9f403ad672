"""Regression: two small scenarios pinned to their saved results, compared exactly.

The model is deterministic (same scenario, same seed: the same bytes), so any change to
any number of these runs is a change of the model's behaviour. That may be intended (a
bug fix, a new effect): then regenerate the expected values deliberately and review the
diff of ``tests/regression/*.json`` like any other change::

    AUTHSIM_UPDATE_REGRESSION=1 .venv/bin/pytest tests/test_regression.py
    git diff tests/regression/

Each file holds the resolved scenario (every default filled in), the JSON document of
the run (``RunResult.to_dict()``, as ``authsim run --json`` prints it, values rounded to 6
decimals) and, per strategy, SHA-256 digests of the unrounded per-request records and
time series, so that even a change below the sixth decimal fails. The runs use the
*saved* scenario, not the YAML file, so a changed number always means a changed model.
A separate test fails when the built-in scenario (``scenarios/*.yaml`` or a default) no
longer matches the saved one; the same deliberate update brings them back together.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simulator import RunResult, load_scenario, run
from simulator.scenario.loading import validate_scenario

REGRESSION_DIR = Path(__file__).parent / "regression"
UPDATE_VARIABLE = "AUTHSIM_UPDATE_REGRESSION"
HOW_TO_UPDATE = (
    f"If this change is intended, regenerate the expected values with "
    f"{UPDATE_VARIABLE}=1 .venv/bin/pytest tests/test_regression.py and review "
    f"`git diff tests/regression/`."
)

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    # no faults: the four strategies' costs, 25 s measured
    "baseline-30s": ("baseline", {"duration_s": 30, "warmup_s": 5}),
    # the built-in crash (server 2 at 42 s) and recovery (77 s), cut short after the
    # balancer takes the server back (health check at 80 s)
    "server-crash-85s": ("server-crash", {"duration_s": 85}),
}


def digest(*arrays: Any) -> str:
    """SHA-256 of the exact bytes of some arrays (shape and dtype included)."""
    sha = hashlib.sha256()
    for item in arrays:
        array = np.ascontiguousarray(item)
        sha.update(f"{array.dtype.str}{array.shape}".encode())
        sha.update(array.tobytes())
    return sha.hexdigest()


def records(result: RunResult) -> dict[str, dict[str, str]]:
    """Per strategy: digests of the request records and of the time series."""
    out: dict[str, dict[str, str]] = {}
    for item in result.results:
        log = result.logs[item.strategy]
        series = item.series
        assert series is not None
        out[item.strategy] = {
            "requests_sha256": digest(
                log.arrival_s, log.user, log.server, log.outcome, log.latency_ms, log.cause
            ),
            "timeseries_sha256": digest(
                series.t_s,
                series.requests,
                series.succeeded,
                series.served,
                series.errors,
                series.forced_relogins,
                series.latency_ms,
                series.login_cpu_s,
                series.server_jobs,
                series.queue_length,
                series.up_fraction,
            ),
        }
    return out


def document(scenario_data: dict[str, Any]) -> dict[str, Any]:
    """What a regression file holds, computed now from a resolved scenario."""
    scenario = validate_scenario(scenario_data, "regression")
    result = run(scenario)
    return {
        "about": (
            "Expected output of tests/test_regression.py. Do not edit by hand; "
            f"regenerate deliberately with {UPDATE_VARIABLE}=1."
        ),
        "scenario": scenario.model_dump(mode="json"),
        "summary": json.loads(result.to_json()),
        "records": records(result),
    }


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Every place two JSON values differ, as ``path: expected X, got Y``."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found: list[str] = []
        for key in sorted(set(expected) | set(actual), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                found.append(f"{where}: missing now (expected {expected[key]!r})")
            elif key not in expected:
                found.append(f"{where}: new (got {actual[key]!r})")
            else:
                found += differences(expected[key], actual[key], where)
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: {len(expected)} items expected, got {len(actual)}"]
        found = []
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            name = left.get("strategy") if isinstance(left, dict) else None
            found += differences(left, right, f"{path}[{name or index}]")
        return found
    if type(expected) is not type(actual) or expected != actual:
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []


@pytest.mark.parametrize("case", sorted(CASES))
def test_summary_matches_the_saved_values(case: str) -> None:
    path = REGRESSION_DIR / f"{case}.json"
    if os.environ.get(UPDATE_VARIABLE) == "1":
        name, overrides = CASES[case]
        scenario = load_scenario(name, overrides).model_dump(mode="json")
        REGRESSION_DIR.mkdir(exist_ok=True)
        path.write_text(json.dumps(document(scenario), indent=2) + "\n", encoding="utf-8")
        pytest.skip(f"{UPDATE_VARIABLE}=1: rewrote {path.name}; review the diff")
    if not path.is_file():
        pytest.fail(f"{path} is missing. {HOW_TO_UPDATE}")
    expected = json.loads(path.read_text(encoding="utf-8"))
    actual = json.loads(json.dumps(document(expected["scenario"])))
    found = differences(expected, actual)
    if found:
        shown = "\n  ".join(found[:25])
        more = f"\n  ... and {len(found) - 25} more" if len(found) > 25 else ""
        pytest.fail(
            f"{case}: the model's output changed ({len(found)} difference"
            f"{'s' if len(found) != 1 else ''}):\n  "
            f"{shown}{more}\n{HOW_TO_UPDATE}",
            pytrace=False,
        )


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_saved_scenarios_are_still_the_built_in_ones(case: str) -> None:
    """The saved scenario is the built-in one with the case's overrides, every default
    filled in. The regression run above uses the saved copy, so without this check a
    built-in scenario (or a default) could drift away and the pinned numbers would keep
    passing for a scenario nobody ships any more. Only the update mode rewrites files."""
    if os.environ.get(UPDATE_VARIABLE) == "1":
        pytest.skip(f"{UPDATE_VARIABLE}=1: the saved scenarios are being rewritten")
    path = REGRESSION_DIR / f"{case}.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing. {HOW_TO_UPDATE}", pytrace=False)
    name, overrides = CASES[case]
    saved = json.loads(path.read_text(encoding="utf-8"))["scenario"]
    now = json.loads(json.dumps(load_scenario(name, overrides).model_dump(mode="json")))
    drift = differences(saved, now)
    if drift:
        shown = "\n  ".join(drift[:10])
        more = f"\n  ... and {len(drift) - 10} more" if len(drift) > 10 else ""
        pytest.fail(
            f"{case}: the built-in scenario {name!r} (with {overrides}) no longer matches "
            f"the one saved in {path.name}:\n  {shown}{more}\n"
            f"The regression run uses the saved copy, so its numbers no longer describe "
            f"the scenario as it is shipped. {HOW_TO_UPDATE}",
            pytrace=False,
        )


def test_the_comparison_catches_any_change() -> None:
    expected = {"results": [{"strategy": "jwt", "latency_ms": {"p95": 29.783147}}]}
    changed = {"results": [{"strategy": "jwt", "latency_ms": {"p95": 29.783148}}]}
    assert differences(expected, changed) == [
        "results[jwt].latency_ms.p95: expected 29.783147, got 29.783148"
    ]
    assert differences(expected, json.loads(json.dumps(expected))) == []
    assert differences({"a": 1}, {"a": 1.0}) == ["a: expected 1, got 1.0"]
    assert differences({"a": [1, 2]}, {"a": [1]}) == ["a: 2 items expected, got 1"]
    assert differences({"a": 1}, {"b": 1}) == [
        "a: missing now (expected 1)",
        "b: new (got 1)",
    ]
    assert digest(np.array([1.0])) != digest(np.array([1.0 + 1e-15]))
