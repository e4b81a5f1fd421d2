"""Model-card URLs judged as a browser reads them (WHATWG URL rules), not as strings.

Each card's images are resolved here by ada against a model page, as Chromium would resolve them, and
must stay on the site; links keep another site when asked, but never another scheme.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from ada_url import URL
from django.conf import settings

from candor.core.markdown import render_card

PAGE = "/alice/tiny-bert/"


class _Urls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href"):
                self.found.append((tag, name, value))


def urls(html: str) -> list[tuple[str, str, str | None]]:
    parser = _Urls()
    parser.feed(html)
    return parser.found


def site_origin() -> str:
    return str(URL(settings.WEBSITE_URL).origin)


def as_browser(value: str) -> URL:
    return URL(value, base=settings.WEBSITE_URL.rstrip("/") + PAGE)


OFF_SITE_IMAGES = [
    '<img src="/\\evil.example/x.png">',
    '<img src="/&#9;/evil.example/y.png">',
    '<img src="/&#10;/evil.example/y.png">',
    '<img src="/&#13;/evil.example/y.png">',
    '<img src="\\\\evil.example/x.png">',
    '<img src="\\/evil.example/x.png">',
    '<img src="//evil.example/x.png">',
    '<img src=" //evil.example/x.png">',
    '<img src="&#0;//evil.example/x.png">',
    '<img src="https://evil.example/x.png">',
    '<img src="HTTPS://evil.example/x.png">',
    '<img src="https:evil.example/x.png">',
    '<img src="http://127.0.0.1:8000@evil.example/x.png">',
    '<img src="http://evil.example#@127.0.0.1:8000/x.png">',
    '<img src="javascript:alert(1)">',
    '<img src="java&#9;script:alert(1)">',
    '<img src="data:image/svg+xml,&lt;svg/&gt;">',
    '<img src="blob:https://evil.example/x">',
    "![x](/\\evil.example/md.png)",
    "![x](<//evil.example/md.png>)",
]


@pytest.mark.parametrize("card", OFF_SITE_IMAGES)
def test_images_that_a_browser_would_fetch_elsewhere_are_dropped(card: str) -> None:
    html = render_card(card)
    for tag, _name, value in urls(html):
        if tag == "img":
            assert value is not None, (card, html)
            resolved = as_browser(value)
            assert resolved.origin == site_origin() and not resolved.username, (card, html)


@pytest.mark.parametrize(
    ("card", "src"),
    [
        ('<img src="/alice/tiny-bert/files/chart.png">', "/alice/tiny-bert/files/chart.png"),
        ("![c](/alice/tiny-bert/files/chart.png)", "/alice/tiny-bert/files/chart.png"),
        # Percent-encoding is kept as it is: %2F is a character of a segment, not a separator.
        ('<img src="/a/%2F%2Fevil.example/x.png">', "/a/%2F%2Fevil.example/x.png"),
        ('<img src="/%2e%2e/files/x.png">', "/files/x.png"),
        ('<img src="/x.png?size=2#top">', "/x.png?size=2#top"),
        ('<img src=" /x.png ">', "/x.png"),
        ('<img src="/a b.png">', "/a%20b.png"),
        # The site's own address, written out in full, is the site.
        (f'<img src="{settings.WEBSITE_URL}/x.png">', "/x.png"),
    ],
)
def test_images_on_the_site_are_kept_as_the_path_the_browser_loads(card: str, src: str) -> None:
    found = [(tag, value) for tag, name, value in urls(render_card(card)) if tag == "img"]
    assert found == [("img", src)]
    assert as_browser(src).origin == site_origin()


@pytest.mark.parametrize("src", ["chart.png", "files/chart.png", "?q=1", "#top", "./x.png"])
def test_an_image_relative_to_the_page_is_dropped(src: str) -> None:
    # Its meaning would change with the page the card is shown on: only absolute paths, as before.
    assert urls(render_card(f'<img src="{src}">')) == []


@pytest.mark.parametrize(
    "card",
    [
        '<a href="java&#9;script:alert(1)">x</a>',
        '<a href="java&#10;script:alert(1)">x</a>',
        '<a href=" javascript:alert(1)">x</a>',
        '<a href="&#1;javascript:alert(1)">x</a>',
        '<a href="JAVASCRIPT:alert(1)">x</a>',
        '<a href="vbscript:x">x</a>',
        '<a href="data:text/html,x">x</a>',
        '<a href="file:///etc/passwd">x</a>',
    ],
)
def test_links_with_another_scheme_are_dropped(card: str) -> None:
    html = render_card(card)
    for _, _, value in urls(html):
        assert value is not None
        assert as_browser(value).protocol in ("http:", "https:", "mailto:"), (card, html)


@pytest.mark.parametrize(
    "href",
    ["https://example.org/docs", "mailto:someone@example.org", "/alice/other/", "other-model/", "#usage"],
)
def test_ordinary_links_are_kept_as_written(href: str) -> None:
    assert urls(render_card(f'<a href="{href}">x</a>')) == [("a", "href", href)]
