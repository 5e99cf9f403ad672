"""cProfile of authsim (jwt by default) and of the two SimPy models on the standard workload.

    python benchmarks/profile_authsim.py [--requests 200000] [--top 25] [--strategy jwt]
        [--models authsim,plain,callbacks]

authsim runs its discrete-event engine (``engine="des"``); ``plain`` is the plain SimPy
model, ``callbacks`` the callback-only SimPy loop (see ``_common.py``).

Prints the top functions by cumulative and by own time, and the environment steps per
request (calls of ``step``, SimPy's or an environment subclass's, divided by requests).
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
    """Calls of the environment's ``step``: SimPy's, or the override of a subclass (such
    as authsim's stream environment, whose steps include the arrivals it runs itself)."""
    found = {"simpy": 0, "override": 0}
    for (filename, _line, name), (_cc, ncalls, *_rest) in stats.stats.items():  # type: ignore[attr-defined]
        if name != "step":
            continue
        if filename.endswith("simpy/core.py"):
            found["simpy"] = int(ncalls)
        elif filename.endswith("environment.py"):
            found["override"] = int(ncalls)
    return found["override"] or found["simpy"]


def profile(label: str, work, top: int) -> None:  # type: ignore[no-untyped-def]
    profiler = cProfile.Profile()
    requests = profiler.runcall(work)
    stats = pstats.Stats(profiler)
    steps = step_calls(stats)
    print(
        f"=== {label}: {requests:,} requests, {steps:,} environment steps "
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
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--strategy", default="jwt", choices=_common.STRATEGIES)
    parser.add_argument("--models", default="authsim,plain,callbacks")
    args = parser.parse_args()
    scenario = _common.authsim_scenario(args.requests)
    works = {
        "authsim": (
            f"authsim {args.strategy}",
            lambda: _common.run_authsim(scenario, args.strategy),
        ),
        "plain": ("plain SimPy", lambda: _common.run_reference(args.requests)),
        "callbacks": ("SimPy callbacks only", lambda: _common.run_callbacks(args.requests)),
    }
    for name in args.models.split(","):
        if name.strip() not in works:
            parser.error(f"--models: choose among {', '.join(works)}")
        label, work = works[name.strip()]
        profile(label, work, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
