"""README.md on main is the card: commits set the card fields, the page shows them, edits commit it."""

from __future__ import annotations

import pytest
from django.test import Client

from candor.accounts.models import User
from candor.hub import actions, blobs, revisions
from candor.hub.models import MLModel, PublicModel
from candor.kernel.refusal import Refusal

pytestmark = pytest.mark.django_db

README = """---
license: apache-2.0
pipeline_tag: text-classification
library_name: sentence-transformers
tags: [nlp, embeddings]
language: [en, de]
datasets: [wikitext, org/corpus]
base_model: org/base-model
---

# Sentence encoder

Encodes **sentences**.
"""

BAD = """---
license: foo
pipeline_tag: text-classification
tags: [nlp, 'Not OK!']
language: [en, zz]
---

Body with a bad front-matter.
"""


def put(model: MLModel, owner: User, path: str, text: str) -> None:
    blob = blobs.store(owner.pk, [text.encode()], limit=1 << 20)
    revisions.commit(model, [revisions.Put(path, blob)], acting_user=owner)


def fresh(model: MLModel) -> MLModel:
    return MLModel.objects.get(pk=model.pk)


def readme_on_main(model: MLModel) -> str:
    found = revisions.file_at(model, "README.md")
    return b"".join(blobs.read(found.blob)).decode()


@pytest.fixture
def model(owner: User) -> MLModel:
    return actions.create_model(acting_user=owner, name="enc", title="Encoder", visibility="public")


def test_committing_readme_sets_every_card_field_and_the_projection(owner: User, model: MLModel) -> None:
    put(model, owner, "README.md", README)
    found = fresh(model)
    assert (found.license, found.task, found.library) == (
        "Apache-2.0",
        "text-classification",
        "sentence-transformers",
    )
    assert found.tag_names == ["nlp", "embeddings"]
    assert found.languages == ["en", "de"] and found.datasets == ["wikitext", "org/corpus"]
    assert found.base_models == ["org/base-model"] and found.card_problems == []
    assert found.card.startswith("# Sentence encoder") and "license:" not in found.card
    assert found.card_data["license"] == "apache-2.0"
    public = PublicModel.objects.get(pk=model.pk)
    assert public.license == "Apache-2.0" and public.languages == " de en "
    assert public.tags == " embeddings nlp "
    assert public.card.startswith("# Sentence encoder")


def test_a_commit_that_leaves_readme_alone_changes_no_card_field(owner: User, model: MLModel) -> None:
    actions.update_model(model, acting_user=owner, license="MIT", task="translation")  # no README yet
    put(model, owner, "config.json", "{}")
    assert (fresh(model).license, fresh(model).task) == ("MIT", "translation")
    put(model, owner, "README.md", README)
    put(model, owner, "weights.bin", "w")
    assert fresh(model).license == "Apache-2.0"


def test_removing_readme_clears_the_card(owner: User, model: MLModel) -> None:
    put(model, owner, "README.md", README)
    revisions.commit(model, [revisions.Delete("README.md")], acting_user=owner)
    found = fresh(model)
    assert (found.card, found.license, found.task, found.library) == ("", "other", "other", "other")
    assert found.tags == [] and found.languages == [] and found.datasets == [] and found.base_models == []
    assert PublicModel.objects.get(pk=model.pk).languages == ""


def test_removing_readme_from_history_clears_the_card(owner: User, model: MLModel) -> None:
    put(model, owner, "README.md", README)
    revisions.purge_path(model, "README.md", acting_user=owner)
    assert fresh(model).license == "other" and fresh(model).card == ""


def test_renaming_readme_away_clears_the_card(owner: User, model: MLModel) -> None:
    put(model, owner, "README.md", README)
    revisions.commit(model, [revisions.Rename("README.md", "docs/README.md")], acting_user=owner)
    assert fresh(model).license == "other"


