"""Measured costs next to the reference costs they would replace (``authsim calibrate``).

:func:`compare` sets each figure of a calibration profile against its reference: JWT
and login costs against :mod:`simulator.costs.reference`, Redis round trips and the
server's own time per operation against the default scenario's ``shared_store``. Each
row says how it was timed (:attr:`Comparison.clock`), so text generated from it can say
which figures a busy machine inflates
(:func:`~simulator.costs.contention.contention_note`).
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.costs import reference as costs
from simulator.scenario.calibration import CalibrationProfile, StoreCosts
from simulator.scenario.models import SharedStore


@dataclass(frozen=True)
class Comparison:
    """One measured figure next to its reference cost.

    Attributes:
        operation: what was measured (``verify RS256``).
        unit: ``µs``, ``ms`` or ``bytes``.
        measured: the figure measured here.
        reference: the reference figure (``None`` when there is none).
        reference_source: where the reference comes from.
        clock: how it was timed: ``cpu`` (thread CPU time, comparable on a busy
            machine), ``wall`` (wall time, inflated on a busy machine), ``server``
            (Redis's own ``INFO commandstats``), or ``""`` for a size.
    """

    operation: str
    unit: str
    measured: float
    reference: float | None
    reference_source: str = "simulator.costs.reference"
    clock: str = ""

    @property
    def ratio(self) -> float | None:
        """Measured over reference (above 1: slower or bigger here)."""
        if self.reference is None or self.reference == 0:
            return None
        return self.measured / self.reference

    def measured_text(self) -> str:
        return _quantity(self.measured, self.unit)

    def reference_text(self) -> str:
        return "–" if self.reference is None else _quantity(self.reference, self.unit)

    def ratio_text(self) -> str:
        return "–" if self.ratio is None else f"{self.ratio:.2f}×"


def _quantity(value: float, unit: str) -> str:
    if unit == "bytes":
        return f"{value:,.0f} bytes"
    if unit == "ms" and value < 10:
        return f"{value:.3f} ms"
    return f"{value:,.1f} {unit}"


def compare(profile: CalibrationProfile) -> list[Comparison]:
    """Every figure of ``profile`` with the reference cost it would replace.

    JWT and login references come from :mod:`simulator.costs.reference`; Redis round trips are set
    against the default scenario's store round trip (``rtt_ms + op_time_ms``), and the
    server's own time per GET and SET (in µs) against its ``shared_store.op_time_ms``.
    Whether the profile was measured under contention is
    :func:`~simulator.costs.contention.contention_note`.
    """
    rows: list[Comparison] = []
    jwt_costs = profile.jwt
    source = "simulator.costs.reference"
    for name, measured, reference, unit, clock in (
        ("sign", jwt_costs.sign_us, costs.JWT_SIGN_US, "µs", "cpu"),
        ("verify", jwt_costs.verify_us, costs.JWT_VERIFY_US, "µs", "cpu"),
        ("token", jwt_costs.token_bytes, costs.JWT_TOKEN_BYTES, "bytes", ""),
    ):
        for algorithm, value in measured.items():
            rows.append(
                Comparison(
                    f"{name} {algorithm}", unit, value, reference.get(algorithm), source, clock
                )
            )
    if profile.login is not None:
        rows.append(
            Comparison(
                f"login PBKDF2-SHA256 {profile.login.iterations:,}",
                "ms",
                profile.login.pbkdf2_sha256_ms,
                costs.LOGIN_PBKDF2_MS,
                source,
                "cpu",
            )
        )
    if profile.store is not None:
        rows.extend(_store_rows(profile.store))
    return rows


def _store_rows(store: StoreCosts) -> list[Comparison]:
    default = SharedStore()
    round_trip = default.rtt_ms + default.op_time_ms
    source = "scenario default shared_store.rtt_ms + op_time_ms"
    rows = [
        Comparison("Redis GET", "ms", store.get_ms, round_trip, source, "wall"),
        Comparison("Redis SET", "ms", store.set_ms, round_trip, source, "wall"),
    ]
    op_time_us = default.op_time_ms * 1000.0
    source = "scenario default shared_store.op_time_ms"
    for name, server_ms in (("GET", store.server_get_ms), ("SET", store.server_set_ms)):
        if server_ms is not None:
            rows.append(
                Comparison(
                    f"Redis {name} server time", "µs", server_ms * 1000.0, op_time_us, source,
                    "server",
                )
            )  # fmt: skip
    return rows
