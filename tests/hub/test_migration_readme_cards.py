"""The migration that makes existing cards README.md commits (hub 0010).

The database is taken back to hub 0009 (whose schema is today's), models are made as the code before
it made them (a card field, no README.md), and the migration runs forward as `candor migrate` runs it;
then its function runs again on the migrated database and changes nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from candor.accounts.models import User
from candor.hub import actions, blobs, revisions
from candor.hub.models import Blob, Commit, MLModel, ModelFile, PublicModel
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("hub", "0011_card_fields")
migration_module = importlib.import_module("candor.hub.migrations.0012_readme_cards")


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def executor() -> MigrationExecutor:
    found = MigrationExecutor(connection)
    found.loader.build_graph()
    return found


@pytest.fixture
def at_0009() -> Iterator[None]:
    runner = executor()
    runner.migrate([BEFORE])
    try:
        yield
    finally:
        runner = executor()
        runner.migrate(runner.loader.graph.leaf_nodes())


def legacy(owner: User, name: str, card: str, **fields: Any) -> MLModel:
    """A model as made before README.md was the card: its card a field of its own."""
    return actions.create_model(acting_user=owner, name=name, title=name.title(), card=card, **fields)


def readme(model: MLModel) -> str:
    model.refresh_from_db()
    return b"".join(blobs.read(revisions.file_at(model, "README.md").blob)).decode()


def test_cards_become_readme_commits_once(at_0009: None, media: Path) -> None:
    alice = make_user("alice")
    fields = {"license": "MIT", "task": "translation", "tags": ["nlp"], "visibility": "public"}
    plain = legacy(alice, "plain", "# Plain\n\nWords.", **fields)
    actions.add_file(plain, "config.json", [b"{}"], acting_user=alice)
    empty = legacy(alice, "empty", "", license="MIT")
    own = legacy(alice, "own", "")
    actions.add_file(own, "README.md", [b"# Its own README"], acting_user=alice)
    pasted = legacy(alice, "pasted", "---\nlicense: openrail\nlanguage: fr\n---\n# Pasted", license="MIT")
    broken = legacy(alice, "broken", "---\nlicense: [x\n---\nBody", license="MIT")
    before_plain = Commit.objects.get(model=plain)

    runner = executor()
    runner.migrate(runner.loader.graph.leaf_nodes())

    plain.refresh_from_db()
    text = readme(plain)
    assert text.startswith("---\n") and "license: mit\n" in text and "pipeline_tag: translation\n" in text
    assert "- nlp" in text and text.endswith("# Plain\n\nWords.")
    made = Commit.objects.get(pk=plain.head_id)
    assert made.parent_id == before_plain.pk and made.message == migration_module.MESSAGE
    assert sorted(f.path for f in revisions.tree(made)) == ["README.md", "config.json"]
    assert (plain.license, plain.task, plain.tag_names) == ("MIT", "translation", ["nlp"])
    assert plain.card == "# Plain\n\nWords."
    public = PublicModel.objects.get(pk=plain.pk)
    assert public.card == "# Plain\n\nWords." and public.files == 2 and public.license == "MIT"

    assert not Commit.objects.filter(model=empty).exists()
    assert Commit.objects.filter(model=own).count() == 1 and readme(own) == "# Its own README"

    pasted.refresh_from_db()
    assert "license: openrail" in readme(pasted) and readme(pasted).count("---\n") == 2
    assert pasted.license == "openrail" and pasted.languages == ["fr"] and pasted.card == "# Pasted"

    broken.refresh_from_db()
    assert readme(broken) == "---\nlicense: [x\n---\nBody"
    assert broken.card_problems and "not valid YAML" in broken.card_problems[0]

    # The README's bytes are sealed like every upload: not in clear in any stored object.
    stored = [path for path in media.rglob("*") if path.is_file()]
    assert stored
    for path in stored:
        assert b"Words." not in path.read_bytes(), path

    counts = (Commit.objects.count(), Blob.objects.count(), ModelFile.objects.count())
    migration_module.readme_cards(executor().loader.project_state().apps, None)
    assert (Commit.objects.count(), Blob.objects.count(), ModelFile.objects.count()) == counts
