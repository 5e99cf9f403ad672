"""The text output of ``authsim run`` at 80, 100 and 160 columns, the exposure lines, the
scenario list and story, and plain progress lines when stderr is piped."""

from __future__ import annotations

import io
import json
import re
import time
from typing import TYPE_CHECKING, Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from simulator.cli import progress
from simulator.cli.app import app
from simulator.cli.run import print_replicated, print_summary
from simulator.experiments.replications import run_replications
from simulator.model.run import run
from simulator.scenario.loading import load_scenario

if TYPE_CHECKING:
    from simulator.experiments.replications import ReplicatedResult
    from simulator.results.records import RunResult

WIDTHS = (80, 100, 160)
runner = CliRunner()


@pytest.fixture(scope="module")
def results() -> dict[str, RunResult]:
    """Whole runs of the scenarios whose tables are widest (a few seconds each)."""
    return {name: run(load_scenario(name)) for name in ("baseline", "server-crash", "revocation")}


@pytest.fixture(scope="module")
def replicated() -> ReplicatedResult:
    return run_replications(load_scenario("revocation", ["duration_s=70"]), 2)


def render(print_tables: Any, width: int, *, wide: bool = False) -> str:
    """What ``print_tables(console, wide=...)`` prints on a console ``width`` wide."""
    buffer = io.StringIO()
    print_tables(Console(file=buffer, width=width, color_system=None), wide=wide)
    return buffer.getvalue()


def summary_text(result: RunResult, width: int, *, wide: bool = False) -> str:
    """What ``authsim run`` prints for ``result`` on a terminal ``width`` wide."""
    return render(lambda console, wide: print_summary(console, result, wide=wide), width, wide=wide)


def summary_numbers(document: dict[str, Any]) -> list[str]:
    """Every number of the full summary table, written as the table writes it."""
    numbers = []
    for item in document["results"]:
        latency, skew = item["latency_ms"], item["load_skew"]
        numbers += [
            f"{item['requests']:,}",
            f"{item['success_rate'] * 100:.1f}%",
            f"{item['forced_relogins']:,}",
            f"{item['users_logged_out']:,}",
            f"{sum(item['errors'].values()):,}",
            *(f"{latency[key]:.1f}" for key in ("mean", "p50", "p95", "p99")),
            f"{skew['max_over_mean']:.2f}",
            f"{skew['jain']:.3f}",
        ]
        if item["store"] is not None:
            numbers.append(f"{item['store']['utilisation'] * 100:.0f}%")
    return numbers


def window_numbers(document: dict[str, Any]) -> list[str]:
    """Every number of the between-events table: success rates, counts by cause and the
    users logged out (in brackets, when any); none for a run without events (no table)."""
    numbers = []
    for item in document["results"]:
        if not item["events"]:
            continue
        for window in item["windows"]:
            if window["success_rate"] is not None:
                numbers.append(f"{window['success_rate'] * 100:.1f}%")
            numbers += [f"{n:,}" for n in window["forced_relogins_by_cause"].values() if n]
            users = window["users_logged_out"]
            if users:
                numbers.append(f"({users:,} {'user' if users == 1 else 'users'})")
    return numbers


def assert_uncut(text: str, numbers: list[str], width: int) -> None:
    """Each number appears whole (no digit, point or comma touching it), nothing is
    ellipsised and no line is wider than ``width``."""
    for value in numbers:
        pattern = rf"(?<![\d.,]){re.escape(value)}(?![\d.,]*\d)"
        assert re.search(pattern, text), f"{value} is missing or cut at {width}:\n{text}"
    assert "…" not in text
    widest = max(len(line) for line in text.splitlines())
    assert widest <= width, f"a line of {widest} columns at {width}:\n{text}"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["baseline", "server-crash", "revocation"])
def test_every_number_is_whole_at_every_width(
    results: dict[str, RunResult], name: str, width: int
) -> None:
    result = results[name]
    text = summary_text(result, width)
    document = json.loads(result.to_json())
    assert_uncut(text, summary_numbers(document) + window_numbers(document), width)


def header_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "strategy" in line]


def test_the_full_table_when_it_fits_and_a_stack_when_not(
    results: dict[str, RunResult],
) -> None:
    wide, narrow = (summary_text(results["baseline"], width) for width in (160, 80))
    assert len(header_lines(wide)) == 1
    assert "requests" in header_lines(wide)[0] and "Jain" in header_lines(wide)[0]
    assert "logged out" in wide and "logged out" in narrow  # beside forced re-logins
    assert len(header_lines(narrow)) == 2  # outcomes, then latency and load


def test_between_events_one_row_per_window_and_strategy_when_narrow(
    results: dict[str, RunResult],
) -> None:
    wide, narrow = (summary_text(results["server-crash"], width) for width in (160, 80))
    assert "from s" in wide  # windows down, strategies across
    assert "42–77 s" in narrow and "from s" not in narrow


def test_wide_prints_the_full_layout_whatever_the_width(results: dict[str, RunResult]) -> None:
    result = results["server-crash"]
    text = summary_text(result, 80, wide=True)
    assert len(header_lines(text)) == 1 and "from s" in text
    document = json.loads(result.to_json())
    for value in summary_numbers(document) + window_numbers(document):
        assert value in text  # whole: the terminal wraps the long lines, nothing is cut
    assert max(len(line) for line in text.splitlines()) > 80


