"""``candor push`` and ``pull``: the disk and the network around the plan of :mod:`syncplan`.

Both sides are listed first (the folder's files, hashed; the server's listing, checked), the plan says
what moves, then each file is streamed: from disk to the server, or from the server to a temporary file
that takes its place only once its SHA-256 checks out.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from candor_client.api import CHUNK, Api
from candor_client.args import ModelRef
from candor_client.errors import EXIT_USAGE, ClientError, explained
from candor_client.output import Progress, human, note, plural, shown
from candor_client.session import connect
from candor_client.syncplan import (
    FileState,
    plan_pull,
    plan_push,
    pull_listing,
    push_listing,
    safe_target,
    worth_hashing,
)

# --- Push -----------------------------------------------------------------------------------------


@dataclass
class LocalFile:
    path: str  # relative, with '/'
    location: Path
    size: int = 0
    sha256: str = ""


def local_files(root: Path) -> tuple[list[LocalFile], list[str]]:
    """The regular files under ``root``, and why others were left out.

    Symbolic links are followed only to files inside ``root``: one that leads out of it could otherwise
    publish a file its owner never meant to (a key in ~/.ssh, say). ``.git`` folders are never sent.
    """
    real_root = Path(os.path.realpath(root))
    found: list[LocalFile] = []
    skipped: list[str] = []
    for folder, dirnames, filenames in os.walk(root):
        kept = []
        for dirname in sorted(dirnames):
            if dirname == ".git":
                continue
            if os.path.islink(os.path.join(folder, dirname)):
                skipped.append(f"{_relative(root, folder, dirname)}/ (a link to a folder: not followed)")
                continue
            kept.append(dirname)
        dirnames[:] = kept
        for filename in sorted(filenames):
            location = Path(folder, filename)
            relative = _relative(root, folder, filename)
            try:
                relative.encode("utf-8")
            except UnicodeEncodeError:
                skipped.append(f"{shown(relative)} (its name is not valid UTF-8)")
                continue
            info = location.lstat()
            if stat.S_ISLNK(info.st_mode):
                real = Path(os.path.realpath(location))
                if not real.is_relative_to(real_root):
                    skipped.append(f"{shown(relative)} (a link leading out of the folder)")
                    continue
                if not real.is_file():
                    skipped.append(f"{shown(relative)} (a link to something that is not a file)")
                    continue
            elif not stat.S_ISREG(info.st_mode):
                skipped.append(f"{shown(relative)} (not a regular file)")
                continue
            found.append(LocalFile(relative, location))
    found.sort(key=lambda f: f.path)
    return found, skipped


def _relative(root: Path, folder: str, name: str) -> str:
    return Path(os.path.relpath(os.path.join(folder, name), root)).as_posix()


def hash_file(location: Path, on_chunk: Callable[[int], None] | None = None) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(location, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if on_chunk is not None:
                on_chunk(len(chunk))
    return size, digest.hexdigest()


def ensure_model(api: Api, ref: ModelRef, me: dict[str, Any]) -> dict[str, Any]:
    model = api.find_model(ref.owner, ref.name)
    if model is not None:
        return model
    if ref.owner.lower() != str(me.get("username", "")).lower():
        # Models are created under the caller's own name only, so another owner's must already exist.
        raise ClientError(f"no model {shown(ref)}, or you cannot see it")
    try:
        model = api.create_model(ref.name)
    except ClientError as error:
        if error.status != 409:
            raise
        return api.get_model(ref.owner, ref.name)  # made meanwhile by another push
    print(f"Created {shown(model.get('full_name', ref))} (private: `candor visibility` publishes it).")
    return model


CONFLICT = "the model changed meanwhile in the same files: pull, then push again"
_CHANGE_FIELD = re.compile(r"changes\.(\d+)\.(?:\w+\.)?(\w+)")


def _per_file(error: ClientError, changes: list[dict[str, str]]) -> ClientError:
    """A refused commit's field errors named by the file they are about ("path of config json: …"),
    not by their place in the request ("changes.3.put.path")."""
    named: dict[object, object] = {}
    for field, problems in error.fields.items():
        match = _CHANGE_FIELD.fullmatch(str(field))
        index = int(match.group(1)) if match else -1
        if match and 0 <= index < len(changes):
            named[f"{match.group(2)} of {shown(changes[index].get('path', '?'))}"] = problems
        else:
            named[field] = problems
    words = explained("", named)
    return ClientError(
        f"the server refused the commit: {words}", error.exit_code, status=error.status, code=error.code
    )


def cmd_push(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    if not root.is_dir():
        raise ClientError(f"{args.dir} is not a folder", EXIT_USAGE)
    ref: ModelRef = args.model
    _, _, api = connect(args, need_token=True)
    files, skipped = local_files(root)
    for reason in skipped:
        note(f"skipped {reason}")
    with api:
        me = api.me()
        model = ensure_model(api, ref, me)
        owner, name = str(model.get("owner", ref.owner)), str(model.get("name", ref.name))
        # The revision the push is made on: the commit names it as its parent, so that a push made
        # meanwhile is never undone (the server rebases this one, or refuses it).
        parent, listed = api.list_revision(owner, name)
        remote = push_listing(listed)

        hashing = Progress(sum(f.location.stat().st_size for f in files))
        try:
            for item in files:
                hashing.describe(f"hashing {item.path}")
                item.size, item.sha256 = hash_file(item.location, hashing.advance)
        finally:
            hashing.close()
        plan = plan_push((FileState(f.path, f.size, f.sha256) for f in files), remote, delete=args.delete)
        by_path = {f.path: f for f in files}
        # Bytes the model already holds on main, at any path, are not sent again: the commit names them.
        held = {item.sha256 for item in remote if item.sha256}

        to_send = [p for p in plan.upload if p.sha256 not in held]
        uploading = Progress(sum(p.size for p in to_send))
        sent = 0
        try:
            for planned in plan.upload:
                item = by_path[planned.path]
                if item.sha256 in held:
                    continue
                uploading.describe(item.path)
                with open(item.location, "rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    result = api.upload_blob(owner, name, item.path, handle, size, uploading.advance)
                if result.get("sha256") != item.sha256:
                    raise ClientError(f"{shown(item.path)} changed while it was uploaded: push again")
                held.add(item.sha256)
                sent += size
        finally:
            uploading.close()

        changes = [{"op": "put", "path": p.path, "sha256": p.sha256 or ""} for p in plan.upload]
        changes += [{"op": "delete", "path": path} for path in plan.delete]
        made: dict[str, Any] | None = None
        if changes:
            try:
                made = api.commit(owner, name, changes, message=args.message or "", parent=parent)
            except ClientError as error:
                if error.status == 409:
                    raise ClientError(CONFLICT, error.exit_code, status=409, code=error.code) from None
                if error.status == 422 and error.fields:
                    raise _per_file(error, changes) from None
                raise

    summary = (
        f"Uploaded {plural(len(plan.upload), 'file')} ({human(sent)}), "
        f"skipped {len(plan.unchanged)} unchanged"
    )
    if plan.delete:
        summary += f", deleted {plural(len(plan.delete), 'file')} no longer in {args.dir}"
    print(summary + ".")
    if made is not None:
        oid = str(made.get("oid", ""))
        print(f"Commit {shown(oid[:12])}: {shown(made.get('message', ''), 200)}")
    if plan.kept:
        count = len(plan.kept)
        note(
            f"{plural(count, 'file')} on the server {'is' if count == 1 else 'are'} not in "
            f"{args.dir} and {'was' if count == 1 else 'were'} kept (--delete removes them)"
        )
    return 0


# --- Pull -----------------------------------------------------------------------------------------


def _inside(real_root: Path, folder: Path) -> None:
    """A symbolic link already in the folder must not carry a download out of it."""
    if not Path(os.path.realpath(folder)).is_relative_to(real_root):
        raise ClientError(f"refusing to write into {folder}: a link there leads out of the download folder")


def _local_state(target: Path, remote: FileState) -> FileState | None:
    """What the folder has where ``remote`` goes: a regular file (hashed only if it may be the same),
    or nothing."""
    try:
        info = target.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    sha256 = hash_file(target)[1] if worth_hashing(remote, info.st_size) else None
    return FileState(remote.path, info.st_size, sha256)


def _download(
    api: Api, ref: ModelRef, item: FileState, target: Path, progress: Progress, revision: str | None
) -> None:
    # Streamed to a hidden file beside the target and renamed only once its SHA-256 checks out, so a
    # failed or tampered download never takes the place of a good file.
    expected = item.sha256 or ""
    descriptor, temporary = tempfile.mkstemp(prefix=".candor-", suffix=".part", dir=target.parent)
    try:
        digest = hashlib.sha256()
        with os.fdopen(descriptor, "wb") as out:
            for chunk in api.download(ref.owner, ref.name, item.path, revision):
                out.write(chunk)
                digest.update(chunk)
                progress.advance(len(chunk))
        if digest.hexdigest() != expected:
            raise ClientError(
                f"{shown(item.path)}: the SHA-256 of the download ({digest.hexdigest()[:12]}…) is not the "
                f"server's ({expected[:12]}…): the download was discarded"
            )
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def cmd_pull(args: argparse.Namespace) -> int:
    ref: ModelRef = args.model
    root = Path(args.dir if args.dir is not None else ref.name)
    if root.exists() and not root.is_dir():
        raise ClientError(f"{root} exists and is not a folder", EXIT_USAGE)
    _, _, api = connect(args)
    with api:
        commit, listed = api.list_revision(ref.owner, ref.name, args.revision)
        remote = pull_listing(listed)
        # Each file is fetched from the commit listed, even if main moves on during the pull.
        revision = commit
        targets = {item.path: safe_target(root, item.path) for item in remote}

        root.mkdir(parents=True, exist_ok=True)
        real_root = Path(os.path.realpath(root))
        local: dict[str, FileState] = {}
        for item in remote:
            target = targets[item.path]
            existing = target.parent
            while not existing.exists():
                existing = existing.parent
            # Checked before the folders are made, or a link in DIR could have them made elsewhere.
            _inside(real_root, existing)
            target.parent.mkdir(parents=True, exist_ok=True)
            _inside(real_root, target.parent)
            state = _local_state(target, item)
            if state is not None:
                local[item.path] = state
        plan = plan_pull(remote, local)

        progress = Progress(sum(item.size for item in plan.download))
        received = 0
        try:
            for item in plan.download:
                progress.describe(item.path)
                _download(api, ref, item, targets[item.path], progress, revision)
                received += item.size
        finally:
            progress.close()
    at = f" at {shown(args.revision, 100)}" if args.revision is not None else ""
    print(
        f"Downloaded {plural(len(plan.download), 'file')} ({human(received)}) to {root}{at}, "
        f"skipped {len(plan.unchanged)} unchanged."
    )
    return 0
