"""The migration of clear model files into sealed blobs and first commits (hub 0004 and 0005).

The database is taken back to hub 0003, models and files are made the old way (historical models, the
bytes in clear under models/<storage key>/), and the migrations run forward as `candor migrate` runs
them. Then the same function runs again on a migrated database, and on one a crash left half-way.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState

from candor.core import objectstore
from candor.hub import blobs
from candor.hub.models import Blob, Commit, MLModel, ModelFile
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("hub", "0003_model_in_popular")
REVISIONS = "0004_revisions"
migration_module = importlib.import_module(f"candor.hub.migrations.{REVISIONS}")

# Distinctive bytes and paths: none may be left in clear anywhere in the media folder or the database.
FILES = {
    "alpha": {"config.json": b'{"qz-config": 1}', "weights/qz-model.bin": b"QZ-WEIGHTS " * 30_000},
    "beta": {"qz-readme.md": b"QZ-README", "copy/qz-readme.md": b"QZ-README"},  # the same bytes twice
}


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def executor() -> MigrationExecutor:
    found = MigrationExecutor(connection)
    found.loader.build_graph()
    return found


@pytest.fixture
def at_0003() -> Iterator[Any]:
    """The database at hub 0003 (the apps of that state), and back at the latest migrations after."""
    runner = executor()
    runner.migrate([BEFORE])
    try:
        yield executor().loader.project_state([BEFORE]).apps
    finally:
        runner = executor()
        runner.migrate(runner.loader.graph.leaf_nodes())


def old_files(apps: Any, users: dict[str, Any]) -> dict[int, dict[str, bytes]]:
    """Models with clear files, made as the code before revisions made them; {model id: {path: bytes}}."""
    OldModel = apps.get_model("hub", "MLModel")
    OldFile = apps.get_model("hub", "ModelFile")
    made: dict[int, dict[str, bytes]] = {}
    for name, files in FILES.items():
        model = OldModel.objects.create(owner_id=users["alice"].pk, name=name, title=name.title())
        for path, data in files.items():
            stored = default_storage.save(f"models/{model.storage_key}/{path}", ContentFile(data))
            OldFile.objects.create(
                model=model, path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest(), blob=stored
            )
        made[model.pk] = dict(files)
    # Another owner with bytes alice has too: a blob of their own (no sharing across owners).
    theirs = OldModel.objects.create(owner_id=users["bob"].pk, name="gamma", title="Gamma")
    data = FILES["beta"]["qz-readme.md"]
    stored = default_storage.save(f"models/{theirs.storage_key}/same.md", ContentFile(data))
    OldFile.objects.create(model=theirs, path="same.md", size=len(data), sha256="0" * 64, blob=stored)
    made[theirs.pk] = {"same.md": data}
    # A file whose clear copy was lost before the migration: its row goes, nothing else fails.
    lost = OldModel.objects.create(owner_id=users["alice"].pk, name="lost", title="Lost")
    OldFile.objects.create(model=lost, path="gone.bin", size=3, sha256="0" * 64, blob="models/x/gone.bin")
    made[lost.pk] = {}
    OldModel.objects.create(owner_id=users["alice"].pk, name="empty", title="Empty")  # no files: no commit
    return made


def assert_migrated(made: dict[int, dict[str, bytes]]) -> None:
    for model_id, files in made.items():
        model = MLModel.objects.get(pk=model_id)
        commits = list(Commit.objects.filter(model=model))
        assert len(commits) == 1 and model.head_id == commits[0].pk, model.name
        assert commits[0].message == migration_module.NOTE
        tree = {f.path: b"".join(blobs.read(f.blob)) for f in ModelFile.objects.filter(commit=commits[0])}
        assert tree == files, model.name
    assert not Commit.objects.filter(model__name="empty").exists()
    # Blobs: one per owner and bytes.
    for owner in {MLModel.objects.get(pk=pk).owner_id for pk in made}:
        addresses = list(Blob.objects.filter(owner_id=owner).values_list("address", flat=True))
        assert len(addresses) == len(set(addresses))
    alice_readme = [b for b in Blob.objects.all() if b.sha256 == hashlib.sha256(b"QZ-README").hexdigest()]
    assert len(alice_readme) == 2 and alice_readme[0].owner_id != alice_readme[1].owner_id
    # Paths are encrypted in the database; the blobs' hashes too.
    with connection.cursor() as cursor:
        cursor.execute("SELECT path FROM hub_modelfile")
        raw_paths = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT sha256 FROM hub_blob")
        raw_hashes = [row[0] for row in cursor.fetchall()]
    # Whole words of the paths (a short piece such as "qz" can occur in the base64 of any ciphertext).
    clear = ("qz-config", "qz-model", "qz-readme", "same.md", "weights/", "copy/")
    assert raw_paths and all(path.startswith("enc:v1:") for path in raw_paths)
    assert not any(word in path for path in raw_paths for word in clear)
    assert not any(len(value) == 64 and value.isalnum() for value in raw_hashes)


def test_clear_files_become_sealed_blobs_in_one_first_commit_per_model(at_0003: Any, media: Path) -> None:
    users = {"alice": make_user("alice"), "bob": make_user("bob")}
    made = old_files(at_0003, users)
    runner = executor()
    runner.migrate(runner.loader.graph.leaf_nodes())

    assert_migrated(made)
    # The clear copies are gone; no byte and no path of them is anywhere in the media folder.
    assert list(objectstore.names("models")) == []
    for path in media.rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            # Needles of 9 bytes or more: a shorter one turns up in random ciphertext (3 bytes did, in
            # about one run in 25, in a sealed file of a third of a megabyte).
            clear = [b"QZ-WEIGHTS", b"QZ-README", b'"qz-config"', b"qz-model.bin", b"qz-readme"]
            assert not [needle for needle in clear if needle in raw], path
    assert not any("qz" in str(path) for path in media.rglob("*"))

    # Run again on the migrated database: nothing is moved twice, nothing is added.
    counts = (Commit.objects.count(), Blob.objects.count(), ModelFile.objects.count())
    names = sorted(objectstore.names(blobs.FOLDER))
    migration_module.seal_existing(executor().loader.project_state().apps, None)
    assert (Commit.objects.count(), Blob.objects.count(), ModelFile.objects.count()) == counts
    assert sorted(objectstore.names(blobs.FOLDER)) == names
    assert_migrated(made)


def test_a_crash_half_way_leaves_whole_models_and_a_rerun_finishes(
    at_0003: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = {"alice": make_user("alice"), "bob": make_user("bob")}
    made = old_files(at_0003, users)
    # 0004's schema changes up to its data step, as `migrate` makes them.
    migration = executor().loader.get_migration("hub", REVISIONS)
    step = next(i for i, op in enumerate(migration.operations) if op.__class__.__name__ == "RunPython")
    state: ProjectState = executor().loader.project_state([BEFORE])
    with connection.schema_editor() as editor:
        for operation in migration.operations[:step]:
            after = state.clone()
            operation.state_forwards("hub", after)
            operation.database_forwards("hub", editor, state, after)
            state = after

    # The process dies while storing the second file of the first model with files.
    original, stored = objectstore.save_path, []

    def dies(path: Path, name: str) -> str:
        if len(stored) == 1:
            stored.append(original(path, name))  # stored, and then the process is gone
            raise KeyboardInterrupt
        stored.append(original(path, name))
        return stored[-1]

    monkeypatch.setattr(objectstore, "save_path", dies)
    with pytest.raises(KeyboardInterrupt):
        migration_module.seal_existing(state.apps, None)
    monkeypatch.setattr(objectstore, "save_path", original)
    # Nothing of that model was kept: no commit, no blob row; the two objects it stored are named by
    # no row, and the sweep will remove them once they are past the grace period.
    Half = state.apps.get_model("hub", "Commit")
    assert Half.objects.count() == 0 and state.apps.get_model("hub", "Blob").objects.count() == 0
    assert len(stored) == 2 and all(objectstore.exists(name) for name in stored)

    # The rerun (the migration run again) finishes every model, each in one commit.
    migration_module.seal_existing(state.apps, None)
    with connection.schema_editor() as editor:
        for operation in migration.operations[step + 1 :]:
            after = state.clone()
            operation.state_forwards("hub", after)
            operation.database_forwards("hub", editor, state, after)
            state = after
    MigrationRecorder(connection).record_applied("hub", REVISIONS)
    runner = executor()
    runner.migrate(runner.loader.graph.leaf_nodes())
    assert_migrated(made)
    later = max(objectstore.modified(name) for name in stored) + blobs.GRACE * 2
    assert sorted(blobs.orphans(now=later)) == sorted(stored)
