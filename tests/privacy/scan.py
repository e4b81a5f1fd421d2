"""Byte scans: which of a set of values appear, in raw UTF-8 (as given, or lower-cased), in some files."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def found_in(data: bytes, values: Iterable[str]) -> set[str]:
    """The values whose UTF-8 bytes occur in ``data``: as written, or in any case (both lower-cased)."""
    lowered = data.lower()
    wanted = list(values)
    if any(len(v) < 6 for v in wanted):  # an empty or short value would be "found" anywhere
        raise ValueError(f"too short to look for: {[v for v in wanted if len(v) < 6]}")
    return {v for v in wanted if v.encode() in data or v.lower().encode() in lowered}


def files_under(*roots: Path) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        if root.is_file():
            found.append(root)
        elif root.is_dir():
            found.extend(sorted(p for p in root.rglob("*") if p.is_file()))
    return found


def found_in_files(paths: Iterable[Path], values: Iterable[str]) -> dict[str, list[str]]:
    """Each value found, with the files it was found in (relative names are left to the caller)."""
    wanted = list(values)
    where: dict[str, list[str]] = {}
    for path in paths:
        for value in found_in(path.read_bytes(), wanted):
            where.setdefault(value, []).append(str(path))
    return where
