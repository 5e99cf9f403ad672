"""The HTML report of a run: one self-contained file (``authsim report``).

The page holds the scenario (description, every parameter, the timeline), the results
(the comparison table, every request's outcome, the windows between events), a
plain-language explanation computed from the numbers (:mod:`simulator.present.explain`), every
figure of :mod:`simulator.present.plots` as an embedded PNG with an alt text computed from the
data, and what it takes to reproduce it (the command, the seed, the versions).

Nothing on the page is fetched: images are ``data:`` URIs and the CSS is inline, so the
file can be mailed, archived or opened offline. It is rendered from
``simulator/templates/report.html.j2`` by Jinja2 with autoescaping on and
``StrictUndefined`` (a missing value is an error, not a blank).

    from simulator import load_scenario, run
    from simulator.present.report import write_report

    result = run(load_scenario("server-crash"), record_requests=False)
    write_report(result, "report.html")
"""

from __future__ import annotations

import base64
import functools
import json
import math
import platform
import re
import shlex
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import numpy.typing as npt
from markupsafe import Markup, escape
from pydantic import BaseModel

from simulator import __version__, outcomes
from simulator.atomic import write_text
from simulator.errors import ScenarioError
from simulator.experiments import theory
from simulator.present.explain import Paragraph, explain, join_words, percent, window_rows
from simulator.results.records import EventMark, RunResult
from simulator.results.timeseries import StrategySeries
from simulator.scenario.models import DEFAULT_SCENARIO, Scenario, builtin_scenarios, load_scenario

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
    "breakable",
    "build_context",
    "code_spans",
    "comparison_alt",
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
"""The Jinja2 template, in ``simulator/templates/``."""

DEFAULT_OUT = "results/report-{scenario}.html"
"""Where ``authsim report`` writes when no ``--out`` is given (``scenario``: its name)."""

VERSIONED_PACKAGES: tuple[tuple[str, str], ...] = (
    ("SimPy", "simpy"),
    ("PyJWT", "PyJWT"),
    ("numpy", "numpy"),
    ("matplotlib", "matplotlib"),
)
"""(shown name, distribution name) of the packages whose versions the report records."""

ReportProgress = Callable[[str], None]
"""``progress(step)`` before each slow step (drawing a figure)."""


