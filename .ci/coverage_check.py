#!/usr/bin/env python3
"""The coverage ratchet: compares the combined coverage data of the test run with the floor stored in
.ci/coverage-floor, fails if any figure fell below it, and says when a figure is far enough above it that
the floor should be raised (it may only rise: whoever adds tests raises it in the same change).

Run from the repository's root after `coverage combine`: `uv run python .ci/coverage_check.py`.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import coverage

FLOOR_FILE = Path(__file__).with_name("coverage-floor")
TOTAL = "total"
# A figure this many points above its floor is worth recording: the floor follows the code up.
RAISE_MARGIN = 1.0


def parse_floor(text: str) -> dict[str, float]:
    """'scope percent' lines ("total 81.5", "candor/privacy/ 95"); '#' starts a comment."""
    floor: dict[str, float] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) != 2:
            raise ValueError(f"line {number}: expected 'scope percent', got {line.strip()!r}")
        scope, value = words
        if scope != TOTAL and not scope.endswith("/"):
            raise ValueError(f"line {number}: a scope is 'total' or a folder ending in '/', not {scope!r}")
        percent = float(value)
        if not 0 <= percent <= 100:
            raise ValueError(f"line {number}: {percent} is not a percentage")
        if scope in floor:
            raise ValueError(f"line {number}: {scope} is given twice")
        floor[scope] = percent
    if TOTAL not in floor:
        raise ValueError("the floor names no 'total'")
    return floor


def judge(floor: dict[str, float], measured: dict[str, float]) -> tuple[list[str], list[str]]:
    """(failures, reminders): each figure below its floor, and each more than RAISE_MARGIN above it."""
    failures: list[str] = []
    reminders: list[str] = []
    for scope, minimum in floor.items():
        got = measured[scope]
        if got < minimum:
            failures.append(f"{scope}: {got:.1f}% of lines covered, below the floor of {minimum:.1f}%")
        elif got > minimum + RAISE_MARGIN:
            reminders.append(
                f"{scope}: {got:.1f}% of lines covered, {got - minimum:.1f} points above the floor of "
                f"{minimum:.1f}%: raise it in {FLOOR_FILE.parent.name}/{FLOOR_FILE.name}"
            )
    return failures, reminders


def measure(scopes: list[str]) -> dict[str, float]:
    """Each scope's percentage of lines covered in the combined data (the settings of pyproject.toml)."""
    cov = coverage.Coverage()
    cov.load()
    out: dict[str, float] = {}
    for scope in scopes:
        include = None if scope == TOTAL else [f"{scope}*"]
        out[scope] = float(cov.report(file=io.StringIO(), include=include))
    return out


def main() -> int:
    floor = parse_floor(FLOOR_FILE.read_text())
    measured = measure(list(floor))
    failures, reminders = judge(floor, measured)
    for scope in floor:
        print(f"coverage {scope}: {measured[scope]:.1f}% (floor {floor[scope]:.1f}%)")
    for line in reminders:
        print(f"REMINDER: {line}")
    for line in failures:
        print(f"FAILED: {line}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
