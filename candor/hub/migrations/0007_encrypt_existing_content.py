# Encrypts what models held in clear before 0004 (name, title, summary, card, and their tags into the
# encrypted list), computes each name's blind index, and builds the public projection. Safe to run
# again: a value already encrypted is left as it is, and the projection is written over.

import json
import uuid

from django.db import migrations

LABEL = "hub.MLModel"
TEXT = ("name", "title", "summary", "card")
BATCH = 500


def encrypt_existing(apps, schema_editor):
    from candor.privacy import crypto

    MLModel = apps.get_model("hub", "MLModel")
    PublicModel = apps.get_model("hub", "PublicModel")
    ModelFile = apps.get_model("hub", "ModelFile")
    Through = MLModel._meta.get_field("tags").remote_field.through

    def in_clear(value, field, owner):
        if not crypto.is_encrypted(value):
            return value
        return crypto.decrypt(value, context=crypto.associated_data(LABEL, field, owner))

    def sealed(text, field, owner):
        return crypto.encrypt(text, user_id=owner, context=crypto.associated_data(LABEL, field, owner))

    columns = ("pk", "owner_id", "name_index", "tag_list", *TEXT)
    after = 0
    while True:
        rows = list(MLModel.objects.filter(pk__gt=after).order_by("pk").values(*columns)[:BATCH])
        if not rows:
            return
        after = rows[-1]["pk"]
        ids = [row["pk"] for row in rows]
        words = {}
        for model_id, tag in Through.objects.filter(mlmodel_id__in=ids).values_list("mlmodel_id", "tag__name"):
            words.setdefault(model_id, []).append(tag)
        for row in rows:
            owner = row["owner_id"]
            changes = {f: sealed(row[f], f, owner) for f in TEXT if not crypto.is_encrypted(row[f])}
            if not crypto.is_encrypted(row["tag_list"]):
                tags = sorted(set(words.get(row["pk"], [])))
                # Sealed as the column 0006 names it: "tags" is part of the associated data.
                changes["tag_list"] = sealed(json.dumps(tags), "tags", owner)
            name = in_clear(row["name"], "name", owner)
            index = crypto.blind_index("model-name", f"{uuid.UUID(str(owner))}/{name}")
            if index != row["name_index"]:
                changes["name_index"] = index
            if changes:
                MLModel.objects.filter(pk=row["pk"]).update(**changes)
        _project(MLModel, PublicModel, ModelFile, ids, in_clear)


def _username(stored, owner):
    """The owner's name in clear, should a migration of the accounts have encrypted it already."""
    from candor.privacy import crypto

    if not crypto.is_encrypted(stored):
        return stored
    return crypto.decrypt(stored, context=crypto.associated_data("accounts.User", "username", owner))


def _project(MLModel, PublicModel, ModelFile, ids, in_clear):
    """The projection of the public ones among ``ids``, written over whatever it held for them."""
    PublicModel.objects.filter(pk__in=ids).delete()
    counts = {}
    for model_id in ModelFile.objects.filter(model_id__in=ids).values_list("model_id", flat=True):
        counts[model_id] = counts.get(model_id, 0) + 1
    public = MLModel.objects.filter(pk__in=ids, visibility="public").values(
        "pk", "owner_id", "owner__username", "name", "title", "summary", "card", "tag_list", "license",
        "library", "task", "in_popular", "created_at", "updated_at", "published_at",
    )
    rows = []
    for m in public:
        owner = m["owner_id"]
        tags = json.loads(in_clear(m["tag_list"], "tags", owner))
        rows.append(
            PublicModel(
                model_id=m["pk"],
                owner_id=owner,
                owner_username=_username(m["owner__username"], owner),
                name=in_clear(m["name"], "name", owner),
                title=in_clear(m["title"], "title", owner),
                summary=in_clear(m["summary"], "summary", owner),
                card=in_clear(m["card"], "card", owner),
                tags=f" {' '.join(sorted(tags))} " if tags else "",
                license=m["license"],
                library=m["library"],
                task=m["task"],
                in_popular=m["in_popular"],
                files=counts.get(m["pk"], 0),
                created_at=m["created_at"],
                updated_at=m["updated_at"],
                published_at=m["published_at"],
            )
        )
    PublicModel.objects.bulk_create(rows)


class Migration(migrations.Migration):

    dependencies = [
        ('hub', '0006_encrypted_content_and_projection'),
    ]

    operations = [
        migrations.RunPython(encrypt_existing, migrations.RunPython.noop, elidable=True),
    ]
