"""Model cards: Markdown rendered by markdown-it-py, then sanitised by nh3 (the Ammonia sanitiser).

Raw HTML in the Markdown is allowed through the renderer and then cut down by nh3 to a fixed list of
tags and attributes. Links may only be http(s), mailto or relative; images may only come from the
platform itself (a path starting with a single "/"), so a model card can never make a visitor's browser
contact another site.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
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


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src":
        # Only the platform's own files: an absolute path on this site, never another host.
        return value if value.startswith("/") and not value.startswith("//") else None
    if tag == "code" and attribute == "class":
        return value if value.startswith("language-") and value[9:].replace("-", "").isalnum() else None
    return value


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table").enable("strikethrough")


HEADING_SHIFT = 2  # the card sits under the page's h1 and its "Model card" h2


def render_card(markdown: str) -> str:
    parser = _parser()
    env: dict[str, object] = {}
    tokens = parser.parse(markdown or "", env)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + HEADING_SHIFT)}"
    html = parser.renderer.render(tokens, parser.options, env)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        attribute_filter=_attribute_filter,
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )
