"""Scenario models, YAML loading and ``--set`` overrides.

A scenario is one YAML file under ``scenarios/`` (or any path). It is validated by the
pydantic models below, which forbid unknown keys, so a typo is an error rather than a
silently ignored setting. Every problem is reported as a :class:`ScenarioError` whose
string form is one line: ``<source>: <key.path>: <what is wrong>``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from simulator.errors import ScenarioError
from simulator.scenario.calibration import load_profile
from simulator.scenario.events import Event, ScaleOut
from simulator.scenario.profiles import ConstantRate, RateProfile


class StrategyName(StrEnum):
    """The four ways a backend can remember who is logged in."""

    LOCAL = "local"
    STICKY = "sticky"
    SHARED_STORE = "shared_store"
    JWT = "jwt"


class _Section(BaseModel):
    """Base of every scenario section: unknown keys are errors, values are checked on set."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )


class ServiceTime(_Section):
    """Business work per request on a server, in milliseconds of one worker's time.

    Attributes:
        distribution: ``exponential`` (memoryless, the M/M/c case), ``constant`` or
            ``lognormal`` (heavy-ish tail; ``sigma`` is the log-space standard deviation).
        mean: mean service time in ms.
        sigma: shape of the lognormal distribution (ignored by the others).
    """

    distribution: Literal["exponential", "constant", "lognormal"] = "exponential"
    mean: float = Field(10.0, gt=0)
    sigma: float = Field(1.0, gt=0)


class Workload(_Section):
    """Who sends requests and how often.

    Attributes:
        users: number of distinct users (clients), each holding one credential.
        arrival_rate_per_s: Poisson arrival rate of authenticated requests, per second.
        user_weights: how requests are spread over users: ``uniform`` or ``zipf``
            (user k gets weight 1 / k**zipf_exponent).
        zipf_exponent: skew of the Zipf weights (larger = a few users dominate).
        users_per_ip: users sharing one client IP address (behind one NAT).
        logged_in_at_start: every user holds a credential at time 0, as on a site that
            has been running for a while; otherwise each user's first request logs in.
        rate_profile: how the arrival rate changes over time (``constant``, ``ramp`` or
            ``diurnal``; see :mod:`simulator.scenario.profiles`).
    """

    users: int = Field(2000, ge=1)
    arrival_rate_per_s: float = Field(100.0, gt=0)
    user_weights: Literal["uniform", "zipf"] = "uniform"
    zipf_exponent: float = Field(1.0, gt=0)
    users_per_ip: int = Field(1, ge=1)
    logged_in_at_start: bool = True
    rate_profile: RateProfile = ConstantRate()


class Cluster(_Section):
    """The servers behind the load balancer.

    Attributes:
        servers: number of servers N.
        workers_per_server: requests one server processes at once.
        queue_limit: requests that may wait per server; one more is an ``overload`` error.
        service_time_ms: business work per request.
        login_cpu_ms: CPU time of one password login (PBKDF2-SHA256 at 600k iterations is
            about 140 ms).
        request_timeout_ms: a request answered later than this counts as ``timeout``.
        network_mbps: client-to-server bandwidth, megabits per second; each request
            spends ``credential bytes / bandwidth`` receiving its credential (``null``:
            not modelled).
    """

    servers: int = Field(5, ge=1)
    workers_per_server: int = Field(4, ge=1)
    queue_limit: int = Field(100, ge=0)
    service_time_ms: ServiceTime = ServiceTime()
    login_cpu_ms: float = Field(140.0, ge=0)
    request_timeout_ms: float = Field(10_000.0, gt=0)
    network_mbps: float | None = Field(None, gt=0)


class LoadBalancer(_Section):
    """How the load balancer spreads requests for ``local``, ``shared_store`` and ``jwt``.

    Attributes:
        policy: ``round_robin``, ``random``, ``least_connections`` or ``power_of_two``.
        health_check_interval_s: how often the balancer learns which servers are up.
    """

    policy: Literal["round_robin", "random", "least_connections", "power_of_two"] = "round_robin"
    health_check_interval_s: float = Field(5.0, gt=0)


