"""The report's section "A real cluster beside the model" (``authsim report --testbed DIR``).

It reads the folder ``authsim testbed --out DIR`` wrote: ``results.json`` (the JSON form
of a testbed run: the scenario, the machine, the versions and, per strategy, one row per
metric with the real value, the model's mean and 95% interval, the verdict and its likely
cause) and ``comparison.png`` (the figure of real against model), and builds what the
template shows. The JSON is read as a plain dict and only the keys shown are checked;
unknown keys are ignored, so a newer ``results.json`` with more in it still reads. A file
or key that cannot be used raises :class:`TestbedFolderError`: one line naming the file,
the key path and what is wrong. A missing or unreadable figure is not an error: the
section says so and shows the rest.

This module does not import :mod:`simulator.testbed` (the presentation layer is below
it): it follows the JSON schema of ``TestbedResult.to_dict()``.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from simulator.errors import AuthsimError, one_line
from simulator.present.format import MISSING, count_noun, join_words, model_text, value_text
from simulator.present.report_figures import ReportFigure, dark_png, png_data_uri, png_size
from simulator.present.report_tables import ReportTable

__all__ = [
    "COMPARISON_PNG",
    "INSIDE",
    "OFF",
    "RESULTS_JSON",
    "WITHIN",
    "TestbedFolderError",
    "TestbedSection",
    "TestbedStrategy",
    "load_testbed",
    "read_testbed",
    "testbed_section",
]

RESULTS_JSON = "results.json"
"""The testbed run's JSON document, in the folder ``authsim testbed --out`` writes."""

COMPARISON_PNG = "comparison.png"
"""Its figure of real against model."""

INSIDE, WITHIN, OFF = "inside CI", "within tolerance", "off"
"""The verdicts of ``simulator.testbed.compare``, as written in ``results.json``."""

TABLE_HEADER = ("metric", "real", "model (mean ± 95%)", "verdict", "likely cause")


class TestbedFolderError(AuthsimError):
    """A ``--testbed`` folder whose results cannot be shown.

    Its string form is one line: ``--testbed: <file>: <key path>: <problem>`` (no key
    path for a problem with the folder or the file as a whole).

    Attributes:
        path: the folder or file at fault.
        key_path: where in ``results.json`` (``strategies[0].comparison[2].verdict``), or
            an empty string.
        problem: what is wrong, in a few words.
    """

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, path: Path, problem: str, key_path: str = "") -> None:
        self.path = path
        self.key_path = key_path
        self.problem = problem
        parts = ["--testbed", str(path), *([key_path] if key_path else []), problem]
        super().__init__(one_line(": ".join(parts)))


@dataclass(frozen=True)
class TestbedStrategy:
    """One strategy of the testbed run.

    Attributes:
        name: the strategy.
        table: metric / real / model / verdict / likely cause, one row per metric.
        warning: the load generator's warning for this strategy's run, or ``None``.
        note: the costs the servers reported and the generator's lateness (empty when
            ``results.json`` has neither).
    """

    __test__ = False

    name: str
    table: ReportTable
    warning: str | None
    note: str


@dataclass(frozen=True)
class TestbedSection:
    """Everything the section shows.

    Attributes:
        folder: the folder read, as given.
        scenario: the scenario the testbed ran.
        facts: what ran, for how long, on which machine, and how late the load generator was.
        versions: the testbed's versions (HAProxy, Python, the server), in one line.
        tally: one sentence: how many metrics were inside CI, within tolerance, off.
        mismatch: a warning when the testbed ran another scenario than the report (or empty).
        strategies: one per strategy, in run order.
        figure: ``comparison.png`` embedded, or ``None`` when it is missing or unreadable.
        figure_note: why there is no figure (empty when there is one).
    """

    __test__ = False

    folder: str
    scenario: str
    facts: str
    versions: str
    tally: str
    mismatch: str
    strategies: tuple[TestbedStrategy, ...]
    figure: ReportFigure | None
    figure_note: str


