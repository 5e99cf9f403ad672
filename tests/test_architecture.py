"""The shape of the package: layers that import only downwards, small modules, no private
names borrowed across modules, and the heavy or global libraries kept in their one place.

These read the source (no import), so they are instant; each names what to fix.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "simulator"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 600

LAYERS: dict[str, set[str]] = {
    # layer: the layers it may import from (besides itself and the core modules)
    "scenario": set(),
    "tokens": set(),
    "costs": {"scenario", "tokens"},
    "results": {"scenario"},
    "model": {"scenario", "costs", "results"},
    "experiments": {"scenario", "costs", "results", "model"},
    "present": {"scenario", "costs", "results", "model", "experiments", "tokens"},
    "testbed": {"scenario", "costs", "results", "model", "experiments", "tokens"},
    "cli": {"scenario", "costs", "results", "model", "experiments", "present", "tokens", "testbed"},
}
"""Allowed imports between the packages under ``simulator/`` (the layers, bottom up).
``errors``, ``atomic`` and ``outcomes`` are the core every layer may use; the package's
``__init__`` (the public API) and ``__main__`` may import anything."""

CORE = {"errors", "atomic", "outcomes"}

EXCEPTIONS: dict[str, set[str]] = {
    # writing an output folder means drawing its figures and writing replications' tables
    "simulator.results.io": {"experiments", "present"},
}
"""Modules allowed one layer more, and why."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """``(module, names, line)`` for every ``import`` / ``from ... import`` of ``simulator``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, list[str], int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, [], node.lineno) for alias in node.names)
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "simulator" else None


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_every_module_is_small(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module_name(path)} has {lines} lines: split it by job"


def test_layers_import_only_downwards() -> None:
    wrong: list[str] = []
    for path in MODULES:
        name = module_name(path)
        layer = layer_of(name)
        if layer is None or layer not in LAYERS:
            continue  # simulator/__init__ and __main__: the public API
        allowed = LAYERS[layer] | CORE | {layer} | EXCEPTIONS.get(name, set())
        for module, names, line in imports(path):
            target = layer_of(module)
            if target is None:
                if module == "simulator":
                    targets = set(names) - {"__version__"}
                else:
                    continue
            else:
                targets = {target}
            for item in targets - allowed:
                wrong.append(f"{name}:{line} imports simulator.{item}")
    assert not wrong, "a layer imports one above it:\n" + "\n".join(wrong)


def test_no_private_name_is_imported_from_another_module() -> None:
    borrowed = [
        f"{module_name(path)}:{line} imports {name} from {module}"
        for path in MODULES
        for module, names, line in imports(path)
        if module.startswith("simulator")
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not borrowed, "\n".join(borrowed)


@pytest.mark.parametrize(
    ("library", "home"),
    [("typer", "simulator.cli"), ("matplotlib", "simulator.present.plots")],
)
def test_a_library_is_imported_only_in_its_home(library: str, home: str) -> None:
    outside = [
        f"{module_name(path)}:{line}"
        for path in MODULES
        if not module_name(path).startswith(home)
        for module, _, line in imports(path)
        if module == library or module.startswith(f"{library}.")
    ]
    assert not outside, f"only {home} imports {library}: {outside}"


def test_generic_code_names_no_strategy_in_a_branch() -> None:
    """``if name == "jwt"`` belongs in the strategy: a new strategy must not need it."""
    strategies = {"local", "sticky", "shared_store", "jwt"}
    generic = [
        path
        for path in MODULES
        if layer_of(module_name(path)) in {"model", "results", "cli"}
        and "strategies" not in module_name(path)
    ]
    found: list[str] = []
    for path in generic:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                for side in [node.left, *node.comparators]:
                    if isinstance(side, ast.Constant) and side.value in strategies:
                        found.append(
                            f"{module_name(path)}:{node.lineno} compares with {side.value!r}"
                        )
    assert not found, "\n".join(found)
