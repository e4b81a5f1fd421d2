from __future__ import annotations

import secrets
import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from candor.accounts.models import User
from candor.hub.choices import LIBRARIES, LICENSES, TASKS, Visibility
from candor.hub.validators import validate_model_name
from candor.kernel.hooks import Hook
from candor.privacy.crypto import EncryptedJSONField, EncryptedTextField, blind_index
from candor.privacy.inventory import NotPersonal, Personal, Purge, Sweep, declare


def _storage_key() -> str:
    return secrets.token_hex(12)


def _commit_id() -> str:
    return secrets.token_hex(20)


def path_index(model_id: object, path: str) -> str:
    """The keyed hash by which a file's path is found in a model (paths are case-sensitive)."""
    return blind_index("hub.file.path", f"{model_id}\x00{path}", exact=True)


def ref_index(model_id: object, name: str) -> str:
    """The keyed hash by which a tag or branch name is found in a model."""
    return blind_index("hub.ref.name", f"{model_id}\x00{name}", exact=True)


def name_index(owner_id: Any, name: str) -> str:
    """The blind index of a model's name within its owner's: equal for "Tiny" and "tiny" of one owner,
    unrelated between two owners' equal names (the owner's id is part of what is hashed)."""
    return blind_index("model-name", f"{uuid.UUID(str(owner_id))}/{name}")


class MLModelQuerySet(models.QuerySet["MLModel"]):
    def named(self, owner: Any, name: str) -> MLModelQuerySet:
        """The owner's model called ``name`` (any case): found by the name's blind index."""
        owner_id = getattr(owner, "pk", owner)
        return self.filter(owner_id=owner_id, name_index=name_index(owner_id, name))

    def named_by(self, username: str, name: str) -> MLModelQuerySet:
        """The model ``name`` (any case) of the account called ``username`` (any case)."""
        owner = User.objects.named(username).values_list("pk", flat=True).first()
        if owner is None:
            return self.none()
        return self.filter(owner_id=owner, name_index=name_index(owner, name))


