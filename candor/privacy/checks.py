"""System checks that keep the data inventory complete (principle 1; clause C1).

``candor check`` (and so CI and every start-up) fails when a field of a Candor model is not classified,
names that field, and refuses a personal-looking field called not personal without a reason.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core import checks
from django.core.exceptions import FieldDoesNotExist

from candor.privacy import inventory


def candor_models() -> list[Any]:
    return [m for m in apps.get_models() if m.__module__.startswith("candor.")]


def _path_exists(model: Any, path: str) -> bool:
    if path == "self":
        return True
    current = model
    for part in path.split("__"):
        try:
            model_field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        if not model_field.is_relation:
            return False
        current = model_field.related_model
    return bool(current._meta.label == "accounts.User")


@checks.register(checks.Tags.models)
def check_inventory(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return check_models(candor_models())


def check_models(models: list[Any]) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for model in models:
        declaration = inventory.declaration_for(model)
        label = model._meta.label
        if declaration is None:
            errors.append(
                checks.Error(
                    f"{label} is not in the data inventory.",
                    hint="Call candor.privacy.inventory.declare() for it beside the model.",
                    obj=model,
                    id="candor.privacy.E001",
                )
            )
            continue
        concrete = {f.name: f for f in model._meta.get_fields() if f.concrete or f.many_to_many}
        concrete = {
            n: f for n, f in concrete.items() if not (f.many_to_many and not f.concrete and f.auto_created)
        }
        for name, model_field in concrete.items():
            item = declaration.fields.get(name)
            if item is None:
                errors.append(
                    checks.Error(
                        f"{label}.{name} is not classified in the data inventory.",
                        hint="Declare it as Personal(...) or NotPersonal(...) in the model's declare() call.",
                        obj=model,
                        id="candor.privacy.E002",
                    )
                )
            elif (
                isinstance(item, inventory.NotPersonal)
                and inventory.looks_personal(model_field)
                and not item.reason.strip()
            ):
                errors.append(
                    checks.Error(
                        f"{label}.{name} looks personal but is classified as not personal without a reason.",
                        hint='Give NotPersonal(reason="...") saying why it holds no personal data.',
                        obj=model,
                        id="candor.privacy.E003",
                    )
                )
        for name in declaration.fields:
            if name not in concrete:
                errors.append(
                    checks.Error(
                        f"{label} declares {name}, which is not one of its fields.",
                        obj=model,
                        id="candor.privacy.E004",
                    )
                )
        if declaration.personal_fields() and declaration.belongs_to is None:
            errors.append(
                checks.Error(
                    f"{label} has personal fields but does not say whose rows they are (belongs_to).",
                    obj=model,
                    id="candor.privacy.E005",
                )
            )
        if declaration.belongs_to is not None and not _path_exists(model, declaration.belongs_to):
            errors.append(
                checks.Error(
                    f"{label}.belongs_to {declaration.belongs_to!r} does not lead to an account.",
                    obj=model,
                    id="candor.privacy.E006",
                )
            )
    return errors
