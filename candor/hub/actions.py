"""Every change to models and their files. Views, the API, the CLI's server side and tasks call these.

Each is a durable action (:func:`candor.kernel.actions.durable`): handed the acting person as
``acting_user``, it refuses what they may not do with a :class:`~candor.kernel.refusal.Refusal`, writes
its audit row inside its own transaction, and leaves file deletions and the listing-changed hook to
``on_commit``. Who may change a model is decided by :func:`candor.hub.visibility.can_edit` alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from candor.accounts.models import User
from candor.hub import listing_cache, projection, storage, visibility
from candor.hub.choices import LIBRARIES, LICENSES, TASKS, Visibility
from candor.hub.models import MLModel, ModelFile
from candor.hub.validators import clean_file_path, parse_tags, validate_model_name
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
    """Delete a model and its files at once. Stored blobs are removed once the deletion commits."""
    _require_editor(acting_user, model)
    model_id = model.pk
    names = list(model.files.values_list("blob", flat=True))
    if model.is_public:
        _listing_changed([model_id])
    audit.record(
        audit.EventType.MODEL_DELETED, acting_user=acting_user, subject=model.owner_id, model_id=model_id
    )
    model.delete()  # and its projection, by cascade
    for name in names:
        transaction.on_commit(partial(storage.delete, name))


@durable
def set_profile(*, acting_user: User, visible: bool | None = None, indexable: bool | None = None) -> User:
    if visible is not None:
        acting_user.profile_visible = visible
    if indexable is not None:
        acting_user.profile_indexable = indexable
    acting_user.save(update_fields=["profile_visible", "profile_indexable"])
    return acting_user


def add_file(model: MLModel, path: str, chunks: Iterable[bytes], *, acting_user: User) -> ModelFile:
    """Store a file in a model, streaming it; replaces the file at the same path.

    The bytes are staged and stored before the transaction opens (an upload may take minutes; no lock
    is held meanwhile); the row is then recorded by the durable :func:`_record_file`, and the stored
    blob removed again if that fails.
    """
    _require_editor(acting_user, model)
    try:
        path = clean_file_path(path)
    except ValidationError as error:
        raise Refusal(
            Code.INVALID_FIELDS, "The file path is not valid.", fields={"path": list(error.messages)}
        ) from None
    limit = settings.MAX_UPLOAD_BYTES
    try:
        staged = storage.stage(chunks, limit=limit, account=model.owner_id)
    except storage.TooLarge:
        raise Refusal(Code.TOO_LARGE, f"The file is larger than the limit of {limit} bytes.") from None
    try:
        stored = storage.save(staged, f"models/{model.storage_key}/{storage.random_name()}")
    except BaseException:
        staged.discard()
        raise
    try:
        return _record_file(model, path, staged, stored, acting_user=acting_user)
    except BaseException:
        storage.delete(stored)
        raise


@durable
def _record_file(
    model: MLModel, path: str, staged: storage.Staged, stored: str, *, acting_user: User
) -> ModelFile:
    now = timezone.now()
    previous = ModelFile.objects.select_for_update().filter(model=model, path=path).first()
    if previous is not None:
        old_blob = str(previous.blob.name)
        previous.size, previous.sha256, previous.blob, previous.updated_at = (
            staged.size,
            staged.sha256,
            stored,
            now,
        )
        previous.save()
        transaction.on_commit(partial(storage.delete, old_blob))
        model_file = previous
    else:
        model_file = ModelFile.objects.create(
            model=model,
            path=path,
            size=staged.size,
            sha256=staged.sha256,
            blob=stored,
            created_at=now,
            updated_at=now,
        )
    MLModel.objects.filter(pk=model.pk).update(updated_at=now)
    projection.refresh(model)
    if model.is_public:
        _listing_changed([model.pk])  # the file count and the update time show in listings
    return model_file


@durable
def delete_file(model: MLModel, path: str, *, acting_user: User) -> None:
    _require_editor(acting_user, model)
    model_file = ModelFile.objects.filter(model=model, path=path).first()
    if model_file is None:
        raise Refusal(Code.NOT_FOUND, "There is no file at this path.")
    name = str(model_file.blob.name)
    model_file.delete()
    MLModel.objects.filter(pk=model.pk).update(updated_at=timezone.now())
    projection.refresh(model)
    if model.is_public:
        _listing_changed([model.pk])
    transaction.on_commit(partial(storage.delete, name))


def forget_files_of_accounts(accounts: Any, *, files: bool = True) -> None:
    """Before accounts are deleted wholesale (the retention sweep): their stored files go too, once the
    deletion commits, unless ``files`` is False (their deleter removes them). The rows themselves go
    with the accounts, by cascade."""
    if MLModel.objects.filter(owner__in=accounts, visibility=Visibility.PUBLIC).exists():
        listing_cache.bump()
    if not files:
        return
    names = list(ModelFile.objects.filter(model__owner__in=accounts).values_list("blob", flat=True))
    for name in names:
        transaction.on_commit(partial(storage.delete, name))


def forget_files_of_gone_accounts(gone: hooks.AccountsGone) -> None:
    """The receiver of :data:`candor.kernel.hooks.accounts_gone` (connected in the app's ``ready``)."""
    forget_files_of_accounts(list(gone.account_ids), files=not gone.files_handled)
