"""ARCHITECTURE.md's layer table is the rule: every module is in it once, and no import points up a layer."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fmnist_bench"


def _layers() -> dict[str, int]:
    """Module (dotted, under the package: `engine.study`) -> its layer's row in the table (0 = foundations)."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("## Modules by layer", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| layer")]
    layer_of: dict[str, int] = {}
    for rank, row in enumerate(rows):
        for module in re.findall(r"`([\w.]+)`", row.split("|")[2]):
            assert module not in layer_of, f"{module} is listed twice"
            layer_of[module] = rank
    return layer_of


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}


def _reexports(package: list[str]) -> dict[str, str]:
    """Name -> the dotted module that defines it, for the names a subpackage's `__init__` imports from its own modules
    (`from .files import atomic_write_text`): `from ..store import atomic_write_text` imports `store.files`."""
    init = PACKAGE / Path(*package) / "__init__.py"
    if not package or not init.is_file():
        return {}
    return {alias.asname or alias.name: ".".join(package + node.module.split("."))
            for node in ast.parse(init.read_text(encoding="utf-8")).body
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module for alias in node.names}


def _package_imports(path: Path) -> set[str]:
    """Package modules imported by `path`, at the top or inside functions (`from .x import y`, `from ..engine import
    study`, `from . import x`, `from ..store import x` through the subpackage's `__init__`), as dotted names under the
    package."""
    here = _module_name(path).split(".")[:-1]  # the module's own subpackage ([] at the top)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            base = here[:len(here) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            reexported = _reexports(base)
            for alias in node.names:
                for candidate in (base + [alias.name], base):  # `from .engine import study` or `from .config import x`
                    if candidate and (PACKAGE / Path(*candidate)).with_suffix(".py").is_file():
                        found.add(".".join(candidate))
                        break
                else:
                    if alias.name in reexported:
                        found.add(reexported[alias.name])
    return found


def test_every_module_is_in_the_layer_table() -> None:
    assert set(_modules()) == set(_layers())


def test_every_subpackage_says_what_it_is_for() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        assert (ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or "").strip(), init


def test_imports_point_down_the_layers() -> None:
    layer_of = _layers()
    upward = [f"{name} imports {target}" for name, path in sorted(_modules().items()) if name in layer_of
              for target in sorted(_package_imports(path)) if layer_of[target] > layer_of[name]]
    assert upward == []


def test_module_names_in_strings_exist() -> None:
    """A module named in a string (the child processes' entry point, a probe run with -c) must exist: a move that
    forgot one would only fail when that process starts."""
    import importlib.util

    from fmnist_bench.processes import CHILD_MODULE

    named = {CHILD_MODULE} | {m for path in PACKAGE.rglob("*.py")
                              for m in re.findall(r"[\"'](fmnist_bench(?:\.\w+)+)", path.read_text("utf-8"))}
    for module in sorted(named):
        assert importlib.util.find_spec(module) is not None, module


# Where TensorFlow, Keras, JAX and keras-tuner may be imported: the processes that train, replay or serve trials.
# The parent CLI process (cli, runner, reports) never imports them, so it starts fast and a backend dies with its
# process.
BACKEND_MODULES = ("tensorflow", "keras", "jax", "keras_tuner", "optuna")
MAY_IMPORT_BACKENDS = {"engine.ktbridge", "engine.runtime", "engine.augment", "engine.spaces", "engine.userspace",
                       "engine.tpe",
                       "engine.strategies", "engine.study", "tabular.build", "tabular.replay", "tabular.search",
                       "orchestration.distributed"}


def test_only_study_worker_build_and_replay_modules_import_a_backend() -> None:
    importers = set()
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            roots = [a.name.split(".")[0] for a in node.names] if isinstance(node, ast.Import) else \
                [node.module.split(".")[0]] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                else []
            if any(root in BACKEND_MODULES for root in roots):
                importers.add(name)
    assert importers <= MAY_IMPORT_BACKENDS, sorted(importers - MAY_IMPORT_BACKENDS)


def test_imports_have_no_cycle() -> None:
    graph = {name: _package_imports(path) - {name} for name, path in _modules().items()}
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
    from fmnist_bench.engine.ktbridge import PRIVATE_NAMES

    sources = [*PACKAGE.rglob("*.py"), *(ROOT / "tests").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]
    found = [f"{path.relative_to(ROOT)}: {name}" for path in sorted(sources)
             if path.name not in ("ktbridge.py", "test_architecture.py")
             for name in PRIVATE_NAMES if re.search(rf"{re.escape(name)}\b", path.read_text("utf-8"))]
    assert found == []


