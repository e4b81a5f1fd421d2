"""Every change to models and their files. Views, the API, the CLI's server side and tasks call these.

Permission checks happen here: an action is handed the acting person and refuses what they may not do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from candor.accounts.models import User
from candor.hub import listing_cache, storage
from candor.hub.choices import LIBRARIES, LICENSES, TASKS, Visibility
from candor.hub.models import MLModel, ModelFile, Tag
from candor.hub.validators import clean_file_path, parse_tags, validate_model_name


@dataclass
class HubError(Exception):
    """A refused request. ``status`` is the HTTP status an entry point should answer with."""

    message: str
    code: str = "invalid"
    status: int = 400
    fields: dict[str, list[str]] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


EDITABLE = ("title", "summary", "card", "license", "library", "task", "in_popular")
_CHOICES = {"license": LICENSES, "library": LIBRARIES, "task": TASKS}
_MAX_LENGTH = {"title": 200, "summary": 300, "card": 200_000}


def _check_owner(actor: User, model: MLModel) -> None:
    if not actor.is_authenticated or model.owner_id != actor.pk:
        raise HubError("Only the owner may change this model.", code="forbidden", status=403)


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
        raise HubError("Some fields are not valid.", code="invalid_fields", status=422, fields=errors)
    return cleaned


def _drop_unused_tags(ids: Iterable[int]) -> None:
    """Tags no model uses any more are deleted: a word only one person ever used points at them."""
    Tag.objects.filter(pk__in=list(ids), models__isnull=True).delete()


def _set_tags(model: MLModel, names: list[str]) -> None:
    before = set(model.tags.values_list("pk", flat=True))
    tags = []
    for name in names:
        tag, _ = Tag.objects.get_or_create(name=name)
        tags.append(tag)
    model.tags.set(tags)
    _drop_unused_tags(before - {tag.pk for tag in tags})


def _check_may_share(actor: User, visibility: str) -> None:
    if visibility != Visibility.PRIVATE and not actor.can_publish:
        raise HubError(
            "Confirm your email address before you publish anything: your settings page can resend the link.",
            code="email_unverified",
            status=403,
        )


@transaction.atomic
def create_model(actor: User, *, name: str, title: str = "", **data: Any) -> MLModel:
    """Create a model. It starts private unless a visibility is given (publishing is explicit)."""
    if not actor.is_authenticated or not actor.is_active:
        raise HubError("Log in to create a model.", code="unauthenticated", status=401)
    try:
        validate_model_name(name)
    except ValidationError as error:
        raise HubError(
            "The name is not valid.", code="invalid_fields", status=422, fields={"name": list(error.messages)}
        ) from None
    cleaned = _clean_fields({"title": title or name, **data})
    visibility = cleaned.pop("visibility", Visibility.PRIVATE)
    _check_may_share(actor, visibility)
    tags = cleaned.pop("tags", [])
    if MLModel.objects.filter(owner=actor, name__iexact=name).exists():
        raise HubError(
            f"You already have a model named {name}.",
            code="conflict",
            status=409,
            fields={"name": ["This name is taken."]},
        )
    now = timezone.now()
    try:
        with transaction.atomic():
            model = MLModel.objects.create(
                owner=actor,
                name=name,
                visibility=visibility,
                created_at=now,
                updated_at=now,
                published_at=now if visibility == Visibility.PUBLIC else None,
                **cleaned,
            )
    except IntegrityError:
        raise HubError(f"You already have a model named {name}.", code="conflict", status=409) from None
    _set_tags(model, tags)
    if model.is_public:
        listing_cache.bump()
    return model


@transaction.atomic
def update_model(actor: User, model: MLModel, **data: Any) -> MLModel:
    _check_owner(actor, model)
    was_public = model.is_public
    cleaned = _clean_fields({k: v for k, v in data.items() if k in (*EDITABLE, "tags", "visibility")})
    visibility = cleaned.pop("visibility", None)
    tags = cleaned.pop("tags", None)
    for key, value in cleaned.items():
        setattr(model, key, value)
    if visibility is not None:
        _apply_visibility(actor, model, visibility)
    model.updated_at = timezone.now()
    model.save()
    if tags is not None:
        _set_tags(model, tags)
    if was_public or model.is_public:
        # Any change to a public model can change a listing: its text, its visibility, or (through
        # in_popular) its place in the popular sort and lists.
        listing_cache.bump()
    return model


def _apply_visibility(actor: User, model: MLModel, visibility: str) -> None:
    _check_may_share(actor, visibility)
    model.visibility = visibility
    if visibility == Visibility.PUBLIC and model.published_at is None:
        model.published_at = timezone.now()


@transaction.atomic
def set_visibility(actor: User, model: MLModel, visibility: str) -> MLModel:
    return update_model(actor, model, visibility=visibility)


@transaction.atomic
def set_visibility_of_all(actor: User, visibility: str) -> int:
    """Change the visibility of every model the person owns. Returns how many changed."""
    _clean_fields({"visibility": visibility})
    _check_may_share(actor, visibility)
    now = timezone.now()
    models = MLModel.objects.filter(owner=actor).exclude(visibility=visibility)
    count = models.count()
    if visibility == Visibility.PUBLIC:
        models.filter(published_at__isnull=True).update(published_at=now)
    models.update(visibility=visibility, updated_at=now)
    if count:
        listing_cache.bump()
    return count


@transaction.atomic
def delete_model(actor: User, model: MLModel) -> None:
    """Delete a model and its files at once. Stored blobs are removed once the deletion commits."""
    _check_owner(actor, model)
    names = list(model.files.values_list("blob", flat=True))
    tags = list(model.tags.values_list("pk", flat=True))
    if model.is_public:
        listing_cache.bump()
    model.delete()
    _drop_unused_tags(tags)
    for name in names:
        transaction.on_commit(partial(storage.delete, name))


@transaction.atomic
def set_profile(actor: User, *, visible: bool | None = None, indexable: bool | None = None) -> User:
    if visible is not None:
        actor.profile_visible = visible
    if indexable is not None:
        actor.profile_indexable = indexable
    actor.save(update_fields=["profile_visible", "profile_indexable"])
    return actor


def add_file(actor: User, model: MLModel, path: str, chunks: Iterable[bytes]) -> ModelFile:
    """Store a file in a model, streaming it; replaces the file at the same path."""
    _check_owner(actor, model)
    try:
        path = clean_file_path(path)
    except ValidationError as error:
        raise HubError(
            "The file path is not valid.",
            code="invalid_fields",
            status=422,
            fields={"path": list(error.messages)},
        ) from None
    limit = settings.MAX_UPLOAD_BYTES
    try:
        staged = storage.stage(chunks, limit=limit, account=model.owner_id)
    except storage.TooLarge:
        raise HubError(
            f"The file is larger than the limit of {limit} bytes.", code="too_large", status=413
        ) from None
    try:
        stored = storage.save(staged, f"models/{model.storage_key}/{storage.random_name()}")
    except BaseException:
        staged.discard()
        raise
    try:
        return _record_file(model, path, staged, stored)
    except BaseException:
        storage.delete(stored)
        raise


@transaction.atomic
def _record_file(model: MLModel, path: str, staged: storage.Staged, stored: str) -> ModelFile:
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
    if model.is_public:
        listing_cache.bump()  # the file count and the update time show in listings
    return model_file


@transaction.atomic
def delete_file(actor: User, model: MLModel, path: str) -> None:
    _check_owner(actor, model)
    model_file = ModelFile.objects.filter(model=model, path=path).first()
    if model_file is None:
        raise HubError("There is no file at this path.", code="not_found", status=404)
    name = str(model_file.blob.name)
    model_file.delete()
    MLModel.objects.filter(pk=model.pk).update(updated_at=timezone.now())
    if model.is_public:
        listing_cache.bump()
    transaction.on_commit(partial(storage.delete, name))


def forget_files_of_accounts(accounts: Any) -> None:
    """Before accounts are deleted wholesale (the retention sweep): their stored files go too, once the
    deletion commits. The rows themselves go with the accounts, by cascade."""
    names = list(ModelFile.objects.filter(model__owner__in=accounts).values_list("blob", flat=True))
    if MLModel.objects.filter(owner__in=accounts, visibility=Visibility.PUBLIC).exists():
        listing_cache.bump()
    for name in names:
        transaction.on_commit(partial(storage.delete, name))
