"""`authsim run` says which strategies the vector engine computed (engine: auto)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from simulator.cli.app import app

runner = CliRunner()
SHORT = ["--set", "duration_s=20", "--set", "warmup_s=5"]
NOTE = "computed exactly by the vector engine"


def test_the_table_names_the_strategies_the_vector_engine_computed() -> None:
    result = runner.invoke(app, ["run", "-s", "sticky", "-s", "local", *SHORT])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stdout.splitlines() if NOTE in line]
    assert len(notes) == 1
    assert notes[0].startswith("sticky:")  # local (5 servers, round robin) is simulated


def test_no_note_when_everything_is_simulated() -> None:
    result = runner.invoke(app, ["run", "-s", "sticky", *SHORT, "--set", "engine=des"])
    assert result.exit_code == 0, result.output
    assert NOTE not in result.stdout


def test_engine_vector_where_it_cannot_be_exact_is_one_line_and_exit_2() -> None:
    result = runner.invoke(app, ["run", "-s", "local", *SHORT, "--set", "engine=vector"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "engine" in result.stderr and "local" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_json_says_which_engine_computed_each_strategy() -> None:
    result = runner.invoke(app, ["run", "-s", "sticky", "-s", "local", *SHORT, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["engines"] == {"sticky": "vector", "local": "des"}
    simulated = runner.invoke(
        app, ["run", "-s", "sticky", "-s", "local", *SHORT, "--json", "--set", "engine=des"]
    )
    assert json.loads(simulated.stdout)["engines"] == {"sticky": "des", "local": "des"}
    del document["engines"]
    assert document == {k: v for k, v in json.loads(simulated.stdout).items() if k != "engines"}
