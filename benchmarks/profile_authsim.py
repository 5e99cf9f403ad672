"""cProfile of authsim jwt (and of the reference model) on the standard workload.

    python benchmarks/profile_authsim.py [--requests 200000] [--top 25]

Prints the top functions by cumulative and by own time, and the SimPy events processed
per request (calls of ``simpy.Environment.step`` divided by requests).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common


def step_calls(stats: pstats.Stats) -> int:
    for (filename, _line, name), (_cc, ncalls, *_rest) in stats.stats.items():  # type: ignore[attr-defined]
        if name == "step" and filename.endswith("simpy/core.py"):
            return int(ncalls)
    return 0


def profile(label: str, work, top: int) -> None:  # type: ignore[no-untyped-def]
    profiler = cProfile.Profile()
    requests = profiler.runcall(work)
    stats = pstats.Stats(profiler)
    steps = step_calls(stats)
    print(
        f"=== {label}: {requests:,} requests, {steps:,} SimPy events "
        f"({steps / max(requests, 1):.2f} per request), "
        f"{stats.total_tt:.2f} s under cProfile"
    )  # type: ignore[attr-defined]
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(key).print_stats(top)
        text = out.getvalue()
        print(f"--- sorted by {key}")
        print(text[text.index("   ncalls") :].rstrip())
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--strategy", default="jwt", choices=_common.STRATEGIES)
    args = parser.parse_args()
    scenario = _common.authsim_scenario(args.requests)
    profile(
        f"authsim {args.strategy}", lambda: _common.run_authsim(scenario, args.strategy), args.top
    )
    profile("reference", lambda: _common.run_reference(args.requests), args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
