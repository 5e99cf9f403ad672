"""authsim's compiled build (``make native``) beside the plain one, in the same benchmark.

One process cannot hold both builds of ``simulator``, so the compiled one runs in a child
process: :func:`native_copy` builds a compiled copy of the package under
``build/native-bench/`` (once per version of the compiled sources, with
``tools/build_native.py --out``) and :class:`NativeWorker` starts a Python on it that runs
one strategy at a time on request and times it itself, exactly as
:func:`_common.timed` does in this process (a garbage collection, then CPU and wall time
around the run). The source tree is left as it is, compiled or not.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import _common

TOOL = _common.ROOT / "tools" / "build_native.py"
CACHE = _common.ROOT / "build" / "native-bench"

_CHILD = """
import gc, json, sys, time
import _common
import simulator.model.service as service
print(json.dumps({"service": service.__file__}), flush=True)
for line in sys.stdin:
    strategy, requests = line.split()
    scenario = _common.authsim_scenario(int(requests))
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    simulated = _common.run_authsim(scenario, strategy)
    cpu_s, wall_s = time.process_time() - cpu, time.perf_counter() - wall
    print(json.dumps({"requests": simulated, "cpu_s": cpu_s, "wall_s": wall_s}), flush=True)
"""


def sources_digest() -> str:
    """SHA-256 of what a compiled copy is made of (the package's sources, the build tool)."""
    sha = hashlib.sha256()
    for path in [*sorted((_common.ROOT / "simulator").rglob("*.py")), TOOL]:
        sha.update(str(path.relative_to(_common.ROOT)).encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()[:16]


def native_copy() -> Path:
    """A compiled copy of the package for these sources (built now if not cached)."""
    out = CACHE / sources_digest()
    if not (out / "simulator" / "model" / "native.json").exists():
        print(f"building the compiled copy in {out} (about two minutes) ...", flush=True)
        done = subprocess.run(
            [sys.executable, str(TOOL), "--out", str(out)],
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise NativeUnavailableError(done.stderr.strip() or "the native build failed")
    return out


class NativeUnavailableError(RuntimeError):
    """The compiled build could not be made here (no C compiler, no mypyc...)."""


class NativeWorker:
    """A child Python running the compiled copy in ``copy``; :meth:`run` times one run."""

    def __init__(self, copy: Path) -> None:
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join([str(copy), str(Path(__file__).parent)])
        self._child = subprocess.Popen(
            [sys.executable, "-c", _CHILD],
            cwd=copy,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = self._read()
        if not str(hello["service"]).endswith(tuple(_extension_suffixes())):
            self.close()
            raise SystemExit(f"the child runs {hello['service']}, not the compiled copy")

    def _read(self) -> dict[str, object]:
        assert self._child.stdout is not None
        line = self._child.stdout.readline()
        if not line:
            raise SystemExit("the compiled build's process ended early")
        answer: dict[str, object] = json.loads(line)
        return answer

    def run(self, strategy: str, requests: int) -> _common.Timing:
        """Run ``strategy`` on ``requests`` of the standard workload in the child."""
        assert self._child.stdin is not None
        self._child.stdin.write(f"{strategy} {requests}\n")
        self._child.stdin.flush()
        answer = self._read()
        return _common.Timing(
            int(str(answer["requests"])), float(str(answer["cpu_s"])), float(str(answer["wall_s"]))
        )

    def close(self) -> None:
        """End the child."""
        if self._child.stdin is not None:
            self._child.stdin.close()
        try:
            self._child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()


def _extension_suffixes() -> list[str]:
    from importlib import machinery  # noqa: PLC0415

    return list(machinery.EXTENSION_SUFFIXES)
