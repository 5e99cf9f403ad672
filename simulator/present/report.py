"""The HTML report of a run: one self-contained file (``authsim report``).

The page opens with the answer: three sentences computed from the run
(:mod:`simulator.present.headline`: which strategy wins on what, and the main caveat).
Then it holds the scenario (description, the timeline, every parameter in a collapsed
``<details>``), the results
(the comparison table, every request's outcome, the windows between events), a
plain-language explanation computed from the numbers (:mod:`simulator.present.explain`), every
figure of :mod:`simulator.present.plots` as an embedded PNG with an alt text computed from the
data (with a dark rendering for a dark colour scheme; a flat figure over time of a run
without events is one sentence instead), and what it takes to reproduce it (the command,
the seed, the versions).

Nothing on the page is fetched: images are ``data:`` URIs and the CSS is inline, so the
file can be mailed, archived or opened offline. It is rendered from
``simulator/present/templates/report.html.j2`` by Jinja2 with autoescaping on and
``StrictUndefined`` (a missing value is an error, not a blank). The tables are built by
:mod:`simulator.present.report_tables`, the figures and their alt texts by
:mod:`simulator.present.report_figures`; their public names are importable from here too.

    from simulator import load_scenario, run
    from simulator.present.report import write_report

    result = run(load_scenario("server-crash"), record_requests=False)
    write_report(result, "report.html")
"""

from __future__ import annotations

import functools
import json
import platform
import re
import shlex
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape
from pydantic import BaseModel

from simulator import __version__
from simulator.atomic import write_text
from simulator.errors import ScenarioError
from simulator.present.explain import Paragraph, explain
from simulator.present.headline import headline
from simulator.present.palette import strategy_colour
from simulator.present.report_figures import (
    TIMESERIES_CAPTIONS,
    TIMESERIES_TITLES,
    FigureGroup,
    ReportFigure,
    ReportProgress,
    comparison_alt,
    dark_png,
    figure_groups,
    heatmap_alt,
    png_data_uri,
    png_size,
    series_values,
    server_load_alt,
    timeseries_alt,
)
from simulator.present.report_tables import (
    ReportTable,
    outcomes_table,
    parameters_table,
    summary_table,
    timeline_table,
    windows_table,
)
from simulator.present.report_testbed import TestbedSection
from simulator.results.io import REPORT_HTML
from simulator.results.records import RunResult
from simulator.scenario.loading import DEFAULT_SCENARIO, builtin_scenarios, load_scenario
from simulator.scenario.models import Scenario

__all__ = [
    "DEFAULT_OUT",
    "TEMPLATE_NAME",
    "TIMESERIES_CAPTIONS",
    "TIMESERIES_TITLES",
    "VERSIONED_PACKAGES",
    "FigureGroup",
    "ReportFigure",
    "ReportProgress",
    "ReportTable",
    "TestbedSection",
    "breakable",
    "build_context",
    "code_spans",
    "comparison_alt",
    "dark_png",
    "figure_groups",
    "heatmap_alt",
    "outcomes_table",
    "parameters_table",
    "png_data_uri",
    "png_size",
    "render_report",
    "reproduce_command",
    "series_values",
    "server_load_alt",
    "summary_table",
    "timeline_table",
    "timeseries_alt",
    "versions",
    "windows_table",
    "write_report",
]

TEMPLATE_NAME = "report.html.j2"
"""The Jinja2 template, in ``simulator/present/templates/``."""

DEFAULT_OUT = REPORT_HTML
"""Where ``authsim report`` writes when no ``--out`` is given (``scenario``: its name):
:data:`simulator.results.io.REPORT_HTML`, under its former name here."""

VERSIONED_PACKAGES: tuple[tuple[str, str], ...] = (
    ("SimPy", "simpy"),
    ("PyJWT", "PyJWT"),
    ("numpy", "numpy"),
    ("matplotlib", "matplotlib"),
)
"""(shown name, distribution name) of the packages whose versions the report records."""

# ------------------------------------------------------------------ public API


