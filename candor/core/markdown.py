"""Markdown written by people (model cards, blog posts, product updates): rendered by markdown-it-py,
then sanitised by nh3 (the Ammonia sanitiser). One sanitiser for every surface.

Raw HTML in the Markdown is allowed through the renderer and then cut down by nh3 to a fixed list of
tags and attributes. Links may only be http(s), mailto or relative; images may only come from the
platform itself (an absolute path on this site), so a model card can never make a visitor's browser
contact another site.

Every src and href is judged as a browser would read it: parsed by ada (a WHATWG URL parser) against the
site's address, so backslashes, tabs and newlines inside the value, "//" and percent-encoding are read as
a browser reads them, not as a string test would. An image's source is written back as the path that
was parsed, so the browser loads exactly the URL that was judged.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from ada_url import URL
from django.conf import settings
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "td": {"align"},
    "th": {"align"},
    "code": {"class"},
}
URL_SCHEMES = {"http", "https", "mailto"}


# Two pages at different depths of the site: a value that resolves differently against them is
# relative to the page, which an image may not be (its meaning would change with the page it is on).
_PAGES = ("/a/b/", "/c/")


def _resolved(value: str, page: str) -> URL | None:
    try:
        return URL(value, base=settings.WEBSITE_URL.rstrip("/") + page)
    except ValueError:  # what a browser could not parse, it would not load either
        return None


def _site_origin() -> str:
    return str(URL(settings.WEBSITE_URL).origin)


def _image_source(value: str) -> str | None:
    """The path of an image on this site, as the browser will resolve it, or None."""
    here, there = (_resolved(value, page) for page in _PAGES)
    if here is None or there is None or here.href != there.href:
        return None
    if here.origin != _site_origin() or here.username or here.password:
        return None
    return f"{here.pathname}{here.search}{here.hash}"


def _link_target(value: str) -> str | None:
    """The link if a browser would follow it with an allowed scheme; links to other sites are normal.

    Written back as given: whatever page it sits on, its scheme is the one judged here.
    """
    url = _resolved(value, "/")
    return value if url is not None and url.protocol.rstrip(":") in URL_SCHEMES else None


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src":
        # Only the platform's own files: an absolute path on this site, never another host.
        return _image_source(value)
    if tag == "a" and attribute == "href":
        return _link_target(value)
    if tag == "code" and attribute == "class":
        return value if value.startswith("language-") and value[9:].replace("-", "").isalnum() else None
    return value


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table").enable("strikethrough")


HEADING_SHIFT = 2  # the card sits under the page's h1 and its "Model card" h2


def render_card(markdown: str) -> str:
    return render(markdown, heading_shift=HEADING_SHIFT)


def _absolute_link(value: str) -> str | None:
    """A link as an email must carry it: absolute (a mail reader has no page to resolve it against),
    and as written otherwise, so it leads straight where it says (no redirect through this site)."""
    url = _resolved(value, "/")
    if url is None or url.protocol.rstrip(":") not in URL_SCHEMES:
        return None
    return str(url.href)


def _email_attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if tag == "a" and attribute == "href":
        return _absolute_link(value)
    if tag == "code" and attribute == "class":
        return _attribute_filter(tag, attribute, value)
    return value


def render(markdown: str, *, heading_shift: int = 0, for_email: bool = False) -> str:
    """Sanitised HTML of ``markdown``; headings moved down ``heading_shift`` levels to sit under the
    page's own. ``for_email``: no images at all (an image in an email is fetched when it is opened,
    which would tell us who read it) and every link absolute."""
    parser = _parser()
    env: dict[str, object] = {}
    tokens = parser.parse(markdown or "", env)
    for token in tokens:
        if heading_shift and token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + heading_shift)}"
    html = parser.renderer.render(tokens, parser.options, env)
    tags = ALLOWED_TAGS - {"img"} if for_email else ALLOWED_TAGS
    attributes = {tag: names for tag, names in ALLOWED_ATTRIBUTES.items() if tag in tags}
    return nh3.clean(
        html,
        tags=tags,
        attributes=attributes,
        url_schemes=URL_SCHEMES,
        attribute_filter=_email_attribute_filter if for_email else _attribute_filter,
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )
