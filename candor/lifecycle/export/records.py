"""The export's data/<category>.json files: every row the inventory ties to the person, read in chunks
as plain columns and written through sealed spill files, one per category."""

from __future__ import annotations

import itertools
import json
import zipfile
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

from django.db import models

from candor.kernel import staging
from candor.lifecycle.export import zipwriter
from candor.lifecycle.export.encoding import (
    BETWEEN_RECORDS,
    ENCODE,
    NOT_EXPORTED,
    encode_string,
    json_value,
    plain,
    record_layout,
)
from candor.lifecycle.export.summary import Category
from candor.privacy import crypto, inventory, sealed, subjects

ROWS_PER_CHUNK = 2000
FileKey = tuple[str, str, str]  # (model label, row id, field name)


def write_categories(
    archive: zipfile.ZipFile,
    found: list[Category],
    user: Any,
    files: dict[FileKey, str],
    stamp: zipwriter.Stamp,
) -> None:
    """Write data/<category>.json for each category.

    Each model's rows are read once, however many categories its fields fall in (a security event is
    in three): its records go to one sealed spill file per category in the staging area, and each
    category's file is then opened and copied into the archive.
    """
    parts: dict[str, list[tuple[Category, dict[str, inventory.Personal]]]] = {}
    declarations: dict[str, inventory.Declaration] = {}
    for category in found:
        for declaration, fields in category.given:
            parts.setdefault(declaration.label, []).append((category, fields))
            declarations[declaration.label] = declaration
    # Each spill is a staging file sealed under a key of its own that only this process holds (in memory,
    # never written): a worker killed mid-export leaves files that nothing can open, which the recovery
    # pass then removes. Spilled in clear, they held the person's addresses for anyone to read.
    spills: dict[str, tuple[staging.StagingFile, Any, sealed.SealingWriter]] = {}
    try:
        for c in found:
            spool = staging.create("export-part", user.pk)
            key = sealed.scratch_key()
            spills[c.name] = (spool, key, sealed.scratch_writer(spool.file, key, context=c.name))
        for label in sorted(parts):
            wanted: dict[str, inventory.Personal] = {}
            for _, fields in parts[label]:
                wanted.update(fields)
            slots, chunks = _records(declarations[label], wanted, user, files)
            layouts = [(category, *record_layout(slots, fields)) for category, fields in parts[label]]
            for chunk in chunks:
                for category, template, pick in layouts:
                    # A chunk's records at once, through map: no Python-level loop per record.
                    text = BETWEEN_RECORDS.join(map(template.__mod__, map(pick, chunk)))
                    lead = BETWEEN_RECORDS if category.records else "\n    "
                    spills[category.name][2].write((lead + text).encode("utf-8"))
                    category.records += len(chunk)
        for category in found:
            spool, key, writer = spills[category.name]
            writer.finish()
            spool.file.seek(0)
            _write_category(
                archive, category, sealed.opened(spool.file, context=category.name, key=key), stamp
            )
    finally:
        for spool, _, _ in spills.values():
            spool.discard()


