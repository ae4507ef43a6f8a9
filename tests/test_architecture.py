"""ARCHITECTURE.md's layer table is the rule: every module is in it once, and no import points up a layer."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fmnist_bench"


def _layers() -> dict[str, int]:
    """Module -> its layer's row in the table (0 = foundations)."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("## Modules by layer", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| layer")]
    layer_of: dict[str, int] = {}
    for rank, row in enumerate(rows):
        for module in re.findall(r"`(\w+)`", row.split("|")[2]):
            assert module not in layer_of, f"{module} is listed twice"
            layer_of[module] = rank
    return layer_of


def _package_imports(path: Path) -> set[str]:
    """Package modules imported by `path`, at the top or inside functions (`from .x import y`, `from . import x`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module.split(".")[0]} if node.module else \
                {alias.name for alias in node.names if (PACKAGE / f"{alias.name}.py").is_file()}  # not __version__
    return found


def test_every_module_is_in_the_layer_table() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == set(_layers())


def test_imports_point_down_the_layers() -> None:
    layer_of = _layers()
    upward = [f"{path.stem} imports {target}" for path in sorted(PACKAGE.glob("*.py")) if path.stem in layer_of
              for target in sorted(_package_imports(path)) if layer_of[target] > layer_of[path.stem]]
    assert upward == []


def test_imports_have_no_cycle() -> None:
    graph = {p.stem: _package_imports(p) - {p.stem} for p in PACKAGE.glob("*.py")}
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", " -> ".join(trail + [module])
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            visit(target, trail + [module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])


def test_keras_tuner_internals_are_used_only_behind_its_one_door() -> None:
    """Upgrading keras-tuner is a one-file job: no other module (nor a test or benchmark) reaches into it."""
    from fmnist_bench.ktbridge import PRIVATE_NAMES

    sources = [*PACKAGE.glob("*.py"), *(ROOT / "tests").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]
    found = [f"{path.relative_to(ROOT)}: {name}" for path in sorted(sources)
             if path.name not in ("ktbridge.py", "test_architecture.py")
             for name in PRIVATE_NAMES if re.search(rf"{re.escape(name)}\b", path.read_text("utf-8"))]
    assert found == []


def test_a_keras_tuner_outside_the_tested_range_is_refused_in_one_line() -> None:
    import pytest

    from fmnist_bench.errors import ConfigError
    from fmnist_bench.ktbridge import check_version

    check_version("1.4.8")
    for version in ("1.4.6", "1.5.0", "2.0.0rc1"):
        with pytest.raises(ConfigError, match=rf"keras-tuner {re.escape(version)} is installed; .* tested with"):
            check_version(version)
