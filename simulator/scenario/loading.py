"""Loading scenarios: YAML files, built-in names, and one-line errors.

:func:`load_scenario` resolves a path or a built-in name (the files in ``scenarios/``),
reads the YAML, applies overrides and validates the result. Problems are reported as
a :class:`~simulator.errors.ScenarioError` whose string form is one line per problem,
every problem at once: ``<source>: <key.path>: <what is wrong>``, with the closest valid
key suggested for a typo. An empty file is refused (write ``{}`` for the defaults).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from simulator.errors import ScenarioError, closest_hint
from simulator.scenario import safe_yaml
from simulator.scenario.calibration import load_profile
from simulator.scenario.models import EventError, Scenario
from simulator.scenario.overrides import parse_set_option, set_dotted


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
    hint = closest_hint(name, builtins)
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
        data = safe_yaml.parse(safe_yaml.read_file(path))
    except OSError as exc:
        raise ScenarioError(source, None, f"cannot read: {exc.strerror or exc}") from None
    except safe_yaml.UnsafeYamlError as exc:
        raise ScenarioError(source, None, str(exc)) from None
    if data is None:
        raise ScenarioError(
            source, None, "the file is empty (write {} to run the defaults on purpose)"
        )
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
        set_dotted(data, dotted, value, set_source)
    try:
        scenario = validate_scenario(data, source)
        if scenario.calibration is not None:
            load_profile(scenario.calibration)  # a bad profile is reported now, not mid-run
        return scenario
    except ScenarioError as exc:
        # a bad value given by an override is the override's fault, not the file's
        keys = [key for key, _ in items]
        blamed = [_blame(problem, keys, set_source) for problem in (exc, *exc.more)]
        raise _several(blamed) from None


def _blame(error: ScenarioError, keys: list[str], set_source: str) -> ScenarioError:
    """``error`` named after the override that set its key, if one did."""
    path = error.key_path
    if path and any(path == key or path.startswith(f"{key}.") for key in keys):
        return ScenarioError(set_source, path, error.problem)
    return ScenarioError(error.source, path, error.problem)


def _several(errors: list[ScenarioError]) -> ScenarioError:
    """One error holding every problem: the first, then the others in ``more``."""
    first, *others = errors
    return ScenarioError(first.source, first.key_path, first.problem, more=others)


def validate_scenario(data: Mapping[str, Any], source: str = "scenario") -> Scenario:
    """Validate a plain mapping as a :class:`Scenario`.

    Raises:
        ScenarioError: every problem, one line each (the first in its attributes).
    """
    try:
        return Scenario.model_validate(dict(data))
    except ValidationError as exc:
        raise _scenario_error(exc, source) from None


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
    found: list[ScenarioError] = []
    for error in exc.errors(include_url=False):
        key_path, problem = _problem(error)
        if all((key_path, problem) != (seen.key_path, seen.problem) for seen in found):
            found.append(ScenarioError(source, key_path, problem))
    return _several(found)


def _problem(first: Mapping[str, Any]) -> tuple[str | None, str]:
    """The dotted key and the plain description of one pydantic error."""
    loc = tuple(first["loc"])
    key_path, fields = _resolve(loc)
    kind = first["type"]
    ctx = first.get("ctx") or {}
    original = ctx.get("error")
    if isinstance(original, EventError):
        key_path, problem = original.key_path, original.problem
    elif kind == "extra_forbidden":
        _, fields = _resolve(loc[:-1])
        problem = f"unknown key{closest_hint(str(loc[-1]), fields)}"
    elif kind == "union_tag_invalid":
        tag_key = str(ctx.get("discriminator", "kind")).strip("'")
        key_path = f"{key_path}.{tag_key}" if key_path else tag_key
        tags = [tag.strip("' ") for tag in str(ctx.get("expected_tags", "")).split(",")]
        tag = str(ctx.get("tag", ""))
        problem = (
            f"unknown {tag_key} {tag!r}{closest_hint(tag, tags)}; choose from {', '.join(tags)}"
        )
    elif kind == "union_tag_not_found":
        tag_key = str(ctx.get("discriminator", "kind")).strip("'")
        key_path = f"{key_path}.{tag_key}" if key_path else tag_key
        problem = "missing: every entry needs one"
    else:
        problem = _describe(first)
    return key_path, problem


_MAX_SHOWN_CHARS = 60
"""Longest offending value an error message shows (its ``repr``), characters."""


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
            shown = repr(value)
            if len(shown) > _MAX_SHOWN_CHARS:  # a long value is named, not printed whole
                shown = f"{shown[: _MAX_SHOWN_CHARS - 3]}..."
            message += f" (got {shown})"
    return message
