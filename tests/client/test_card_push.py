"""``candor push`` of a folder made the Hugging Face way: its README.md is the model's card."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from pytest_django.live_server_helper import LiveServer

from candor.accounts.models import User
from candor.hub.models import MLModel
from tests.test_client import client, new_token

e2e = pytest.mark.django_db(transaction=True)

README = b"""---
license: apache-2.0
tags:
- text-classification
- tiny
pipeline_tag: text-classification
library_name: transformers
language: en
---

# Tiny classifier

A *very* small model, pushed with candor push.
"""


@pytest.fixture
def site(live_server: LiveServer, settings: object, tmp_path: Path) -> LiveServer:
    settings.MEDIA_ROOT = tmp_path / "media"  # type: ignore[attr-defined]
    return live_server


@e2e
def test_a_pushed_hugging_face_folder_shows_its_card_licence_and_task(
    site: LiveServer, owner: User, tmp_path: Path
) -> None:
    source = tmp_path / "tiny"
    source.mkdir()
    (source / "README.md").write_bytes(README)
    (source / "config.json").write_bytes(b'{"architectures": ["BertForSequenceClassification"]}')
    (source / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + bytes(64))
    pushed = client(["push", str(source), "alice/tiny"], tmp_path, server=site.url, token=new_token(owner))
    assert pushed.returncode == 0, pushed.stderr

    model = MLModel.objects.named(owner, "tiny").get()
    assert (model.license, model.task, model.library) == ("Apache-2.0", "text-classification", "transformers")
    assert model.tag_names == ["text-classification", "tiny"] and model.languages == ["en"]
    browser = Client()
    browser.force_login(owner)
    page = browser.get("/alice/tiny/").content.decode()
    assert "<em>very</em> small model" in page
    assert "No model card yet" not in page and "pipeline_tag" not in page
    assert "Apache License 2.0" in page and "Text classification" in page and "Licence: other" not in page
    assert "Problems in README.md" not in page
