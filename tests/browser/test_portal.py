from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect


def test_interactive_api_reference_renders_from_candor_alone(page: Page, site: Any) -> None:
    requested: list[str] = []
    violations: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on(
        "console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    page.goto(site.url + "/developers/api/")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=15_000)
    expect(page.get_by_text("/api/v1/models/{owner}/{name}").first).to_be_visible()
    assert all(url.startswith(site.url) for url in requested), requested
    assert not violations, violations