class Sticky(_Section):
    """Affinity of the ``sticky`` strategy.

    Attributes:
        affinity: ``cookie`` (the balancer pins a user to the server that first served
            it), ``ip_hash`` (hash of the client IP modulo the live servers) or
            ``consistent_hash`` (a hash ring of the client IP).
        virtual_nodes: points per server on the consistent-hash ring.
    """

    affinity: Literal["cookie", "ip_hash", "consistent_hash"] = "cookie"
    virtual_nodes: int = Field(100, ge=1, le=10_000)


class SharedStore(_Section):
    """The Redis-like session store of the ``shared_store`` strategy.

    Attributes:
        rtt_ms: network round trip between a server and the store, ms.
        op_time_ms: mean time the single-threaded store spends on one operation
            (exponential), ms.
        pool_size: connections per server; a worker waits when all are busy.
        on_outage: what a server does when the store cannot be reached: ``fail`` (the
            request fails with ``store_unavailable``) or ``relogin_local`` (degrade to
            local sessions: a login keeps its session in that server's memory, a request
            is accepted if this server's memory holds its session and otherwise forces a
            re-login; once the store is back, sessions made meanwhile are not in it).
    """

    rtt_ms: float = Field(0.5, ge=0)
    op_time_ms: float = Field(0.1, gt=0)
    pool_size: int = Field(10, ge=1)
    on_outage: Literal["fail", "relogin_local"] = "fail"


class Jwt(_Section):
    """Self-contained signed tokens of the ``jwt`` strategy.

    Attributes:
        algorithm: signing algorithm (RFC 7518 / RFC 8037 name).
        verify_ms: CPU per verification, ms; ``null`` uses the reference cost of the
            algorithm (see :mod:`simulator.costs.reference`).
        sign_ms: CPU to sign a token at login, ms; ``null`` uses the reference cost.
        ttl_s: lifetime of an access token, seconds; an expired token forces a new login
            (or, with ``refresh``, a refresh). The default is a day: with no refresh
            flow, a short lifetime makes every user type a password again each ``ttl_s``.
        refresh: keep a refresh token per user in the store; an expired access token is
            renewed with one store round trip (and a signature) instead of a login.
        refresh_ttl_s: lifetime of a refresh token, seconds.
        denylist: how revoked tokens are refused before they expire: ``none`` (they are
            not: the exposure window), ``store`` (every request asks the store) or
            ``local_cache`` (each server keeps a copy, refreshed every ``sync_s``).
        sync_s: how often each server refreshes its copy of the denylist, seconds.
    """

    algorithm: Literal["HS256", "RS256", "PS256", "ES256", "EdDSA"] = "HS256"
    verify_ms: float | None = Field(None, ge=0)
    sign_ms: float | None = Field(None, ge=0)
    ttl_s: float = Field(86_400.0, gt=0)
    refresh: bool = False
    refresh_ttl_s: float = Field(30 * 86_400.0, gt=0)
    denylist: Literal["none", "store", "local_cache"] = "none"
    sync_s: float = Field(10.0, gt=0)


