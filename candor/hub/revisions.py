"""Revisions of a model's files: commits, the ``main`` branch, tags, and files at any revision.

Every change to a model's files is one commit (:func:`commit`): a random 40-hex id, its parent, its
author, a message, the time, and the whole tree of files it leaves (one :class:`ModelFile` row per file
per commit; a file unchanged since the parent is a new row pointing at the same blob, whose encrypted
path is copied as it is). ``main`` is :attr:`MLModel.head`; tags (and other branches) are :class:`Ref`
rows. Old revisions stay readable by their id until their model is deleted; a file can be removed from
every revision (:func:`purge_path`), and the blobs nothing holds any more are removed by the worker.

A commit names the revision it was made on (``parent``). When the branch moved on meanwhile (two pushes
at once), the commit is rebased onto the new head if it touches none of the files changed since, and
refused otherwise: never lost, never silently undone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from candor.accounts.models import User
from candor.hub import cardsync, listing_cache, projection, tasks, visibility
from candor.hub.models import Blob, Commit, MLModel, ModelFile, Ref, path_index, ref_index
from candor.hub.validators import clean_file_path
from candor.kernel import hooks
from candor.kernel.actions import durable
from candor.kernel.refusal import Code, Refusal
from candor.privacy import audit

MAIN = "main"
MAX_MESSAGE = 2000
OID = re.compile(r"[0-9a-f]{40}")
_BATCH = 1000


@dataclass(frozen=True)
class Put:
    """Store ``blob`` at ``path`` (a new file, or a new version of one)."""

    path: str
    blob: Blob


@dataclass(frozen=True)
class Delete:
    path: str


@dataclass(frozen=True)
class Rename:
    path: str
    to: str


@dataclass(frozen=True)
class DeleteFolder:
    """Delete every file under the folder ``path`` (resolved inside the commit's lock, so a file added
    to the folder by a concurrent commit is seen)."""

    path: str


Change = Put | Delete | Rename | DeleteFolder


class StaleParent(Refusal):
    """A commit asked to be made exactly on a revision that is no longer its branch's tip."""

    def __init__(self) -> None:
        super().__init__(
            Code.CONFLICT, "A commit has happened since the revision you started from: refresh and try again."
        )


def clean_path(path: str) -> str:
    try:
        return clean_file_path(path)
    except ValidationError as error:
        raise Refusal(
            Code.INVALID_FIELDS, "The file path is not valid.", fields={"path": list(error.messages)}
        ) from None


# --- Reading ---------------------------------------------------------------------------------------------


def resolve(model: MLModel, revision: str | None = None) -> Commit | None:
    """The commit ``revision`` names: ``main`` (the default), a commit id, or a tag or branch name.

    None when the model has no commit yet and ``main`` was asked for; a Refusal when nothing has the name.
    """
    if not revision or revision == MAIN:
        return None if model.head_id is None else Commit.objects.get(pk=model.head_id)
    if OID.fullmatch(revision):
        found = Commit.objects.filter(model=model, oid=revision).first()
        if found is not None:
            return found
    ref = Ref.objects.filter(model=model, name_index=ref_index(model.pk, revision)).select_related("commit")
    named = ref.first()
    if named is None:
        raise Refusal(Code.NOT_FOUND, "This model has no such revision.")
    return named.commit


def branch_ref(model: MLModel, name: str) -> Ref | None:
    """The branch ``name`` of the model (not ``main``, which is :attr:`MLModel.head`), if it has one."""
    return Ref.objects.filter(model=model, name_index=ref_index(model.pk, name), kind=Ref.Kind.BRANCH).first()


def is_branch(model: MLModel, name: str) -> bool:
    """Whether a commit can be made on ``name``: ``main``, or one of the model's branches."""
    return name == MAIN or branch_ref(model, name) is not None


def tree(commit: Commit | None) -> QuerySet[ModelFile]:
    """The files of a revision (none for a model with no commit), with their blobs."""
    if commit is None:
        return ModelFile.objects.none()
    return ModelFile.objects.filter(commit=commit).select_related("blob")


def head_files(model: MLModel) -> QuerySet[ModelFile]:
    """The model's files on ``main``."""
    if model.head_id is None:
        return ModelFile.objects.none()
    return ModelFile.objects.filter(commit_id=model.head_id).select_related("blob")


def sorted_files(files: Iterable[ModelFile]) -> list[ModelFile]:
    """Files in path order (paths are encrypted: the database cannot sort them)."""
    return sorted(files, key=lambda f: f.path)


