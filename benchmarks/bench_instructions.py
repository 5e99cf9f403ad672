"""Machine instructions per request: a cost that does not move with the machine's load.

CPU time on a shared machine moves by 20% within minutes and drifts over a day (see
README.md). The number of instructions a run executes does not: counted by valgrind
(``cachegrind`` without its cache simulation), the same code, workload and seed give
the same count to within 0.1%, loaded machine or not, so two versions
of authsim can be told apart by a 1% change that no timing here can see.

Each model runs in a child process under valgrind, at two sizes of the standard
workload (``--small`` and ``--large`` requests); the difference of the two counts
divided by the difference of the requests simulated is the cost of one request, without
what a run pays once (imports, building the run, the users' first logins). Hash
randomisation is off in the children (``PYTHONHASHSEED=0``), so that dict and set
layouts, and so the counts, repeat.

**Instructions are not time.** A mispredicted branch or a cache miss costs cycles that
no instruction count shows, and the plain SimPy model does more instructions per cycle
than authsim: on 2026-12-01 authsim ``jwt`` ran 2.6x fewer instructions per request than
the plain model, and 1.9-2.2x less CPU time (``bench_throughput.py``). Use this to
compare versions of authsim (``--source DIR``: before and after a change), alongside the
CPU-time ratios, never instead of them.

    python benchmarks/bench_instructions.py [--models plain,callbacks,jwt,shared_store]
        [--small 20000] [--large 60000] [--source DIR ...] [--no-installed]
        [--jobs 2] [--json FILE]

``--source DIR`` (repeatable) also counts the package in DIR (a checkout's folder that
holds ``simulator/`` and ``scenarios/``, e.g. ``git archive HEAD simulator scenarios |
tar -x -C DIR``), put first on ``PYTHONPATH``. ``--jobs``: children run at once (the
counts do not depend on it). Needs ``valgrind`` (Debian: ``apt-get install valgrind``);
without it, says so and exits 2. Takes about a minute per model and source on the
defaults (valgrind runs Python about 50 times slower).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common

from simulator.atomic import write_text

MODELS = ("plain", "callbacks", "jwt", "shared_store")
_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
_MISPREDICTS = re.compile(r"Mispredicts:\s+([\d,]+)")


def child(model: str, requests: int) -> int:
    """Run one model on the standard workload (in this process); the requests simulated."""
    return _common.model_run(model, requests)()


class Counter:
    """Runs children under valgrind; kills those still running if the count is stopped."""

    def __init__(self, valgrind: str, branches: bool) -> None:
        self._valgrind = valgrind
        self._branches = branches
        self._running: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()
        self.stopped = False

    def count(self, source: str | None, model: str, requests: int) -> tuple[int, int, int]:
        """Instructions of one child run, its simulated branch mispredictions (0 without
        ``branches``) and the requests it simulated."""
        # one thread (no BLAS pool whose spinning valgrind would count) and fixed hashes
        env = dict(os.environ, PYTHONHASHSEED="0", **dict.fromkeys(_THREADS, "1"))
        _common.with_source(env, source)
        command = [
            self._valgrind,
            "--tool=cachegrind",
            "--cache-sim=no",
            f"--branch-sim={'yes' if self._branches else 'no'}",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            model,
            str(requests),
        ]
        with self._lock:
            if self.stopped:
                raise RuntimeError("stopped")
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            self._running.add(process)
        try:
            out, err = process.communicate()
        finally:
            with self._lock:
                self._running.discard(process)
        found = _REFS.search(err)
        if process.returncode or found is None:
            tail = err.strip().splitlines()[-3:]
            raise RuntimeError(f"{model} ({requests:,} requests) failed: {' / '.join(tail)}")
        mispredicts = _MISPREDICTS.search(err) if self._branches else None
        return (
            _number(found.group(1)),
            _number(mispredicts.group(1)) if mispredicts else 0,
            int(out.split()[-1]),
        )

    def stop(self) -> None:
        """Kill every child still running; start no more."""
        with self._lock:
            self.stopped = True
            for process in self._running:
                process.kill()


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def per_request(
    counter: Counter, jobs: int, cases: list[tuple[str | None, str]], small: int, large: int
) -> dict[tuple[str | None, str], dict[str, float]]:
    """Instructions per request of each (source, model): two sizes, the difference."""
    runs = [(case, size) for case in cases for size in (small, large)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(counter.count, case[0], case[1], size) for case, size in runs]
        try:
            counts = [future.result() for future in futures]
        except BaseException:
            counter.stop()
            raise
    found: dict[tuple[str | None, str], dict[str, float]] = {}
    for index, case in enumerate(cases):
        (low, low_missed, low_requests), (high, high_missed, high_requests) = counts[
            2 * index : 2 * index + 2
        ]
        found[case] = {
            "instructions_per_request": (high - low) / (high_requests - low_requests),
            "mispredicts_per_request": (high_missed - low_missed) / (high_requests - low_requests),
            "instructions_small": low,
            "instructions_large": high,
            "requests_small": low_requests,
            "requests_large": high_requests,
        }
    return found


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def report(
    cost: dict[tuple[str | None, str], float],
    noun: str,
    models: list[str],
    label: Callable[[str | None], str],
) -> None:
    """A Markdown table of ``noun`` per request, and each source's change against the first."""
    plain = cost.get((None, "plain"))
    callbacks = cost.get((None, "callbacks"))
    print(f"\n| model | source | {noun} per request | x plain | x callbacks |")
    print("|---|---|---:|---:|---:|")
    for (source, model), value in cost.items():
        shown = label(source) if model not in _common.SIMPY_MODELS else "-"
        versus = [
            f"{reference / value:.2f}" if reference and value else ""
            for reference in (plain, callbacks)
        ]
        print(f"| {model} | {shown} | {value:,.0f} | {versus[0]} | {versus[1]} |")
    print(f"\n`x plain`: the plain model's {noun} per request / this model's (> 1: fewer).")
    simpy_models = _common.SIMPY_MODELS
    sources = list(dict.fromkeys(source for source, model in cost if model not in simpy_models))
    for model in models:
        if model in _common.SIMPY_MODELS:
            continue
        for source in sources[1:]:
            change = cost[source, model] / cost[sources[0], model] - 1
            print(f"{model}: {label(source)} {change:+.1%} {noun} against {label(sources[0])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    parser.add_argument("--small", type=int, default=20_000, help="requests of the small run")
    parser.add_argument("--large", type=int, default=60_000, help="requests of the large run")
    parser.add_argument("--source", action="append", default=[], metavar="DIR")
    parser.add_argument("--no-installed", action="store_true", help="only the --source folders")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--branches",
        action="store_true",
        help="also simulate branch prediction: mispredictions per request (slower)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "REQUESTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(child(args.child[0], int(args.child[1])))
        return 0
    models = [model.strip() for model in args.models.split(",") if model.strip()]
    unknown = sorted(set(models) - set(MODELS) - set(_common.STRATEGIES))
    if unknown:
        parser.error(
            f"--models: unknown {', '.join(unknown)} (choose from plain, callbacks, "
            f"{', '.join(_common.STRATEGIES)})"
        )
    if not 0 < args.small < args.large:
        parser.error("--small and --large: need 0 < small < large")
    if args.jobs < 1:
        parser.error("--jobs: need at least 1")
    sources: list[str | None] = [] if args.no_installed else [None]
    sources += [str(Path(source).resolve()) for source in args.source]
    if not sources:
        parser.error("--no-installed needs at least one --source")
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("error: valgrind not found (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2

    def label(source: str | None) -> str:
        return "installed" if source is None else source

    # the SimPy models do not depend on the source: counted once
    cases: list[tuple[str | None, str]] = [
        (None if model in _common.SIMPY_MODELS else source, model)
        for model in models
        for source in (sources if model not in _common.SIMPY_MODELS else [None])
    ]
    print(
        f"Standard workload (see README.md), {args.small:,} and {args.large:,} requests; "
        f"{_common.machine()}; load average {_common.load_average()}"
    )
    counter = Counter(valgrind, args.branches)
    signal.signal(signal.SIGTERM, _interrupt)  # stopped by kill as by Ctrl-C: no child left
    try:
        found = per_request(counter, args.jobs, cases, args.small, args.large)
    except KeyboardInterrupt:
        print("interrupted: every child stopped", file=sys.stderr)
        return 130
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    measures = [("instructions_per_request", "instructions")]
    if args.branches:
        measures.append(("mispredicts_per_request", "mispredicted branches"))
    for key, noun in measures:
        report({case: figures[key] for case, figures in found.items()}, noun, models, label)
    if args.json is not None:
        document = {
            "small": args.small,
            "large": args.large,
            "machine": _common.machine(),
            "results": [
                {"model": model, "source": label(source), **figures}
                for (source, model), figures in found.items()
            ],
        }
        write_text(args.json, json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
