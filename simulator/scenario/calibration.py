"""Calibration profiles: authentication costs measured on the user's machine.

``authsim calibrate`` writes a profile; a scenario uses it with ``calibration: path``
(relative to the scenario file). Costs the scenario sets explicitly win over the
profile; the profile wins over the reference costs of :mod:`simulator.costs.reference`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulator.atomic import write_text
from simulator.errors import ScenarioError
from simulator.scenario import safe_yaml


class _Part(BaseModel):
    # a measured cost is a finite number: NaN or infinity would flow into every run
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


PositiveCost = Annotated[float, Field(gt=0, allow_inf_nan=False)]
"""A measured time: finite and above zero."""


class JwtCosts(_Part):
    """Token costs per algorithm, as measured by ``authsim calibrate``.

    Attributes:
        verify_us: one verification by the project's verifier (``simulator.tokens.Verifier``:
            PyJWT's signature check plus the RFC 8725 header and claim checks), microseconds.
        sign_us: one ``simulator.tokens.issue_token`` (PyJWT's ``encode``), microseconds.
        token_bytes: size of a compact token with the standard six claims, bytes.
    """

    verify_us: dict[str, PositiveCost] = Field(default_factory=dict)
    sign_us: dict[str, PositiveCost] = Field(default_factory=dict)
    token_bytes: dict[str, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)


class LoginCosts(_Part):
    """Password hashing.

    Attributes:
        pbkdf2_sha256_ms: one PBKDF2-SHA256 hash at ``iterations``, milliseconds.
        iterations: the iteration count measured (OWASP: 600,000).
    """

    pbkdf2_sha256_ms: float = Field(gt=0)
    iterations: int = Field(gt=0)


class StoreCosts(_Part):
    """Round trips to a real Redis server, and the server's own time per operation.

    Attributes:
        url: the server measured (credentials removed).
        get_ms: median GET round trip (wall time, client side), milliseconds.
        set_ms: median SET round trip (wall time, client side), milliseconds.
        server_get_ms: mean time the server itself spent on one of the timed GETs
            (``INFO commandstats``: the change in ``usec`` over the change in ``calls``),
            milliseconds; ``None`` when the server would not say, or in older profiles.
        server_set_ms: the same for SET, milliseconds.
    """

    url: str
    get_ms: float = Field(gt=0)
    set_ms: float = Field(gt=0)
    server_get_ms: float | None = Field(default=None, ge=0)
    server_set_ms: float | None = Field(default=None, ge=0)

    @property
    def op_time_ms(self) -> float | None:
        """The server's mean time per operation, GET and SET alike, milliseconds: what a
        scenario's ``shared_store.op_time_ms`` stands for (``None`` when not measured)."""
        known = [ms for ms in (self.server_get_ms, self.server_set_ms) if ms is not None]
        return sum(known) / len(known) if known else None


class CalibrationProfile(_Part):
    """Everything ``authsim calibrate`` measured.

    Attributes:
        machine: where it was measured (platform, Python, PyJWT, cryptography versions),
            how, and whether under contention (``contended``, ``load_average``,
            ``cores``, ``cpu_over_wall``: see :mod:`simulator.costs.contention`).
        measured_at: when (ISO 8601).
        jwt: PyJWT sign and verify costs and token sizes per algorithm.
        login: password hashing cost.
        store: Redis round trips and server times, when a Redis URL was given.
    """

    machine: dict[str, str] = Field(default_factory=dict)
    measured_at: str = ""
    jwt: JwtCosts = JwtCosts()
    login: LoginCosts | None = None
    store: StoreCosts | None = None


def load_profile(path: str | Path) -> CalibrationProfile:
    """Read and validate a profile.

    A file is parsed once while it is unchanged: every strategy, replication and sweep
    point that uses the same profile shares one (immutable) :class:`CalibrationProfile`;
    a file that changed (size or modification time) is read again.

    Raises:
        ScenarioError: missing file, broken YAML or invalid content (one line).
    """
    source = str(path)
    try:
        stat = Path(path).stat()
    except OSError as exc:
        raise ScenarioError(source, None, f"cannot read: {exc.strerror or exc}") from None
    return _parse_profile(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size, source)


@functools.lru_cache(maxsize=8)
def _parse_profile(resolved: str, mtime_ns: int, size: int, source: str) -> CalibrationProfile:
    """Parse the profile at ``resolved``; cached by path, modification time and size."""
    try:
        data = safe_yaml.parse(safe_yaml.read_file(resolved))
    except OSError as exc:
        raise ScenarioError(source, None, f"cannot read: {exc.strerror or exc}") from None
    except safe_yaml.UnsafeYamlError as exc:
        raise ScenarioError(source, None, str(exc)) from None
    if data is not None and not isinstance(data, dict):
        raise ScenarioError(source, None, "a profile must be a mapping of keys to values")
    try:
        return CalibrationProfile.model_validate(data or {})
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        key = ".".join(str(part) for part in error["loc"]) or None
        problem = "unknown key" if error["type"] == "extra_forbidden" else str(error["msg"])
        raise ScenarioError(source, key, problem) from None


def save_profile(profile: CalibrationProfile, path: str | Path) -> None:
    """Write a profile as YAML, atomically (a temporary file, then a rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = "# authsim calibration profile: `calibration: <this file>` in a scenario\n"
    text += yaml.safe_dump(profile.model_dump(mode="json"), sort_keys=False)
    write_text(target, text)
