"""``authsim report --testbed DIR``: a real cluster's run beside the model, as a section of
the report, read from the folder ``authsim testbed --out`` writes (or one line and exit 2
when the folder cannot be used, before anything runs).

The folder is made here with the testbed's own classes (``TestbedResult.to_dict()``), so
the test follows the schema ``authsim testbed`` writes."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import html5lib
import pandas as pd
import pytest
from markupsafe import escape
from PIL import Image
from typer.testing import CliRunner

import simulator.cli.documents
from simulator.cli.app import app
from simulator.experiments.replications import Interval
from simulator.model.run import run
from simulator.present import report
from simulator.present.format import model_text, value_text
from simulator.present.report_testbed import (
    RESULTS_JSON,
    TestbedFolderError,
    load_testbed,
    tally_sentence,
)
from simulator.scenario.loading import load_scenario
from simulator.testbed import runner as testbed_runner
from simulator.testbed.compare import OFF, Machine, Row, compare
from simulator.testbed.costs import MeasuredCosts

runner = CliRunner()
TINY = ["--set", "duration_s=6", "--set", "warmup_s=2", "-s", "jwt"]
SECTION = "A real cluster beside the model"
MACHINE = Machine(cores=2, load_average=0.6, behind_schedule_ms=3.5)

MODEL: dict[str, Interval] = {
    "success_rate": Interval(0.34, 0.02, 5),
    "forced_relogins": Interval(320.0, 20.0, 5),
    "users_logged_out": Interval(150.0, 10.0, 5),
    "latency_ms.mean": Interval(10.0, 1.0, 5),
    "latency_ms.p50": Interval(8.0, 1.0, 5),
    "latency_ms.p95": Interval(20.0, 2.0, 5),
    "latency_ms.p99": Interval(30.0, 3.0, 5),
    "load_skew.max_over_mean": Interval(1.0, 0.01, 5),
    "load_skew.jain": Interval(1.0, math.nan, 1),
}
REAL: dict[str, dict[str, float]] = {
    # inside CI but for success (off) and forced re-logins (within tolerance)
    "local": {
        "success_rate": 0.30,
        "forced_relogins": 349.0,
        "users_logged_out": 151.0,
        "latency_ms.mean": 10.5,
        "latency_ms.p50": 8.2,
        "latency_ms.p95": 21.0,
        "latency_ms.p99": 31.0,
        "load_skew.max_over_mean": 1.0,
        "load_skew.jain": 1.0,
    },
    # a p99 far above the model's: off, with a likely cause
    "jwt": {
        "success_rate": 0.345,
        "forced_relogins": 321.0,
        "users_logged_out": 149.0,
        "latency_ms.mean": 10.2,
        "latency_ms.p50": 8.1,
        "latency_ms.p95": 20.5,
        "latency_ms.p99": 80.0,
        "load_skew.max_over_mean": 1.005,
        "load_skew.jain": 1.0,
    },
}
COSTS = MeasuredCosts(
    login_ms=5.2, login_in_run_ms=5.4, check_ms=0.0086, overhead_mean_ms=5.17, overhead_p99_ms=15.0
)


def make_result(
    scenario: str = "baseline", warning: str | None = None, *, short: bool = True
) -> testbed_runner.TestbedResult:
    """A testbed run made of the testbed's own classes (no process started)."""
    result = testbed_runner.TestbedResult(
        scenario=load_scenario(scenario, ["duration_s=20", "warmup_s=4"] if short else []),
        machine=MACHINE,
        versions={"haproxy": "2.6.12", "python": "3.11.7", "server": "http.server"},
    )
    for name, real in REAL.items():
        result.strategies.append(
            testbed_runner.StrategyComparison(
                strategy=name,
                real={"success_rate": real["success_rate"]},
                model=MODEL,
                costs=COSTS,
                rows=compare(name, real, MODEL, MACHINE),
                requests=pd.DataFrame(),
                warning=warning if name == "jwt" else None,
                lag_p99_ms=2.9,
            )
        )
    return result


def small_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 8), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_testbed_folder(
    folder: Path,
    result: testbed_runner.TestbedResult | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
    png: bool = True,
) -> Path:
    """What ``authsim testbed --out`` writes (``results.json``, ``comparison.png``), with
    ``edit`` applied to the JSON document first."""
    folder.mkdir(parents=True, exist_ok=True)
    document = (result or make_result()).to_dict()
    if edit is not None:
        edit(document)
    (folder / RESULTS_JSON).write_text(
        json.dumps(document, indent=1, allow_nan=False, default=str), encoding="utf-8"
    )
    if png:
        (folder / "comparison.png").write_bytes(small_png())
    return folder


def rows_of(result: testbed_runner.TestbedResult) -> dict[str, list[Row]]:
    return {item.strategy: item.rows for item in result.strategies}


@pytest.fixture
def no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip drawing the run's own figures (these tests are about the testbed section)."""
    monkeypatch.setattr(report, "figure_groups", lambda result, progress=None: [])


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def write_report(tmp_path: Path, *extra: str) -> str:
    target = tmp_path / "report.html"
    code, _, err = invoke("report", *TINY, "-o", str(target), *extra)
    assert code == 0, err
    return target.read_text(encoding="utf-8")


