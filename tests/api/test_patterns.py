"""The schema's patterns say exactly what the hub's validators accept (schema patterns cannot use the
validators' look-arounds, so they are spelt differently and checked against them here)."""

from __future__ import annotations

from typing import Annotated

from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field, TypeAdapter

from candor.hub.validators import (
    FILE_PATH_PATTERN,
    MAX_PATH,
    NAME_PATTERN,
    clean_file_path,
    validate_model_name,
)


def matches(pattern: str, value: str) -> bool:
    """As the API decides: pydantic's own regex engine, not Python's."""
    try:
        TypeAdapter(Annotated[str, Field(pattern=pattern)]).validate_python(value)
    except ValueError:
        return False
    return True


def path_kept(value: str) -> bool:
    try:
        return clean_file_path(value) == value and len(value) <= MAX_PATH
    except ValidationError:
        return False


def name_valid(value: str) -> bool:
    try:
        validate_model_name(value)
    except ValidationError:
        return False
    return True


PATH_PIECES = ["a", "b.bin", ".", "..", "/", " ", "\\", "\x00", "\x1f", "\n", "\x85", "\u3000", "é", "-"]


@given(st.lists(st.sampled_from(PATH_PIECES), max_size=10).map("".join))
def test_the_file_path_pattern_is_clean_file_path(value: str) -> None:
    assert matches(FILE_PATH_PATTERN, value) == path_kept(value), repr(value)


def test_the_file_path_pattern_at_the_depth_limit() -> None:
    for depth in (15, 16, 17):
        value = "/".join(["d"] * depth)
        assert matches(FILE_PATH_PATTERN, value) == path_kept(value) == (depth <= 16)


@given(
    st.lists(st.sampled_from(["a", "Z", "9", ".", "-", "_", " ", "/", "é", "\n"]), max_size=8).map("".join)
)
def test_the_name_pattern_is_validate_model_name(value: str) -> None:
    assert matches(NAME_PATTERN, value) == name_valid(value), repr(value)