class MLModel(models.Model):
    """A published machine-learning model. New models are private until their owner publishes them.

    Its words (name, title, summary, card, tags) are stored encrypted under the owner's data key, so
    destroying that key makes them unreadable in every copy of the database; the name is found by its
    blind index. A public model also has a :class:`PublicModel`, its public projection, in clear.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ml_models")
    name = EncryptedTextField(key_owner="owner_id", validators=[validate_model_name])
    name_index = models.CharField(max_length=64, editable=False)
    title = EncryptedTextField(key_owner="owner_id")
    summary = EncryptedTextField(key_owner="owner_id", blank=True)
    card = EncryptedTextField(key_owner="owner_id", blank=True, help_text="The model card, in Markdown.")
    tags = EncryptedJSONField(key_owner="owner_id", default=list, blank=True, help_text="A list of words.")
    license = models.CharField(max_length=40, choices=LICENSES, default="other")
    library = models.CharField(max_length=30, choices=LIBRARIES, default="other")
    task = models.CharField(max_length=40, choices=TASKS, default="other")
    # Set from README.md's front-matter on main (candor.hub.cardsync), with the licence, library, task
    # and tags above; card holds the Markdown below the front-matter.
    languages = EncryptedJSONField(key_owner="owner_id", default=list, blank=True)
    datasets = EncryptedJSONField(key_owner="owner_id", default=list, blank=True)
    base_models = EncryptedJSONField(key_owner="owner_id", default=list, blank=True)
    card_data = EncryptedJSONField(
        key_owner="owner_id", default=dict, blank=True, help_text="README.md's front-matter as it was read."
    )
    card_problems = EncryptedJSONField(
        key_owner="owner_id",
        default=list,
        blank=True,
        help_text="What is wrong in README.md's front-matter (one sentence each), for its owner.",
    )
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    # The folder of the files stored before revisions (read once by the migration that sealed them).
    storage_key = models.CharField(max_length=24, unique=True, default=_storage_key, editable=False)
    # The ``main`` branch: the commit whose tree is the model's files (None until the first file).
    head = models.ForeignKey(
        "hub.Commit", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True, help_text="When it was first made public.")
    in_popular = models.BooleanField(
        default=True,
        help_text="Whether the model may appear in the popular and trending lists while it is public. "
        "Its views and downloads are counted either way; only its owner sees them when this is off.",
    )

    objects: ClassVar[models.Manager[MLModel]] = MLModelQuerySet.as_manager()

    class Meta:
        verbose_name = "model"
        constraints: ClassVar = [
            models.UniqueConstraint("owner", "name_index", name="hub_model_owner_name_index_unique"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["visibility", "-updated_at"], name="hub_model_vis_updated"),
            models.Index(fields=["visibility", "-published_at"], name="hub_model_vis_published"),
        ]

    def __str__(self) -> str:
        return f"{self.owner_id}/{self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        name = self.__dict__.get("name")
        if isinstance(name, str) and not name.startswith("enc:"):  # a name given, or read, in clear
            self.name_index = name_index(self.owner_id, name)
            update_fields = kwargs.get("update_fields")
            if update_fields is not None and "name" in update_fields:
                kwargs["update_fields"] = {*update_fields, "name_index"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("hub:model", args=[self.owner.username, self.name])

    @property
    def full_name(self) -> str:
        return f"{self.owner.username}/{self.name}"

    @property
    def tag_names(self) -> list[str]:
        return [str(tag) for tag in self.tags] if isinstance(self.tags, list) else []

    @property
    def is_public(self) -> bool:
        return self.visibility == Visibility.PUBLIC

    @property
    def is_indexable(self) -> bool:
        return self.visibility == Visibility.PUBLIC


class PublicModel(models.Model):
    """The public projection of a public model: what listings, search, the sitemap, the feed, the popular
    lists and the API's listing show, in clear, one row per public model of the hub.

    Derived: written by every action that changes a model (:mod:`candor.hub.projection`), in the same
    transaction, deleted when the model stops being public, never copied into a backup, and rebuilt
    from the encrypted models after a restore. Its rows go with their model, and with their owner.
    """

    model = models.OneToOneField(MLModel, primary_key=True, on_delete=models.CASCADE, related_name="public")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    owner_username = models.CharField(max_length=39)
    name = models.CharField(max_length=100)
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=300, blank=True)
    card = models.TextField(blank=True)
    # The tags between spaces (" nlp vision "): a tag is found exactly as " tag ", and a word in it by
    # a substring; tags hold no space.
    tags = models.CharField(max_length=900, blank=True)
    license = models.CharField(max_length=40, choices=LICENSES, default="other")
    library = models.CharField(max_length=30, choices=LIBRARIES, default="other")
    task = models.CharField(max_length=40, choices=TASKS, default="other")
    # The card's language codes between spaces, like the tags (" en fr "), for the language filter.
    languages = models.CharField(max_length=1200, blank=True)
    datasets = models.JSONField(default=list, blank=True)
    base_models = models.JSONField(default=list, blank=True)
    in_popular = models.BooleanField(default=True)
    files = models.IntegerField(default=0, help_text="How many files the model has.")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)

    visibility = Visibility.PUBLIC
    is_public = True
    is_indexable = True

    class Meta:
        verbose_name = "public model"
        constraints: ClassVar = [
            models.UniqueConstraint("owner_username", "name", name="hub_public_owner_name_unique"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["-updated_at", "owner_username", "name"], name="hub_public_updated"),
            models.Index(fields=["name", "owner_username"], name="hub_public_name"),
            models.Index(fields=["-published_at"], name="hub_public_published"),
        ]

    def __str__(self) -> str:
        return f"public projection of {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("hub:model", args=[self.owner_username, self.name])

    def get_visibility_display(self) -> str:
        return str(Visibility.PUBLIC.label)

    @property
    def full_name(self) -> str:
        return f"{self.owner_username}/{self.name}"

    @property
    def tag_names(self) -> list[str]:
        return self.tags.split()


class Blob(models.Model):
    """The bytes of one file, stored once per owner, sealed under the owner's data key.

    Its stored object is named by a keyed hash of the owner and the clear bytes' SHA-256 (``address``),
    so the same bytes pushed twice by one owner are stored once, while nothing in the name tells anyone
    without the operator's keys what the file is. There is no sharing across owners: a shared blob would
    tell one person that another holds the same file, and one person's erasure could not delete it.
    The stored object is sealed (:mod:`candor.privacy.sealed`): once the owner's key is destroyed, no copy
    of it, in storage or in any backup of the storage, can be read. ``seal`` is its header's random
    nonce prefix, which ties the object to this row (an object swapped for another fails to open).
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blobs")
    address = models.CharField(max_length=64)
    sha256 = EncryptedTextField(key_owner="owner_id")
    size = models.BigIntegerField()
    seal = models.CharField(max_length=14)
    stored = models.FileField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint("owner", "address", name="hub_blob_owner_address")]

    def __str__(self) -> str:
        return f"blob {self.pk} of {self.owner_id}"