def test_a_keras_tuner_outside_the_tested_range_is_refused_in_one_line() -> None:
    import pytest

    from fmnist_bench.errors import ConfigError
    from fmnist_bench.engine.ktbridge import check_version

    check_version("1.4.8")
    for version in ("1.4.6", "1.5.0", "2.0.0rc1"):
        with pytest.raises(ConfigError, match=rf"keras-tuner {re.escape(version)} is installed; .* tested with"):
            check_version(version)


def test_strategy_and_space_names_are_listed_only_in_the_catalog() -> None:
    """A new strategy or space is one catalog entry: no other module keeps a list, a table or a comparison of their
    names, which would have to be edited beside it (config, the CLI, the engine and the reports derive from it)."""
    from fmnist_bench import catalog

    names = set(catalog.STRATEGIES) | set(catalog.SPACES)
    # the one exception: the labels of a stored benchmark's two sides, which name the strategies it timed
    exempt = {"catalog", "reports.benchmarks"}
    found = []
    for name, path in sorted(_modules().items()):
        if name in exempt:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                elements: list[ast.expr | None] = list(node.elts)
            elif isinstance(node, ast.Dict):
                elements = list(node.keys)
            elif isinstance(node, ast.Compare):
                elements = [node.left, *node.comparators]
            else:
                continue
            hits = [e.value for e in elements if isinstance(e, ast.Constant) and e.value in names]
            if hits:
                found.append(f"{name}.py line {node.lineno}: {hits}")
    assert found == []


def test_the_engine_and_the_command_line_offer_exactly_the_catalog() -> None:
    from fmnist_bench import catalog, config
    from fmnist_bench.engine.spaces import SPACES
    from fmnist_bench.engine.strategies import STRATEGIES

    assert tuple(STRATEGIES) == tuple(catalog.STRATEGIES) == config.STRATEGY_NAMES
    assert tuple(SPACES) == tuple(catalog.SPACES) == config.SPACE_NAMES
    assert config.DEFAULT_STRATEGIES == ("random", "hyperband", "bayesian")
    assert config.OPTUNA_STRATEGIES == ("tpe", "tpe-hyperband", "asha", "tpe-asha")


def test_reports_never_import_the_training_layer() -> None:
    """The reports read records (`outcome`, `environment`, `store`); a report that imported `engine` would load the
    code that trains to render a table."""
    reaching = {name: sorted(t for t in _package_imports(path) if t.startswith("engine."))
                for name, path in _modules().items() if name.startswith("reports.")}
    assert {name: targets for name, targets in reaching.items() if targets} == {}


SUBPACKAGES = ("engine", "orchestration", "reports", "store", "tabular")


def test_each_subpackage_names_its_public_surface_and_importing_it_loads_no_backend() -> None:
    """`__all__` names the subpackage's own code; the engine, whose modules import Keras, names its surface lazily,
    so importing any subpackage stays cheap; the engine's lazy table and what type checkers see are one list."""
    import importlib
    import subprocess
    import sys

    code = ("import importlib, sys\n"
            f"for package in {SUBPACKAGES!r}: importlib.import_module('fmnist_bench.' + package)\n"
            f"print(sorted(m for m in {sorted(BACKEND_MODULES)!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
    for package in SUBPACKAGES:
        module = importlib.import_module(f"fmnist_bench.{package}")
        assert module.__all__ and all(not name.startswith("_") for name in module.__all__), package
        for name in module.__all__:
            value = getattr(module, name)  # a constant (a number, a path) has no module of its own
            where = (value.__module__ if callable(value) else None) or f"fmnist_bench.{package}."
            assert where.startswith(f"fmnist_bench.{package}."), f"{package}.{name} comes from {where}"
    engine = ast.parse((PACKAGE / "engine" / "__init__.py").read_text(encoding="utf-8"))
    seen = {alias.asname for node in ast.walk(engine) if isinstance(node, ast.ImportFrom) for alias in node.names
            if alias.asname}
    assert seen == set(importlib.import_module("fmnist_bench.engine").__all__)


def test_tests_import_no_private_name_of_the_package() -> None:
    """Tests use what the package offers; a private helper a test needs is a public one."""
    private = [f"{path.name}: {node.module}.{alias.name}" for path in sorted((ROOT / "tests").glob("*.py"))
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fmnist_bench")
               for alias in node.names if alias.name.startswith("_") and not alias.name.endswith("__")]
    assert private == []
