"""Compile the simulation's hot path with mypyc, or remove the compiled build.

    python tools/build_native.py            # compile in place (what `make native` runs)
    python tools/build_native.py --out DIR  # a compiled copy of the package in DIR/simulator
    python tools/build_native.py --clean    # remove the in-place build (`make pure`)

Needs mypy (the ``dev`` extra; mypyc comes with it), setuptools and a C compiler. The
modules compiled are :data:`simulator.model.native.MODULES`. In place, each gets a C
extension next to its source and the build writes ``simulator/model/native.json`` last,
with the SHA-256 of every source it compiled; :mod:`simulator.model.native` refuses a
compiled module whose source changed since. A failed or interrupted build leaves no
extension behind. ``--out`` builds a copy of the ``simulator`` package (and the built-in
``scenarios``) in DIR, leaving the source tree alone: with DIR first on ``PYTHONPATH``,
Python runs the compiled copy (the benchmark and the test of the compiled build do).

Exit codes: 0 built (or cleaned), 2 the build failed (no compiler, no mypy...); the reason
is printed on one line.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # simulator.errors, for native.py (light: no model import)


def _load_native() -> ModuleType:
    """``simulator/model/native.py`` by its path: importing ``simulator.model`` would run
    the very check that refuses a stale build, which this script is here to replace."""
    spec = importlib.util.spec_from_file_location(
        "authsim_native", ROOT / "simulator" / "model" / "native.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


native = _load_native()


def shared_libraries(root: Path) -> list[Path]:
    """mypyc's shared libraries at the top of ``root`` (``<hash>__mypyc.<suffix>``)."""
    return sorted(root.glob("*__mypyc.*"))


def built_files(root: Path) -> list[Path]:
    """Every file a native build in ``root`` made (extensions, shared library, manifest)."""
    package = root / "simulator" / "model"
    files = [path for module in native.MODULES for path in native.extension_paths(module, package)]
    manifest = package / native.MANIFEST.name
    return [*files, *shared_libraries(root), *([manifest] if manifest.exists() else [])]


def clean(root: Path = ROOT) -> list[Path]:
    """Remove a native build from ``root``; returns what was removed."""
    removed = built_files(root)
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def compile_tree(root: Path) -> None:
    """Compile :data:`MODULES` in the ``simulator`` package under ``root``, in place.

    Raises:
        RuntimeError: mypyc, setuptools or the C compiler failed (the message says which).
    """
    try:
        from mypyc.build import mypycify  # noqa: PLC0415 (a build-time dependency)
        from setuptools import setup  # type: ignore[import-untyped]  # noqa: PLC0415
    except ImportError as exc:
        raise RuntimeError(f"{exc.name} is not installed (pip install -e '.[dev]')") from None
    sources = [f"simulator/model/{module}.py" for module in native.MODULES]
    with tempfile.TemporaryDirectory(prefix="authsim-native-") as scratch:
        log = io.StringIO()
        previous = Path.cwd()
        os.chdir(root)
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                extensions = mypycify(sources, opt_level="3", target_dir=scratch)
                setup(
                    name="authsim-native",
                    packages=[],
                    py_modules=[],
                    ext_modules=extensions,
                    script_args=[
                        *("-q", "build_ext", "--inplace"),
                        *("--build-temp", scratch, "--build-lib", scratch),
                    ],
                )
        except (SystemExit, Exception) as exc:  # setuptools reports errors as SystemExit
            lines = [line for line in log.getvalue().splitlines() if "error" in line.lower()]
            reason = lines[0].strip() if lines else f"{type(exc).__name__}: {exc}"
            raise RuntimeError(f"the native build failed: {reason}") from None
        finally:
            os.chdir(previous)


def build_in_place() -> None:
    """Compile in the source tree and write the manifest last (all or nothing)."""
    clean()
    try:
        compile_tree(ROOT)
        manifest = {"modules": {m: native.digest(native.source_path(m)) for m in native.MODULES}}
        partial = native.MANIFEST.with_suffix(".json.part")
        partial.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        partial.replace(native.MANIFEST)
    except BaseException:
        clean()
        raise


def build_copy(out: Path) -> Path:
    """A compiled copy of the ``simulator`` package in ``out`` (made afresh); returns it."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copytree(
        ROOT / "simulator",
        out / "simulator",
        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd", "native.json*"),
    )
    shutil.copytree(ROOT / "scenarios", out / "scenarios")  # the built-in scenarios
    shutil.copy2(ROOT / "pyproject.toml", out)  # mypy's settings and its pydantic plugin
    try:
        compile_tree(out)
        package = out / "simulator" / "model"
        manifest = {
            "modules": {m: native.digest(native.source_path(m, package)) for m in native.MODULES}
        }
        (package / native.MANIFEST.name).write_text(json.dumps(manifest) + "\n", "utf-8")
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--out", type=Path, help="build a compiled copy of the package here")
    action.add_argument("--clean", action="store_true", help="remove the in-place build")
    args = parser.parse_args(argv)
    if args.clean:
        removed = clean()
        print(f"removed {len(removed)} compiled files: the model runs as plain Python")
        return 0
    try:
        if args.out is not None:
            build_copy(args.out.resolve())
            print(f"compiled {len(native.MODULES)} modules into {args.out}/simulator")
        else:
            build_in_place()
            print(f"compiled {len(native.MODULES)} modules in place (`make pure` removes them)")
    except RuntimeError as exc:
        print(f"build_native: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
