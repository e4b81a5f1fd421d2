"""The emails the communications domain composes itself: a product update, and its test copy."""

from __future__ import annotations

import re
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from candor.comms import outbox, unsubscribe
from candor.comms.choices import Category
from candor.comms.models import Email, Update
from candor.core.markdown import render

UPDATE_KIND = "product-update"
TEST_KIND = "product-update-test"


PREVIEW_STAND_IN = "preview"  # a preview has no email row, so no real token: this one is refused


_BLOCKS = {
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "pre", "blockquote", "table", "tr",
    "hr", "dl", "dt", "dd", "details", "summary",
}  # fmt: skip


class _PlainText(HTMLParser):
    """The sanitised HTML of an update as plain text, for the text part: each link written out as the
    address it leads to, so the text part leads exactly where the HTML part does (and never carries
    the Markdown's raw HTML, which the sanitiser removed from the HTML part)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.links: list[tuple[str, int]] = []  # the open links: href, where their words began
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.out)))
        elif tag == "li":
            self.out.append("\n- ")
        elif tag == "br":
            self.out.append("\n")
        elif tag in _BLOCKS:
            self.out.append("\n\n")
            self.pre += tag == "pre"

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.links:
            href, start = self.links.pop()
            words = "".join(self.out[start:]).strip()
            shown = href.removeprefix("mailto:")
            if href and shown != words:
                self.out.append(f" ({shown})" if words else shown)
        elif tag in _BLOCKS:
            self.out.append("\n\n")
            self.pre -= tag == "pre"

    def handle_data(self, data: str) -> None:
        self.out.append(data if self.pre else re.sub(r"\s+", " ", data))


def plain_text(html: str) -> str:
    parser = _PlainText()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


@lru_cache(maxsize=16)
def _body(markdown: str, site: str) -> tuple[str, str]:
    """The update's body as HTML and as text: the same for every person, so made once per update and
    not once per email (``site`` is in the key: links are made absolute against it)."""
    html = render(markdown, heading_shift=1, for_email=True)
    return html, plain_text(html)


def _context(update: Update, row: Email | None, test: bool) -> dict[str, Any]:
    site = settings.WEBSITE_URL
    token = unsubscribe.token_for(row.pk) if row is not None else PREVIEW_STAND_IN
    body_html, body_text = _body(update.body, site)
    return {
        "update": update,
        "body_html": body_html,
        "body_text": body_text,
        "post_url": f"{site}{reverse('comms:post', args=[update.post.slug])}"
        if update.post is not None and update.post.is_published
        else "",
        "unsubscribe_url": f"{site}{reverse('comms:unsubscribe', args=[token])}",
        "settings_url": f"{site}{reverse('comms:emails')}",
        "platform_name": settings.PLATFORM_NAME,
        "website_url": site,
        "contact_email": settings.CONTACT_EMAIL,
        "test": test,
        "cap_days": settings.PRODUCT_EMAIL_CAP_DAYS,
    }


def preview_context(update: Update) -> dict[str, Any]:
    """What the email templates are given, for the staff's preview: everyone's copy, but with a
    stand-in for the personal unsubscribe link."""
    return _context(update, None, test=False)


def _compose(row: Email, user: Any, update: Update | None, test: bool) -> outbox.Composed | None:
    if update is None:
        return None
    context = _context(update, row, test)
    return outbox.Composed(
        subject=f"{'[test] ' if test else ''}{update.subject}",
        text=render_to_string("comms/email/product-update.txt", context),
        html=render_to_string("comms/email/product-update.html", context),
        to=user.email,
    )


@outbox.composer(UPDATE_KIND, Category.PRODUCT, "product update")
def product_update(row: Email, user: Any) -> outbox.Composed | None:
    return _compose(row, user, row.update, test=False)


@outbox.composer(TEST_KIND, Category.ACCOUNT, "test of a product update (staff)")
def product_update_test(row: Email, user: Any) -> outbox.Composed | None:
    update = Update.objects.filter(public_id=row.refs.get("update")).select_related("post").first()
    return _compose(row, user, update, test=True)
