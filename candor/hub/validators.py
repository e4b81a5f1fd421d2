"""What a model name, a tag and a file path may be: the validators, and the same rules as patterns.

Pure: no database, no file. The patterns are for the API's schema (JSON Schema patterns have no
look-arounds, so they are spelt differently; tests/api/test_patterns.py checks they agree).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError

from candor.accounts.validators import USERNAME_MAX, USERNAME_RE

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


# A model's owner, in a path: a username.
OWNER_PATTERN = rf"^{USERNAME_RE.pattern}$"
OWNER_PATTERN_MESSAGE = "Not a username."
OWNER_MAX = USERNAME_MAX
NAME_MAX = 100

# MODEL_NAME_RE, with its "no '..'" rule folded in.
NAME_PATTERN = r"^[A-Za-z0-9](?:(?:\.?[A-Za-z0-9_-])*\.?[A-Za-z0-9])?$"
NAME_PATTERN_MESSAGE = (
    "A model name has letters, digits, dots, hyphens or underscores, starts and ends with a letter or digit, "
    "and has no '..'."
)
TAG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"
TAG_PATTERN_MESSAGE = "A tag has up to 40 lower-case letters, digits and hyphens."


def file_path_pattern() -> str:
    """clean_file_path as a pattern, for paths it keeps as they are (no space at either end).

    Spelt without look-arounds: a segment is anything but "", "." and ".."; the path's first and last
    characters are not white space; MAX_PATH_DEPTH segments at most.
    """
    any_ = r"[^/\\\x00-\x1f]"
    # \x85 (next line) is white space to Python and to clean_file_path, but not to JSON Schema's
    # (ECMAScript) \s, so it is named.
    not_space = r"[^/\\\x00-\x1f\x85\s]"
    not_dot = r"[^/\\\x00-\x1f.]"
    neither = r"[^/\\\x00-\x1f\x85.\s]"
    only = rf"{neither}(?:{any_}*{not_space})?|\.{any_}+{not_space}|\.{neither}"
    first = rf"{neither}{any_}*|\.{not_dot}{any_}*|\.\.{any_}+"
    middle = rf"{not_dot}{any_}*|\.{not_dot}{any_}*|\.\.{any_}+"
    last = rf"{neither}|{not_dot}{any_}*{not_space}|\.{any_}+{not_space}|\.{neither}"
    return rf"^(?:{only}|(?:{first})(?:/(?:{middle})){{0,{MAX_PATH_DEPTH - 2}}}/(?:{last}))$"


FILE_PATH_PATTERN = file_path_pattern()
FILE_PATH_PATTERN_MESSAGE = (
    "A file path is relative, with '/' between folders, no empty, '.' or '..' segments, no backslash or "
    "control characters, no space at either end, and at most 16 levels."
)