def test_bad_values_are_problems_kept_for_the_owner_and_good_ones_stand(owner: User, model: MLModel) -> None:
    put(model, owner, "README.md", BAD)
    found = fresh(model)
    assert found.license == "other" and found.task == "text-classification"
    assert found.tag_names == ["nlp"] and found.languages == ["en"]
    messages = found.card_problems
    assert "Unknown licence id 'foo' in README.md." in messages
    assert any("'not ok!'" in m for m in messages) and any("'zz'" in m for m in messages)
    # In the order of the front-matter's keys.
    assert messages[0].startswith("Unknown licence id") and messages[2].startswith("Unknown language code")


def test_the_page_renders_the_body_never_the_yaml(owner: User, model: MLModel) -> None:
    put(model, owner, "README.md", README)
    page = Client().get("/alice/enc/").content.decode()
    assert "<strong>sentences</strong>" in page
    assert "pipeline_tag" not in page and "base_model:" not in page and "---" not in page
    for shown in ("Apache License 2.0", "Text classification", "sentence-transformers", "org/base-model"):
        assert shown in page
    assert "wikitext" in page and "<code>de</code>" in page
    assert "No model card yet" not in page


def test_problems_are_shown_to_the_owner_only(owner: User, member: User, model: MLModel) -> None:
    put(model, owner, "README.md", BAD)
    mine = Client()
    mine.force_login(owner)
    owner_page = mine.get("/alice/enc/").content.decode()
    assert "Problems in README.md" in owner_page
    assert "Unknown licence id &#x27;foo&#x27; in README.md." in owner_page
    theirs = Client()
    theirs.force_login(member)
    for page in (theirs.get("/alice/enc/").content.decode(), Client().get("/alice/enc/").content.decode()):
        assert "Problems in README.md" not in page and "'foo'" not in page
        assert "Body with a bad front-matter." in page


def test_editing_the_card_on_the_website_commits_readme(owner: User, model: MLModel) -> None:
    put(model, owner, "README.md", README)
    client = Client()
    client.force_login(owner)
    heads = model.commits.count()
    form = {
        "title": "Encoder",
        "summary": "",
        "tags": "nlp, search",
        "license": "MIT",
        "library": "sentence-transformers",
        "task": "feature-extraction",
        "card": "# Edited\n\nNew words.",
        "in_popular": "on",
    }
    response = client.post("/alice/enc/edit/", form)
    assert response.status_code == 302, response.content[:2000]
    assert model.commits.count() == heads + 1
    text = readme_on_main(fresh(model))
    assert text.startswith("---\n") and "license: mit\n" in text
    assert "pipeline_tag: feature-extraction" in text
    assert "# Edited\n\nNew words." in text
    assert "base_model: org/base-model" in text and "- de" in text  # keys the form has no field for stay
    found = fresh(model)
    assert found.license == "MIT" and found.task == "feature-extraction"
    assert found.tag_names == ["nlp", "search"]
    assert found.card == "# Edited\n\nNew words." and found.base_models == ["org/base-model"]
    # The edit page shows the body, never the front-matter, in the card field.
    edit_page = client.get("/alice/enc/edit/").content.decode()
    assert "# Edited" in edit_page and "base_model" not in edit_page


def test_editing_only_the_title_of_a_model_without_readme_commits_nothing(
    owner: User, model: MLModel
) -> None:
    unchanged = {"license": "other", "library": "other", "task": "other"}
    actions.edit_model(model, acting_user=owner, title="Renamed", **unchanged)
    assert model.commits.count() == 0 and fresh(model).title == "Renamed"
    actions.edit_model(model, acting_user=owner, license="MIT")
    assert "license: mit" in readme_on_main(fresh(model)) and fresh(model).license == "MIT"


def test_a_card_pasted_with_front_matter_keeps_it(owner: User, model: MLModel) -> None:
    actions.edit_model(model, acting_user=owner, card=README, license="other", task="other")
    found = fresh(model)
    assert found.license == "Apache-2.0" and found.task == "text-classification"
    assert found.card.startswith("# Sentence encoder")
    assert readme_on_main(fresh(model)).count("---\n") == 2