def file_at(model: MLModel, path: str, revision: str | None = None) -> ModelFile:
    """The file at ``path`` in ``revision``; a Refusal that says whether other revisions have it."""
    commit = resolve(model, revision)
    index = path_index(model.pk, path)
    found = tree(commit).filter(path_index=index).first()
    if found is not None:
        return found
    if ModelFile.objects.filter(model=model, path_index=index).exists():
        raise Refusal(
            Code.NOT_FOUND,
            "This file is not in that revision of the model; other revisions have it (see its history).",
        )
    raise Refusal(Code.NOT_FOUND, "There is no file at this path.")


def revisions_holding(model: MLModel, path: str) -> int:
    """How many revisions of the model have a file at ``path`` (what "remove from history" would touch)."""
    return ModelFile.objects.filter(model=model, path_index=path_index(model.pk, path)).count()


def history(model: MLModel) -> QuerySet[Commit]:
    """The model's commits, newest first."""
    return Commit.objects.filter(model=model).order_by("-created_at", "-pk").select_related("author")


@dataclass(frozen=True)
class FileChange:
    path: str
    kind: str  # "added", "modified" or "deleted"


def changes_of(commit: Commit) -> list[FileChange]:
    """What a commit changed, against its parent: each path added, modified or deleted."""
    ours = {f.path_index: f for f in ModelFile.objects.filter(commit=commit)}
    theirs = (
        {f.path_index: f for f in ModelFile.objects.filter(commit_id=commit.parent_id)}
        if commit.parent_id
        else {}
    )
    found = [
        FileChange(f.path, "added" if index not in theirs else "modified")
        for index, f in ours.items()
        if index not in theirs or theirs[index].blob_id != f.blob_id
    ]
    found += [FileChange(f.path, "deleted") for index, f in theirs.items() if index not in ours]
    return sorted(found, key=lambda c: c.path)


def _indexes_changed_between(base: Commit, head: Commit) -> set[str]:
    """Paths (by index) whose blob differs between two revisions of one model."""
    before = dict(ModelFile.objects.filter(commit=base).values_list("path_index", "blob_id"))
    after = dict(ModelFile.objects.filter(commit=head).values_list("path_index", "blob_id"))
    return {index for index in before.keys() | after.keys() if before.get(index) != after.get(index)}


# --- Changing --------------------------------------------------------------------------------------------


def _require_editor(acting_user: User, model: MLModel) -> None:
    if not visibility.can_edit(acting_user, model):
        raise Refusal(Code.FORBIDDEN, "Only the owner may change this model.")


def _default_message(changes: Sequence[Change]) -> str:
    if len(changes) == 1:
        change = changes[0]
        verb = {Put: "Upload", Delete: "Delete", Rename: "Rename"}[type(change)]
        return f"{verb} {change.path}" + (f" to {change.to}" if isinstance(change, Rename) else "")
    return f"Change {len(changes)} files"


def _listing_changed(model: MLModel) -> None:
    if model.is_public:  # the file count and the update time show in listings
        listing_cache.bump()
        payload = hooks.ListingChanged(model_ids=(model.pk,))
        transaction.on_commit(partial(hooks.listing_changed.send, payload))