@dataclass(frozen=True)
class ReportTable:
    """A table of the page.

    Attributes:
        id: the HTML id of its caption (for ``aria-labelledby``).
        caption: what the table shows.
        header: column titles.
        numeric: for each column, whether it is right-aligned numbers.
        rows: the cells, as text; the first cell of each row is its header.
        note: a sentence under the table (empty: none).
        css_class: the table's class (``keys``: long row names that may wrap).
    """

    id: str
    caption: str
    header: tuple[str, ...]
    numeric: tuple[bool, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""
    css_class: str = ""


@dataclass(frozen=True)
class ReportFigure:
    """A figure embedded in the page.

    Attributes:
        id: HTML id.
        title: its heading.
        caption: how to read it.
        alt: what it shows, with the numbers, for readers who cannot see it.
        src: the PNG as a ``data:image/png;base64,...`` URI.
        width: the PNG's width, pixels.
        height: the PNG's height, pixels.
    """

    id: str
    title: str
    caption: str
    alt: str
    src: str
    width: int
    height: int


@dataclass(frozen=True)
class FigureGroup:
    """Figures under one heading (side by side, over time, per server)."""

    id: str
    title: str
    intro: str
    figures: tuple[ReportFigure, ...]


# ------------------------------------------------------------------ public API


def render_report(
    result: RunResult, *, command: str | None = None, progress: ReportProgress | None = None
) -> str:
    """The report of a run as one HTML document.

    Args:
        result: the run (summary mode is enough: ``run(..., record_requests=False)``).
        command: the command that reproduces it (default: :func:`reproduce_command` of
            the result's scenario and strategies).
        progress: called before each figure is drawn.

    Returns:
        The HTML text (UTF-8 when written), with every image embedded.
    """
    context = build_context(result, command=command, progress=progress)
    return _environment().get_template(TEMPLATE_NAME).render(context)


def write_report(
    result: RunResult,
    path: Path | str,
    *,
    command: str | None = None,
    progress: ReportProgress | None = None,
) -> Path:
    """Render the report and write it to ``path`` atomically (complete or absent).

    Args:
        result: the run.
        path: the HTML file to write; its folder must exist.
        command: see :func:`render_report`.
        progress: see :func:`render_report`.

    Returns:
        The path written.

    Raises:
        OSError: the file cannot be written.
    """
    html = render_report(result, command=command, progress=progress)
    return write_text(path, html)


def build_context(
    result: RunResult, *, command: str | None = None, progress: ReportProgress | None = None
) -> dict[str, Any]:
    """Everything the template shows, computed from the run.

    Args:
        result: the run.
        command: see :func:`render_report`.
        progress: see :func:`render_report`.

    Returns:
        The template's context: ``title``, ``scenario`` (name, description), ``facts``,
        ``parameters`` and ``timeline`` (tables), ``summary``, ``outcomes`` and
        ``windows`` (tables; ``windows`` is ``None`` without events), ``explanation``
        (:class:`~simulator.present.explain.Paragraph` list), ``figure_groups``, ``command``,
        ``seed``, ``versions``, ``generator`` and ``colours`` (strategy -> hex colour).
    """
    from simulator.present.plots import STRATEGY_COLOURS  # noqa: PLC0415 (matplotlib is slow to import)

    scenario = result.scenario
    if command is None:
        command = reproduce_command(scenario, result.strategies)
    explanation: list[Paragraph] = explain(result)
    return {
        "title": f"authsim report: {scenario.name}",
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
        "colours": {name: STRATEGY_COLOURS.get(name, "#999999") for name in result.strategies},
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
    return shlex.join(words)


# ------------------------------------------------------------------ tables


def parameters_table(scenario: Scenario) -> ReportTable:
    """Every scenario value (defaults filled in), by dotted key; events are in
    :func:`timeline_table`, name and description in the page's heading."""
    data = scenario.model_dump(mode="json")
    rows = [
        (key, _value_text(value))
        for key, value in _flatten(data, Scenario)
        if key not in {"name", "description", "events"}
    ]
    return ReportTable(
        id="table-parameters",
        caption="Scenario parameters (every default filled in)",
        header=("key", "value"),
        numeric=(False, False),
        rows=tuple(rows),
        css_class="keys",
    )


def timeline_table(scenario: Scenario) -> ReportTable | None:
    """The scenario's events as configured; ``None`` when it has none."""
    if not scenario.events:
        return None
    rows = []
    for event in scenario.events:
        fields = event.model_dump(mode="json")
        settings = ", ".join(
            f"{key}: {_value_text(value)}"
            for key, value in fields.items()
            if key not in {"at_s", "kind"} and value is not None
        )
        rows.append((f"{event.at_s:g}", str(event.kind), settings or "–"))
    return ReportTable(
        id="table-timeline",
        caption="Timeline: the events as configured",
        header=("at (s)", "kind", "settings"),
        numeric=(True, False, False),
        rows=tuple(rows),
    )


def summary_table(result: RunResult) -> ReportTable:
    """The comparison table of ``authsim run``, one row per strategy."""
    rows = []
    for item in result.results:
        latency = item.latency_ms
        skew = item.load_skew
        rows.append(
            (
                item.strategy,
                f"{item.requests:,}",
                percent(item.success_rate),
                f"{item.forced_relogins:,}",
                f"{sum(item.errors.values()):,}",
                _number(latency.get("mean"), ",.1f"),
                _number(latency.get("p50"), ",.1f"),
                _number(latency.get("p95"), ",.1f"),
                _number(latency.get("p99"), ",.1f"),
                _number(skew["max_over_mean"], ".2f"),
                _number(skew["jain"], ".3f"),
                percent(item.store.utilisation, 0) if item.store else "–",
                f"{item.login_cpu_s:,.1f}",
            )
        )
    return ReportTable(
        id="table-summary",
        caption="The strategies compared on the same traffic",
        header=(
            "strategy",
            "requests",
            "success",
            "forced re-logins",
            "errors",
            "mean ms",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max/mean",
            "Jain",
            "store busy",
            "login CPU s",
        ),
        numeric=(False, *([True] * 12)),
        rows=tuple(rows),
        note=(
            "success: served with no error and no forced re-login · latency: of served "
            "requests · max/mean and Jain: load skew over the servers (1 = even) · store "
            "busy: the store's utilisation · login CPU: password hashing for forced "
            "re-logins, CPU-seconds"
        ),
    )


def outcomes_table(result: RunResult) -> ReportTable:
    """Every measured request's outcome, per strategy (each ends in exactly one)."""
    rows = [
        (
            item.strategy,
            *(f"{item.outcome_counts.get(name, 0):,}" for name in outcomes.NAMES),
        )
        for item in result.results
    ]
    return ReportTable(
        id="table-outcomes",
        caption="How every request ended",
        header=("strategy", *outcomes.NAMES),
        numeric=(False, *([True] * len(outcomes.NAMES))),
        rows=tuple(rows),
        note=(
            "ok: served, no forced re-login · relogin: served after a forced re-login · "
            "unauthorized: rejected again after it · the others are errors"
        ),
    )


def windows_table(result: RunResult) -> ReportTable | None:
    """Success and forced re-logins (by cause) between events, per strategy; ``None``
    for a run without windows."""
    first = result.results[0].windows if result.results else []
    if not first:
        return None
    header = ["window", "from s", "to s"]
    numeric = [False, True, True]
    for item in result.results:
        header += [f"{item.strategy} success", f"{item.strategy} forced re-logins"]
        numeric += [True, False]
    rows = window_rows(result)
    return ReportTable(
        id="table-windows",
        caption="Between events: success and forced re-logins (by cause)",
        header=tuple(header),
        numeric=tuple(numeric),
        rows=tuple(rows),
    )


# ------------------------------------------------------------------ figures


def figure_groups(
    result: RunResult, *, progress: ReportProgress | None = None
) -> list[FigureGroup]:
    """Draw every figure of the run and embed it: the summary (comparison, load per
    server), one per time-series metric, and the per-server heatmap.

    Args:
        result: the run.
        progress: called with each figure's title before it is drawn.

    Returns:
        The figures in three groups.
    """
    from simulator.present import plots  # noqa: PLC0415 (matplotlib is slow to import)

    def draw(key: str, title: str, caption: str, alt: str, make: Callable[[], Any]) -> ReportFigure:
        if progress is not None:
            progress(title)
        figure = make()
        try:
            png = plots.figure_png(figure)
        finally:
            figure.clear()
        width, height = png_size(png)
        return ReportFigure(key, title, caption, alt, png_data_uri(png), width, height)

    summary = (
        draw(
            "figure-comparison",
            "The strategies compared",
            "(a) Success rate, with a dashed line at 1/N; (b) latency of served requests, "
            "p50, p95 and p99; (c) peak-to-mean load (1 = even); (d) Jain's index "
            "(1 = even, 1/N = everything on one server).",
            comparison_alt(result),
            lambda: plots.comparison_figure(result),
        ),
        draw(
            "figure-server-load",
            "Jobs received per server",
            "One panel per strategy: the jobs (requests, logins and retries) each server "
            "received while measuring; the dashed line is the mean. An even fleet is a flat "
            "row of bars.",
            server_load_alt(result),
            lambda: plots.server_load_figure(result),
        ),
    )
    over_time = tuple(
        draw(
            f"figure-timeseries-{metric.replace('_', '-')}",
            TIMESERIES_TITLES.get(metric, metric),
            TIMESERIES_CAPTIONS.get(metric, ""),
            timeseries_alt(result, metric),
            functools.partial(plots.timeseries_figure, result, metric),
        )
        for metric in plots.TIMESERIES_METRICS
    )
    per_server = (
        draw(
            "figure-server-heatmap",
            "Load on each server over time",
            "One heatmap per strategy on one colour scale: x is simulated time, y the "
            "server, colour the jobs it accepted per second. Hatched grey: a server down "
            "for the whole bucket; a dark cell of a server that was up received nothing.",
            heatmap_alt(result),
            lambda: plots.server_heatmap_figure(result),
        ),
    )
    marked = "every event marked" if result.events else "the run had no events"
    return [
        FigureGroup(
            "figures-summary",
            "The strategies side by side",
            "Each strategy over the whole measured window.",
            summary,
        ),
        FigureGroup(
            "figures-time",
            "Over time",
            f"One figure per metric, a line per strategy, {marked}.",
            over_time,
        ),
        FigureGroup(
            "figures-servers",
            "Per server",
            "Where the load went, bucket by bucket.",
            per_server,
        ),
    ]


TIMESERIES_TITLES: dict[str, str] = {
    "success_rate": "Success rate over time",
    "throughput": "Served throughput over time",
    "latency": "Latency over time (p50, p95, p99)",
    "forced_relogins": "Forced re-logins over time",
    "login_cpu": "Login CPU over time: the login storm",
    "queue_length": "Queue length over time",
}
"""Headings of the time-series figures, by metric."""

TIMESERIES_CAPTIONS: dict[str, str] = {
    "success_rate": "Requests served with no error and no forced re-login, in % of those "
    "that arrived in each bucket. A gap is a bucket where no request arrived.",
    "throughput": "Requests served per second, by arrival time; the dashed line is the "
    "requests that arrived per second.",
    "latency": "Arrival-to-answer time of the requests served in each bucket, ms: p50, p95 "
    "and p99 in three panels.",
    "forced_relogins": "Requests per bucket whose credential was rejected, forcing the user "
    "to log in again.",
    "login_cpu": "CPU seconds per bucket spent hashing passwords for forced logins; the "
    "right axis gives the same as CPU cores kept busy.",
    "queue_length": "Jobs waiting for a free worker, summed over all servers (mean per bucket).",
}
"""How to read each time-series figure, by metric."""


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels of a PNG, from its header.

    Raises:
        ValueError: not a PNG.
    """
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def png_data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# ------------------------------------------------------------------ alt texts


def comparison_alt(result: RunResult) -> str:
    """What the comparison figure shows, with its numbers."""
    items = result.results
    servers = result.scenario.cluster.servers
    success = ", ".join(f"{item.strategy} {percent(item.success_rate)}" for item in items)
    latency = "; ".join(
        f"{item.strategy} "
        + " / ".join(_number(item.latency_ms.get(key), ",.1f") for key in ("p50", "p95", "p99"))
        for item in items
    )
    peaks = ", ".join(
        f"{item.strategy} {_number(item.load_skew['max_over_mean'], '.2f')}" for item in items
    )
    jain = ", ".join(f"{item.strategy} {_number(item.load_skew['jain'], '.3f')}" for item in items)
    return (
        f"Four bar charts comparing {join_words([item.strategy for item in items])}. "
        f"Success rate: {success} (dashed line at 1/N = "
        f"{percent(theory.local_success_rate(servers))}). "
        f"Latency p50 / p95 / p99 in ms: {latency}. "
        f"Busiest server over the mean: {peaks}. Jain's index: {jain}."
    )


def server_load_alt(result: RunResult) -> str:
    """What the jobs-per-server figure shows, with its numbers."""
    parts = []
    for item in result.results:
        counts = item.server_requests
        if not counts:
            continue
        mean = sum(counts) / len(counts)
        busiest = max(range(len(counts)), key=counts.__getitem__)
        ratio = f"{counts[busiest] / mean:.2f}× the mean" if mean else "no jobs"
        parts.append(
            f"{item.strategy} {min(counts):,} to {max(counts):,} per server, busiest server "
            f"{busiest} ({ratio})"
        )
    servers = max((len(item.server_requests) for item in result.results), default=0)
    return (
        f"One bar chart per strategy of the jobs each of {servers} servers received: "
        + "; ".join(parts)
        + "."
    )


_SERIES_UNITS: dict[str, tuple[str, str, bool]] = {
    # metric: (what, format of a value with its unit, whether the low point matters)
    "success_rate": ("success rate", "{:.1f}%", True),
    "throughput": ("served requests per second", "{:,.0f}/s", True),
    "latency": ("p95 latency", "{:,.1f} ms", False),
    "forced_relogins": ("forced re-logins per bucket", "{:,.0f}", False),
    "login_cpu": ("login CPU per bucket", "{:,.2f} CPU-s", False),
    "queue_length": ("jobs waiting, all servers", "{:,.1f}", False),
}


def series_values(series: StrategySeries, metric: str) -> npt.NDArray[np.float64]:
    """The values a time-series figure draws for one strategy (NaN: nothing to measure).

    Args:
        series: the strategy's time series.
        metric: one of :data:`simulator.present.plots.TIMESERIES_METRICS` (for ``latency``, the
            p95 panel).

    Raises:
        ValueError: an unknown metric.
    """
    from simulator.present.plots import timeseries_values  # noqa: PLC0415 (matplotlib is slow to import)

    return timeseries_values(series, metric)


def timeseries_alt(result: RunResult, metric: str) -> str:
    """What a time-series figure shows, with its range per strategy and the events."""
    what, unit, low_matters = _SERIES_UNITS.get(metric, (metric, "{:,.3g}", False))
    start_s, end_s, bucket_s = _window(result)
    panels = "Three line charts (p50, p95 and p99)" if metric == "latency" else "A line chart"
    text = (
        f"{panels} of {TIMESERIES_TITLES.get(metric, metric).lower()}, per {bucket_s:g} s "
        f"bucket from {start_s:g} to {end_s:g} s, one line per strategy"
    )
    text += _events_clause(result.events) + "."
    parts = []
    for item in result.results:
        if item.series is None:
            continue
        values = series_values(item.series, metric)
        finite = np.isfinite(values)
        if not finite.any():
            parts.append(f"{item.strategy} has no value")
            continue
        low = float(np.nanmin(values))
        high = float(np.nanmax(values))
        if math.isclose(low, high, rel_tol=1e-9, abs_tol=1e-12):
            parts.append(f"{item.strategy} constant at {unit.format(low)}")
            continue
        extreme = np.nanargmin(values) if low_matters else np.nanargmax(values)
        at_s = float(item.series.t_s[int(extreme)])
        word = "lowest" if low_matters else "highest"
        parts.append(
            f"{item.strategy} {what} from {unit.format(low)} to {unit.format(high)}, "
            f"{word} in the bucket starting at {at_s:g} s"
        )
    if parts:
        text += " " + "; ".join(parts) + "."
    return text


def heatmap_alt(result: RunResult) -> str:
    """What the per-server heatmap shows: the colour scale, the busiest cell of each
    strategy, and the servers that were down."""
    start_s, end_s, bucket_s = _window(result)
    drawn = [(item.strategy, item.series) for item in result.results if item.series is not None]
    if not drawn:
        return "Per-server load heatmap: this result has no time series."
    servers = max(series.server_jobs.shape[0] for _, series in drawn)
    peak = max(float(series.server_jobs.max(initial=0)) / series.bucket_s for _, series in drawn)
    text = (
        f"Heatmaps, one per strategy, of the jobs per second each of {servers} servers "
        f"accepted in each {bucket_s:g} s bucket from {start_s:g} to {end_s:g} s, on one "
        f"colour scale from 0 to {peak:,.0f} jobs/s"
    )
    text += _events_clause(result.events) + "."
    busiest = []
    downs: dict[str, list[str]] = {}
    for name, series in drawn:
        jobs = series.server_jobs
        if jobs.size:
            server, bucket = np.unravel_index(int(np.argmax(jobs)), jobs.shape)
            busiest.append(
                f"{name} server {int(server)} at {float(series.t_s[bucket]):g} s "
                f"({float(jobs[server, bucket]) / series.bucket_s:,.0f} jobs/s)"
            )
        downs[name] = _down_spans(series)
    if busiest:
        text += " Busiest cell: " + "; ".join(busiest) + "."
    spans = {tuple(value) for value in downs.values()}
    if spans == {()}:
        text += " Every server was up in every bucket."
    elif len(spans) == 1:
        text += " Hatched (not up for a whole bucket): " + ", ".join(next(iter(spans))) + "."
    else:
        text += (
            " Hatched (not up for a whole bucket): "
            + "; ".join(f"{name}: {', '.join(spans) or 'none'}" for name, spans in downs.items())
            + "."
        )
    return text


def _down_spans(series: StrategySeries) -> list[str]:
    """``server 2 from 12 s to 20 s`` for every run of buckets a server was never up."""
    spans = []
    down = series.up_fraction <= 0.0
    for server in range(down.shape[0]):
        row = down[server]
        position = 0
        while position < row.size:
            if not row[position]:
                position += 1
                continue
            begin = position
            while position < row.size and row[position]:
                position += 1
            start = float(series.t_s[begin])
            finish = float(series.t_s[position - 1]) + series.bucket_s
            spans.append(f"server {server} from {start:g} s to {finish:g} s")
    return spans


def _events_clause(events: Sequence[EventMark]) -> str:
    if not events:
        return ""
    marks = [
        f"{mark.label} at {mark.start_s:g} s"
        if mark.end_s is None
        else f"{mark.label} from {mark.start_s:g} s to {mark.end_s:g} s"
        for mark in events
    ]
    return "; events marked: " + ", ".join(marks)


def _window(result: RunResult) -> tuple[float, float, float]:
    """Start, end and bucket width of the measured window, seconds."""
    scenario = result.scenario
    return scenario.warmup_s, scenario.duration_s, scenario.time_bucket_s


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
    """Escape ``text`` for HTML with a line-break opportunity (``<wbr>``) after every dot
    and underscore, so a long dotted key wraps at its joints on a narrow screen."""
    escaped = str(escape(text))
    return Markup(re.sub(r"([._])", r"\1<wbr>", escaped))


def _facts(result: RunResult) -> str:
    scenario = result.scenario
    cluster = scenario.cluster
    return (
        f"seed {scenario.seed} · {cluster.servers} servers × {cluster.workers_per_server} "
        f"workers · {scenario.workload.arrival_rate_per_s:,g} requests/s · "
        f"{scenario.measured_s:g} s measured after {scenario.warmup_s:g} s warm-up · "
        f"{', '.join(result.strategies)}"
    )


def _flatten(
    data: dict[str, Any], model: type[BaseModel], prefix: str = ""
) -> list[tuple[str, Any]]:
    """``(dotted key, value)`` for every leaf of a dumped model; sections (sub-models)
    are walked, other values (lists, unions such as ``rate_profile``) are leaves."""
    rows: list[tuple[str, Any]] = []
    for key, field in model.model_fields.items():
        if key not in data:
            continue
        value = data[key]
        annotation = field.annotation
        if (
            isinstance(value, dict)
            and isinstance(annotation, type)
            and issubclass(annotation, BaseModel)
        ):
            rows += _flatten(value, annotation, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


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


def _value_text(value: Any) -> str:
    """A parameter value for the table."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{int(value)}" if value.is_integer() else repr(value)
    if isinstance(value, list):
        return ", ".join(_value_text(item) for item in value) or "[]"
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_value_text(item)}" for key, item in value.items())
    return str(value)


def _number(value: float | None, spec: str) -> str:
    return "–" if value is None or not math.isfinite(value) else format(value, spec)