# ------------------------------------------------------------------ public API


def load_testbed(folder: Path, report_scenario: str | None = None) -> TestbedSection:
    """Read and check a testbed folder, and build its section.

    Args:
        folder: what ``authsim testbed --out`` wrote.
        report_scenario: the scenario of the report it is shown in (a note is added when
            the testbed ran another one).

    Raises:
        TestbedFolderError: the folder, ``results.json`` or a key in it cannot be used.
    """
    return testbed_section(folder, read_testbed(folder), report_scenario)


def read_testbed(folder: Path) -> dict[str, Any]:
    """``results.json`` of a testbed folder, parsed (its keys are checked by
    :func:`testbed_section`).

    Raises:
        TestbedFolderError: no such folder, not a folder, no ``results.json``, a file
            that cannot be read or is not a JSON object.
    """
    if not folder.exists():
        raise TestbedFolderError(folder, "no such folder (give what `authsim testbed --out` wrote)")
    if not folder.is_dir():
        raise TestbedFolderError(folder, "not a folder (give what `authsim testbed --out` wrote)")
    path = folder / RESULTS_JSON
    if not path.is_file():
        raise TestbedFolderError(path, "no such file (`authsim testbed --out` writes it)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TestbedFolderError(path, f"cannot be read: {reason}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TestbedFolderError(
            path, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(document, dict):
        raise TestbedFolderError(path, f"must be a JSON object (got {_json_kind(document)})")
    return document


def testbed_section(
    folder: Path, document: Mapping[str, Any], report_scenario: str | None = None
) -> TestbedSection:
    """The section of a testbed run read from ``folder``.

    Args:
        folder: the folder (``comparison.png`` is read from it; ``results.json`` names
            the file in errors).
        document: ``results.json``, parsed (:func:`read_testbed`).
        report_scenario: see :func:`load_testbed`.

    Raises:
        TestbedFolderError: a key the section shows is missing or of the wrong kind.
    """
    check = _Checker(folder / RESULTS_JSON)
    scenario = check.text(document, "scenario", "")
    duration_s = check.number(document, "duration_s", "")
    warmup_s = check.number(document, "warmup_s", "")
    machine = check.mapping(document, "machine", "")
    cores = check.number(machine, "cores", "machine")
    load = check.number(machine, "load_average", "machine")
    late_ms = check.number(machine, "behind_schedule_ms", "machine", optional=True)
    versions = check.mapping(document, "versions", "")
    items = check.sequence(document, "strategies", "")
    if not items:
        check.fail("strategies", "is empty: no strategy was run")
    strategies = tuple(
        _strategy(check, item, f"strategies[{index}]") for index, item in enumerate(items)
    )
    verdicts = Counter(row[3] for strategy in strategies for row in strategy.table.rows)
    figure, figure_note = _figure(folder, strategies)
    mismatch = ""
    if report_scenario is not None and report_scenario != scenario:
        mismatch = (
            f"The testbed ran {scenario}, not this report's {report_scenario}: the "
            "numbers below are not about the run above."
        )
    return TestbedSection(
        folder=str(folder),
        scenario=scenario,
        facts=_facts(scenario, duration_s, warmup_s, cores, load, late_ms),
        versions=" · ".join(f"{name} {value}" for name, value in versions.items()) or MISSING,
        tally=tally_sentence(verdicts),
        mismatch=mismatch,
        strategies=strategies,
        figure=figure,
        figure_note=figure_note,
    )


def tally_sentence(verdicts: Mapping[str, int]) -> str:
    """How many metrics were inside CI, within tolerance and off, in one sentence."""
    total = sum(verdicts.values())
    if total == 0:
        return "No metric was compared."
    parts = [
        f"{verdicts.get(INSIDE, 0):,} were inside the model's 95% interval",
        f"{verdicts.get(WITHIN, 0):,} within tolerance",
        f"{verdicts.get(OFF, 0):,} off",
    ]
    other = total - sum(verdicts.get(name, 0) for name in (INSIDE, WITHIN, OFF))
    if other:
        parts.append(f"{other:,} with another verdict")
    return f"Of {count_noun(total, 'metric')} compared, {join_words(parts)}."


# ------------------------------------------------------------------ checking


class _Checker:
    """Reads keys of ``results.json``, raising :class:`TestbedFolderError` on a wrong one."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key_path: str, problem: str) -> NoReturn:
        raise TestbedFolderError(self.path, problem, key_path)

    def _get(self, data: Mapping[str, Any], key: str, where: str, optional: bool) -> Any:
        if key not in data and not optional:
            self.fail(_join(where, key), "missing")
        return data.get(key)

    def _wrong(self, where: str, key: str, wanted: str, value: Any) -> NoReturn:
        self.fail(_join(where, key), f"must be {wanted} (got {_json_kind(value)})")

    def text(self, data: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> str:
        value = self._get(data, key, where, optional)
        if value is None and optional:
            return ""
        if not isinstance(value, str):
            self._wrong(where, key, "text", value)
        return value

    def number(
        self,
        data: Mapping[str, Any],
        key: str,
        where: str,
        *,
        optional: bool = False,
        nullable: bool = False,
    ) -> float:
        """A number; ``nan`` for ``null`` when ``nullable`` or for an absent optional key."""
        value = self._get(data, key, where, optional)
        if value is None and (optional or nullable):
            return math.nan
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._wrong(where, key, "a number" + (" or null" if nullable else ""), value)
        return float(value)

    def mapping(
        self, data: Mapping[str, Any], key: str, where: str, *, optional: bool = False
    ) -> dict[str, Any]:
        value = self._get(data, key, where, optional)
        if value is None and optional:
            return {}
        if not isinstance(value, dict):
            self._wrong(where, key, "an object", value)
        return value

    def sequence(self, data: Mapping[str, Any], key: str, where: str) -> list[Any]:
        value = self._get(data, key, where, False)
        if not isinstance(value, list):
            self._wrong(where, key, "a list", value)
        return value

    def item(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"must be an object (got {_json_kind(value)})")
        return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _json_kind(value: Any) -> str:
    """What a JSON value is, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value:g}"
    if isinstance(value, str):
        shown = value if len(value) <= 30 else value[:27] + "..."
        return f"the text {shown!r}"
    if isinstance(value, list):
        return "a list"
    return "an object"


# ------------------------------------------------------------------ building


def _strategy(check: _Checker, raw: Any, where: str) -> TestbedStrategy:
    item = check.item(raw, where)
    name = check.text(item, "strategy", where)
    rows = []
    for index, raw_row in enumerate(check.sequence(item, "comparison", where)):
        at = f"{where}.comparison[{index}]"
        row = check.item(raw_row, at)
        unit = check.text(row, "unit", at)
        model = check.mapping(row, "model", at)
        rows.append(
            (
                check.text(row, "label", at),
                value_text(check.number(row, "real", at, nullable=True), unit),
                model_text(
                    check.number(model, "mean", f"{at}.model", nullable=True),
                    check.number(model, "half_width", f"{at}.model", optional=True, nullable=True),
                    unit,
                ),
                check.text(row, "verdict", at),
                check.text(row, "cause", at, optional=True),
            )
        )
    verdicts = Counter(row[3] for row in rows)
    order = [INSIDE, WITHIN, OFF, *sorted(set(verdicts) - {INSIDE, WITHIN, OFF})]
    counted = ", ".join(f"{verdicts[name]} {name}" for name in order if verdicts[name])
    table = ReportTable(
        id=f"table-testbed-{_slug(name)}",
        caption=f"{name}: real (one run) against the model (95% CI)"
        + (f": {counted}" if counted else ""),
        header=TABLE_HEADER,
        numeric=(False, True, True, False, False),
        rows=tuple(rows),
        css_class="stack",
    )
    warning = check.text(item, "warning", where, optional=True) or None
    return TestbedStrategy(name=name, table=table, warning=warning, note=_note(check, item, where))


def _note(check: _Checker, item: Mapping[str, Any], where: str) -> str:
    """The measured costs and the generator's lateness, when ``results.json`` has them."""
    parts = []
    costs = check.mapping(item, "costs", where, optional=True)
    if costs:
        at = f"{where}.costs"

        def cost(key: str) -> float:
            return check.number(costs, key, at, optional=True, nullable=True)

        parts.append(
            f"Measured on the real servers and given to the model: login "
            f"{value_text(cost('login_ms'), 'ms')} (the password hash, CPU time), check "
            f"{_fine_ms(cost('check_ms'))}, outside the servers "
            f"{value_text(cost('overhead_mean_ms'), 'ms')} mean and "
            f"{value_text(cost('overhead_p99_ms'), 'ms')} p99 (as load_balancer.hop_ms)."
        )
    lag_ms = check.number(item, "lag_p99_ms", where, optional=True, nullable=True)
    if not math.isnan(lag_ms):
        parts.append(f"The load generator sent its requests up to {lag_ms:.1f} ms late (p99).")
    return " ".join(parts)


def _fine_ms(value: float) -> str:
    return MISSING if math.isnan(value) else f"{value:.3f} ms"


def _facts(
    scenario: str, duration_s: float, warmup_s: float, cores: float, load: float, late_ms: float
) -> str:
    measured_s = duration_s - warmup_s
    text = (
        f"`authsim testbed` ran `{scenario}` on a real cluster on one machine (HAProxy, one "
        f"Python server process per server, redis-server for shared_store, all on "
        f"127.0.0.1) for {duration_s:g} s, {measured_s:g} s compared after {warmup_s:g} s "
        f"of warm-up, then the model on the same scenario with the costs measured in it. "
        f"The machine: {cores:g} cores, load average {load:.1f}"
    )
    if load > cores:
        text += " (more runnable processes than cores: every process waited for a CPU)"
    if not math.isnan(late_ms):
        text += f"; the load generator sent its requests up to {late_ms:.1f} ms late (p99)"
    return text + "."


def _figure(folder: Path, strategies: Sequence[TestbedStrategy]) -> tuple[ReportFigure | None, str]:
    """``comparison.png`` embedded, or ``None`` and why not."""
    path = folder / COMPARISON_PNG
    try:
        png = path.read_bytes()
    except FileNotFoundError:
        return None, f"The figure is missing: there is no {path}."
    except OSError as exc:
        return None, f"The figure is missing: {path} cannot be read ({exc.strerror or exc})."
    try:
        width, height = png_size(png)
    except ValueError:
        return None, f"The figure is missing: {path} is not a PNG image."
    return (
        ReportFigure(
            id="figure-testbed",
            title="Real against model, every metric",
            caption=(
                "One panel per metric: each strategy's model mean and 95% interval as a bar, "
                "the real run as a black diamond, and the verdict above it (✓ inside the "
                "interval, ≈ within tolerance, ✗ off)."
            ),
            alt=_figure_alt(strategies),
            src=png_data_uri(png),
            width=width,
            height=height,
            dark_src=png_data_uri(dark_png(png)),
        ),
        "",
    )


def _figure_alt(strategies: Sequence[TestbedStrategy]) -> str:
    """The figure's alt text: per strategy, how many metrics agreed and which were off."""
    sentences = ["Bars of the model's mean and 95% interval beside the real run, per metric."]
    for strategy in strategies:
        rows = strategy.table.rows
        agreed = sum(1 for row in rows if row[3] in (INSIDE, WITHIN))
        off = [f"{row[0]} ({row[1]} real, model {row[2]})" for row in rows if row[3] == OFF]
        sentence = f"{strategy.name}: {agreed} of {len(rows)} inside the interval or tolerance"
        sentences.append(sentence + (f"; off: {'; '.join(off)}." if off else "."))
    return " ".join(sentences)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "strategy"
