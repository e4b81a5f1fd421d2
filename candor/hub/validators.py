from __future__ import annotations

import re
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError

MODEL_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?")
TAG_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
MAX_TAGS = 20
MAX_PATH = 500
MAX_PATH_DEPTH = 16


def validate_model_name(value: str) -> None:
    if not MODEL_NAME_RE.fullmatch(value) or ".." in value:
        raise ValidationError(
            "A model name has 1 to 100 letters, digits, dots, hyphens or underscores, and starts and ends "
            "with a letter or digit.",
            code="invalid_name",
        )


def parse_tags(raw: str | list[str]) -> list[str]:
    """Tags from a comma-separated string or a list: lower-cased, de-duplicated, checked."""
    items = raw.split(",") if isinstance(raw, str) else raw
    tags: list[str] = []
    for item in items:
        tag = str(item).strip().lower()
        if not tag:
            continue
        if not TAG_RE.fullmatch(tag):
            raise ValidationError(
                "Tag %(tag)s is not valid: use up to 40 lower-case letters, digits and hyphens.",
                code="invalid_tag",
                params={"tag": repr(tag[:40])},
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationError(
            "A model has at most %(max)d tags.", code="too_many_tags", params={"max": MAX_TAGS}
        )
    return tags


def clean_file_path(raw: str) -> str:
    """A file's path inside its model: relative, no '..', no empty or hidden-dot segments, no backslash."""
    path = raw.strip()
    if not path or len(path) > MAX_PATH:
        raise ValidationError(
            "A file path has 1 to %(max)d characters.", code="invalid_path", params={"max": MAX_PATH}
        )
    if path.startswith("/") or "\\" in path or "\x00" in path or any(ord(c) < 32 for c in path):
        raise ValidationError("A file path is relative, with '/' between folders.", code="invalid_path")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValidationError("A file path may not contain empty, '.' or '..' segments.", code="invalid_path")
    if len(parts) > MAX_PATH_DEPTH:
        raise ValidationError(
            "A file path has at most %(max)d folders.", code="invalid_path", params={"max": MAX_PATH_DEPTH}
        )
    return str(PurePosixPath(*parts))
