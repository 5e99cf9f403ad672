"""Dotted-key overrides: ``--set cluster.servers=10`` and sweep grids.

Every key is checked against the scenario models before it is set, so a typo is a
one-line error with the closest valid key suggested. Values given as text (``--set``,
``--grid``) are read as YAML once the key is known, except for keys that hold text
(``name``, ``description``), which take the text verbatim.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from simulator.errors import ScenarioError, closest_hint
from simulator.scenario import safe_yaml
from simulator.scenario.models import Scenario


class SetText(str):
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
    return key, SetText(raw)


def read_set_value(text: SetText, annotation: Any, dotted: str, source: str) -> Any:
    """The value of ``--set dotted=text``: YAML, or the text itself where it is not YAML
    (validation then says whether it may be); one-line error over a bound.

    Raises:
        ScenarioError: YAML too long, too deep, too large once aliases are expanded, with
            a duplicate key or a tagged value that does not parse.
    """
    if annotation is str:
        return str(text)
    try:
        return safe_yaml.parse_text(text) if text.strip() else ""
    except safe_yaml.YamlSyntaxError:
        return str(text)
    except safe_yaml.UnsafeYamlError as exc:
        raise ScenarioError(source, dotted, str(exc)) from None


def set_dotted(data: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    """Set ``data[a][b][c] = value`` for ``a.b.c``, checking every key against the models."""
    parts = dotted.split(".")
    model: type[BaseModel] | None = Scenario
    node = data
    for depth, part in enumerate(parts):
        fields = model.model_fields if model is not None else {}
        if part not in fields:
            where = ".".join(parts[: depth + 1])
            raise ScenarioError(source, where, f"unknown key{closest_hint(part, fields)}")
        annotation = fields[part].annotation
        last = depth == len(parts) - 1
        if last:
            is_text = type(value) is SetText
            node[part] = read_set_value(value, annotation, dotted, source) if is_text else value
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


def key_annotation(dotted: str) -> Any:
    """The type annotation of a known dotted key (``cluster.servers`` -> ``int``)."""
    model: Any = Scenario
    annotation: Any = None
    for part in dotted.split("."):
        annotation = model.model_fields[part].annotation
        model = annotation
    return annotation


def check_key(dotted: str, source: str) -> None:
    """Raise a one-line :class:`ScenarioError` unless ``dotted`` names a scenario value."""
    set_dotted(Scenario().model_dump(mode="json"), dotted, None, source)


def read_value(dotted: str, text: str, source: str = "--grid") -> Any:
    """Read the text of a value for the known key ``dotted``, as ``--set`` does."""
    return read_set_value(SetText(text), key_annotation(dotted), dotted, source)
