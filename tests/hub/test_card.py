"""README.md read as a card (candor.hub.card): pure, no database, no file."""

from __future__ import annotations

import pytest

from candor.hub import card
from candor.hub.choices import LIBRARIES, LICENSES, TASKS

HF_README = """---
license: apache-2.0
language:
- en
- fra
library_name: transformers
pipeline_tag: text-generation
tags:
- llm
- Text-Generation-Inference
datasets:
- wikitext
base_model: meta-llama/Llama-3.1-8B
model-index:
- name: tiny
---

# Tiny

A small model.
"""


def fields(problems: tuple[card.Problem, ...]) -> list[str]:
    return [problem.field for problem in problems]


def test_a_hugging_face_readme_gives_every_field_and_its_body() -> None:
    found = card.parse(HF_README)
    assert found.problems == ()
    assert found.license == "Apache-2.0"  # the Hub's spelling of an SPDX id Candor already had
    assert found.library == "transformers" and found.task == "text-generation"
    assert found.tags == ("llm", "text-generation-inference")
    assert found.languages == ("en", "fra")
    assert found.datasets == ("wikitext",)
    assert found.base_models == ("meta-llama/Llama-3.1-8B",)
    assert found.body == "# Tiny\n\nA small model.\n"
    assert "license" not in found.body and "---" not in found.body
    assert found.data["model-index"] == [{"name": "tiny"}]  # unknown keys kept for cardData


def test_a_readme_without_front_matter_is_all_body_and_no_problem() -> None:
    found = card.parse("# Title\n\n---\n\nText after a rule.\n")
    assert found.body.startswith("# Title") and found.data == {} and found.problems == ()
    assert found.license is None and found.tags == ()


def test_the_hub_licence_list_and_its_pipeline_tags_and_libraries_are_known() -> None:
    licences = {value for value, _ in LICENSES}
    assert {"openrail", "llama3", "llama3.1", "cc-by-nc-sa-4.0", "bigscience-openrail-m", "other"} <= licences
    assert {"diffusers", "sentence-transformers", "timm", "peft", "gguf"} <= {v for v, _ in LIBRARIES}
    assert {"image-text-to-text", "zero-shot-classification"} <= {v for v, _ in TASKS}
    assert card.parse("---\nlicense: openrail\n---\n").license == "openrail"
    assert card.parse("---\nlicense: MIT\n---\n").license == "MIT"  # any case
    assert card.parse("---\nlicense: gpl-3.0\n---\n").license == "GPL-3.0-only"


@pytest.mark.parametrize(
    ("front", "field", "words"),
    [
        ("license: foo", "license", "Unknown licence id 'foo' in README.md"),
        ("license: [mit]", "license", "license in README.md must be a string"),
        ("pipeline_tag: dancing", "pipeline_tag", "Unknown task (pipeline_tag) 'dancing'"),
        ("library_name: numpy-ish", "library_name", "Unknown library 'numpy-ish'"),
        ("tags: nlp", "tags", "tags in README.md must be a list of strings"),
        ("tags: [nlp, 'bad tag!']", "tags", "Tag 'bad tag!' is not valid"),
        ("language: [en, zz]", "language", "Unknown language code 'zz'"),
        ("language: 42", "language", "language in README.md must be a string or a list of strings"),
        ("datasets: wikitext", "datasets", "datasets in README.md must be a list of strings"),
        ("base_model: not-an-id", "base_model", "'not-an-id' in README.md is not an owner/name id"),
        ("base_model: ['a/b', '../etc']", "base_model", "'../etc'"),
    ],
)
def test_a_bad_value_is_a_problem_never_kept_nor_silently_dropped(front: str, field: str, words: str) -> None:
    found = card.parse(f"---\n{front}\n---\nBody\n")
    assert fields(found.problems) == [field], found.problems
    assert words in found.problems[0].message
    assert found.body == "Body\n"


def test_good_values_survive_a_bad_one_beside_them() -> None:
    front = "tags: [nlp, 'Bad Tag', vision]\nlanguage: [en, zz, de]\nbase_model: [a/b, c]"
    found = card.parse(f"---\n{front}\n---\n")
    assert found.tags == ("nlp", "vision")
    assert found.languages == ("en", "de")
    assert found.base_models == ("a/b",)
    assert fields(found.problems) == ["tags", "language", "base_model"]


