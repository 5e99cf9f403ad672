"""Start-up cost of the ``authsim`` command: wall time, CPU time and peak memory.

Runs ``authsim --help``, ``authsim --version``, ``python -c "import simulator"`` and a
tiny ``authsim run`` (``baseline``, 2 s simulated, no warm-up: about 200 requests per
strategy) N times each, alternated (a, b, c, d, a, b, ...), so that a change of load on
a shared machine spreads over every command alike. Each measurement goes through its own
short-lived wrapper process that starts exactly one child and reports the child's wall
time, its CPU time (user + system, ``RUSAGE_CHILDREN``) and its peak RSS (``ru_maxrss``
is the maximum over every child ever waited for, hence one wrapper per child; see
bench_memory.py).

The tiny run's fixed cost is its CPU time minus the simulation's: the same run is timed
in-process (after the imports) in its own child, and both are printed. Prints a Markdown
table of medians and the load average before and after.

    python benchmarks/bench_startup.py [--runs N] [--quick] [--source DIR ...]
        [--no-installed] [--no-bytecode-cache]

Start-up is measured as after an install: with the bytecode of every module cached (one
unrecorded warm-up round first). When the environment forbids writing bytecode
(``PYTHONDONTWRITEBYTECODE``), the children write it to a temporary
``PYTHONPYCACHEPREFIX`` instead, removed at the end; ``--no-bytecode-cache`` measures the
environment as it is (every module of a source tree compiled on every start).

``--source DIR`` (repeatable) also measures the package in DIR (a checkout's folder that
holds ``simulator/``, e.g. ``git archive HEAD simulator scenarios | tar -x -C DIR``), put
first on ``PYTHONPATH``: before and after a change, alternated in one session
(``--no-installed``: only those).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

TINY_RUN = ("run", "--set", "duration_s=2", "--set", "warmup_s=0")
"""The tiny ``authsim run``: every strategy of ``baseline`` on 2 s of traffic."""

# Runs the command in argv[1:] once: its wall time, CPU time and peak RSS, as JSON.
WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall_s = time.perf_counter() - start
if done.returncode:
    sys.stderr.buffer.write(done.stderr)
    sys.exit(done.returncode)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall_s": wall_s, "cpu_s": usage.ru_utime + usage.ru_stime,
                  "peak_kib": usage.ru_maxrss}))
"""

# The tiny run's simulation alone, in-process after every import: CPU seconds of the
# first call (as the command makes it) and of a second one.
SIMULATION = """
import json, time
import simulator
scenario = simulator.load_scenario("baseline", {"duration_s": 2, "warmup_s": 0})
run = simulator.run  # imports the model: not part of the simulation
times = []
for _ in range(2):
    start = time.process_time()
    run(scenario, record_requests=False)
    times.append(time.process_time() - start)
print(json.dumps({"first_s": times[0], "again_s": times[1]}))
"""


def authsim_command() -> list[str]:
    """The ``authsim`` console script beside this Python, else ``python -m simulator``."""
    script = Path(sys.executable).with_name("authsim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "simulator"]


def commands() -> list[tuple[str, list[str]]]:
    authsim = authsim_command()
    return [
        ("authsim --help", [*authsim, "--help"]),
        ("authsim --version", [*authsim, "--version"]),
        ('python -c "import simulator"', [sys.executable, "-c", "import simulator"]),
        ("authsim run (tiny)", [*authsim, *TINY_RUN]),
    ]


def environment(source: str | None, pycache: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("AUTHSIM_ALLOW_LARGE", None)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    env["COLUMNS"] = "132"  # the same tables whatever the terminal
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    return env


def measure(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """One run of ``command`` through its own wrapper: wall_s, cpu_s, peak_kib."""
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout)
    return result


def simulation(env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", SIMULATION], capture_output=True, text=True, env=env, check=True
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (7)")
    parser.add_argument("--quick", action="store_true", help="3 runs of each command")
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="DIR",
        help="also measure the simulator package in DIR (repeatable)",
    )
    parser.add_argument(
        "--no-installed",
        action="store_true",
        help="measure only the --source folders, not the installed package",
    )
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="keep PYTHONDONTWRITEBYTECODE if set (compile every source module every time)",
    )
    args = parser.parse_args(argv)
    runs = 3 if args.quick else args.runs
    if runs < 1:
        parser.error("--runs must be positive")
    sources: list[str | None] = [] if args.no_installed else [None]
    sources += [str(Path(source).resolve()) for source in args.source]
    if not sources:
        parser.error("--no-installed needs at least one --source")

    def label(source: str | None) -> str:
        return "installed" if source is None else source

    no_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    with tempfile.TemporaryDirectory(prefix="authsim-pycache-") as folder:
        pycache = folder if no_bytecode and not args.no_bytecode_cache else None
        return report(runs, sources, label, pycache, cached=not no_bytecode or pycache is not None)


def report(
    runs: int,
    sources: list[str | None],
    label: Callable[[str | None], str],
    pycache: str | None,
    *,
    cached: bool,
) -> int:
    """Measure every command ``runs`` times after a warm-up round; print the table."""
    cases = [(source, name, command) for source in sources for name, command in commands()]
    for source, _, command in cases:  # warm-up: bytecode written, files in the page cache
        measure(command, environment(source, pycache))
    before = load_average()
    samples: dict[tuple[str | None, str], list[dict[str, float]]] = {
        (source, name): [] for source, name, _ in cases
    }
    sims: dict[str | None, list[dict[str, float]]] = {source: [] for source in sources}
    for _ in range(runs):
        for source, name, command in cases:
            samples[source, name].append(measure(command, environment(source, pycache)))
        for source in sources:
            sims[source].append(simulation(environment(source, pycache)))
    after = load_average()

    print(f"Start-up of authsim: median of {runs} runs each, alternated; {os.cpu_count()} CPUs")
    print(f"load average (1, 5, 15 min): before {before} · after {after}")
    print(f"bytecode: {'cached' if cached else 'compiled on every start'}\n")
    source_column = len(sources) > 1
    print(("| source " if source_column else "") + "| command | wall s | CPU s | peak RSS MB |")
    print(("|---" if source_column else "") + "|---|---:|---:|---:|")
    for source, name, _ in cases:
        rows = samples[source, name]
        wall = statistics.median(row["wall_s"] for row in rows)
        cpu = statistics.median(row["cpu_s"] for row in rows)
        peak = statistics.median(row["peak_kib"] for row in rows) / 1024
        prefix = f"| {label(source)} " if source_column else ""
        print(f"{prefix}| {name} | {wall:.3f} | {cpu:.3f} | {peak:.1f} |")
    print()
    for source in sources:
        first = statistics.median(row["first_s"] for row in sims[source])
        again = statistics.median(row["again_s"] for row in sims[source])
        total = statistics.median(row["cpu_s"] for row in samples[source, "authsim run (tiny)"])
        where = f" ({label(source)})" if source_column else ""
        print(
            f"tiny run{where}: {total:.3f} CPU s in all; the simulation in-process "
            f"{first:.3f} CPU s (again: {again:.3f}); fixed cost {total - first:.3f} CPU s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