@durable
def commit(
    model: MLModel,
    changes: Sequence[Change],
    *,
    acting_user: User,
    message: str = "",
    parent: str | None = None,
    branch: str = MAIN,
    exact_parent: bool = False,
) -> Commit | None:
    """Make one commit of ``changes`` on ``branch`` (``main`` by default); returns it (or None if the
    model has no commit and nothing changed). Changing nothing makes no commit and returns the tip.

    ``parent`` is the commit id the changes were made on; None means "whatever the branch is now". When
    the branch has moved on since ``parent``, the commit is rebased onto it unless a file it changes was
    changed meanwhile (then it is refused, and nothing is stored); with ``exact_parent`` it is refused
    whenever the branch moved (:class:`StaleParent`), as the Hugging Face protocol's ``parentCommit``
    asks.
    """
    _require_editor(acting_user, model)
    if not changes:
        raise Refusal(Code.INVALID, "A commit must change at least one file.")
    message = (message or "").strip()
    if len(message) > MAX_MESSAGE:
        raise Refusal(
            Code.INVALID_FIELDS,
            "The message is too long.",
            fields={"message": [f"At most {MAX_MESSAGE} characters."]},
        )
    # The model's row is locked for the rest of the transaction: commits to one model go one at a time.
    locked = MLModel.objects.select_for_update().get(pk=model.pk)
    # The tip of the branch: main is the model's head, another branch its Ref (the model's row lock
    # keeps every branch of the model still until this commit is made).
    ref = None
    if branch == MAIN:
        head = None if locked.head_id is None else Commit.objects.get(pk=locked.head_id)
    else:
        ref = branch_ref(model, branch)
        if ref is None:
            raise Refusal(Code.NOT_FOUND, "This model has no such branch.")
        head = ref.commit
    changes = _folders_expanded(model, head, changes)
    touched = {path_index(model.pk, c.path) for c in changes} | {
        path_index(model.pk, c.to) for c in changes if isinstance(c, Rename)
    }
    if parent and exact_parent and (head is None or parent != head.oid):
        raise StaleParent
    if parent and (head is None or parent != head.oid):
        base = Commit.objects.filter(model=model, oid=parent).first()
        if base is None:
            raise Refusal(Code.NOT_FOUND, "The revision this change was made on is not one of this model's.")
        if head is not None and _indexes_changed_between(base, head) & touched:
            raise Refusal(
                Code.CONFLICT,
                "The model changed since the revision you started from, in files you change too: "
                "get its latest revision, then try again.",
            )
    now = timezone.now()
    entries: dict[str, dict[str, Any]] = {
        row["path_index"]: dict(row)
        for row in ModelFile.objects.filter(commit=head).values(
            "path_index", "path", "blob_id", "created_at", "updated_at"
        )
    }
    before = {index: row["blob_id"] for index, row in entries.items()}
    for change in changes:
        index = path_index(model.pk, change.path)
        if isinstance(change, Put):
            if change.blob.owner_id != model.owner_id:
                raise Refusal(Code.FORBIDDEN, "A file must be stored for the model's owner.")
            previous = entries.get(index)
            unchanged = previous is not None and previous["blob_id"] == change.blob.pk
            entries[index] = {
                "path_index": index,
                "path": change.path if previous is None else previous["path"],
                "blob_id": change.blob.pk,
                "created_at": now if previous is None else previous["created_at"],
                "updated_at": previous["updated_at"] if unchanged and previous else now,
            }
        elif index not in entries:
            raise Refusal(Code.NOT_FOUND, f"There is no file at {change.path}.")
        elif isinstance(change, Delete):
            del entries[index]
        elif isinstance(change, Rename):  # folders were expanded into deletions above
            target = path_index(model.pk, change.to)
            if target in entries:
                raise Refusal(Code.CONFLICT, f"There is already a file at {change.to}.")
            moved = entries.pop(index)
            entries[target] = {**moved, "path_index": target, "path": change.to, "updated_at": now}
    if {index: row["blob_id"] for index, row in entries.items()} == before and not any(
        isinstance(c, Rename) for c in changes
    ):
        return head
    made = Commit.objects.create(
        owner_id=model.owner_id,
        model=model,
        parent=head,
        author=acting_user,
        message=message or _default_message(changes),
        created_at=now,
    )
    ModelFile.objects.bulk_create(
        (ModelFile(owner_id=model.owner_id, model=model, commit=made, **row) for row in entries.values()),
        batch_size=_BATCH,
    )
    if ref is None:
        MLModel.objects.filter(pk=model.pk).update(head=made, updated_at=now)
        model.head, model.updated_at = made, now
        cardsync.sync_from_head(model, since=head)  # README.md on main is the card
        projection.refresh(model)  # the file count and the update time show in listings
        _listing_changed(model)
    else:
        # Another branch moves alone: main, and so the listings, are unchanged.
        Ref.objects.filter(pk=ref.pk).update(commit=made)
    audit.record(
        audit.EventType.MODEL_FILES_CHANGED,
        acting_user=acting_user,
        subject=model.owner_id,
        model_id=model.pk,
        extra={"changes": len(changes), "rebased": bool(parent and head is not None and parent != head.oid)},
    )
    return made


def _folders_expanded(model: MLModel, head: Commit | None, changes: Sequence[Change]) -> list[Change]:
    """The changes with each folder deletion replaced by the deletion of every file under it at
    ``head``; a folder holding no file is refused (as a missing file is)."""
    if not any(isinstance(c, DeleteFolder) for c in changes):
        return list(changes)
    paths = [] if head is None else [row.path for row in ModelFile.objects.filter(commit=head)]
    expanded: list[Change] = []
    for change in changes:
        if not isinstance(change, DeleteFolder):
            expanded.append(change)
            continue
        prefix = change.path.rstrip("/") + "/"
        inside = [Delete(path) for path in paths if path.startswith(prefix)]
        if not inside:
            raise Refusal(Code.NOT_FOUND, f"There is no folder at {change.path}.")
        expanded += inside
    # A file deleted both by name and with its folder is deleted once.
    seen: set[str] = set()
    unique: list[Change] = []
    for change in expanded:
        if isinstance(change, Delete):
            if change.path in seen:
                continue
            seen.add(change.path)
        unique.append(change)
    return unique