def test_a_pasted_front_matter_that_is_not_yaml_is_refused_and_nothing_is_stored(
    owner: User, model: MLModel
) -> None:
    with pytest.raises(Refusal) as refused:
        actions.edit_model(model, acting_user=owner, card="---\nlicense: [mit\n---\nx")
    assert "not valid YAML" in refused.value.fields["card"][0]
    assert model.commits.count() == 0


def test_filters_by_licence_task_library_and_language(owner: User, model: MLModel) -> None:
    put(model, owner, "README.md", README)
    other = actions.create_model(acting_user=owner, name="other", title="Other", visibility="public")
    put(other, owner, "README.md", "---\nlicense: mit\nlanguage: fr\n---\nx")
    client = Client()

    def names(**params: str) -> list[str]:
        page = client.get("/models/", params).content.decode()
        return [n for n in ("enc", "other") if f">alice/{n}</a>" in page]

    assert names() == ["enc", "other"]
    assert names(language="de") == ["enc"]
    assert names(language="fr") == ["other"]
    assert names(language="e") == []  # a code, not a part of one
    assert names(license="MIT") == ["other"]
    assert names(task="text-classification") == ["enc"]
    assert names(library="sentence-transformers") == ["enc"]
    assert names(license="Apache-2.0", language="fr") == []


def test_an_edit_that_leaves_the_card_fields_as_they_are_commits_nothing(owner: User, model: MLModel) -> None:
    put(model, owner, "README.md", BAD)
    heads = model.commits.count()
    current = fresh(model)
    actions.edit_model(
        current,
        acting_user=owner,
        title="Renamed",
        card=current.card,
        license=current.license,
        library=current.library,
        task=current.task,
        tags=", ".join(current.tag_names),
    )
    assert model.commits.count() == heads and fresh(model).title == "Renamed"
    assert "license: foo" in readme_on_main(fresh(model))  # the README stays as its owner wrote it


def test_an_edit_begun_before_a_push_changed_readme_is_refused(owner: User, model: MLModel) -> None:
    put(model, owner, "README.md", README)
    editing = fresh(model)  # the edit page was opened here
    put(model, owner, "README.md", BAD)  # a push meanwhile
    with pytest.raises(Refusal) as refused:
        actions.edit_model(editing, acting_user=owner, card="# Mine", license="MIT")
    assert refused.value.code.name == "CONFLICT"
    assert "license: foo" in readme_on_main(fresh(model))


def test_a_model_created_with_a_front_matter_that_is_not_yaml_is_not_created(owner: User) -> None:
    with pytest.raises(Refusal):
        actions.create_model_with_card(acting_user=owner, name="nope", card="---\n[\n---\nx")
    assert not MLModel.objects.named(owner, "nope").exists()


def test_saving_an_edit_page_opened_before_a_push_changed_readme_is_refused(
    owner: User, model: MLModel
) -> None:
    put(model, owner, "README.md", README)
    client = Client()
    client.force_login(owner)
    page = client.get("/alice/enc/edit/").content.decode()
    opened = fresh(model).head
    assert opened is not None and f'name="parent" value="{opened.oid}"' in page
    put(model, owner, "README.md", BAD)  # a push while the page is open
    form = {"title": "Encoder", "license": "MIT", "library": "other", "task": "other", "card": "# Mine"}
    response = client.post("/alice/enc/edit/", {**form, "parent": opened.oid})
    assert response.status_code == 400 and "The model changed since the revision" in response.content.decode()
    assert "license: foo" in readme_on_main(fresh(model))
    # Reopened on the new head, the same save goes through.
    head = fresh(model).head
    assert head is not None
    assert client.post("/alice/enc/edit/", {**form, "parent": head.oid}).status_code == 302
    assert fresh(model).card == "# Mine" and fresh(model).license == "MIT"