class XetXorb(models.Model):
    """A xorb (a run of content-defined chunks, the unit the Xet protocol uploads) received from its
    owner: its chunks' clear bytes, concatenated, are one :class:`Blob` of that owner.

    The xorb's hash is kept only as a keyed index of the owner and the hash (``index``), so the table
    tells nobody without the operator's keys which data anyone holds, and one owner's xorb is never
    found for another (there is no sharing across owners, as with blobs). ``boundaries`` lists where
    each chunk ends in the clear bytes (little-endian 32-bit integers), which a shard's chunk ranges
    are turned into byte ranges with. ``last_used_at`` is moved on by each upload and each file rebuilt
    from the xorb; the sweep removes xorbs left unused for ``CANDOR_XET_XORB_DAYS``.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="xet_xorbs")
    index = models.CharField(max_length=64)
    # RESTRICT, as for the files: the blob cannot go while a xorb holds it, except with its account.
    blob = models.ForeignKey(Blob, on_delete=models.RESTRICT, related_name="xet_xorbs")
    boundaries = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint("owner", "index", name="hub_xetxorb_owner_index")]

    def __str__(self) -> str:
        return f"xorb {self.pk} of {self.owner_id}"


class Commit(models.Model):
    """One change to a model's files (an upload, a push, a deletion...), and the tree of files it leaves.

    ``oid`` is 40 random hex digits: it names the revision in URLs, the API and the client, like a Git
    commit id, but is derived from nothing (a hash of the tree and the message would be a fingerprint of
    the content that outlives it).
    """

    oid = models.CharField(max_length=40, unique=True, default=_commit_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="commits")
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    message = EncryptedTextField(key_owner="owner_id", blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["model", "-created_at"], name="hub_commit_model_time")]

    def __str__(self) -> str:
        return self.oid


class ModelFile(models.Model):
    """A file in the tree of one commit: a path and the blob it holds. Each commit has its whole tree."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="entries")
    commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="files")
    path = EncryptedTextField(key_owner="owner_id")
    path_index = models.CharField(max_length=64)
    # RESTRICT: the unused-blob sweep can never remove a blob a revision holds, even one committed a moment
    # after the sweep looked; yet an account deleted whole (the retention sweep, the admin) takes its files
    # and blobs together, which PROTECT would refuse.
    blob = models.ForeignKey(Blob, on_delete=models.RESTRICT, related_name="entries")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint("commit", "path_index", name="hub_file_commit_path_unique")
        ]
        indexes: ClassVar = [models.Index(fields=["model", "path_index"], name="hub_file_model_path")]

    def __str__(self) -> str:
        return self.path

    def get_absolute_url(self) -> str:
        return reverse("hub:file", args=[self.model.owner.username, self.model.name, self.path])

    @property
    def size(self) -> int:
        return int(self.blob.size)

    @property
    def sha256(self) -> str:
        return str(self.blob.sha256)


class Ref(models.Model):
    """A named revision other than the ``main`` branch (which is :attr:`MLModel.head`): a tag or a branch."""

    class Kind(models.TextChoices):
        TAG = "tag"
        BRANCH = "branch"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="refs")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TAG)
    name = EncryptedTextField(key_owner="owner_id")
    name_index = models.CharField(max_length=64)
    commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="refs")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint("model", "name_index", name="hub_ref_model_name")]

    def __str__(self) -> str:
        return f"{self.kind} of model {self.model_id}"


def _grant_key() -> str:
    return secrets.token_urlsafe(32)


class LfsUpload(models.Model):
    """A short-lived capability to send the bytes of one Git LFS object for a model's owner.

    The Hugging Face client PUTs an LFS object to the address the batch answer gives, without any
    Authorization header, so the address itself must grant the upload: it holds ``key``, 32 random
    bytes, and nothing else (no account, model or file name). The row says what the key allows: the
    object's SHA-256 and size, for whom, until when.
    """

    key = models.CharField(max_length=64, unique=True, default=_grant_key, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="+")
    sha256 = EncryptedTextField(key_owner="owner_id")
    size = models.BigIntegerField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"LFS upload grant {self.pk}"


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

