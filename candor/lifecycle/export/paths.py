"""Where each uploaded file goes inside the export, and which stored names may be read.

Pure: names in, names out. A name inside the archive never climbs out of ``files/`` nor holds a control
character, a backslash or a colon (unzip tools on some systems read those as folders or drives); two
files never share a name; a stored name never leads outside the storage folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Set
from pathlib import PurePosixPath
from typing import Any

_ODD = re.compile(r"[\\\\:]")
_UNSAFE = str.maketrans({**{chr(code): "_" for code in range(32)}, "\\": "_", ":": "_"})


def safe_segment(segment: str) -> str:
    cleaned = segment if segment.isprintable() and not _ODD.search(segment) else segment.translate(_UNSAFE)
    cleaned = cleaned.strip()
    return "_" if cleaned in ("", ".", "..") else cleaned


def file_place(export_path: str, label: str, values: Mapping[str, Any], stored: str) -> str:
    """The path in the archive of a row's file: the declaration's ``export_path`` over the row's columns,
    or ``<model label>/<row id>/<stored name>``; always under ``files/``."""
    if export_path:
        relative = export_path.format(**values)
    else:
        relative = f"{label}/{values['pk']}/{PurePosixPath(stored).name}"
    segments = [safe_segment(s) for s in relative.split("/") if s]
    return "/".join(["files", *segments])


def unique(path: str, used: Set[str]) -> str:
    """``path``, or ``name (2).ext``, ``name (3).ext``… when an earlier file took it."""
    if path not in used:
        return path
    stem, dot, extension = path.rpartition(".")
    if not dot or "/" in extension:
        stem, extension = path, ""
    number = 2
    while True:
        candidate = f"{stem} ({number}){'.' + extension if extension else ''}"
        if candidate not in used:
            return candidate
        number += 1


def local_path(stored: str, location: str | None) -> str | None:
    """The file's path on this machine when the storage is the local folder ``location``, else None.

    Raises FileNotFoundError for a name that would leave the storage folder: it is never read.
    """
    if location is None:
        return None  # a remote storage: read through its own file objects
    path = os.path.normpath(os.path.join(location, stored))
    if not path.startswith(os.path.join(location, "")):
        raise FileNotFoundError(stored)
    return path
