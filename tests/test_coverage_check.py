"""The coverage ratchet's judgement (.ci/coverage_check.py): pure functions, no data file read."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "coverage_check.py"


@pytest.fixture(scope="module")
def check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("coverage_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_floor_file_of_the_repository_parses_and_holds_privacy_to_its_floor(check: ModuleType) -> None:
    floor = check.parse_floor(check.FLOOR_FILE.read_text())
    assert set(floor) >= {"total", "candor/privacy/"}


def test_parse_reads_scopes_and_comments(check: ModuleType) -> None:
    text = "# the floor\ntotal 81.5\n\ncandor/privacy/ 95  # clause C-all\n"
    assert check.parse_floor(text) == {"total": 81.5, "candor/privacy/": 95.0}


@pytest.mark.parametrize(
    "text",
    ["candor/privacy/ 95\n", "total 101\n", "total 80\ntotal 81\n", "total\n", "total 80\ncandor/hub 90\n"],
    ids=["no total", "not a percentage", "twice", "no figure", "not a folder"],
)
def test_parse_refuses_a_floor_it_cannot_trust(check: ModuleType, text: str) -> None:
    with pytest.raises(ValueError):
        check.parse_floor(text)


def test_a_figure_below_its_floor_fails(check: ModuleType) -> None:
    failures, reminders = check.judge(
        {"total": 80.0, "candor/privacy/": 95.0}, {"total": 80.0, "candor/privacy/": 94.9}
    )
    assert len(failures) == 1 and "candor/privacy/" in failures[0] and "94.9" in failures[0]
    assert reminders == []


def test_a_figure_more_than_a_point_above_its_floor_asks_for_the_floor_to_rise(check: ModuleType) -> None:
    failures, reminders = check.judge(
        {"total": 80.0, "candor/privacy/": 95.0}, {"total": 81.0, "candor/privacy/": 96.2}
    )
    assert failures == []
    assert len(reminders) == 1 and "candor/privacy/" in reminders[0] and "coverage-floor" in reminders[0]
