from __future__ import annotations

import secrets
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from candor.hub.choices import LIBRARIES, LICENSES, TASKS, Visibility
from candor.hub.validators import validate_model_name
from candor.privacy.inventory import NotPersonal, Personal, declare


def _storage_key() -> str:
    return secrets.token_hex(12)


class Tag(models.Model):
    name = models.CharField(max_length=40, unique=True)

    def __str__(self) -> str:
        return self.name


class MLModel(models.Model):
    """A published machine-learning model. New models are private until their owner publishes them."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ml_models")
    name = models.CharField(max_length=100, validators=[validate_model_name])
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=300, blank=True)
    card = models.TextField(blank=True, help_text="The model card, in Markdown.")
    tags = models.ManyToManyField(Tag, blank=True, related_name="models")
    license = models.CharField(max_length=20, choices=LICENSES, default="other")
    library = models.CharField(max_length=20, choices=LIBRARIES, default="other")
    task = models.CharField(max_length=40, choices=TASKS, default="other")
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    # Files are stored under this random key, never under the owner's or the model's name.
    storage_key = models.CharField(max_length=24, unique=True, default=_storage_key, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True, help_text="When it was first made public.")
    in_popular = models.BooleanField(
        default=True,
        help_text="Whether the model may appear in the popular and trending lists while it is public. "
        "Its views and downloads are counted either way; only its owner sees them when this is off.",
    )

    class Meta:
        verbose_name = "model"
        constraints: ClassVar = [
            models.UniqueConstraint("owner", Lower("name"), name="hub_model_owner_name_ci_unique"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["visibility", "-updated_at"], name="hub_model_vis_updated"),
            models.Index(fields=["visibility", "name"], name="hub_model_vis_name"),
            models.Index(fields=["visibility", "-published_at"], name="hub_model_vis_published"),
        ]

    def __str__(self) -> str:
        return f"{self.owner_id}/{self.name}"

    def get_absolute_url(self) -> str:
        return reverse("hub:model", args=[self.owner.username, self.name])

    @property
    def full_name(self) -> str:
        return f"{self.owner.username}/{self.name}"

    @property
    def is_public(self) -> bool:
        return self.visibility == Visibility.PUBLIC

    @property
    def is_indexable(self) -> bool:
        return self.visibility == Visibility.PUBLIC


class ModelFile(models.Model):
    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=500)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    blob = models.FileField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint("model", "path", name="hub_file_model_path_unique")]

    def __str__(self) -> str:
        return self.path

    def get_absolute_url(self) -> str:
        return reverse("hub:file", args=[self.model.owner.username, self.model.name, self.path])


class ListingState(models.Model):
    """One row whose generation changes, in the same transaction, with anything a public listing shows.

    Cached listings are keyed by it, so a model made private or deleted leaves every cached listing the
    moment the change commits, in every process, whether the cache is per-process or shared.
    """

    generation = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"listing generation {self.generation}"


CONTENT = ("C4", "C6")
WHILE_PUBLISHED = "until the owner deletes it or the account; gone at once from every page"

declare(
    Tag,
    belongs_to=None,
    fields={
        "id": NotPersonal(),
        "name": NotPersonal("a shared vocabulary word, deleted once no model uses it (with its last user)"),
    },
)

declare(
    MLModel,
    belongs_to="owner",
    fields={
        "id": NotPersonal(),
        "owner": NotPersonal("the link to the account the row belongs to"),
        "name": Personal(
            "content.model",
            "to give the published model its address",
            WHILE_PUBLISHED,
            CONTENT,
            correctable=False,
        ),
        "title": Personal(
            "content.model", "to describe the model", WHILE_PUBLISHED, CONTENT, correctable=True
        ),
        "summary": Personal(
            "content.model", "to describe the model", WHILE_PUBLISHED, CONTENT, correctable=True
        ),
        "card": Personal(
            "content.model_card", "to document the model", WHILE_PUBLISHED, CONTENT, correctable=True
        ),
        "tags": Personal(
            "content.model", "to find models by topic", WHILE_PUBLISHED, CONTENT, correctable=True
        ),
        "license": NotPersonal(),
        "library": NotPersonal(),
        "task": NotPersonal(),
        "visibility": Personal(
            "content.visibility",
            "to show the model only to whom its owner chose",
            WHILE_PUBLISHED,
            ("C4",),
            correctable=True,
        ),
        "in_popular": Personal(
            "content.visibility",
            "to leave the model out of the popular and trending lists if its owner so chooses",
            WHILE_PUBLISHED,
            ("C12",),
            correctable=True,
        ),
        "storage_key": NotPersonal("a random folder name for the model's files"),
        "created_at": Personal("content.model", "to show when the model was made", WHILE_PUBLISHED, CONTENT),
        "updated_at": Personal("content.model", "to sort models by recent change", WHILE_PUBLISHED, CONTENT),
        "published_at": Personal(
            "content.model", "to list newly published models in the feed", WHILE_PUBLISHED, CONTENT
        ),
    },
)

declare(
    ModelFile,
    belongs_to="model__owner",
    export_path="{model__name}/{path}",
    fields={
        "id": NotPersonal(),
        "model": NotPersonal("the link to the model the file belongs to"),
        "path": Personal("content.file", "to name the file inside its model", WHILE_PUBLISHED, CONTENT),
        "size": Personal("content.file", "to show and check the file's size", WHILE_PUBLISHED, CONTENT),
        "sha256": Personal(
            "content.file", "to check downloads and skip unchanged uploads", WHILE_PUBLISHED, CONTENT
        ),
        "blob": Personal("content.file", "the uploaded file itself", WHILE_PUBLISHED, CONTENT),
        "created_at": Personal("content.file", "to show when the file was added", WHILE_PUBLISHED, CONTENT),
        "updated_at": Personal(
            "content.file", "to show when the file last changed", WHILE_PUBLISHED, CONTENT
        ),
    },
)

declare(
    ListingState,
    belongs_to=None,
    fields={"id": NotPersonal(), "generation": NotPersonal("a counter of changes to public listings")},
)
