"""Every change to models and their files. Views, the API, the CLI's server side and tasks call these.

Each is a durable action (:func:`candor.kernel.actions.durable`): handed the acting person as
``acting_user``, it refuses what they may not do with a :class:`~candor.kernel.refusal.Refusal`, writes
its audit row inside its own transaction, and leaves file deletions and the listing-changed hook to
``on_commit``. Who may change a model is decided by :func:`candor.hub.visibility.can_edit` alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from candor.accounts.models import User
from candor.hub import blobs, card, listing_cache, projection, revisions, storage, tasks, visibility
from candor.hub.choices import LIBRARIES, LICENSES, TASKS, Visibility
from candor.hub.models import Blob, Commit, MLModel, ModelFile
from candor.hub.validators import parse_tags, validate_model_name
from candor.kernel import hooks
from candor.kernel.actions import durable
from candor.kernel.refusal import Code, Refusal
from candor.privacy import audit

EDITABLE = ("title", "summary", "card", "license", "library", "task", "in_popular")
_CHOICES = {"license": LICENSES, "library": LIBRARIES, "task": TASKS}
_MAX_LENGTH = {"title": 200, "summary": 300, "card": 200_000}


def _require_editor(acting_user: User, model: MLModel) -> None:
    if not visibility.can_edit(acting_user, model):
        raise Refusal(Code.FORBIDDEN, "Only the owner may change this model.")


def _listing_changed(model_ids: Iterable[int]) -> None:
    """Bump the listings' generation now (it is part of the change), and tell the other apps after
    commit, when what they would re-read is there."""
    listing_cache.bump()
    payload = hooks.ListingChanged(model_ids=tuple(model_ids))
    transaction.on_commit(partial(hooks.listing_changed.send, payload))


def _clean_fields(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for key, value in data.items():
        if key in _MAX_LENGTH:
            text = str(value if value is not None else "").strip() if key != "card" else str(value or "")
            if key == "title" and not text:
                errors[key] = ["A title is required."]
            elif len(text) > _MAX_LENGTH[key]:
                errors[key] = [f"At most {_MAX_LENGTH[key]} characters."]
            cleaned[key] = text
        elif key in _CHOICES:
            allowed = [choice for choice, _ in _CHOICES[key]]
            if value not in allowed:
                errors[key] = [f"Choose one of: {', '.join(allowed)}."]
            cleaned[key] = value
        elif key == "tags":
            try:
                cleaned["tags"] = parse_tags(value if value is not None else "")
            except ValidationError as error:
                errors["tags"] = list(error.messages)
        elif key == "visibility":
            if value not in Visibility.values:
                errors[key] = [f"Choose one of: {', '.join(Visibility.values)}."]
            cleaned[key] = value
        elif key == "in_popular":
            if not isinstance(value, bool):
                errors[key] = ["Say true or false."]
            cleaned[key] = value
    if errors:
        raise Refusal(Code.INVALID_FIELDS, "Some fields are not valid.", fields=errors)
    return cleaned


def _check_may_share(acting_user: User, visibility: str) -> None:
    if visibility != Visibility.PRIVATE and not acting_user.can_publish:
        raise Refusal(
            Code.EMAIL_UNVERIFIED,
            "Confirm your email address before you publish anything: your settings page can resend the link.",
        )


@durable
def create_model(*, acting_user: User, name: str, title: str = "", **data: Any) -> MLModel:
    """Create a model. It starts private unless a visibility is given (publishing is explicit)."""
    if not acting_user.is_authenticated or not acting_user.is_active:
        raise Refusal(Code.UNAUTHENTICATED, "Log in to create a model.")
    try:
        validate_model_name(name)
    except ValidationError as error:
        raise Refusal(
            Code.INVALID_FIELDS, "The name is not valid.", fields={"name": list(error.messages)}
        ) from None
    cleaned = _clean_fields({"title": title or name, **data})
    visibility = cleaned.pop("visibility", Visibility.PRIVATE)
    _check_may_share(acting_user, visibility)
    tags = cleaned.pop("tags", [])
    taken = Refusal(
        Code.CONFLICT, f"You already have a model named {name}.", fields={"name": ["This name is taken."]}
    )
    if MLModel.objects.named(acting_user, name).exists():
        raise taken
    now = timezone.now()
    try:
        with transaction.atomic():
            model = MLModel.objects.create(
                owner=acting_user,
                name=name,
                visibility=visibility,
                created_at=now,
                updated_at=now,
                published_at=now if visibility == Visibility.PUBLIC else None,
                tags=tags,
                **cleaned,
            )
    except IntegrityError:
        raise taken from None
    audit.record(
        audit.EventType.MODEL_CREATED,
        acting_user=acting_user,
        subject=acting_user,
        model_id=model.pk,
        extra={"visibility": model.visibility},
    )
    if model.is_public:
        projection.refresh(model)
        _listing_changed([model.pk])
    return model


@durable
def update_model(model: MLModel, *, acting_user: User, **data: Any) -> MLModel:
    """Change a model's metadata, tags or visibility (only what ``data`` names)."""
    _require_editor(acting_user, model)
    was_public = model.is_public
    previous = model.visibility
    cleaned = _clean_fields({k: v for k, v in data.items() if k in (*EDITABLE, "tags", "visibility")})
    visibility = cleaned.pop("visibility", None)
    tags = cleaned.pop("tags", None)
    for key, value in cleaned.items():
        setattr(model, key, value)
    if tags is not None:
        model.tags = tags
    if visibility is not None:
        _apply_visibility(acting_user, model, visibility)
    model.updated_at = timezone.now()
    model.save()
    if model.visibility != previous:
        audit.record(
            audit.EventType.MODEL_VISIBILITY_CHANGED,
            acting_user=acting_user,
            subject=model.owner_id,
            model_id=model.pk,
            extra={"visibility": model.visibility, "previous_visibility": previous},
        )
    if was_public or model.is_public:
        projection.refresh(model)
        # Any change to a public model can change a listing: its text, its visibility, or (through
        # in_popular) its place in the popular sort and lists.
        _listing_changed([model.pk])
    return model


