"""The simulation's hot path, compiled or not, and the guard against a stale build.

The model is plain Python. ``make native`` compiles the modules of :data:`MODULES` with
mypyc into C extension modules next to their sources (one ``.so`` each, and one shared
library at the top of the tree), and writes :data:`MANIFEST`: the SHA-256 of every source
it compiled. Python then imports the extension instead of the ``.py`` file, and a run
computes the same numbers (the regression digests are checked against a compiled build)
in less CPU time (see the README's *Speed* section). ``make pure`` removes the build.

An extension does not change when its source does, so an edit after ``make native``
would silently not run. :func:`check`, called when :mod:`simulator.model` is imported,
refuses that: a compiled module whose source changed (or a build without its manifest)
stops the import with :class:`StaleNativeBuildError`, which says what to run.
"""

from __future__ import annotations

import hashlib
import json
from importlib import machinery
from pathlib import Path
from typing import Final

from simulator.errors import StaleNativeBuildError

__all__ = ["MANIFEST", "MODULES", "StaleNativeBuildError", "check", "compiled"]

PACKAGE_DIR: Final = Path(__file__).resolve().parent
"""``simulator/model``: where the compiled modules live."""

MANIFEST: Final = PACKAGE_DIR / "native.json"
"""Written last by a native build: ``{"modules": {module path: source SHA-256}}``."""

MODULES: Final = (
    "environment",
    "request",
    "cluster",
    "service",
    "store",
    "store_data",
    "recorder",
    "sampling",
    "run",
    "rng",
)
"""The modules a native build compiles, relative to ``simulator/model``: the request's
path (arrival, workers, store, recording). Not the strategies: a compiled module checks
the class of every argument, and they are handed stand-ins on purpose (the vector engine's
quiet store, the tests' fakes). Not the balancer: other modules subclass its classes, and
a plain class cannot subclass a compiled one."""


def source_path(module: str, package_dir: Path = PACKAGE_DIR) -> Path:
    """The source file of ``module`` (a name of :data:`MODULES`)."""
    return package_dir / f"{module}.py"


def extension_paths(module: str, package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The compiled files of ``module`` that Python would import instead of its source."""
    source = source_path(module, package_dir)
    candidates = [source.with_name(source.stem + suffix) for suffix in machinery.EXTENSION_SUFFIXES]
    return [path for path in candidates if path.exists()]


def digest(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compiled(package_dir: Path = PACKAGE_DIR) -> list[str]:
    """The modules of :data:`MODULES` that have a compiled extension next to them."""
    return [module for module in MODULES if extension_paths(module, package_dir)]


def check(package_dir: Path = PACKAGE_DIR) -> None:
    """Refuse compiled modules whose sources changed since they were built.

    Raises:
        StaleNativeBuildError: a compiled module whose source differs from the one
            built, or compiled modules without a manifest (an interrupted build).
    """
    built = compiled(package_dir)
    if not built:
        return
    manifest = package_dir / MANIFEST.name
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8"))["modules"]
        stale = [m for m in built if recorded.get(m) != digest(source_path(m, package_dir))]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise StaleNativeBuildError(
            f"{package_dir} has compiled modules ({', '.join(built)}) but no valid "
            f"{MANIFEST.name}: run `make native` again, or `make pure` for plain Python"
        ) from None
    if stale:
        raise StaleNativeBuildError(
            f"{source_path(stale[0], package_dir)} changed after `make native`: run "
            "`make native` again, or `make pure` for plain Python"
        )
