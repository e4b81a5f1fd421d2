"""What the export says about itself: its data categories, README.json, and index.html for reading.

The categories come from the inventory: each personal field falls in one, with its purpose and
retention, and a field the export omits is named with why it is kept.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

from candor.lifecycle.export.encoding import ENCODE
from candor.privacy import inventory, subjects

FORMAT = "candor-personal-data-export"
FORMAT_VERSION = 1
FILES_LISTED = 500
ACCESSES_FILE = "accesses.json"
ACCESSES_ABOUT = (
    "Each time a member of staff saw your data: when, their role, the countries of their office and of "
    "where they work, the purpose and the kinds of data seen (never the values). An access a legal order "
    "forbade telling is listed from the order's date on, with that date (held_back_until)."
)

FAMILIES = {
    "account": "About your account",
    "contact": "How we reach you",
    "content": "What you published",
    "device": "The devices you used",
    "network": "Your connections to the platform",
    "security": "Your account's security history",
}


@dataclass
class Category:
    name: str
    # For each declaration with fields in this category: the fields the export gives, and those it omits.
    given: list[tuple[inventory.Declaration, dict[str, inventory.Personal]]] = field(default_factory=list)
    omitted: list[tuple[inventory.Declaration, str, inventory.Personal]] = field(default_factory=list)
    records: int = 0

    @property
    def file(self) -> str:
        return f"data/{self.name}.json"

    @property
    def purposes(self) -> list[str]:
        seen: dict[str, None] = {}
        for _, fields in self.given:
            seen.update(dict.fromkeys(item.purpose for item in fields.values()))
        return list(seen)

    @property
    def description(self) -> str:
        family, _, kind = self.name.partition(".")
        title = FAMILIES.get(family, family.replace("_", " ").capitalize())
        kind_words = f" ({kind.replace('_', ' ').replace('.', ', ')})" if kind else ""
        return f"{title}{kind_words}. Why we keep it: {'; '.join(self.purposes)}."


@dataclass
class StoredFile:
    path: str
    size: int
    model: str
    id: str
    field: str


def categories() -> list[Category]:
    """The data categories of every personal field the inventory ties to a person."""
    found: dict[str, Category] = {}
    for declaration in subjects.owned_declarations():
        given: dict[str, dict[str, inventory.Personal]] = {}
        for name, item in declaration.personal_fields().items():
            category = found.setdefault(item.category, Category(item.category))
            if item.export == "omitted":
                category.omitted.append((declaration, name, item))
            else:
                given.setdefault(item.category, {})[name] = item
        for name, fields in given.items():
            found[name].given.append((declaration, fields))
    for category in found.values():
        category.given.sort(key=lambda pair: pair[0].label)
    return [found[name] for name in sorted(found)]


def readme_text(readme: dict[str, Any]) -> str:
    """README.json, indented for reading, with one line per file (json's indenting encoder is slow)."""
    listed = readme.pop("files", [])
    head = json.dumps(readme, indent=2, ensure_ascii=False)
    if not listed:
        return json.dumps({**readme, "files": []}, indent=2, ensure_ascii=False) + "\n"
    lines = ",\n".join("    " + ENCODE(item) for item in listed)
    return f'{head[:-2]},\n  "files": [\n{lines}\n  ]\n}}\n'


def readme(found: list[Category], files: list[StoredFile], generated_at: dt.datetime) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "platform": settings.PLATFORM_NAME,
        "website": settings.WEBSITE_URL,
        "generated_at": generated_at.isoformat(),
        "about": (
            "A copy of the personal data this platform holds about you (GDPR articles 15 and 20). "
            "index.html summarises it for reading; the JSON files are for programs."
        ),
        "layout": {
            "README.json": "this description",
            "index.html": "a summary to open in a browser",
            ACCESSES_FILE: 'the accesses of staff to your data: {"about", "accesses": [{"occurred_at", '
            '"held_back_until", "role", "office_country", "work_country", "purpose", "categories"}]}',
            "data/<category>.json": (
                'one file per kind of data: {"category", "description", "fields": [{"model", "field", '
                '"purpose", "retention", "export"}], "not_exported": [...], "records": [{"model", "id", '
                "<field>: <value>, ...}]}"
            ),
            "files/": (
                "every file you uploaded; a model's files as they are on its main branch, at "
                "files/<model name>/<path>; a record's file field gives its path in this archive"
            ),
            "older revisions": (
                "the files of a model's older revisions are listed in the records (data/content.file.json "
                "and data/content.revision.json: paths, sizes, SHA-256 hashes, commits); their bytes are "
                "in this archive only where the main branch still holds them"
            ),
        },
        "values": {
            "dates": "ISO 8601 with the time zone (UTC)",
            "ids": "strings",
            "lists": "many-to-many fields (a model's tags) as lists of strings",
            "files": "the path of the file inside this archive, or null when there is none",
            "described": (
                'fields given as {"present", "note"} are held but not exported (a password hash, a keyed '
                "hash): the note says why they are kept"
            ),
        },
        "categories": [
            {"category": c.name, "file": c.file, "description": c.description, "records": c.records}
            for c in found
            if c.given
        ],
        "files": [
            {"path": f.path, "size": f.size, "model": f.model, "id": f.id, "field": f.field} for f in files
        ],
        "not_exported": [
            {"category": c.name, "model": declaration.label, "field": name, "purpose": item.purpose}
            for c in found
            for declaration, name, item in c.omitted
        ],
    }


def index_page(
    found: list[Category], readme: dict[str, Any], files: list[StoredFile], generated_at: dt.datetime
) -> str:
    """index.html: the summary to open in a browser."""
    return render_to_string(
        "privacy/export/index.html",
        {
            "platform_name": settings.PLATFORM_NAME,
            "website_url": settings.WEBSITE_URL,
            "contact_email": settings.CONTACT_EMAIL,
            "generated_at": generated_at,
            "categories": [c for c in found if c.given],
            "not_exported": readme["not_exported"],
            # The page lists the first files; the rest are in files/ and README.json's count.
            "files": files[:FILES_LISTED],
            "files_total": len(files),
            "files_more": max(0, len(files) - FILES_LISTED),
            "format_version": FORMAT_VERSION,
        },
    )