def render_report(
    result: RunResult,
    *,
    command: str | None = None,
    progress: ReportProgress | None = None,
    testbed: TestbedSection | None = None,
) -> str:
    """The report of a run as one HTML document.

    Args:
        result: the run (summary mode is enough: ``run(..., record_requests=False)``).
        command: the command that reproduces it (default: :func:`reproduce_command` of
            the result's scenario and strategies).
        progress: called before each figure is drawn.
        testbed: a real cluster's run beside the model, shown in its own section
            (:func:`simulator.present.report_testbed.load_testbed`); none: no section.

    Returns:
        The HTML text (UTF-8 when written), with every image embedded.
    """
    context = build_context(result, command=command, progress=progress, testbed=testbed)
    return _environment().get_template(TEMPLATE_NAME).render(context)


def write_report(
    result: RunResult,
    path: Path | str,
    *,
    command: str | None = None,
    progress: ReportProgress | None = None,
    testbed: TestbedSection | None = None,
) -> Path:
    """Render the report and write it to ``path`` atomically (complete or absent).

    Args:
        result: the run.
        path: the HTML file to write; its folder must exist.
        command: see :func:`render_report`.
        progress: see :func:`render_report`.
        testbed: see :func:`render_report`.

    Returns:
        The path written.

    Raises:
        OSError: the file cannot be written.
    """
    html = render_report(result, command=command, progress=progress, testbed=testbed)
    return write_text(path, html)


def build_context(
    result: RunResult,
    *,
    command: str | None = None,
    progress: ReportProgress | None = None,
    testbed: TestbedSection | None = None,
) -> dict[str, Any]:
    """Everything the template shows, computed from the run.

    Args:
        result: the run.
        command: see :func:`render_report`.
        progress: see :func:`render_report`.
        testbed: see :func:`render_report`.

    Returns:
        The template's context: ``title``, ``headline`` (three sentences:
        :func:`simulator.present.headline.headline`), ``scenario`` (name, description), ``facts``,
        ``parameters`` and ``timeline`` (tables), ``summary``, ``outcomes`` and
        ``windows`` (tables; ``windows`` is ``None`` without events), ``explanation``
        (:class:`~simulator.present.explain.Paragraph` list), ``figure_groups``, ``command``,
        ``seed``, ``versions``, ``generator``, ``colours`` (strategy -> hex colour) and
        ``testbed`` (:class:`~simulator.present.report_testbed.TestbedSection` or ``None``).
    """
    scenario = result.scenario
    if command is None:
        command = reproduce_command(scenario, result.strategies)
    explanation: list[Paragraph] = explain(result)
    return {
        "title": f"authsim report: {scenario.name}",
        "headline": headline(result),
        "scenario": {"name": scenario.name, "description": scenario.description},
        "facts": _facts(result),
        "parameters": parameters_table(scenario),
        "timeline": timeline_table(scenario),
        "summary": summary_table(result),
        "outcomes": outcomes_table(result),
        "windows": windows_table(result) if result.events else None,
        "explanation": explanation,
        "figure_groups": figure_groups(result, progress=progress),
        "command": command,
        "seed": scenario.seed,
        "versions": versions(),
        "generator": f"authsim {__version__}",
        "colours": {name: strategy_colour(name) for name in result.strategies},
        "testbed": testbed,
    }


def versions() -> dict[str, str]:
    """Versions of authsim, Python and the packages that shape the numbers.

    Returns:
        Shown name -> version (``unknown`` for a package without metadata).
    """
    found = {"authsim": __version__, "Python": platform.python_version()}
    for shown, distribution in VERSIONED_PACKAGES:
        try:
            found[shown] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            found[shown] = "unknown"
    return found