def section_of(html: str) -> str:
    start = html.index('<section aria-labelledby="testbed">')
    return html[start : html.index("</section>", start)]


# ------------------------------------------------------------------ the section


def test_the_rows_cover_every_verdict() -> None:
    verdicts = {row.verdict for rows in rows_of(make_result()).values() for row in rows}
    assert verdicts == {"inside CI", "within tolerance", "off"}


def test_section_shows_each_strategy_with_its_values_and_verdicts(
    tmp_path: Path, no_figures: None
) -> None:
    result = make_result()
    folder = write_testbed_folder(tmp_path / "tb", result)
    html = write_report(tmp_path, "--testbed", str(folder))
    html5lib.HTMLParser(strict=True).parse(html)
    section = section_of(html)
    assert f'<h2 id="testbed">{SECTION}</h2>' in section
    assert '<a href="#testbed">' in html
    assert "<code>baseline</code>" in section
    assert "2 cores, load average 0.6" in section
    assert "up to 3.5 ms late (p99)" in section
    assert "haproxy 2.6.12 · python 3.11.7 · server http.server" in section
    tree: ET.Element = html5lib.HTMLParser(namespaceHTMLElements=False).parse(section)
    for name, rows in rows_of(result).items():
        assert f">{name}</h3>" in section
        table = tree.find(f".//table/caption[@id='table-testbed-{name}']/..")
        assert table is not None, name
        body = [["".join(cell.itertext()) for cell in row] for row in table.findall("./tbody/tr")]
        assert body == [
            [
                row.metric.label,
                value_text(row.real, row.metric.unit),
                model_text(row.model.mean, row.model.half_width, row.metric.unit),
                row.verdict,
                row.cause,
            ]
            for row in rows
        ]
    assert '<td class="num" data-label="real">30.0%</td>' in section
    assert "34 ± 2%" in section  # the model's success, as the CLI prints it
    assert "30 ± 3 ms" in section and "80.0 ms" in section  # jwt's p99
    assert "per-request costs the model does not have" in section  # jwt's p99 is off
    assert str(escape("1 ± 0.01")) in section and "within tolerance" in section
    counted = sum(len(rows) for rows in rows_of(result).values())
    off = sum(row.verdict == OFF for rows in rows_of(result).values() for row in rows)
    assert f"Of {counted} metrics compared," in section and f"and {off} off." in section
    assert "login 5.2 ms (the password hash, CPU time), check 0.009 ms" in section
    assert "--testbed" in html.split('id="reproduce"')[1]  # the command repeats it


def test_the_figure_is_embedded_with_an_alt_text(tmp_path: Path, no_figures: None) -> None:
    folder = write_testbed_folder(tmp_path / "tb")
    section = section_of(write_report(tmp_path, "--testbed", str(folder)))
    images = re.findall(r"<img [^>]*>", section)
    assert len(images) == 1
    encoded = base64.b64encode(small_png()).decode("ascii")
    assert f'src="data:image/png;base64,{encoded}"' in images[0]
    assert 'width="12" height="8"' in images[0]
    alt = re.search(r'alt="([^"]+)"', images[0])
    assert alt is not None and "jwt: 8 of 9 inside the interval or tolerance" in alt.group(1)
    assert "p99 latency (80.0 ms real, model 30 ± 3 ms)" in alt.group(1)


@pytest.mark.parametrize("png", ["missing", "not a png"])
def test_without_its_figure_the_section_still_renders(
    tmp_path: Path, no_figures: None, png: str
) -> None:
    folder = write_testbed_folder(tmp_path / "tb", png=png != "missing")
    if png == "not a png":
        (folder / "comparison.png").write_text("no image here", encoding="utf-8")
    section = section_of(write_report(tmp_path, "--testbed", str(folder)))
    assert "<img " not in section
    assert "The figure is missing:" in section
    assert "comparison.png" in section
    assert "table-testbed-local" in section


def test_a_warning_is_shown_and_optional_keys_may_be_absent(
    tmp_path: Path, no_figures: None
) -> None:
    warning = "the load generator fell behind its schedule by 40 ms (p99)"

    def edit(document: dict[str, Any]) -> None:
        local = document["strategies"][0]
        del local["costs"], local["lag_p99_ms"], local["warning"]
        local["windows"] = [{"from_s": 0, "to_s": 10}]  # a key added later: ignored
        document["something_new"] = {"a": 1}

    folder = write_testbed_folder(tmp_path / "tb", make_result(warning=warning), edit)
    section = load_testbed(folder)
    local, jwt = section.strategies
    assert (local.warning, local.note) == (None, "")
    assert jwt.warning == warning
    assert jwt.note.startswith("Measured on the real servers")
    tiny = load_scenario("baseline", ["duration_s=6", "warmup_s=2"])
    html = report.render_report(run(tiny, ["jwt"], record_requests=False), testbed=section)
    assert f"<strong>Warning:</strong> {warning}" in section_of(html)