@pytest.mark.parametrize("width", WIDTHS)
def test_exposure_after_revocation_is_printed(results: dict[str, RunResult], width: int) -> None:
    result = results["revocation"]
    text = summary_text(result, width)
    assert "Exposure after revocation" in text
    numbers = []
    for item in result.results:
        exposure = item.exposure
        assert exposure is not None
        numbers += [
            f"{exposure.accepted_after_revocation:,}",
            f"{exposure.mean_window_s:.1f}",
            f"{exposure.max_window_s:.1f}",
        ]
    jwt = next(item for item in result.results if item.strategy == "jwt")
    assert jwt.exposure is not None and jwt.exposure.accepted_after_revocation > 0
    assert_uncut(text, numbers, width)


def test_no_exposure_without_revocation(results: dict[str, RunResult]) -> None:
    result = results["server-crash"]
    text = summary_text(result, 160)
    assert "Exposure" not in text


@pytest.mark.parametrize("width", WIDTHS)
def test_replications_fit_every_width(replicated: ReplicatedResult, width: int) -> None:
    text = render(lambda console, wide: print_replicated(console, replicated, wide=wide), width)
    numbers = []
    for name in replicated.strategies:
        for metric, scale, digits in (
            ("success_rate", 100.0, 2),
            ("latency_ms.mean", 1.0, 2),
            ("latency_ms.p99", 1.0, 1),
            ("load_skew.jain", 1.0, 4),
            ("exposure.mean_window_s", 1.0, 2),
        ):
            interval = replicated.interval(name, metric)
            numbers.append(
                f"{interval.mean * scale:.{digits}f} ± {interval.half_width * scale:.{digits}f}"
            )
    assert "Exposure after revocation" in text
    assert_uncut(text, numbers, width)


def test_columns_is_honoured_when_the_output_is_piped() -> None:
    """``COLUMNS=80 authsim run | less``: the tables fit 80 columns, every number whole."""
    arguments = ["run", "-s", "local", "-s", "jwt", "--set", "duration_s=8", "--set", "warmup_s=2"]
    narrow = runner.invoke(app, arguments, env={"COLUMNS": "80"})
    piped = runner.invoke(app, arguments, env={"COLUMNS": ""})
    assert narrow.exit_code == 0 and piped.exit_code == 0
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
    assert max(len(line) for line in piped.stdout.splitlines()) > 80  # 132 into a file
    assert "…" not in narrow.stdout


def test_run_accepts_wide() -> None:
    result = runner.invoke(
        app, ["run", "--wide", "-s", "jwt", "--set", "duration_s=8", "--set", "warmup_s=2"]
    )
    assert result.exit_code == 0, result.stderr
    assert "Jain" in result.stdout


# ----------------------------------------------------------------------- scenarios


def test_scenarios_one_line_each_cut_to_the_width() -> None:
    result = runner.invoke(app, ["scenarios"], env={"COLUMNS": "60"})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len({line.split()[0] for line in lines}) >= 10
    assert any(line.startswith("baseline ") for line in lines)
    baseline = next(line for line in lines if line.startswith("baseline "))
    assert "Five servers behind a round-robin" in baseline


def test_scenarios_name_tells_the_story() -> None:
    result = runner.invoke(app, ["scenarios", "server-crash"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    description = " ".join(load_scenario("server-crash").description.split())
    assert description in text
    assert "crash server 2" in text and "42 s" in text and "77 s" in text


def test_scenarios_unknown_name_is_one_line() -> None:
    result = runner.invoke(app, ["scenarios", "basline"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


# ----------------------------------------------------------------------- progress


def test_plain_lines_at_most_every_few_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    now = [0.0]
    lines = progress.PlainLines("sweep", every_s=5, clock=lambda: now[0])
    for moment in (1.0, 4.9, 5.0, 7.0, 10.5):
        now[0] = moment
        lines(lambda: f"at {now[0]:g}")
    err = capsys.readouterr().err.splitlines()
    assert err == ["sweep: at 5 (5 s elapsed)", "sweep: at 10.5 (10 s elapsed)"]


def test_piped_runs_print_plain_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)
    result = runner.invoke(
        app, ["run", "--json", "-s", "jwt", "--set", "duration_s=8", "--set", "warmup_s=2"]
    )
    assert result.exit_code == 0
    json.loads(result.stdout)  # stdout stays one JSON document
    # the elapsed seconds depend on the machine's load: only the step is checked
    assert any(line.startswith("run: jwt 50% (") for line in result.stderr.splitlines())
    assert "━" not in result.stderr  # no bar: stderr is not a terminal


def test_piped_writing_prints_plain_lines(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.01)
    console = Console(file=io.StringIO())  # not a terminal
    with progress.writing(console, tmp_path, plots=True):
        time.sleep(0.1)
    err = capsys.readouterr().err
    assert f"write: writing results and plots to {tmp_path}" in err


def test_piped_steps_tick_with_the_current_step(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.01)
    with progress.steps("report", "Building the report", "Building the report: {}") as step:
        time.sleep(0.05)
        step("drawing the figures")
        time.sleep(0.05)
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("report: building the report (") for line in err)
    assert any(line.startswith("report: Building the report: drawing the figures") for line in err)


def test_piped_warmup_prints_its_replications(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)
    command = ["warmup", "-r", "2", "--set", "duration_s=20", "--set", "warmup_s=2"]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert any(line.startswith("replications: 2/2 done (") for line in lines), lines
