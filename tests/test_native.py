"""The compiled build of the hot path (``make native``): its guard, and its numbers.

The guard (:mod:`simulator.model.native`) is tested on a scratch package folder. The slow
test compiles a copy of the package with ``tools/build_native.py --out`` and runs, on it,
the tests that pin the model's behaviour: the regression digests (every request and every
time series of two scenarios, bit for bit), the environment's event order, the workers,
the store, the sampler, the batched recording and the vector engine's equality with the
simulation. A compiled module that computed anything differently fails them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from importlib import machinery
from pathlib import Path

import pytest

from simulator.model import native

ROOT = Path(__file__).resolve().parent.parent
EXTENSION = machinery.EXTENSION_SUFFIXES[0]


def package(tmp_path: Path, modules: tuple[str, ...] = ("service", "run")) -> Path:
    """A scratch ``simulator/model`` with sources for ``modules``."""
    folder = tmp_path / "model"
    folder.mkdir()
    for module in modules:
        (folder / f"{module}.py").write_text(f"# {module}\n", encoding="utf-8")
    return folder


def compile_fake(folder: Path, module: str) -> None:
    (folder / f"{module}{EXTENSION}").write_bytes(b"")


def write_manifest(folder: Path, modules: tuple[str, ...]) -> None:
    recorded = {m: native.digest(native.source_path(m, folder)) for m in modules}
    (folder / "native.json").write_text(json.dumps({"modules": recorded}), encoding="utf-8")


def fresh_build(tmp_path: Path) -> Path:
    """A scratch package whose ``service`` is compiled, with its manifest."""
    folder = package(tmp_path)
    compile_fake(folder, "service")
    write_manifest(folder, ("service", "run"))
    return folder


def test_a_pure_python_tree_passes(tmp_path: Path) -> None:
    folder = package(tmp_path)
    assert native.compiled(folder) == []
    native.check(folder)


def test_the_source_tree_is_pure_python_or_a_fresh_build() -> None:
    native.check()  # what importing simulator.model did; a stale build would have failed


def test_a_fresh_build_passes(tmp_path: Path) -> None:
    folder = fresh_build(tmp_path)
    assert native.compiled(folder) == ["service"]
    native.check(folder)


def test_an_edited_source_is_refused_with_what_to_run(tmp_path: Path) -> None:
    folder = fresh_build(tmp_path)
    (folder / "service.py").write_text("# service, edited\n", encoding="utf-8")
    with pytest.raises(native.StaleNativeBuildError) as raised:
        native.check(folder)
    message = str(raised.value)
    assert "service.py changed after `make native`" in message
    assert "`make pure`" in message and "\n" not in message


@pytest.mark.parametrize("manifest", [None, "{not json", '{"modules": 3}', "[]"])
def test_compiled_modules_without_a_valid_manifest_are_refused(
    tmp_path: Path, manifest: str | None
) -> None:
    folder = package(tmp_path)
    compile_fake(folder, "run")
    if manifest is not None:
        (folder / "native.json").write_text(manifest, encoding="utf-8")
    with pytest.raises(native.StaleNativeBuildError, match=r"no valid native\.json"):
        native.check(folder)


def test_an_edit_to_a_module_that_was_not_compiled_is_fine(tmp_path: Path) -> None:
    folder = fresh_build(tmp_path)
    (folder / "run.py").write_text("# run, edited\n", encoding="utf-8")
    native.check(folder)


def test_every_compiled_module_exists() -> None:
    for module in native.MODULES:
        assert native.source_path(module).is_file(), module


def test_the_build_tool_cleans_what_it_would_build(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import build_native  # noqa: PLC0415
    finally:
        sys.path.remove(str(ROOT / "tools"))
    model = tmp_path / "simulator" / "model"
    model.mkdir(parents=True)
    for module in native.MODULES:
        (model / f"{module}.py").parent.mkdir(parents=True, exist_ok=True)
        (model / f"{module}.py").write_text("\n", encoding="utf-8")
        (model / f"{module}{EXTENSION}").write_bytes(b"")
    (model / "native.json").write_text("{}", encoding="utf-8")
    (tmp_path / f"0123abcd__mypyc{EXTENSION}").write_bytes(b"")
    (model / "fleet.py").write_text("\n", encoding="utf-8")
    removed = build_native.clean(tmp_path)
    assert len(removed) == len(native.MODULES) + 2
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert all(path.endswith(".py") for path in left), left


PINNING_TESTS = [
    "tests/test_regression.py",
    "tests/test_environment.py",
    "tests/test_cluster.py",
    "tests/test_store.py",
    "tests/test_sampling.py",
    "tests/test_batch_recording.py",
    "tests/test_vector_engine.py",
    "tests/test_balancer.py",
]


@pytest.mark.slow
def test_the_compiled_build_computes_the_same_numbers(tmp_path: Path) -> None:
    pytest.importorskip("mypyc", reason="mypyc comes with mypy (the dev extra)")
    compiler = str(sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}): make native cannot build here")
    copy = tmp_path / "native"
    built = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_native.py"), "--out", str(copy)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (copy / "tests").symlink_to(ROOT / "tests")
    environment = dict(os.environ, PYTHONPATH=str(copy))
    probe = subprocess.run(
        [sys.executable, "-c", "import simulator.model.service as s; print(s.__file__)"],
        cwd=copy,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip().endswith(EXTENSION), probe.stdout  # the compiled module runs
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", *PINNING_TESTS],
        cwd=copy,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout[-3000:]
    assert " passed" in tested.stdout


def test_the_command_line_says_a_stale_build_in_one_line_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import simulator.cli.app  # noqa: PLC0415 (patched below)
    from simulator.cli import main  # noqa: PLC0415
    from simulator.errors import StaleNativeBuildError  # noqa: PLC0415

    def stale() -> None:
        raise StaleNativeBuildError("simulator/model/service.py changed after `make native`")

    monkeypatch.setattr(simulator.cli.app, "app", stale)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err == "authsim: simulator/model/service.py changed after `make native`\n"


def test_other_import_errors_are_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    import simulator.cli.app  # noqa: PLC0415
    from simulator.cli import main  # noqa: PLC0415

    def broken() -> None:
        raise ImportError("a real bug")

    monkeypatch.setattr(simulator.cli.app, "app", broken)
    with pytest.raises(ImportError, match="a real bug"):
        main()