# What the website's form and API v1 say of a model that README.md's front-matter and body hold.
CARD_FIELDS = ("card", "license", "library", "task", "tags")
CARD_MESSAGE = "Update the model card"


_FRONT_KEYS = {"license": "license", "library": "library_name", "task": "pipeline_tag", "tags": "tags"}


def _pasted_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The front-matter a card text was pasted with (empty if none) and the text below it; a refusal
    if it cannot be read (it would otherwise be shown as text, or lost)."""
    front, body, _ = card.split(text)
    if front is None:
        return {}, text
    pasted, problem = card.load_front_matter(front)
    if problem is not None:
        raise Refusal(Code.INVALID_FIELDS, "The card is not valid.", fields={"card": [problem.message]})
    return pasted, body


def _readme_text(model: MLModel, cleaned: Mapping[str, Any]) -> str:
    """README.md for the card fields given (the model's own for the others), keeping every other key
    of the front-matter it had. A card text pasted with a front-matter of its own keeps it: its keys
    win over the form's fields (the form cannot show them; the person wrote them on purpose)."""
    pasted, text = _pasted_front_matter(str(cleaned.get("card", model.card) or ""))
    previous: dict[str, Any] = model.card_data if isinstance(model.card_data, dict) else {}
    fields: dict[str, Any] = {
        "license": cleaned.get("license", model.license),
        "library": cleaned.get("library", model.library),
        "task": cleaned.get("task", model.task),
        "tags": cleaned.get("tags", model.tag_names),
    }
    for name, key in _FRONT_KEYS.items():
        if key in pasted:
            fields[name] = None  # None: the front-matter's own value stands
    return card.render(text, previous={**previous, **pasted}, **fields)


def _card_blob(model: MLModel, data: dict[str, Any]) -> Blob | None:
    """Take the card fields out of ``data``, check them, and store the README they make (before any
    transaction opens, as every upload). None when there is nothing to commit: no card field given, or
    every one as the model has it already (the form sends them all with any change; rewriting the
    README then would only reformat its front-matter)."""
    given = {key: data.pop(key) for key in CARD_FIELDS if key in data}
    if not given:
        return None
    cleaned = _clean_fields(given)
    same = all(
        (model.tag_names if key == "tags" else getattr(model, key)) == value for key, value in cleaned.items()
    )
    if same:
        return None
    return store_blob(model, [_readme_text(model, cleaned).encode()])


def edit_model(model: MLModel, *, acting_user: User, parent: str | None = None, **data: Any) -> MLModel:
    """Change a model's metadata: its card fields (card, licence, library, task, tags) by a commit of
    README.md, the rest (title, summary, visibility, in_popular) on the model, in one transaction.

    The README is made on ``parent`` (the revision the edit page showed), or on the head the model has
    as the edit begins; should a push have changed README.md since, the commit is refused (CONFLICT)
    rather than overwrite it."""
    _require_editor(acting_user, model)
    if parent is None:
        head = revisions.resolve(model)
        parent = None if head is None else head.oid
    blob = _card_blob(model, data)
    return _update_with_readme(model, blob, parent, acting_user=acting_user, **data)


@durable
def _update_with_readme(
    model: MLModel, blob: Blob | None, parent: str | None, *, acting_user: User, **data: Any
) -> MLModel:
    if data or blob is None:
        update_model.inner(model, acting_user=acting_user, **data)
    if blob is not None:
        put = [revisions.Put(card.PATH, blob)]
        revisions.commit.inner(model, put, acting_user=acting_user, message=CARD_MESSAGE, parent=parent)
    return model


def create_model_with_card(*, acting_user: User, **data: Any) -> MLModel:
    """Create a model (:func:`create_model`); a card given with it becomes its first README.md commit."""
    _pasted_front_matter(str(data.get("card") or ""))  # refused before anything is made
    model = create_model(acting_user=acting_user, **data)
    if str(data.get("card") or "").strip():
        fields = {key: data[key] for key in CARD_FIELDS if key in data}
        blob = store_blob(model, [_readme_text(model, _clean_fields(fields)).encode()])
        put = [revisions.Put(card.PATH, blob)]
        revisions.commit(model, put, acting_user=acting_user, message=CARD_MESSAGE)
        model.refresh_from_db()
    return model


def _apply_visibility(acting_user: User, model: MLModel, visibility: str) -> None:
    _check_may_share(acting_user, visibility)
    model.visibility = visibility
    if visibility == Visibility.PUBLIC and model.published_at is None:
        model.published_at = timezone.now()


@durable
def set_visibility(model: MLModel, visibility: str, *, acting_user: User) -> MLModel:
    return update_model.inner(model, acting_user=acting_user, visibility=visibility)


@durable
def set_visibility_of_all(visibility: str, *, acting_user: User) -> int:
    """Change the visibility of every model the person owns. Returns how many changed."""
    _clean_fields({"visibility": visibility})
    _check_may_share(acting_user, visibility)
    now = timezone.now()
    models = MLModel.objects.filter(owner=acting_user).exclude(visibility=visibility)
    before = list(models.select_for_update().values_list("pk", "visibility"))
    if visibility == Visibility.PUBLIC:
        models.filter(published_at__isnull=True).update(published_at=now)
    MLModel.objects.filter(pk__in=[pk for pk, _ in before]).update(visibility=visibility, updated_at=now)
    for pk, previous in before:
        audit.record(
            audit.EventType.MODEL_VISIBILITY_CHANGED,
            acting_user=acting_user,
            subject=acting_user,
            model_id=pk,
            extra={"visibility": visibility, "previous_visibility": previous},
        )
    if before:
        projection.refresh_many(pk for pk, _ in before)
        _listing_changed(pk for pk, _ in before)
    return len(before)


@durable
def delete_model(model: MLModel, *, acting_user: User) -> None:
    """Delete a model, every revision and its files at once. The blobs nothing else holds are removed by
    the worker once the deletion commits (and by the daily sweep if that task is lost)."""
    _require_editor(acting_user, model)
    model_id = model.pk
    held = list(ModelFile.objects.filter(model=model).values_list("blob_id", flat=True).distinct())
    if model.is_public:
        _listing_changed([model_id])
    audit.record(
        audit.EventType.MODEL_DELETED, acting_user=acting_user, subject=model.owner_id, model_id=model_id
    )
    model.delete()  # and its projection, by cascade
    tasks.collect_after_commit(held)


@durable
def set_profile(*, acting_user: User, visible: bool | None = None, indexable: bool | None = None) -> User:
    if visible is not None:
        acting_user.profile_visible = visible
    if indexable is not None:
        acting_user.profile_indexable = indexable
    acting_user.save(update_fields=["profile_visible", "profile_indexable"])
    return acting_user


def add_file(
    model: MLModel,
    path: str,
    chunks: Iterable[bytes],
    *,
    acting_user: User,
    message: str = "",
    parent: str | None = None,
) -> ModelFile:
    """Store a file in a model, streaming it: one commit on ``main`` (replacing the file at that path).

    The bytes are sealed and stored before the transaction opens (an upload may take minutes; no lock
    is held meanwhile); the commit is then made by the durable :func:`revisions.commit`. A blob the
    commit does not end up holding is removed by the unused-blob sweep.
    """
    _require_editor(acting_user, model)
    path = revisions.clean_path(path)
    blob = store_blob(model, chunks)
    revisions.commit(
        model, [revisions.Put(path, blob)], acting_user=acting_user, message=message, parent=parent
    )
    return revisions.file_at(model, path)


def store_blob(model: MLModel, chunks: Iterable[bytes]) -> Blob:
    """Seal and store an upload as a blob of the model's owner (before any commit names it)."""
    limit = settings.MAX_UPLOAD_BYTES
    try:
        return blobs.store(model.owner_id, chunks, limit=limit)
    except blobs.TooLarge:
        raise Refusal(Code.TOO_LARGE, f"The file is larger than the limit of {limit} bytes.") from None


# The most changes one commit may carry (the API refuses more before this is reached).
MAX_CHANGES = 10_000


def commit_changes(
    model: MLModel,
    changes: Sequence[Mapping[str, str]],
    *,
    acting_user: User,
    message: str = "",
    parent: str | None = None,
) -> Commit | None:
    """One commit of a batch of changes from a client: ``{"op": "put", "path", "sha256"}`` (a blob of
    the owner's, stored beforehand with :func:`store_blob`), ``{"op": "delete", "path"}`` or
    ``{"op": "rename", "path", "to"}``. Every path is checked and every blob found before the commit
    (the durable :func:`revisions.commit`) is made; any refusal stores nothing."""
    _require_editor(acting_user, model)
    if len(changes) > MAX_CHANGES:
        raise Refusal(Code.TOO_LARGE, f"A commit changes at most {MAX_CHANGES} files: split it.")
    made: list[revisions.Change] = []
    seen: set[str] = set()
    for change in changes:
        path = _checked_path(change.get("path", ""))
        if path in seen:
            raise Refusal(Code.INVALID, f"The commit names {path} more than once.")
        seen.add(path)
        op = change.get("op")
        if op == "put":
            blob = blobs.find(model.owner_id, str(change.get("sha256", "")))
            if blob is None:
                raise Refusal(
                    Code.NOT_FOUND,
                    f"No stored file has the SHA-256 given for {path}: upload its bytes first.",
                )
            made.append(revisions.Put(path, blob))
        elif op == "delete":
            made.append(revisions.Delete(path))
        elif op == "rename":
            made.append(revisions.Rename(path, _checked_path(change.get("to", ""))))
        else:
            raise Refusal(Code.INVALID, "Each change is a put, a delete or a rename.")
    return revisions.commit(model, made, acting_user=acting_user, message=message, parent=parent)


def _checked_path(path: str) -> str:
    """A path of a batch, or a refusal that says which one of the batch is wrong (the owner's own)."""
    try:
        return revisions.clean_path(path)
    except Refusal as error:
        shown = path if len(path) <= 200 else path[:199] + "…"
        raise Refusal(error.code, f"The file path {shown!r} is not valid.", fields=error.fields) from None


def delete_file(model: MLModel, path: str, *, acting_user: User, message: str = "") -> None:
    """Delete a file from ``main`` (one commit); older revisions keep it until removed from history."""
    revisions.commit(model, [revisions.Delete(path)], acting_user=acting_user, message=message)


def forget_files_of_accounts(accounts: Any, *, files: bool = True) -> None:
    """Before accounts are deleted wholesale (the retention sweep): their stored files go too, once the
    deletion commits, unless ``files`` is False (their deleter removes them). The rows themselves go
    with the accounts, by cascade."""
    if MLModel.objects.filter(owner__in=accounts, visibility=Visibility.PUBLIC).exists():
        listing_cache.bump()
    if not files:
        return
    names = list(Blob.objects.filter(owner__in=accounts).values_list("stored", flat=True))
    for name in names:
        transaction.on_commit(partial(storage.delete, name))


def forget_files_of_gone_accounts(gone: hooks.AccountsGone) -> None:
    """The receiver of :data:`candor.kernel.hooks.accounts_gone` (connected in the app's ``ready``)."""
    forget_files_of_accounts(list(gone.account_ids), files=not gone.files_handled)
