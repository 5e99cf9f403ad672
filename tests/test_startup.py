"""Instant start-up: ``import simulator``, the command line's import and ``authsim --help``
load none of the heavy libraries; each command imports what it needs when it runs.

Import hygiene, not timing: each check runs in a fresh interpreter (a subprocess) and reads
its ``sys.modules``, so it holds on any machine, loaded or not. benchmarks/bench_startup.py
measures the time and memory. The constants the command line repeats for its help (so as
not to import their modules) are checked against their sources here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from simulator import tokens
from simulator.cli import options, token
from simulator.cli.experiments import VALIDATION_CASES, WELCH_METRIC_NAMES
from simulator.experiments.validation import case_names
from simulator.experiments.warmup import WELCH_METRICS
from simulator.scenario import loading

HEAVY = (
    "numpy",
    "pandas",
    "scipy",
    "matplotlib",
    "PIL",
    "jinja2",
    "cryptography",
    "jwt",
    "simpy",
    "pydantic",
    "yaml",
    "redis",
    "dask",
)
"""Libraries that ``import simulator``, ``import simulator.cli.app`` and ``--help`` leave out."""

LAZY_PACKAGES = (
    "simulator.model",
    "simulator.experiments",
    "simulator.testbed",
    "simulator.tokens",
    "simulator.costs",
)
"""Packages of authsim imported only by the commands that use them."""

LIGHT_PRESENT = {"simulator.present", "simulator.present.format"}
"""The only modules of simulator.present the command line imports at start: formatting of
numbers, standard library only (the figures, report and cheat sheet import matplotlib)."""

COMMANDS = (
    "run",
    "sweep",
    "scenarios",
    "show",
    "calibrate",
    "validate",
    "warmup",
    "plot-sweep",
    "report",
    "cheatsheet",
    "animate",
    "testbed",
    "token",
)

# Runs the code in argv[1], or `authsim argv[2:]` if argv[1] is "cli", then prints on
# stderr a JSON line: the exit code and every module loaded.
PROBE = """
import json, sys
code = 0
if sys.argv[1] == "cli":
    sys.argv = ["authsim", *sys.argv[2:]]
    from simulator.cli import main
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
else:
    exec(sys.argv[1])
sys.stderr.write("\\nPROBE " + json.dumps({"code": code, "modules": sorted(sys.modules)}) + "\\n")
"""


def probe(*args: str) -> tuple[int, str, set[str]]:
    """Exit code, stdout and the modules loaded, of ``args`` run by :data:`PROBE`."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,  # a guard against a hang, not a speed check
    )
    assert done.returncode == 0, done.stderr
    line = done.stderr.rstrip().splitlines()[-1]
    assert line.startswith("PROBE "), done.stderr
    report = json.loads(line.removeprefix("PROBE "))
    return report["code"], done.stdout, set(report["modules"])


def heavy_in(modules: set[str]) -> list[str]:
    """The heavy libraries and lazy packages among ``modules``."""
    tops = {name.split(".")[0] for name in modules}
    found = [library for library in HEAVY if library in tops]
    found += [
        name
        for name in sorted(modules)
        if name.startswith(LAZY_PACKAGES) or name.startswith("simulator.present")
    ]
    return [name for name in found if name not in LIGHT_PRESENT]


@pytest.mark.parametrize(
    "code", ["import simulator", "import simulator.cli.app", "import simulator.cli"]
)
def test_importing_loads_nothing_heavy(code: str) -> None:
    _, _, modules = probe(code)
    assert not heavy_in(modules), f"{code} imports {heavy_in(modules)}"


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("--version",),
        ("run", "--help"),
        ("validate", "--help"),
        ("warmup", "--help"),
        ("token", "--help"),
        ("token", "verify", "--help"),
    ],
    ids=" ".join,
)
def test_help_loads_nothing_heavy(args: tuple[str, ...]) -> None:
    code, out, modules = probe("cli", *args)
    assert code == 0, out
    found = heavy_in(modules)
    if len(args) > 1:
        # typer itself coerces the root's --help value with a pydantic TypeAdapter as soon
        # as a command is named: pydantic (alone) is typer's, not ours
        found = [name for name in found if name != "pydantic"]
    assert not found, f"authsim {' '.join(args)} imports {found}"


def test_python_dash_m_simulator_help_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    listed = [line.split()[0] for line in done.stdout.split("Commands:")[1].splitlines() if line]
    assert listed == list(COMMANDS)


@pytest.mark.slow  # a subprocess that runs the model
def test_a_short_run_works_and_imports_only_what_it_needs() -> None:
    code, out, modules = probe(
        "cli", "run", "--set", "duration_s=2", "--set", "warmup_s=0", "-s", "jwt", "--json"
    )
    assert code == 0, out
    assert json.loads(out)["results"][0]["strategy"] == "jwt"
    tops = {name.split(".")[0] for name in modules}
    unneeded = {"scipy", "matplotlib", "PIL", "jinja2", "cryptography", "jwt", "redis", "dask"}
    assert not tops & unneeded, f"authsim run imports {sorted(tops & unneeded)}"
    assert not [name for name in modules if name.startswith("simulator.experiments")]


# ----------------------------------------------------------------------- repeated constants


def test_the_default_scenario_is_the_loaders() -> None:
    assert options.DEFAULT_SCENARIO == loading.DEFAULT_SCENARIO


def test_the_validation_cases_in_the_help_are_the_cases() -> None:
    assert list(VALIDATION_CASES) == case_names()


def test_the_welch_metrics_in_the_help_are_the_metrics() -> None:
    assert list(WELCH_METRIC_NAMES) == list(WELCH_METRICS)


def test_the_token_defaults_are_the_libraries() -> None:
    assert token.TOKEN_ISSUER == tokens.DEFAULT_ISSUER
    assert token.TOKEN_AUDIENCE == tokens.DEFAULT_AUDIENCE
    assert token.TOKEN_LEEWAY_S == tokens.DEFAULT_LEEWAY_S