def reproduce_command(
    scenario: Scenario,
    strategies: Sequence[str] | None = None,
    *,
    source: str | None = None,
    out: Path | str | None = None,
    testbed: Path | str | None = None,
) -> str:
    """The ``authsim report`` command that runs ``scenario`` again, exactly.

    The scenario is compared with the one ``source`` names (a YAML path or a built-in;
    by default the built-in of the scenario's name, else ``baseline``) and every value
    that differs becomes a ``--set`` (whole sections only when their shape changed);
    the seed is always given.

    Args:
        scenario: the scenario that was run.
        strategies: the strategies run, in order (``-s`` options when they differ from
            ``scenario.strategies``).
        source: the scenario reference the run started from.
        out: the ``--out`` to repeat (none: the default file).
        testbed: the ``--testbed`` folder to repeat (none: no testbed section).

    Returns:
        A shell command line, quoted for POSIX shells.
    """
    ref = source
    if ref is None:
        ref = scenario.name if scenario.name in builtin_scenarios() else DEFAULT_SCENARIO
    try:
        base = load_scenario(ref)
    except ScenarioError:
        ref = DEFAULT_SCENARIO
        base = load_scenario(ref)
    words = ["authsim", "report", ref]
    differences = _differences(
        base.model_dump(mode="json"), scenario.model_dump(mode="json"), Scenario
    )
    for key, value, verbatim in differences:
        if key != "seed":
            words += ["--set", f"{key}={value if verbatim else _yaml_text(value)}"]
    words += ["--seed", str(scenario.seed)]
    names = [str(name) for name in strategies] if strategies is not None else None
    if names is not None and names != [str(name) for name in scenario.strategies]:
        for name in names:
            words += ["-s", name]
    if out is not None:
        words += ["-o", str(out)]
    if testbed is not None:
        words += ["--testbed", str(testbed)]
    return shlex.join(words)


# ------------------------------------------------------------------ helpers


@functools.cache
def _environment() -> jinja2.Environment:
    """The Jinja2 environment: templates shipped in the package, autoescaped, strict."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("simulator.present", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["code_spans"] = code_spans
    environment.filters["breakable"] = breakable
    return environment


_CODE_SPAN = re.compile(r"`([^`]+)`")


def code_spans(text: str) -> Markup:
    """Escape ``text`` for HTML and turn each `` `word` `` into ``<code>word</code>``."""
    escaped = str(escape(text))
    return Markup(_CODE_SPAN.sub(r"<code>\1</code>", escaped))


def breakable(text: str) -> Markup:
    """Escape ``text`` for HTML with a line-break opportunity (``<wbr>``) after every dot,
    underscore and slash, so a long dotted key (or ``max/mean``) wraps at its joints on a
    narrow screen."""
    escaped = str(escape(text))
    return Markup(re.sub(r"([._/])", r"\1<wbr>", escaped))


def _facts(result: RunResult) -> str:
    scenario = result.scenario
    cluster = scenario.cluster
    return (
        f"seed {scenario.seed} · {cluster.servers} servers × {cluster.workers_per_server} "
        f"workers · {scenario.workload.arrival_rate_per_s:,g} requests/s · "
        f"{scenario.measured_s:g} s measured after {scenario.warmup_s:g} s warm-up · "
        f"{', '.join(result.strategies)}"
    )


def _differences(
    base: dict[str, Any], target: dict[str, Any], model: type[BaseModel], prefix: str = ""
) -> list[tuple[str, Any, bool]]:
    """``(dotted key, target value, verbatim)`` for every value of ``target`` that differs
    from ``base``; ``verbatim`` for text keys, which ``--set`` takes as they are."""
    found: list[tuple[str, Any, bool]] = []
    for key, field in model.model_fields.items():
        old, new = base.get(key), target.get(key)
        if old == new:
            continue
        annotation = field.annotation
        if (
            isinstance(old, dict)
            and isinstance(new, dict)
            and isinstance(annotation, type)
            and issubclass(annotation, BaseModel)
        ):
            found += _differences(old, new, annotation, f"{prefix}{key}.")
        else:
            found.append((f"{prefix}{key}", new, annotation is str))
    return found


def _plain(value: Any) -> Any:
    """Whole floats as integers, recursively (``20.0`` -> ``20``) for shorter commands."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "none", "y", "n"})
"""Bare words YAML 1.1 would read as booleans or null."""


def _yaml_text(value: Any) -> str:
    """A value as ``--set`` reads it (YAML): JSON, which YAML reads back exactly, with
    bare strings where YAML would not mistake them for another type."""
    plain = _plain(value)
    if (
        isinstance(plain, str)
        and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-/]*", plain)
        and plain.lower() not in _YAML_WORDS
    ):
        return plain
    return json.dumps(plain, ensure_ascii=False, separators=(", ", ": "))