WHILE_STORED = (
    "until the owner removes it from the model's history, deletes the model or the account; an older "
    "revision keeps its files until then"
)
WHILE_PUBLIC = "while the model is public: gone when it is made unlisted or private, deleted, or its account"

declare(
    MLModel,
    belongs_to="owner",
    fields={
        "id": NotPersonal(),
        "owner": NotPersonal("the link to the account the row belongs to"),
        "name_index": Personal(
            "content.model",
            "to find the model by its name without keeping the name in clear (a keyed hash of the "
            "owner's id and the name)",
            WHILE_PUBLISHED,
            ("C18",),
            export="metadata",
        ),
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
        "languages": Personal(
            "content.model_card", "to say which languages the model handles", WHILE_PUBLISHED, CONTENT
        ),
        "datasets": Personal(
            "content.model_card", "to say which data sets trained the model", WHILE_PUBLISHED, CONTENT
        ),
        "base_models": Personal(
            "content.model_card", "to say which model this one derives from", WHILE_PUBLISHED, CONTENT
        ),
        "card_data": Personal(
            "content.model_card",
            "to give the card's metadata to Hugging Face clients as the README has it",
            WHILE_PUBLISHED,
            CONTENT,
        ),
        "card_problems": Personal(
            "content.model_card",
            "to show the owner what is wrong in the card's metadata",
            WHILE_PUBLISHED,
            CONTENT,
        ),
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
        "head": NotPersonal("the link to the revision on the model's main branch"),
        "created_at": Personal("content.model", "to show when the model was made", WHILE_PUBLISHED, CONTENT),
        "updated_at": Personal("content.model", "to sort models by recent change", WHILE_PUBLISHED, CONTENT),
        "published_at": Personal(
            "content.model", "to list newly published models in the feed", WHILE_PUBLISHED, CONTENT
        ),
    },
)


def _projected(purpose: str, category: str = "content.model") -> Personal:
    return Personal(
        category,
        f"{purpose}, in the public lists, search, sitemap and feed (a copy of the public model's own field)",
        WHILE_PUBLIC,
        CONTENT,
        export="omitted",  # the export gives the model's own fields, of which these are a copy
    )


declare(
    PublicModel,
    # The path through the model puts these rows before the models in a deletion, which then removes
    # the models without a cascade to collect.
    belongs_to="model__owner",
    backed_up=False,
    note="Derived from the public models, in the same transaction as every change; never backed up, "
    "rebuilt from the encrypted models after a restore (so an erased account's models cannot return).",
    fields={
        "model": NotPersonal("the link to the model the row is the public copy of"),
        "owner": NotPersonal("the link to the account the row belongs to"),
        "owner_username": _projected("to show whose model it is"),
        "name": _projected("to give the model its address"),
        "title": _projected("to describe the model"),
        "summary": _projected("to describe the model"),
        "card": _projected("to document the model", "content.model_card"),
        "tags": _projected("to find models by topic"),
        "license": NotPersonal(),
        "library": NotPersonal(),
        "task": NotPersonal(),
        "languages": _projected("to find models by language", "content.model_card"),
        "datasets": _projected("to say which data sets trained the model", "content.model_card"),
        "base_models": _projected("to say which model this one derives from", "content.model_card"),
        "in_popular": _projected("to leave the model out of the popular lists if its owner so chooses"),
        "files": _projected("to show how many files the model has"),
        "created_at": _projected("to show when the model was made"),
        "updated_at": _projected("to sort models by recent change"),
        "published_at": _projected("to list newly published models in the feed"),
    },
)

# Sent by the retention sweep; candor.hub.blobs connects its purge in HubConfig.ready (the models cannot
# import the blob store, which imports them).
unused_blobs: Hook[Purge] = Hook("unused_blobs")

declare(
    Blob,
    belongs_to="owner",
    # Blobs no revision holds go once their task runs; the sweep removes those a lost task left.
    sweeps=(Sweep("unused blobs", field="created_at", purge=unused_blobs),),
    fields={
        "id": NotPersonal(),
        "owner": NotPersonal("the link to the account the row belongs to"),
        "address": NotPersonal(
            "a keyed hash naming the stored object, meaningless without the operator's keys"
        ),
        "sha256": Personal(
            "content.file", "to check downloads and skip unchanged uploads", WHILE_STORED, CONTENT
        ),
        "size": Personal("content.file", "to show and check the file's size", WHILE_STORED, CONTENT),
        "seal": NotPersonal("a random number tying the sealed object to this row"),
        "stored": Personal("content.file", "the uploaded file itself", WHILE_STORED, CONTENT, sealed=True),
        "created_at": Personal(
            "content.file", "to keep a fresh upload from the unused-file sweep", WHILE_STORED, CONTENT
        ),
    },
)

