"""The one staging area for temporary files: uploads being received, exports being built, backups being
written.

Every temporary file Candor writes is made here, in ``MEDIA_ROOT/.staging/`` (owner-only; on the same file
system as the media folder, so a finished upload is moved into storage by a rename), and named
``<purpose>.<account id or "none">.<random>[suffix]``, so that whose it is and why it exists can be told
from the name alone. The name holds nothing else of the person: no username, no file name they chose.

A crash (``kill -9``, a power cut) leaves such a file behind. Three things remove it:

- :func:`recover`, run at ``serve`` and ``worker`` start-up and by the retention sweep, removes every file
  no live process is using;
- :func:`erase_account`, run when an account is erased, removes the account's files at once, used or not
  (the process still writing one then fails to store it, which is what erasure wants);
- the sweep also removes files of accounts that no longer exist, even if a hung process holds them.

How a file "in use" is told apart from a leftover: its writer holds an exclusive ``flock`` on it for as
long as the file exists. The kernel drops that lock the moment the process dies, however it dies, so a
file whose lock can be taken has no writer any more. That is exact where an age threshold would guess (a
5 GiB upload on a slow line can take hours; a crash a second ago leaves a fresh file), and unlike a pid
check it cannot be fooled by a pid reused after a reboot, nor does it need the processes to share one
machine's pid space (flock works across processes, and on NFS through its lock manager).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

FOLDER = ".staging"
# Each purpose, what its files hold and how long they stay: shown on /privacy/data/ as the retention of
# temporary files.
PURPOSES = {
    "upload": "a file being uploaded through the API or the command-line client, until it is stored",
    "form-upload": "a file being uploaded through the website's form, until the request ends",
    "export": "your data export being prepared, sealed under your account's key, until it is stored",
    "export-part": "a piece of your data export, sealed under a key that exists only while it is built",
    "backup": "a database backup being written (never holding any account's key), until it is complete",
}
RETENTION = (
    "only while the process writing it runs: removed when it is done, at once when the account is "
    "deleted, and by the recovery pass when the server or worker next starts (or the daily sweep) if "
    "the process was killed"
)
_NAME = re.compile(
    r"^(?P<purpose>[a-z-]+)\.(?P<account>none|[0-9a-f]{32})\.(?P<token>[0-9a-f]{16})(?P<suffix>\.[a-z0-9]+)?$"
)


class StagingError(Exception):
    pass


def root() -> Path:
    folder = Path(settings.MEDIA_ROOT) / FOLDER
    if not folder.is_dir():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask; a folder of an older version was 0755
    return folder


def _account_part(account: Any) -> str:
    """The account's internal id, as 32 hex digits: the only thing of the person a name may hold."""
    if account is None:
        return "none"
    text = str(getattr(account, "hex", account)).replace("-", "").lower()
    if not re.fullmatch(r"[0-9a-f]{32}", text):
        raise StagingError("A staging file's owner must be an account id.")
    return text


@dataclass
class Entry:
    """A file in the staging area, and what its name says of it."""

    path: Path
    purpose: str
    account: str | None  # the account id (32 hex digits), or None for a file of no account


def parse(path: Path) -> Entry | None:
    match = _NAME.match(path.name)
    if match is None:
        return None
    account = match["account"]
    return Entry(path, match["purpose"], None if account == "none" else account)


class StagingFile:
    """A new file in the staging area, locked for as long as it is open (see the module's docstring).

    ``file`` is its binary file object. Closing it drops the lock; ``discard()`` also removes it. A file
    moved out of the staging area (renamed into storage) keeps no lock worth having: close it.
    """

    def __init__(self, purpose: str, account: Any, suffix: str = "", folder: Path | None = None) -> None:
        if purpose not in PURPOSES:
            raise StagingError(f"Unknown staging purpose {purpose!r}.")
        folder = folder if folder is not None else root()
        while True:
            name = f"{purpose}.{_account_part(account)}.{secrets.token_hex(8)}{suffix}"
            path = folder / name
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Another process's recovery may have taken the lock between the open and the flock, seen no
            # writer, and removed the file: then the name is gone (or is another file) and we start again.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self.path = path
        self.file = os.fdopen(fd, "w+b")

    @property
    def name(self) -> str:
        return str(self.path)

    def close(self) -> None:
        self.file.close()

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.close()

    def __enter__(self) -> StagingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


