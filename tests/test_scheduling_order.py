"""The order in which the test processes get their files (tests/conftest.py): it names real files and reorders whole
files only, so a module's shared fixture is still made once and its tests still run in their written order."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from conftest import FILES_IN_SCHEDULING_ORDER, pytest_collection_modifyitems

TESTS = Path(__file__).resolve().parent


def test_every_file_named_in_the_scheduling_order_exists_once() -> None:
    assert len(set(FILES_IN_SCHEDULING_ORDER)) == len(FILES_IN_SCHEDULING_ORDER)
    missing = [name for name in FILES_IN_SCHEDULING_ORDER if not (TESTS / name).is_file()]
    assert not missing, f"renamed or deleted test files still in FILES_IN_SCHEDULING_ORDER: {missing}"


def test_files_are_moved_whole_and_their_tests_keep_their_order() -> None:
    first, second = FILES_IN_SCHEDULING_ORDER[:2]
    collected = [("test_unnamed.py", "a"), (second, "b1"), (first, "c1"), (second, "b2"), ("test_unnamed.py", "d"),
                 (first, "c2")]
    items = [SimpleNamespace(path=TESTS / name, name=test) for name, test in collected]
    pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [item.name for item in items] == ["c1", "c2", "b1", "b2", "a", "d"]
