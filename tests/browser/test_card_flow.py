"""A model page whose card is its README.md, in a browser at a desktop's width and a phone's: the
Markdown body is shown (never the YAML), the card's fields sit under the title, the owner sees the
card's problems, and nothing runs off the side of the page. Screenshots go to CANDOR_SCREENSHOTS (a
folder) when it is set, for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from candor.accounts.models import User
from candor.hub import actions
from tests.browser.test_history_flow import no_sideways_scroll
from tests.browser.test_hub_flow import log_in

README = b"""---
license: llama3.1
pipeline_tag: text-generation
library_name: transformers
tags: [llm, chat, 'Not A Tag']
language: [en, de, fr, es, it, pt-BR]
datasets: [HuggingFaceFW/fineweb-edu, open-web-math/open-web-math]
base_model: meta-llama/Llama-3.1-8B-Instruct-with-a-rather-long-name
---

# Tiny chat

A small chat model, fine-tuned from a larger one.

| Benchmark | Score |
|---|---|
| MMLU | 41.2 |
"""


def shot(page: Page, tmp_path: Path, name: str) -> None:
    folder = Path(os.environ.get("CANDOR_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_the_card_page_for_visitors_and_the_owner(
    page: Page, site: Any, owner: User, settings: Any, tmp_path: Path, width: int
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    page.set_viewport_size({"width": width, "height": 900})
    model = actions.create_model(acting_user=owner, name="tiny-chat", title="Tiny chat", visibility="public")
    actions.add_file(model, "README.md", [README], acting_user=owner)

    page.goto(f"{site.url}/alice/tiny-chat/")
    card = page.locator("article.card")
    expect(card.get_by_role("heading", name="Tiny chat")).to_be_visible()
    expect(card.locator("table")).to_be_visible()
    assert "pipeline_tag" not in card.inner_text() and "---" not in card.inner_text()
    fields = page.locator(".card-fields")
    expect(fields.get_by_text("Llama 3.1 Community License")).to_be_visible()
    expect(fields.get_by_text("Text generation")).to_be_visible()
    expect(fields.get_by_text("pt-BR")).to_be_visible()
    expect(page.get_by_text("Problems in README.md")).to_have_count(0)
    shot(page, tmp_path, f"card-visitor-{width}.png")
    no_sideways_scroll(page)

    log_in(page, site)
    page.goto(f"{site.url}/alice/tiny-chat/")
    expect(page.get_by_role("heading", name="Problems in README.md")).to_be_visible()
    expect(page.get_by_text("Tag 'not a tag' is not valid")).to_be_visible()
    shot(page, tmp_path, f"card-owner-{width}.png")
    no_sideways_scroll(page)