def create(purpose: str, account: Any, suffix: str = "", folder: Path | None = None) -> StagingFile:
    """A new, locked, owner-only file in the staging area, for ``purpose`` on behalf of ``account``.

    ``folder`` is for the one case that cannot use the staging area: a backup whose chosen place is on
    another file system, written beside it so that it can be renamed into place whole. Such a folder is
    recovered by :func:`recover_folder` (``candor backup`` runs it on its folder first).
    """
    return StagingFile(purpose, account, suffix, folder)


def _lock_if_unused(path: Path) -> int | None:
    """The file's descriptor with its lock taken, if no live process holds it; else None.

    The caller removes the file while it holds the lock and closes the descriptor after, so a writer that
    just made the file and waits for its lock finds it gone (and makes another) rather than writing into
    a removed one.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    if path.is_dir() and not path.is_symlink():
        flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None  # gone already, or not ours to open (a symbolic link): left alone
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(fd)
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None
        raise
    return fd


def entries(folder: Path | None = None) -> Iterator[Entry]:
    """Every file in the staging area, named or not (a file of an older version has no account)."""
    folder = folder if folder is not None else root()
    for path in sorted(folder.iterdir()):
        yield parse(path) or Entry(path, "unknown", None)


# SQLite's side files are not locked by us but belong to the database file they are named after.
_SIDE = re.compile(r"-(journal|wal|shm)$")


def _remove(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        # Older versions built exports in a temporary folder here.
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def recover(*, dry_run: bool = False, gone: set[str] | None = None) -> int:
    """Remove what crashed processes left in the staging area; returns how many files went.

    A file whose writer is alive is kept, unless its account is among ``gone`` (accounts that no longer
    exist): those go whatever holds them. Safe to run while other processes work: their files are locked.
    """
    return _recover(list(entries()), dry_run=dry_run, gone=gone)


def recover_folder(folder: Path, purpose: str, *, dry_run: bool = False) -> int:
    """The same pass over another folder, limited to staging names of ``purpose`` (and their side files):
    nothing else in it is ever touched."""
    if not folder.is_dir():
        return 0
    found = []
    for path in sorted(folder.iterdir()):
        entry = parse(Path(_SIDE.sub("", str(path))))
        if entry is not None and entry.purpose == purpose:
            found.append(Entry(path, entry.purpose, entry.account))
    return _recover(found, dry_run=dry_run, gone=None)


def _recover(found: list[Entry], *, dry_run: bool, gone: set[str] | None) -> int:
    removed = 0
    for entry in found:
        if gone and entry.account in gone:
            removed += 1
            if not dry_run:
                _remove(entry.path)
            continue
        owner = Path(_SIDE.sub("", str(entry.path)))
        if owner != entry.path and owner.exists():
            # A database's journal goes with its database: kept while that is in use, removed with it.
            continue
        fd = _lock_if_unused(entry.path)
        if fd is None:
            continue
        try:
            removed += 1
            if not dry_run:
                _remove(entry.path)
                for side in ("-journal", "-wal", "-shm"):
                    Path(f"{entry.path}{side}").unlink(missing_ok=True)
        finally:
            os.close(fd)
    return removed


def erase_account(account: Any) -> int:
    """Remove every staging file of the account now, in use or not; returns how many went."""
    wanted = _account_part(account)
    removed = 0
    for entry in entries():
        if entry.account == wanted:
            _remove(entry.path)
            removed += 1
    return removed


def accounts_present() -> set[str]:
    """The account ids (32 hex digits) that staging files belong to."""
    return {entry.account for entry in entries() if entry.account is not None}