def test_a_single_language_or_base_model_may_be_a_string() -> None:
    found = card.parse("---\nlanguage: pt-BR\nbase_model: org/base\n---\n")
    assert found.languages == ("pt-BR",) and found.base_models == ("org/base",) and not found.problems


@pytest.mark.parametrize(
    "front",
    [
        "!!python/object/apply:os.system ['true']",
        "a: !!python/object:builtins.dict {}",
        "a: !!python/name:os.system",
    ],
)
def test_yaml_that_would_build_python_objects_is_refused(front: str) -> None:
    found = card.parse(f"---\n{front}\n---\nBody\n")
    assert fields(found.problems) == ["README.md"]
    assert "not valid YAML" in found.problems[0].message
    assert found.data == {} and found.body == "Body\n"


def test_an_alias_bomb_is_refused_before_it_is_expanded() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, 10):
        lines.append(f"{chr(97 + n)}: &{chr(97 + n)} [{','.join(['*' + chr(96 + n)] * 9)}]")
    found = card.parse("---\n" + "\n".join(lines) + "\n---\n")
    assert fields(found.problems) == ["README.md"]
    assert "aliases" in found.problems[0].message and found.data == {}


def test_a_huge_or_deep_front_matter_is_a_problem_not_a_crash() -> None:
    huge = card.parse("---\n" + "k: v\n" * 10_000 + "---\n")
    assert "longer than" in huge.problems[0].message
    deep = card.parse("---\na: " + "[" * 5000 + "]" * 5000 + "\n---\n")
    assert fields(deep.problems) == ["README.md"]
    nested = card.parse("---\na: " + "[" * 30 + "]" * 30 + "\n---\n")
    assert fields(nested.problems) == ["README.md"] and "nested too deeply" in nested.problems[0].message
    whole = card.parse("x" * (card.MAX_README + 1))
    assert whole.body == "" and "longer than" in whole.problems[0].message


@pytest.mark.parametrize("front", ["- a\n- b", "just a string", "42", "a: [1, 2"])
def test_front_matter_that_is_not_a_mapping_or_not_yaml_is_a_problem(front: str) -> None:
    found = card.parse(f"---\n{front}\n---\nBody\n")
    assert fields(found.problems) == ["README.md"] and found.body == "Body\n"


def test_an_unclosed_front_matter_is_a_problem_and_the_text_stays_the_body() -> None:
    found = card.parse("---\nlicense: mit\n\n# Title\n")
    assert fields(found.problems) == ["README.md"] and "never closes" in found.problems[0].message
    assert found.license is None


def test_bytes_that_are_not_utf8_are_a_problem() -> None:
    found = card.decode(b"---\nlicense: mit\n---\n\xff\xfe")
    assert fields(found.problems) == ["README.md"] and found.body == ""


def test_dates_become_strings_in_the_raw_mapping_and_binary_is_refused() -> None:
    assert card.parse("---\nreleased: 2024-05-01\n---\n").data == {"released": "2024-05-01"}
    binary = card.parse("---\nblob: !!binary aGVsbG8=\n---\n")
    assert fields(binary.problems) == ["README.md"]


def test_render_writes_the_fields_and_keeps_other_keys_and_the_body() -> None:
    previous = card.parse(HF_README)
    text = card.render(
        "# New body\n", previous=previous.data, license="MIT", library="diffusers", task="other", tags=["a"]
    )
    again = card.parse(text)
    assert again.problems == ()
    assert again.license == "MIT" and again.data["license"] == "mit"  # written as the Hub spells it
    assert again.library == "diffusers" and again.task is None  # "other" removes pipeline_tag
    assert again.tags == ("a",) and again.languages == ("en", "fra")
    assert again.data["model-index"] == [{"name": "tiny"}]
    assert again.body == "# New body\n"


def test_render_with_nothing_to_say_is_the_body_alone() -> None:
    assert card.render("Just text", previous={}, library="other", task="other", tags=[]) == "Just text"
    assert card.parse(card.render("", license="other")).license == "other"


def test_blocking_problems_are_the_unreadable_front_matter_and_unknown_licences() -> None:
    problems = card.parse("---\nlicense: foo\ntags: [Bad!]\n---\n").problems
    assert [p.blocking for p in problems] == [True, False]
    assert card.parse("---\n[\n---\n").problems[0].blocking