def test_another_scenario_is_pointed_out(tmp_path: Path) -> None:
    folder = write_testbed_folder(tmp_path / "tb", make_result("server-crash", short=False))
    assert load_testbed(folder, report_scenario="server-crash").mismatch == ""
    mismatch = load_testbed(folder, report_scenario="baseline").mismatch
    assert mismatch.startswith("The testbed ran server-crash, not this report's baseline")


def test_values_are_written_as_the_cli_writes_them() -> None:
    assert value_text(0.313, "%") == "31.3%"
    assert value_text(4.25, "ms") == "4.2 ms"
    assert value_text(349.0, "") == "349"
    assert value_text(None, "ms") == value_text(math.nan, "") == "–"
    assert model_text(0.34, 0.028, "%") == "34 ± 2.8%"
    assert model_text(5.123, 0.31, "ms") == "5.12 ± 0.31 ms"
    assert model_text(0.999, None, "") == "0.999"
    assert model_text(None, 0.1, "") == "–"


def test_tally_sentence() -> None:
    assert tally_sentence({"inside CI": 20, "within tolerance": 5, "off": 2}) == (
        "Of 27 metrics compared, 20 were inside the model's 95% interval, 5 within "
        "tolerance and 2 off."
    )
    assert tally_sentence({"inside CI": 1, "odd": 1}).endswith("0 off and 1 with another verdict.")
    assert tally_sentence({}) == "No metric was compared."


def test_the_report_without_testbed_has_no_such_section(tmp_path: Path, no_figures: None) -> None:
    html = write_report(tmp_path)
    assert SECTION not in html
    assert 'id="testbed"' not in html and "--testbed" not in html


# ------------------------------------------------------------------ bad input


def drop(*keys: str | int) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        target: Any = document
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return edit


def put(value: Any, *keys: str | int) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        target: Any = document
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


BAD_KEYS = [
    (drop("scenario"), "scenario: missing"),
    (drop("machine", "cores"), "machine.cores: missing"),
    (
        drop("strategies", 1, "comparison", 2, "verdict"),
        "strategies[1].comparison[2].verdict: missing",
    ),
    (
        drop("strategies", 0, "comparison", 0, "model", "mean"),
        "strategies[0].comparison[0].model.mean: missing",
    ),
    (
        put("fast", "machine", "load_average"),
        "machine.load_average: must be a number (got the text 'fast')",
    ),
    (put({}, "strategies"), "strategies: must be a list (got an object)"),
    (put([], "strategies"), "strategies: is empty"),
    (put([3], "strategies"), "strategies[0]: must be an object (got the number 3)"),
    (put(None, "strategies", 0, "comparison", 1, "real"), None),  # null is allowed: "–"
]


@pytest.mark.parametrize(("edit", "expected"), BAD_KEYS)
def test_a_missing_or_wrong_key_is_one_line_naming_the_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: Any, expected: str | None
) -> None:
    folder = write_testbed_folder(tmp_path / "tb", edit=edit)
    if expected is None:
        assert load_testbed(folder).strategies[0].table.rows[1][1] == "–"
        return
    with pytest.raises(TestbedFolderError) as raised:
        load_testbed(folder)
    assert str(raised.value).startswith(f"--testbed: {folder / RESULTS_JSON}: {expected}")
    assert_fails_fast(monkeypatch, folder, f"error: --testbed: {folder / RESULTS_JSON}: {expected}")


def assert_fails_fast(monkeypatch: pytest.MonkeyPatch, folder: Path, start: str) -> None:
    """``authsim report --testbed folder``: one line starting with ``start``, exit 2, and
    nothing run."""

    def no_run(*_: object, **__: object) -> None:
        raise AssertionError("the model ran before the folder was checked")

    monkeypatch.setattr(simulator.cli.documents, "run_scenario", no_run)
    code, out, err = invoke(
        "report", *TINY, "--testbed", str(folder), "-o", str(folder.parent / "r.html")
    )
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(start), lines[0]
    assert "Traceback" not in err + out
    assert not (folder.parent / "r.html").exists()


def test_a_folder_that_is_not_there_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere"
    assert_fails_fast(monkeypatch, missing, f"error: --testbed: {missing}: no such folder")


def test_a_file_instead_of_a_folder_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "results.json"
    file.write_text("{}", encoding="utf-8")
    assert_fails_fast(monkeypatch, file, f"error: --testbed: {file}: not a folder")


def test_a_folder_without_results_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    expected = f"error: --testbed: {folder / RESULTS_JSON}: no such file"
    assert_fails_fast(monkeypatch, folder, expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"scenario": "baseline",', "not valid JSON: Expecting property name enclosed"),
        ("[1, 2]", "must be a JSON object (got a list)"),
        ("", "not valid JSON: Expecting value at line 1 column 1"),
    ],
)
def test_results_that_are_not_json_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    folder = tmp_path / "tb"
    folder.mkdir()
    (folder / RESULTS_JSON).write_text(text, encoding="utf-8")
    assert_fails_fast(monkeypatch, folder, f"error: --testbed: {folder / RESULTS_JSON}: {expected}")
