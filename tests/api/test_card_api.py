"""API v1 and the card: a card written through the API is a README.md commit; the answer shows the
card's fields, its problems to the owner only; the listing filters by language like the page."""

from __future__ import annotations

from candor.accounts.models import User
from candor.hub import blobs, revisions
from candor.hub.models import MLModel
from tests.api.conftest import Api, assert_error, publish

BAD = "---\nlicense: foo\nlanguage: [en, zz]\nbase_model: org/base\n---\n# Body\n"


def readme(model: MLModel) -> str:
    model.refresh_from_db()
    return b"".join(blobs.read(revisions.file_at(model, "README.md").blob)).decode()


def test_a_card_patched_in_is_a_readme_commit_and_its_problems_go_to_the_owner_only(
    owner: User, alice: Api, bob: Api, anonymous: Api
) -> None:
    model = publish(owner, "enc", license="MIT", task="translation")
    response = alice.patch("/models/alice/enc", {"card": BAD})
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["card"] == "# Body\n" and answer["files"] == 1
    assert answer["license"] == "other"  # the card's own licence is unknown: not used, and said
    assert answer["languages"] == ["en"] and answer["base_models"] == ["org/base"]
    assert "Unknown licence id 'foo' in README.md." in answer["card_problems"]
    assert any("'zz'" in problem for problem in answer["card_problems"])
    assert "license: foo" in readme(model)
    assert alice.get("/models/alice/enc").json()["card_problems"] == answer["card_problems"]
    for other in (bob, anonymous):
        seen = other.get("/models/alice/enc").json()
        assert seen["card_problems"] is None and seen["languages"] == ["en"]


def test_fields_patched_without_a_card_rewrite_the_front_matter(owner: User, alice: Api) -> None:
    model = publish(owner, "enc")
    alice.patch("/models/alice/enc", {"card": "---\ndatasets: [wiki]\n---\nText\n"})
    fields = {"license": "Apache-2.0", "task": "fill-mask", "tags": ["nlp"]}
    response = alice.patch("/models/alice/enc", fields)
    assert response.status_code == 200
    text = readme(model)
    assert "license: apache-2.0" in text and "pipeline_tag: fill-mask" in text and "- wiki" in text
    assert text.endswith("Text\n")
    answer = response.json()
    assert (answer["license"], answer["task"], answer["tags"], answer["datasets"]) == (
        "Apache-2.0",
        "fill-mask",
        ["nlp"],
        ["wiki"],
    )
    assert answer["card_problems"] == []


def test_a_patch_without_card_fields_commits_nothing(owner: User, alice: Api) -> None:
    model = publish(owner, "enc")
    assert alice.patch("/models/alice/enc", {"title": "New"}).status_code == 200
    assert model.commits.count() == 0


def test_the_listing_filters_by_language_and_the_card_licence(
    owner: User, alice: Api, anonymous: Api
) -> None:
    publish(owner, "german")
    publish(owner, "french")
    alice.patch("/models/alice/german", {"card": "---\nlanguage: [de, en]\nlicense: cc-by-4.0\n---\nx"})
    alice.patch("/models/alice/french", {"card": "---\nlanguage: fr\nlicense: openrail\n---\nx"})

    def names(**params: str) -> list[str]:
        response = anonymous.get("/models", **params)
        assert response.status_code == 200, response.content
        return sorted(item["full_name"] for item in response.json()["items"])

    assert names(language="de") == ["alice/german"]
    assert names(language="fr") == ["alice/french"]
    assert names(language="it") == []
    assert names(license="openrail") == ["alice/french"]
    assert names(license="CC-BY-4.0", language="en") == ["alice/german"]
    item = anonymous.get("/models", language="fr").json()["items"][0]
    assert item["languages"] == ["fr"] and item["license"] == "openrail" and item["card_problems"] is None
    assert_error(anonymous.get("/models", language="not a code"), 422)