declare(
    XetXorb,
    belongs_to="owner",
    # A xorb is only needed while uploads may name it: one unused this long goes (its blob then goes with
    # the unused blobs, unless a revision holds the same bytes).
    sweeps=(Sweep("unused xorbs", field="last_used_at", days="XET_XORB_DAYS"),),
    fields={
        "id": NotPersonal(),
        "owner": NotPersonal("the link to the account the row belongs to"),
        "index": NotPersonal(
            "a keyed hash of the owner and the xorb's hash, meaningless without the operator's keys"
        ),
        "blob": NotPersonal("the link to the stored bytes"),
        "boundaries": Personal(
            "content.file", "to rebuild uploaded files from the xorb's chunks", WHILE_STORED, CONTENT
        ),
        "created_at": Personal("content.file", "to show when the xorb was received", WHILE_STORED, CONTENT),
        "last_used_at": Personal(
            "content.file", "to remove xorbs no upload has used for a while", WHILE_STORED, CONTENT
        ),
    },
)

declare(
    Commit,
    belongs_to="model__owner",
    fields={
        "id": NotPersonal(),
        "oid": NotPersonal("a random name for the revision"),
        "owner": NotPersonal("the link to the account the row belongs to"),
        "model": NotPersonal("the link to the model the revision belongs to"),
        "parent": NotPersonal("the link to the revision this one changed"),
        "author": Personal("content.revision", "to show who made the change", WHILE_STORED, CONTENT),
        "message": Personal("content.revision", "to say what the change was", WHILE_STORED, CONTENT),
        "created_at": Personal("content.revision", "to show when the change was made", WHILE_STORED, CONTENT),
    },
)

declare(
    ModelFile,
    belongs_to="model__owner",
    fields={
        "id": NotPersonal(),
        "owner": NotPersonal("the link to the account the row belongs to"),
        "model": NotPersonal("the link to the model the file belongs to"),
        "commit": NotPersonal("the link to the revision whose tree holds the file"),
        "path": Personal("content.file", "to name the file inside its model", WHILE_STORED, CONTENT),
        "path_index": NotPersonal("a keyed hash of the path, to find a file without reading every path"),
        "blob": NotPersonal("the link to the stored bytes"),
        "created_at": Personal("content.file", "to show when the file was added", WHILE_STORED, CONTENT),
        "updated_at": Personal("content.file", "to show when the file last changed", WHILE_STORED, CONTENT),
    },
)

declare(
    Ref,
    belongs_to="model__owner",
    fields={
        "id": NotPersonal(),
        "owner": NotPersonal("the link to the account the row belongs to"),
        "model": NotPersonal("the link to the model the name belongs to"),
        "kind": NotPersonal(),
        "name": Personal("content.revision", "to name a revision", WHILE_STORED, CONTENT),
        "name_index": NotPersonal("a keyed hash of the name, to find the revision it names"),
        "commit": NotPersonal("the link to the revision named"),
        "created_at": Personal("content.revision", "to show when the name was given", WHILE_STORED, CONTENT),
    },
)

declare(
    LfsUpload,
    belongs_to="owner",
    # A grant is used once or expires within the hour; the sweep removes those never used.
    sweeps=(Sweep("expired LFS upload grants", field="expires_at"),),
    fields={
        "id": NotPersonal(),
        "key": NotPersonal("a random capability naming the upload's address"),
        "owner": NotPersonal("the link to the account the upload is for"),
        "model": NotPersonal("the link to the model the upload is for"),
        "sha256": Personal(
            "content.file", "to check the uploaded bytes are those announced", "at most one hour", CONTENT
        ),
        "size": Personal(
            "content.file", "to check the uploaded bytes are those announced", "at most one hour", CONTENT
        ),
        "expires_at": NotPersonal("when the capability stops working"),
    },
)

declare(
    ListingState,
    belongs_to=None,
    fields={"id": NotPersonal(), "generation": NotPersonal("a counter of changes to public listings")},
)
