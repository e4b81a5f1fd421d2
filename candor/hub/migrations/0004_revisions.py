"""Revisions and sealed, content-addressed blobs.

Each model that has files gets one first commit holding them; each file's bytes are read from where they
were stored in clear, sealed under the owner's data key into a blob, and the file's path is encrypted.
The clear copies are removed by the next migration, once this one has committed (removing them here
would lose them if this migration were rolled back). Rerunning after a crash is safe: each model is moved
in a transaction of its own (all its files, its commit and its head, or nothing), models already moved
are skipped, and a blob already stored is reused. A sealed object stored by a model's transaction that
was then rolled back is named by no row: the retention sweep removes it (candor.hub.blobs.orphans).
"""

import secrets

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models, transaction

import candor.hub.models
import candor.privacy.crypto

NOTE = "Files stored before revisions"


def seal_existing(apps, schema_editor):
    from candor.core import objectstore
    from candor.hub import blobs
    from candor.hub.models import path_index

    MLModel = apps.get_model("hub", "MLModel")
    ModelFile = apps.get_model("hub", "ModelFile")
    Commit = apps.get_model("hub", "Commit")
    Blob = apps.get_model("hub", "Blob")
    waiting = ModelFile.objects.filter(commit__isnull=True)
    for model in MLModel.objects.filter(pk__in=waiting.values("model_id")).order_by("pk"):
        with transaction.atomic():
            _seal_model(model, waiting, Commit, Blob, objectstore, blobs, path_index)


def _seal_model(model, waiting, Commit, Blob, objectstore, blobs, path_index):
    """Move one model's files into a first commit (in the caller's transaction)."""
    rows = list(waiting.filter(model=model).order_by("pk"))
    commit = Commit.objects.create(
        oid=secrets.token_hex(20),
        owner_id=model.owner_id,
        model=model,
        author_id=model.owner_id,
        message=NOTE,
        created_at=max(row.updated_at for row in rows),
    )
    for row in rows:
        name = str(row.blob)
        if not name or not objectstore.exists(name):
            row.delete()  # its bytes were lost before this migration: nothing to seal
            continue
        handle, sha256, size, seal = blobs.seal_upload(
            model.owner_id, objectstore.read(name), limit=2**62
        )
        where = blobs.address(model.owner_id, sha256)
        try:
            blob = Blob.objects.filter(owner_id=model.owner_id, address=where).first()
            if blob is None:
                stored = objectstore.save_path(handle.path, blobs.stored_name(where, seal))
                blob = Blob.objects.create(
                    owner_id=model.owner_id, address=where, sha256=sha256, size=size, seal=seal,
                    stored=stored,
                )
        finally:
            handle.discard()
        row.owner_id = model.owner_id
        row.commit = commit
        row.path_index = path_index(model.pk, row.path)
        row.sealed = blob
        row.path = str(row.path)  # encrypted as it is saved
        row.save()
    model.head = commit
    model.save(update_fields=["head"])


class Migration(migrations.Migration):

    dependencies = [
        ("hub", "0003_model_in_popular"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("privacy", "0001_data_keys"),
    ]

    operations = [
        migrations.CreateModel(
            name="Blob",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("address", models.CharField(max_length=64)),
                ("sha256", candor.privacy.crypto.EncryptedTextField(key_owner="owner_id")),
                ("size", models.BigIntegerField()),
                ("seal", models.CharField(max_length=14)),
                ("stored", models.FileField(max_length=200, upload_to="")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="blobs",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(models.F("owner"), models.F("address"), name="hub_blob_owner_address")
                ],
            },
        ),
        migrations.CreateModel(
            name="Commit",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("oid", models.CharField(default=candor.hub.models._commit_id, editable=False, max_length=40, unique=True)),
                ("message", candor.privacy.crypto.EncryptedTextField(blank=True, key_owner="owner_id")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "author",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "model",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="commits", to="hub.mlmodel"
                    ),
                ),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                (
                    "parent",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="children",
                        to="hub.commit",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["model", "-created_at"], name="hub_commit_model_time")],
            },
        ),
        migrations.AddField(
            model_name="mlmodel",
            name="head",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="hub.commit",
            ),
        ),
        migrations.CreateModel(
            name="Ref",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("tag", "Tag"), ("branch", "Branch")], default="tag", max_length=10)),
                ("name", candor.privacy.crypto.EncryptedTextField(key_owner="owner_id")),
                ("name_index", models.CharField(max_length=64)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "commit",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="refs", to="hub.commit"
                    ),
                ),
                (
                    "model",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="refs", to="hub.mlmodel"
                    ),
                ),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(models.F("model"), models.F("name_index"), name="hub_ref_model_name")
                ],
            },
        ),
        # The files become the trees of commits: new columns first (empty), filled by seal_existing.
        migrations.RemoveConstraint(model_name="modelfile", name="hub_file_model_path_unique"),
        migrations.AlterField(
            model_name="modelfile",
            name="model",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="entries", to="hub.mlmodel"
            ),
        ),
        migrations.AlterField(
            model_name="modelfile",
            name="path",
            field=candor.privacy.crypto.EncryptedTextField(key_owner="owner_id"),
        ),
        migrations.AddField(
            model_name="modelfile",
            name="owner",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AddField(
            model_name="modelfile",
            name="commit",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="files", to="hub.commit"
            ),
        ),
        migrations.AddField(
            model_name="modelfile",
            name="path_index",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="modelfile",
            name="sealed",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.RESTRICT, related_name="entries", to="hub.blob"
            ),
        ),
        migrations.RunPython(seal_existing, migrations.RunPython.noop),
        migrations.RemoveField(model_name="modelfile", name="blob"),
        migrations.RemoveField(model_name="modelfile", name="size"),
        migrations.RemoveField(model_name="modelfile", name="sha256"),
        migrations.RenameField(model_name="modelfile", old_name="sealed", new_name="blob"),
        migrations.AlterField(
            model_name="modelfile",
            name="blob",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.RESTRICT, related_name="entries", to="hub.blob"
            ),
        ),
        migrations.AlterField(
            model_name="modelfile",
            name="owner",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AlterField(
            model_name="modelfile",
            name="commit",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="files", to="hub.commit"
            ),
        ),
        migrations.AddConstraint(
            model_name="modelfile",
            constraint=models.UniqueConstraint(
                models.F("commit"), models.F("path_index"), name="hub_file_commit_path_unique"
            ),
        ),
        migrations.AddIndex(
            model_name="modelfile",
            index=models.Index(fields=["model", "path_index"], name="hub_file_model_path"),
        ),
    ]
