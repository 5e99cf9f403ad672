"""The cheat sheet's "Where the costs come from": each real-world figure the page quotes,
its source (:mod:`simulator.costs.sources`), or a note that the runs set it or a
calibration measured it (and whether under contention)."""

from __future__ import annotations

from collections.abc import Mapping

from simulator.costs import sources
from simulator.costs.contention import contention_note
from simulator.costs.reference import LOGIN_PBKDF2_MS
from simulator.costs.sources import SOURCES
from simulator.scenario.calibration import load_profile
from simulator.scenario.models import Scenario

COST_SOURCES: dict[str, str] = {
    "shared_store.op_time_ms": "shared_store.op_time_ms",
    "shared_store.rtt_ms": "shared_store.rtt_ms",
    "failover.failover_s": "shared_store.failover_s",
    "jwt.ttl_s": "jwt.ttl_s",
    "relogin_delay_s": "workload.relogin_delay_s.mean_s",
}
"""Number key of the sheet -> the setting it is (its source in
:data:`simulator.costs.sources.SOURCES`)."""


def cost_source_lines(numbers: Mapping[str, float], baseline: Scenario) -> list[str]:
    """The section's Markdown lines.

    Args:
        numbers: the sheet's numbers (keys of :data:`COST_SOURCES`, ``login_ms`` and
            ``saturation.op_time_ms``).
        baseline: the scenario of the sheet's baseline study (its calibration, if any).
    """
    lines = ["## Where the costs come from", ""]
    for key, dotted in COST_SOURCES.items():
        entry, usual = SOURCES[dotted], sources.default(dotted)
        note = (
            entry.source
            if numbers[key] == usual
            else f"set for these runs (default {usual:g} {entry.unit}: {entry.source})"
        )
        lines.append(f"- {entry.what}: {numbers[key]:g} {entry.unit}; {note}.")
    profile = load_profile(baseline.calibration) if baseline.calibration else None
    note = contention_note(profile) if profile is not None else ""
    return [
        *lines,
        f"- a password login: {numbers['login_ms']:g} ms of CPU; "
        f"{login_source(numbers['login_ms'], baseline)}.",
        f"- `store-saturation`'s {numbers['saturation.op_time_ms']:g} ms per operation: a slow "
        "store on purpose, a session table in a SQL database or an overloaded Redis.",
        "- token costs: the table above (PyJWT 2.15.1 on a 2-core VM, or a calibration).",
        *([f"- the calibration profile was {note}."] if note else []),
    ]


def login_source(login_ms: float, baseline: Scenario) -> str:
    """Where the runs' password-login cost ``login_ms`` came from: a calibration profile
    (when the scenario did not set ``cluster.login_cpu_ms`` itself), the reference
    PBKDF2 measurement, or a value set for the runs."""
    profile = load_profile(baseline.calibration) if baseline.calibration else None
    if (
        profile is not None
        and profile.login is not None
        and "login_cpu_ms" not in baseline.cluster.model_fields_set
    ):
        return "calibrated on this machine"
    if login_ms == LOGIN_PBKDF2_MS:
        return "PBKDF2-SHA256 at OWASP's 600,000 iterations, measured"
    return "set for these runs"