class Scenario(_Section):
    """One complete simulation setup: traffic, cluster, balancer and strategy options.

    Attributes:
        name: short identifier, used in output.
        description: what the scenario shows and what to look for.
        seed: root of every random stream; same seed, same results.
        duration_s: simulated time during which requests arrive, seconds.
        warmup_s: requests arriving before this time are simulated but not counted.
        strategies: the strategies compared, all on the same traffic.
        bucket_s: width of the time-series buckets, seconds (``null``: about 60 buckets
            over the measured window).
        events: the timeline of faults and changes (see :mod:`simulator.scenario.events`).
        calibration: a profile written by ``authsim calibrate`` (a path, relative to the
            scenario file); its measured costs replace the reference ones.
    """

    name: str = "scenario"
    description: str = ""
    seed: int = Field(1, ge=0)
    duration_s: float = Field(60.0, gt=0)
    warmup_s: float = Field(0.0, ge=0)
    strategies: list[StrategyName] = Field(default_factory=lambda: list(StrategyName), min_length=1)
    workload: Workload = Workload()
    cluster: Cluster = Cluster()
    load_balancer: LoadBalancer = LoadBalancer()
    sticky: Sticky = Sticky()
    shared_store: SharedStore = SharedStore()
    jwt: Jwt = Jwt()
    bucket_s: float | None = Field(None, gt=0)
    events: list[Event] = Field(default_factory=list)
    calibration: str | None = None

    @field_validator("warmup_s")
    @classmethod
    def _warmup_inside_run(cls, warmup_s: float, info: ValidationInfo) -> float:
        duration_s = info.data.get("duration_s")
        if duration_s is not None and warmup_s >= duration_s:
            raise ValueError(f"must be less than duration_s ({duration_s:g}) (got {warmup_s:g})")
        return warmup_s

    @field_validator("strategies")
    @classmethod
    def _strategies_once(cls, strategies: list[StrategyName]) -> list[StrategyName]:
        seen = set()
        for name in strategies:
            if name in seen:
                raise ValueError(f"lists {str(name)!r} twice")
            seen.add(name)
        return strategies

    @model_validator(mode="after")
    def _events_fit_the_run(self) -> Scenario:
        added_by: list[tuple[float, int]] = sorted(
            (event.at_s, event.count) for event in self.events if isinstance(event, ScaleOut)
        )
        for position, event in enumerate(self.events):
            if event.at_s >= self.duration_s:
                raise _EventError(
                    position, "at_s", f"must be before duration_s ({self.duration_s:g})"
                )
            target = getattr(event, "server", None)
            if target is not None:
                existing = self.cluster.servers + sum(
                    count for at_s, count in added_by if at_s <= event.at_s
                )
                if target >= existing:
                    raise _EventError(
                        position,
                        "server",
                        f"no server {target} at {event.at_s:g} s ({existing} servers, "
                        f"numbered from 0)",
                    )
        return self

    @property
    def time_bucket_s(self) -> float:
        """The time-series bucket width: ``bucket_s`` or about 60 buckets, seconds."""
        if self.bucket_s is not None:
            return self.bucket_s
        return _nice_step(self.measured_s / 60)

    @property
    def measured_s(self) -> float:
        """Length of the measured window (``duration_s - warmup_s``), seconds."""
        return self.duration_s - self.warmup_s

    def with_overrides(self, overrides: Mapping[str, Any], source: str = "overrides") -> Scenario:
        """Return a copy with dotted-key overrides applied and validated.

        Args:
            overrides: ``{"cluster.servers": 10, ...}``.
            source: how errors name where the overrides came from.

        Raises:
            ScenarioError: an unknown key or an invalid value.
        """
        data = self.model_dump(mode="json")
        for dotted, value in overrides.items():
            _set_dotted(data, dotted, value, source)
        return validate_scenario(data, source)


class _EventError(ValueError):
    """A problem with one event that only the whole scenario can see."""

    def __init__(self, position: int, key: str, problem: str) -> None:
        self.key_path = f"events.{position}.{key}"
        self.problem = problem
        super().__init__(f"{self.key_path}: {problem}")


def _nice_step(raw_s: float) -> float:
    """Round a step up to 1, 2 or 5 times a power of ten (0.1, 0.2, 0.5, 1, 2, 5...)."""
    if raw_s <= 0:
        return 1.0
    exponent = math.floor(math.log10(raw_s))
    for factor in (1, 2, 5, 10):
        step = factor * 10.0**exponent
        if step >= raw_s * (1 - 1e-9):
            return float(f"{step:.12g}")
    return 10.0 ** (exponent + 1)


# ---------------------------------------------------------------- loading and errors


def scenario_dirs() -> list[Path]:
    """Folders searched for built-in scenarios, in order.

    The repository's ``scenarios/`` (source checkout or editable install) comes first, then
    the copy packed into the wheel as ``simulator/_scenarios``.
    """
    package_dir = Path(__file__).resolve().parent.parent
    return [package_dir.parent / "scenarios", package_dir / "_scenarios"]


def builtin_scenarios() -> dict[str, Path]:
    """Map each built-in scenario name (file stem) to its YAML file, sorted by name."""
    found: dict[str, Path] = {}
    for folder in scenario_dirs():
        if folder.is_dir():
            for path in sorted(folder.glob("*.yaml")):
                found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


DEFAULT_SCENARIO = "baseline"


