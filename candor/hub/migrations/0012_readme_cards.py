"""README.md is the card: every model with a card and no README.md on main gets a commit adding one.

Its front-matter is built from the model's licence, library, task and tags, its text is the card (a card
whose owner pasted a front-matter of their own keeps it, and its keys win, as an edit on the website
does). The README's bytes are sealed under the owner's data key into a blob as every upload is (see
0004), the commit holds the whole tree of the head plus README.md, and the card fields are then set from
the README as a commit on main sets them (its Markdown body becomes the card, its problems are kept for
the owner). Each model goes in a transaction of its own; a model whose main already has README.md is
skipped, so running this again after a crash finishes the rest and changes nothing done. A sealed object
stored by a model's transaction that was then rolled back is named by no row: the retention sweep
removes it (candor.hub.blobs.orphans).
"""

import secrets

from django.db import migrations, transaction

MESSAGE = "The model card as README.md"
BATCH = 200


def readme_cards(apps, schema_editor):
    MLModel = apps.get_model("hub", "MLModel")
    after = 0
    while True:
        ids = list(MLModel.objects.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:BATCH])
        if not ids:
            return
        after = ids[-1]
        for pk in ids:
            with transaction.atomic():
                _readme_for(apps, pk)


def _text(model, card):
    """README.md for a model's card and fields (candor.hub.actions makes it the same way)."""
    body = str(model.card or "")
    front, rest, _ = card.split(body)
    pasted, problem = card.load_front_matter(front) if front is not None else ({}, None)
    if front is not None and problem is not None:
        return body  # kept as it was written: the card's problems will say what is wrong with it
    keys = {"license": "license", "library": "library_name", "task": "pipeline_tag", "tags": "tags"}
    fields = {
        "license": model.license,
        "library": model.library,
        "task": model.task,
        "tags": [str(tag) for tag in model.tags] if isinstance(model.tags, list) else [],
    }
    for name, key in keys.items():
        if key in pasted:
            fields[name] = None
    return card.render(rest if front is not None else body, previous=pasted, **fields)


def _readme_for(apps, pk):
    from candor.core import objectstore
    from candor.hub import blobs, card, cardsync, projection
    from candor.hub.models import path_index

    MLModel = apps.get_model("hub", "MLModel")
    ModelFile = apps.get_model("hub", "ModelFile")
    Commit = apps.get_model("hub", "Commit")
    Blob = apps.get_model("hub", "Blob")
    PublicModel = apps.get_model("hub", "PublicModel")
    model = MLModel.objects.select_for_update().get(pk=pk)
    if not isinstance(model.card, str) or not model.card.strip():
        return  # no card (or one whose key is gone: nothing readable to move)
    readme_index = path_index(model.pk, card.PATH)
    if ModelFile.objects.filter(commit_id=model.head_id, path_index=readme_index).exists():
        return  # main has a README.md already: it is the card from now on
    text = _text(model, card)
    handle, sha256, size, seal = blobs.seal_upload(model.owner_id, [text.encode()], limit=2**62)
    where = blobs.address(model.owner_id, sha256)
    try:
        blob = Blob.objects.filter(owner_id=model.owner_id, address=where).first()
        if blob is None:
            stored = objectstore.save_path(handle.path, blobs.stored_name(where, seal))
            blob = Blob.objects.create(
                owner_id=model.owner_id, address=where, sha256=sha256, size=size, seal=seal, stored=stored
            )
    finally:
        handle.discard()
    made = Commit.objects.create(
        oid=secrets.token_hex(20),
        owner_id=model.owner_id,
        model=model,
        parent_id=model.head_id,
        author_id=model.owner_id,
        message=MESSAGE,
    )
    rows = [
        ModelFile(owner_id=model.owner_id, model=model, commit=made, **row)
        for row in ModelFile.objects.filter(commit_id=model.head_id).values(
            "path_index", "path", "blob_id", "created_at", "updated_at"
        )
    ]
    rows.append(
        ModelFile(
            owner_id=model.owner_id,
            model=model,
            commit=made,
            path=card.PATH,
            path_index=readme_index,
            blob=blob,
            created_at=made.created_at,
            updated_at=made.created_at,
        )
    )
    ModelFile.objects.bulk_create(rows, batch_size=1000)
    found = card.parse(text)
    fields = cardsync.values(found)
    model.head = made
    for name, value in fields.items():
        setattr(model, name, value)
    model.save(update_fields=["head", *fields])
    # The projection of a public model shows the card's body and fields (its file count too).
    PublicModel.objects.filter(pk=model.pk).update(
        card=found.body,
        license=fields["license"],
        library=fields["library"],
        task=fields["task"],
        tags=projection.tags_column(fields["tags"]),
        languages=projection.tags_column(fields["languages"]),
        datasets=fields["datasets"],
        base_models=fields["base_models"],
        files=len(rows),
    )


class Migration(migrations.Migration):
    dependencies = [("hub", "0011_card_fields")]

    operations = [migrations.RunPython(readme_cards, migrations.RunPython.noop, elidable=False)]
