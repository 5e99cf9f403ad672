"""The tables of the HTML report (:mod:`simulator.present.report`): the scenario's
parameters and timeline, the strategies compared, every request's outcome, and the
windows between events. Every cell is text, written by :mod:`simulator.present.format`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from simulator import outcomes
from simulator.present.explain_events import window_rows
from simulator.present.format import MISSING, number, percent
from simulator.results.records import RunResult
from simulator.scenario.models import Scenario

__all__ = [
    "CARD_COLUMNS",
    "ReportTable",
    "outcomes_table",
    "parameters_table",
    "summary_table",
    "timeline_table",
    "windows_table",
]


CARD_COLUMNS = 9
"""A table of more columns than this has no room as a table on a 1024 px screen (the
windows between events of three strategies or more): its rows are cards everywhere."""


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
        css_class: the table's classes (``keys``: long row names that may wrap;
            ``stack``: on a narrow screen each row is a card, its cells one under the
            other, each named by its column; ``cards``: cards on every screen, see
            :data:`CARD_COLUMNS`).
    """

    id: str
    caption: str
    header: tuple[str, ...]
    numeric: tuple[bool, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""
    css_class: str = ""


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
        rows.append((f"{event.at_s:g}", str(event.kind), settings or MISSING))
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
                f"{item.users_logged_out:,}",
                f"{sum(item.errors.values()):,}",
                number(latency.get("mean"), ",.1f"),
                number(latency.get("p50"), ",.1f"),
                number(latency.get("p95"), ",.1f"),
                number(latency.get("p99"), ",.1f"),
                number(skew["max_over_mean"], ".2f"),
                number(skew["jain"], ".3f"),
                percent(item.store.utilisation, 0) if item.store else MISSING,
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
            "users logged out",
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
        numeric=(False, *([True] * 13)),
        rows=tuple(rows),
        note=(
            "success: served with no error and no forced re-login · users logged out: "
            "distinct users forced to log in again (each counted once) · latency: of served "
            "requests · max/mean and Jain: load skew over the servers (1 = even) · store "
            "busy: the store's utilisation · login CPU: password hashing for forced "
            "re-logins, CPU-seconds"
        ),
        css_class="stack",
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
        css_class="stack",
    )


def windows_table(result: RunResult) -> ReportTable | None:
    """Success, forced re-logins (by cause) and the distinct users they logged out between
    events, per strategy; ``None`` for a run without windows."""
    first = result.results[0].windows if result.results else []
    if not first:
        return None
    header = ["window", "from s", "to s"]
    numeric = [False, True, True]
    for item in result.results:
        header += [
            f"{item.strategy} success",
            f"{item.strategy} forced re-logins",
            f"{item.strategy} users logged out",
        ]
        numeric += [True, False, True]
    rows = window_rows(result)
    return ReportTable(
        id="table-windows",
        caption=(
            "Between events: success and forced re-logins (by cause), and the users they logged out"
        ),
        header=tuple(header),
        numeric=tuple(numeric),
        rows=tuple(rows),
        css_class="stack cards" if len(header) > CARD_COLUMNS else "stack",
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