def resolve_scenario_path(ref: str | Path | None) -> Path:
    """Turn a scenario reference (a path or a built-in name) into a file path.

    Raises:
        ScenarioError: neither an existing file nor a built-in name.
    """
    if ref is None:
        ref = DEFAULT_SCENARIO
    path = Path(ref)
    if path.is_file():
        return path
    builtins = builtin_scenarios()
    name = str(ref).removesuffix(".yaml")
    if name in builtins:
        return builtins[name]
    if path.exists():
        raise ScenarioError(str(ref), None, "is not a file")
    hint = _suggest(name, builtins)
    known = ", ".join(builtins) or "none"
    raise ScenarioError(
        str(ref), None, f"no such file or built-in scenario{hint} (built-ins: {known})"
    )


def load_scenario(
    ref: str | Path | None = None, overrides: Mapping[str, Any] | Iterable[str] = ()
) -> Scenario:
    """Load, validate and override a scenario.

    Args:
        ref: a YAML path or the name of a built-in scenario; ``None`` is the default
            (``baseline``).
        overrides: dotted-key overrides, either a mapping ``{"cluster.servers": 10}`` or
            ``--set`` strings ``["cluster.servers=10"]`` (values parsed as YAML scalars).

    Returns:
        The validated scenario.

    Raises:
        ScenarioError: missing file, broken YAML, unknown key or invalid value.
    """
    path = resolve_scenario_path(ref)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(source, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(source, None, _yaml_problem(exc)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(source, None, "the file must be a mapping of keys to values")
    calibration = data.get("calibration")
    if isinstance(calibration, str) and not Path(calibration).is_absolute():
        data["calibration"] = str(path.parent / calibration)  # relative to the file
    if isinstance(overrides, Mapping):
        items = list(overrides.items())
        set_source = "override"
    else:
        items = [parse_set_option(option) for option in overrides]
        set_source = "--set"
    for dotted, value in items:
        _set_dotted(data, dotted, value, set_source)
    try:
        scenario = validate_scenario(data, source)
        if scenario.calibration is not None:
            load_profile(scenario.calibration)  # a bad profile is reported now, not mid-run
        return scenario
    except ScenarioError as exc:
        # a bad value given by an override is the override's fault, not the file's
        if exc.key_path and any(
            exc.key_path == key or exc.key_path.startswith(f"{key}.") for key, _ in items
        ):
            raise ScenarioError(set_source, exc.key_path, exc.problem) from None
        raise


def validate_scenario(data: Mapping[str, Any], source: str = "scenario") -> Scenario:
    """Validate a plain mapping as a :class:`Scenario`.

    Raises:
        ScenarioError: the first problem, on one line (with a count of the others).
    """
    try:
        return Scenario.model_validate(dict(data))
    except ValidationError as exc:
        raise _scenario_error(exc, source) from None


class _SetText(str):
    """The text of a ``--set`` value, read as YAML unless the key holds text."""

    __slots__ = ()


def parse_set_option(option: str) -> tuple[str, Any]:
    """Split one ``--set dotted.key=value`` string.

    The value is read as YAML (``10``, ``0.5``, ``true``, ``[jwt, local]``) once the key
    is known, except for keys that hold text (``name``, ``description``), which take it
    verbatim.

    Raises:
        ScenarioError: no ``=`` or an empty key.
    """
    key, sep, raw = option.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError("--set", option, "expected dotted.key=value")
    return key, _SetText(raw)


def _read_set_value(text: _SetText, annotation: Any) -> Any:
    if annotation is str:
        return str(text)
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return str(text)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    """Set ``data[a][b][c] = value`` for ``a.b.c``, checking every key against the models."""
    parts = dotted.split(".")
    model: type[BaseModel] | None = Scenario
    node = data
    for depth, part in enumerate(parts):
        fields = model.model_fields if model is not None else {}
        if part not in fields:
            where = ".".join(parts[: depth + 1])
            raise ScenarioError(source, where, f"unknown key{_suggest(part, fields)}")
        annotation = fields[part].annotation
        last = depth == len(parts) - 1
        if last:
            node[part] = _read_set_value(value, annotation) if type(value) is _SetText else value
            return
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            where = ".".join(parts[: depth + 1])
            raise ScenarioError(source, where, "is a value, not a section")
        model = annotation
        child = node.get(part)
        if child is None:
            child = {}
            node[part] = child
        elif not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise ScenarioError(source, where, "is a value here, not a section")
        node = child


def _suggest(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _strip(annotation: Any) -> Any:
    """``X`` for ``Annotated[X, ...]``; the annotation itself otherwise."""
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation


def _tagged_members(annotation: Any) -> dict[str, type[BaseModel]]:
    """For a union of models told apart by a literal ``kind``/``shape``: tag -> model."""
    if get_origin(annotation) not in {Union, UnionType}:
        return {}
    members: dict[str, type[BaseModel]] = {}
    for member in get_args(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            for key in ("kind", "shape"):
                field = member.model_fields.get(key)
                if field is not None and get_origin(field.annotation) is Literal:
                    members[str(get_args(field.annotation)[0])] = member
    return members


def _resolve(loc: tuple[str | int, ...]) -> tuple[str | None, dict[str, Any]]:
    """Walk an error location through the models.

    Returns:
        The dotted key path as a user writes it (union tags such as the event kind
        left out), and the keys valid in the section where the walk ended.
    """
    path: list[str] = []
    annotation: Any = Scenario
    fields: dict[str, Any] = dict(Scenario.model_fields)
    for part in loc:
        annotation = _strip(annotation)
        members = _tagged_members(annotation)
        if isinstance(part, str) and part in members:
            annotation = members[part]
            fields = dict(members[part].model_fields)
            continue
        path.append(str(part))
        if isinstance(part, int) and get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
            continue
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                break
            annotation = field.annotation
            inner = _strip(annotation)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                fields = dict(inner.model_fields)
        else:
            break
    return ".".join(path) or None, fields


def _scenario_error(exc: ValidationError, source: str) -> ScenarioError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    key_path, fields = _resolve(loc)
    kind = first["type"]
    ctx = first.get("ctx") or {}
    original = ctx.get("error")
    if isinstance(original, _EventError):
        key_path, problem = original.key_path, original.problem
    elif kind == "extra_forbidden":
        _, fields = _resolve(loc[:-1])
        problem = f"unknown key{_suggest(str(loc[-1]), fields)}"
    elif kind == "union_tag_invalid":
        tag_key = str(ctx.get("discriminator", "kind")).strip("'")
        key_path = f"{key_path}.{tag_key}" if key_path else tag_key
        tags = [tag.strip("' ") for tag in str(ctx.get("expected_tags", "")).split(",")]
        tag = str(ctx.get("tag", ""))
        problem = f"unknown {tag_key} {tag!r}{_suggest(tag, tags)}; choose from {', '.join(tags)}"
    elif kind == "union_tag_not_found":
        tag_key = str(ctx.get("discriminator", "kind")).strip("'")
        key_path = f"{key_path}.{tag_key}" if key_path else tag_key
        problem = "missing: every entry needs one"
    else:
        problem = _describe(first)
    more = len(errors) - 1
    if more:
        problem += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ScenarioError(source, key_path, problem)


def _describe(error: Mapping[str, Any]) -> str:
    """A short, plain description of one pydantic error, with the offending value."""
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    message = message[0].lower() + message[1:] if message else message
    ctx = error.get("ctx") or {}
    kind = error["type"]
    bounds = {
        "greater_than": ("> ", "gt"),
        "greater_than_equal": (">= ", "ge"),
        "less_than": ("< ", "lt"),
        "less_than_equal": ("<= ", "le"),
    }
    if kind in bounds:
        symbol, key = bounds[kind]
        message = f"must be {symbol}{ctx.get(key)}"
    if kind == "literal_error":
        message = f"must be one of {ctx.get('expected')}"
    if kind == "enum":
        message = f"must be one of {ctx.get('expected')}"
    if error.get("loc") and kind not in {"missing", "model_type", "value_error"}:
        value = error.get("input")
        if not isinstance(value, dict | list) and not (
            isinstance(value, float) and math.isnan(value)
        ):
            message += f" (got {value!r})"
    return message


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "invalid YAML"
    if mark is not None:
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return f"invalid YAML: {problem}"
