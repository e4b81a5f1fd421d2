"""The data inventory: every field of every Candor model, classified once, next to its model.

A model's module calls :func:`declare` right after the class. The declaration says how the model's rows
belong to a person (or that they hold no personal data), and classifies each concrete field as
:class:`Personal` (category, purpose, retention, whether the person may correct it, how it appears in
their export, the clauses it serves) or :class:`NotPersonal` (with a reason where the field looks
personal). The policy's "what we collect" table, the API's inventory, and the system check that refuses
an unclassified field all read this one registry.

Kept free of model imports, so any models module can import it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from django.db import models

from candor.kernel.hooks import AccountsGone, Hook

Export = Literal["value", "metadata", "omitted"]


@dataclass(frozen=True)
class Personal:
    category: str  # e.g. "contact.email": a dotted family and kind
    purpose: str
    retention: str  # in words, for people; the sweep's rule sits on the declaration
    clauses: tuple[str, ...]
    correctable: bool = False
    export: Export = "value"  # "metadata": described but not given (a password hash); "omitted": never
    # A file stored sealed under the account's data key (candor.privacy.sealed); an EncryptedTextField
    # says the same of a column by itself.
    sealed: bool = False


@dataclass(frozen=True)
class NotPersonal:
    reason: str = ""


Classification = Personal | NotPersonal


@dataclass
class Purge:
    """The payload of a rule that applies itself (``Sweep.purge``): receivers remove what is due at
    ``now`` (or only count it, on a dry run) and add how many rows that is to ``removed``."""

    now: datetime
    dry_run: bool = False
    removed: int = 0


@dataclass(frozen=True)
class Sweep:
    """A retention rule: rows whose ``field`` is more than ``days`` old (and match ``where``) are deleted.

    ``days`` may name a setting, so an operator can change a retention period. ``before_delete``, on a
    rule over accounts, is the hook sent with the swept accounts' ids first, inside the deleting
    transaction, for what their deletion cannot reach by itself (files in storage): the app that owns
    those connects to it, so the inventory names no app above it. ``purge`` is the hook of a rule that
    applies itself, for rows kept where the ORM does not reach (its receiver is connected by the app
    that keeps them).
    """

    rule: str
    field: str
    days: int | str = 0
    where: dict[str, Any] = dataclasses.field(default_factory=dict)
    before_delete: Hook[AccountsGone] | None = None
    purge: Hook[Purge] | None = None


@dataclass(frozen=True)
class Declaration:
    model: type[models.Model]
    # The path from a row to the account it belongs to: "self" for the account itself, a field name
    # ("user", "owner") or a Django lookup path ("model__owner"). None: the rows hold no personal data.
    belongs_to: str | None
    fields: dict[str, Classification] = dataclasses.field(default_factory=dict)
    sweeps: tuple[Sweep, ...] = ()
    note: str = ""
    # Where the rows' files go in the person's export, under files/: a format string over the row's
    # columns and lookups ("{model__name}/{path}"). Default: "<model label>/<row id>/<stored name>".
    export_path: str = ""
    # False: the rows are never copied into a backup (the table's schema is). For what must not outlive
    # the database it is in: the data keys (a backup without them is unreadable once an account's key
    # is destroyed), and tables derived from others and rebuilt after a restore (the public projection).
    backed_up: bool = True

    @property
    def label(self) -> str:
        return str(self.model._meta.label)

    def personal_fields(self) -> dict[str, Personal]:
        return {name: c for name, c in self.fields.items() if isinstance(c, Personal)}


_REGISTRY: dict[str, Declaration] = {}

# Names and kinds of field that suggest personal data: classifying one as not personal needs a reason.
LOOKS_PERSONAL = re.compile(r"(^|_)(e?mail|ip|ip_address|phone|address|name|username|birth|dob)($|_)")


def looks_personal(model_field: models.Field[Any, Any]) -> bool:
    if isinstance(model_field, models.EmailField | models.GenericIPAddressField):
        return True
    return bool(LOOKS_PERSONAL.search(model_field.name))


def declare(
    model: type[models.Model],
    *,
    belongs_to: str | None,
    fields: dict[str, Classification],
    sweeps: tuple[Sweep, ...] = (),
    note: str = "",
    export_path: str = "",
    backed_up: bool = True,
) -> type[models.Model]:
    declaration = Declaration(
        model=model,
        belongs_to=belongs_to,
        fields=dict(fields),
        sweeps=sweeps,
        note=note,
        export_path=export_path,
        backed_up=backed_up,
    )
    _REGISTRY[declaration.label] = declaration
    return model


def declaration_for(model: type[models.Model]) -> Declaration | None:
    return _REGISTRY.get(str(model._meta.label))


def declarations() -> list[Declaration]:
    return sorted(_REGISTRY.values(), key=lambda d: d.label)


def tables_not_backed_up() -> list[str]:
    """The database tables whose rows no backup holds (declared with ``backed_up=False``)."""
    return sorted(str(d.model._meta.db_table) for d in _REGISTRY.values() if not d.backed_up)


def forget(model: type[models.Model]) -> None:
    """For tests that declare throw-away models."""
    _REGISTRY.pop(str(model._meta.label), None)


@dataclass(frozen=True)
class Row:
    """One line of the "what we collect" table."""

    model: str
    field: str
    category: str
    purpose: str
    retention: str
    correctable: bool
    export: Export
    clauses: tuple[str, ...]
    encrypted: bool


def encrypted_column(model_field: object) -> bool:
    """Whether a column holds its values encrypted (crypto.EncryptedTextField says so of itself: the
    inventory cannot import crypto, whose key table is a model that imports the inventory)."""
    return bool(getattr(model_field, "encrypted_at_rest", False))


def rows() -> list[Row]:
    found = []
    for declaration in declarations():
        for name, item in declaration.personal_fields().items():
            found.append(
                Row(
                    model=declaration.label,
                    field=name,
                    category=item.category,
                    purpose=item.purpose,
                    retention=item.retention,
                    correctable=item.correctable,
                    export=item.export,
                    clauses=item.clauses,
                    encrypted=item.sealed or encrypted_column(declaration.model._meta.get_field(name)),
                )
            )
    return sorted(found, key=lambda r: (r.category, r.model, r.field))
