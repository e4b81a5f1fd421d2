"""Which files ``push`` and ``pull`` move: from what each side has to a plan of what to do.

A listing is one side's files, each with its path, size and SHA-256. ``push`` uploads the local files
the server lacks or holds other bytes for, leaves the rest, and deletes (with ``--delete``) or keeps the
server's files the folder no longer has; ``pull`` downloads the server's files the folder lacks or
holds other bytes for. The server's listing is checked here before anything is planned, since the
server is not trusted with the local disk. Nothing in this module touches the network or a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from candor_client.errors import ClientError
from candor_client.output import shown

SHA256_RE = re.compile(r"[0-9a-f]{64}")
_DRIVE_RE = re.compile(r"[A-Za-z]:")


@dataclass(frozen=True)
class FileState:
    """One file as one side has it. ``sha256`` is None when it is not known: the local file was not
    worth hashing, or the server gave no usable hash."""

    path: str  # relative, with '/'
    size: int
    sha256: str | None


@dataclass(frozen=True)
class PushPlan:
    upload: tuple[FileState, ...]  # in the order of the local listing
    unchanged: tuple[FileState, ...]
    delete: tuple[str, ...]  # on the server only, and --delete was given; sorted
    kept: tuple[str, ...]  # on the server only, left there without --delete; sorted


@dataclass(frozen=True)
class PullPlan:
    download: tuple[FileState, ...]  # in the order of the server's listing
    unchanged: tuple[FileState, ...]


def plan_push(local: Iterable[FileState], remote: Iterable[FileState], *, delete: bool) -> PushPlan:
    """What ``push`` does: local files are compared by SHA-256 alone, since equal hashes mean equal
    bytes; a server file without a hash is sent again rather than trusted."""
    theirs = {item.path: item.sha256 for item in remote}
    upload: list[FileState] = []
    unchanged: list[FileState] = []
    for item in local:
        same = item.sha256 is not None and theirs.get(item.path) == item.sha256
        (unchanged if same else upload).append(item)
    ours = {item.path for item in (*upload, *unchanged)}
    extra = tuple(sorted(path for path in theirs if path not in ours))
    return PushPlan(tuple(upload), tuple(unchanged), extra if delete else (), () if delete else extra)


def worth_hashing(remote: FileState, local_size: int) -> bool:
    """Whether ``pull`` should hash a local file to compare it: one of another size cannot be the same."""
    return remote.size == local_size


def plan_pull(remote: Iterable[FileState], local: Mapping[str, FileState]) -> PullPlan:
    """What ``pull`` does: ``local`` has the folder's regular files at the server's paths (those it
    lacks are absent); one is kept when its size and SHA-256 are the server's."""
    download: list[FileState] = []
    unchanged: list[FileState] = []
    for item in remote:
        mine = local.get(item.path)
        same = (
            mine is not None
            and mine.sha256 is not None
            and (mine.size, mine.sha256) == (item.size, item.sha256)
        )
        (unchanged if same else download).append(item)
    return PullPlan(tuple(download), tuple(unchanged))


def _unsafe(server_path: object) -> ClientError:
    return ClientError(f"the server listed an unsafe file path {shown(repr(server_path))}: nothing written")


def safe_parts(server_path: object) -> list[str]:
    """The folders and name of a path the server lists, or an error if it could land outside the
    download folder: '..', absolute paths, drive letters, backslashes (a separator on Windows) and
    control characters are all refused."""
    if not isinstance(server_path, str) or not server_path:
        raise _unsafe(server_path)
    parts = server_path.split("/")
    if (
        server_path.startswith("/")
        or "\\" in server_path
        or any(not c.isprintable() for c in server_path)
        or any(part in ("", ".", "..") for part in parts)
        or _DRIVE_RE.match(server_path)
    ):
        raise _unsafe(server_path)
    return parts


def safe_target(root: Path, server_path: object) -> Path:
    """Where a file the server lists goes under ``root`` (computed, not looked at on disk)."""
    target = root.joinpath(*safe_parts(server_path))
    if not target.is_relative_to(root):  # pragma: no cover - safe_parts already excludes it
        raise _unsafe(server_path)
    return target


def pull_listing(items: Sequence[Mapping[str, object]]) -> list[FileState]:
    """The server's listing for ``pull``, checked: every path safe, every size and SHA-256 valid.

    One bad entry refuses the whole listing before anything is written.
    """
    checked: list[FileState] = []
    for item in items:
        path = item.get("path")
        safe_parts(path)
        size, sha256 = item.get("size"), item.get("sha256")
        if (
            not isinstance(size, int)
            or size < 0
            or not isinstance(sha256, str)
            or not SHA256_RE.fullmatch(sha256)
        ):
            raise ClientError(f"the server listed {shown(path)} without a valid size or SHA-256")
        checked.append(FileState(str(path), size, sha256))
    return checked


def push_listing(items: Iterable[Mapping[str, object]]) -> list[FileState]:
    """The server's listing for ``push``, taken as it comes: a missing or odd hash only means the file
    is sent again, and a path is only ever handed back to the server."""
    listed: list[FileState] = []
    for item in items:
        size, sha256 = item.get("size"), item.get("sha256")
        listed.append(
            FileState(
                str(item.get("path")),
                size if isinstance(size, int) and not isinstance(size, bool) else 0,
                sha256 if isinstance(sha256, str) else None,
            )
        )
    return listed