def _write_category(
    archive: zipfile.ZipFile, category: Category, records: Iterable[bytes], stamp: zipwriter.Stamp
) -> None:
    header = {
        "category": category.name,
        "description": category.description,
        "fields": [
            {
                "model": declaration.label,
                "field": name,
                "purpose": item.purpose,
                "retention": item.retention,
                "export": item.export,
            }
            for declaration, fields in category.given
            for name, item in fields.items()
        ],
        "not_exported": [
            {"model": declaration.label, "field": name, "purpose": item.purpose}
            for declaration, name, item in category.omitted
        ],
    }
    with archive.open(zipwriter.entry(category.file, stamp, zipfile.ZIP_DEFLATED), "w") as out:
        out.write(b"{\n")
        for key, value in header.items():
            out.write(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n".encode())
        out.write(b'  "records": [')
        for piece in records:
            out.write(piece)
        out.write(b"\n  ]\n}\n" if category.records else b"]\n}\n")


def _records(
    declaration: inventory.Declaration,
    fields: dict[str, inventory.Personal],
    user: Any,
    files: dict[FileKey, str],
) -> tuple[dict[str, int], Iterator[list[tuple[str, ...]]]]:
    """One record per row, read as plain columns (no model instances: an export may hold millions).

    The records come a chunk of rows at a time, each record the tuple of its values already encoded as
    JSON: the model, the id, then the fields. ``slots`` gives where each key's value is in the tuple (a
    field named like "model" or "id" takes its slot, as it would in a dict).
    """
    model = declaration.model
    rows = subjects.rows_of(declaration, user.pk).order_by("pk")
    columns: list[str] = ["pk"]
    slots = {"model": 0, "id": 1}
    # How each field becomes a value, worked out once: (how, column index, extra).
    plan: list[tuple[str, int, Any]] = []
    for name, item in fields.items():
        slots[name] = 2 + len(plan)
        model_field: Any = model._meta.get_field(name)
        if model_field.many_to_many:
            related = _related_names(rows, name)
            plan.append(("many-metadata" if item.export == "metadata" else "many", 0, related))
            continue
        columns.append(model_field.attname)
        index = len(columns) - 1
        if item.export == "metadata":
            # The two possible values, encoded once.
            note = f"not exported; kept {item.purpose}"
            plan.append(("metadata", index, [ENCODE({"present": p, "note": note}) for p in (False, True)]))
        elif isinstance(model_field, models.FileField):
            plan.append(("file", index, name))
        elif isinstance(model_field, crypto.EncryptedTextField):
            columns.append(model_field.key_owner)
            plan.append(("encrypted", index, (len(columns) - 1, model_field)))
        elif isinstance(model_field, models.DateTimeField | models.DateField):
            plan.append(("date", index, None))
        elif isinstance(model_field, models.CharField | models.TextField | models.BooleanField):
            plan.append(("as-is", index, None))  # already what JSON holds
        else:
            plan.append(("plain", index, None))
    return slots, _encoded_chunks(declaration.label, rows.values_list(*columns), plan, files)


def _encoded_chunks(
    label: str, rows: models.QuerySet[Any], plan: list[tuple[str, int, Any]], files: dict[FileKey, str]
) -> Iterator[list[tuple[str, ...]]]:
    """The rows' records, encoded a column of a chunk at a time.

    Column by column, each field's way of becoming JSON is chosen once per chunk rather than once per
    value, and most columns are encoded by map, with no Python-level loop per value.
    """
    model = encode_string(label)
    contexts: dict[tuple[str, Any], str] = {}
    for chunk in itertools.batched(rows.iterator(chunk_size=ROWS_PER_CHUNK), ROWS_PER_CHUNK):
        columns = list(zip(*chunk, strict=True))
        pks = columns[0]
        encoded: list[Iterable[str]] = [itertools.repeat(model), map(encode_string, map(str, pks))]
        for how, index, extra in plan:
            values = columns[index]
            if how == "as-is":
                encoded.append(map(json_value, values))
            elif how == "date":
                # An ISO 8601 date holds nothing JSON escapes.
                encoded.append([f'"{v.isoformat()}"' if v is not None else "null" for v in values])
            elif how == "plain":
                encoded.append([json_value(plain(v)) for v in values])
            elif how == "encrypted":
                owner_index, model_field = extra
                decrypt = partial(_decrypted, label, model_field, contexts)
                encoded.append(map(json_value, map(decrypt, values, columns[owner_index])))
            elif how == "file":
                encoded.append(
                    [
                        json_value(files.get((label, str(pk), extra)) if v else None)
                        for pk, v in zip(pks, values, strict=True)
                    ]
                )
            elif how == "metadata":
                encoded.append([extra[bool(v)] for v in values])
            elif how == "many":
                encoded.append([ENCODE(sorted(extra.get(pk, []))) for pk in pks])
            else:
                encoded.append([NOT_EXPORTED[bool(extra.get(pk))] for pk in pks])
        yield list(zip(*encoded, strict=False))  # the model's column repeats without end


def _decrypted(
    label: str,
    model_field: crypto.EncryptedTextField,
    contexts: dict[tuple[str, Any], str],
    value: Any,
    owner: Any,
) -> Any:
    """An encrypted column's value in clear (as its attribute reads: a JSON column's value parsed),
    checked against its row's associated data as always."""
    if not isinstance(value, str):
        return value
    if not crypto.is_encrypted(value):
        return model_field.plain_value(value)
    # The associated data depends on the field and the owner only: made once per owner, not per row.
    name = model_field.name
    context = contexts.get((name, owner))
    if context is None:
        context = contexts[(name, owner)] = crypto.associated_data(label, name, owner)
    return model_field.plain_value(crypto.decrypt(value, context=context))


def _related_names(rows: models.QuerySet[Any], name: str) -> dict[Any, list[str]]:
    """For a many-to-many field: each row's related objects, as text (tag names …)."""
    # A compact map (row id -> related ids), read in chunks like every other query of the export.
    pairs = list(
        rows.filter(**{f"{name}__isnull": False}).values_list("pk", name).iterator(chunk_size=ROWS_PER_CHUNK)
    )
    related_model: Any = rows.model._meta.get_field(name).related_model
    objects = related_model._default_manager.in_bulk({related for _, related in pairs})
    labels = {pk: str(obj) for pk, obj in objects.items()}
    found: dict[Any, list[str]] = {}
    for pk, related in pairs:
        found.setdefault(pk, []).append(labels[related])
    return found
