"""Path safety, model names and tags: pure functions, checked without a database or a file."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError

from candor.hub.validators import (
    FILE_PATH_PATTERN,
    MAX_PATH,
    MAX_PATH_DEPTH,
    MAX_TAGS,
    clean_file_path,
    parse_tags,
    validate_model_name,
)


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("weights.bin", "weights.bin"),
        ("  config.json ", "config.json"),
        ("weights/model.safetensors", "weights/model.safetensors"),
        (".gitattributes", ".gitattributes"),
        ("a/..b/c", "a/..b/c"),
        ("/".join(["d"] * MAX_PATH_DEPTH), "/".join(["d"] * MAX_PATH_DEPTH)),
    ],
)
def test_paths_inside_a_model_are_kept(raw: str, kept: str) -> None:
    assert clean_file_path(raw) == kept


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "/etc/passwd",
        "../escape",
        "a/../../b",
        "a/./b",
        "a//b",
        "a/",
        "..",
        ".",
        "dir\\file",
        "nul\x00byte",
        "tab\tinside",
        "x" * (MAX_PATH + 1),
        "/".join(["d"] * (MAX_PATH_DEPTH + 1)),
    ],
)
def test_paths_that_could_leave_the_model_or_hide_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError) as refused:
        clean_file_path(raw)
    assert refused.value.code == "invalid_path"


def test_the_pattern_agrees_on_a_few_paths() -> None:
    # The thorough comparison is tests/api/test_patterns.py (hypothesis); these are the landmarks.
    pattern = re.compile(FILE_PATH_PATTERN)
    assert pattern.match("weights/model.bin") and pattern.match(".env")
    assert not pattern.match("../x") and not pattern.match("a//b") and not pattern.match(" lead")


@pytest.mark.parametrize("name", ["m", "bert-base", "gpt2.int8", "A_1", "x" * 100])
def test_model_names_that_fit_an_address(name: str) -> None:
    validate_model_name(name)


@pytest.mark.parametrize("name", ["", "-lead", "trail.", "a..b", "with space", "x" * 101, "new/line"])
def test_model_names_that_do_not(name: str) -> None:
    with pytest.raises(ValidationError):
        validate_model_name(name)


def test_tags_are_lowered_deduplicated_and_checked() -> None:
    assert parse_tags(" Vision, resnet ,vision,, INT8") == ["vision", "resnet", "int8"]
    assert parse_tags(["a", "A", "b-c"]) == ["a", "b-c"]
    with pytest.raises(ValidationError) as refused:
        parse_tags("good, not good")
    assert refused.value.code == "invalid_tag"
    with pytest.raises(ValidationError) as too_many:
        parse_tags([f"t{i}" for i in range(MAX_TAGS + 1)])
    assert too_many.value.code == "too_many_tags"
    assert len(parse_tags([f"t{i}" for i in range(MAX_TAGS)])) == MAX_TAGS