@durable
def purge_path(model: MLModel, path: str, *, acting_user: User) -> int:
    """Remove a file from every revision of the model ("remove from history"); returns how many
    revisions held it. Its blobs go once nothing else holds them (queued after commit)."""
    _require_editor(acting_user, model)
    MLModel.objects.select_for_update().filter(pk=model.pk).first()
    rows = ModelFile.objects.filter(model=model, path_index=path_index(model.pk, path))
    held = list(rows.values_list("blob_id", flat=True))
    if not held:
        raise Refusal(Code.NOT_FOUND, "No revision of this model has a file at this path.")
    rows.delete()
    audit.record(
        audit.EventType.MODEL_HISTORY_PURGED,
        acting_user=acting_user,
        subject=model.owner_id,
        model_id=model.pk,
        extra={"revisions": len(held)},
    )
    MLModel.objects.filter(pk=model.pk).update(updated_at=timezone.now())
    cardsync.purged(model, path)  # README.md may have been the path removed
    projection.refresh(model)
    _listing_changed(model)
    tasks.collect_after_commit(held)
    return len(held)


@durable
def tag(model: MLModel, name: str, revision: str | None = None, *, acting_user: User) -> Ref:
    """Name a revision (``main`` by default) with a tag."""
    _require_editor(acting_user, model)
    name = (name or "").strip()
    if (
        not name
        or len(name) > 100
        or name == MAIN
        or OID.fullmatch(name)
        or any(c in name for c in " \t\n/\\")
    ):
        raise Refusal(
            Code.INVALID_NAME,
            "A tag is 1 to 100 characters, with no spaces or slashes, and is neither main nor a commit id.",
        )
    target = resolve(model, revision)
    if target is None:
        raise Refusal(Code.NOT_FOUND, "The model has no revision to tag yet.")
    index = ref_index(model.pk, name)
    if Ref.objects.filter(model=model, name_index=index).exists():
        raise Refusal(Code.CONFLICT, "This model already has a tag or branch of that name.")
    return Ref.objects.create(
        owner_id=model.owner_id, model=model, kind=Ref.Kind.TAG, name=name, name_index=index, commit=target
    )


@durable
def delete_tag(model: MLModel, name: str, *, acting_user: User) -> None:
    _require_editor(acting_user, model)
    deleted, _ = Ref.objects.filter(
        model=model, name_index=ref_index(model.pk, name), kind=Ref.Kind.TAG
    ).delete()
    if not deleted:
        raise Refusal(Code.NOT_FOUND, "This model has no tag of that name.")


def _check_ref_name(name: str, kind: str) -> str:
    name = (name or "").strip()
    if (
        not name
        or len(name) > 100
        or name == MAIN
        or OID.fullmatch(name)
        or name.startswith(("/", "."))
        or name.endswith(("/", ".lock"))
        or ".." in name
        or "//" in name
        or any(c in name for c in " \t\n\\~^:?*[")
    ):
        raise Refusal(
            Code.INVALID_NAME,
            f"A {kind} is 1 to 100 characters, with no spaces, and is neither main nor a commit id.",
        )
    return name


@durable
def create_branch(model: MLModel, name: str, revision: str | None = None, *, acting_user: User) -> Ref:
    """Start a branch at a revision (``main`` by default): commits can then be made on it."""
    _require_editor(acting_user, model)
    # Branch names may hold slashes (``feature/x``), as Git's do; the rest follows Git's rules.
    name = _check_ref_name(name, "branch")
    MLModel.objects.select_for_update().filter(pk=model.pk).first()
    target = resolve(model, revision)
    if target is None:
        raise Refusal(Code.NOT_FOUND, "The model has no revision to start a branch from yet.")
    index = ref_index(model.pk, name)
    if Ref.objects.filter(model=model, name_index=index).exists():
        raise Refusal(Code.CONFLICT, "This model already has a tag or branch of that name.")
    return Ref.objects.create(
        owner_id=model.owner_id, model=model, kind=Ref.Kind.BRANCH, name=name, name_index=index, commit=target
    )


@durable
def delete_branch(model: MLModel, name: str, *, acting_user: User) -> None:
    """Remove a branch (never ``main``). Its commits stay readable by their ids."""
    _require_editor(acting_user, model)
    if name == MAIN:
        raise Refusal(Code.INVALID, "The main branch cannot be deleted.")
    deleted, _ = Ref.objects.filter(
        model=model, name_index=ref_index(model.pk, name), kind=Ref.Kind.BRANCH
    ).delete()
    if not deleted:
        raise Refusal(Code.NOT_FOUND, "This model has no branch of that name.")
