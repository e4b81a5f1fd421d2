"""The emails the communications domain composes itself: a product update, and its test copy."""

from __future__ import annotations

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


def _context(update: Update, row: Email, test: bool) -> dict[str, Any]:
    site = settings.WEBSITE_URL
    return {
        "update": update,
        "body_html": render(update.body, heading_shift=1, for_email=True),
        "post_url": f"{site}{reverse('comms:post', args=[update.post.slug])}"
        if update.post is not None and update.post.is_published
        else "",
        "unsubscribe_url": f"{site}{reverse('comms:unsubscribe', args=[unsubscribe.token_for(row.pk)])}",
        "settings_url": f"{site}{reverse('comms:emails')}",
        "platform_name": settings.PLATFORM_NAME,
        "website_url": site,
        "contact_email": settings.CONTACT_EMAIL,
        "test": test,
        "cap_days": settings.PRODUCT_EMAIL_CAP_DAYS,
    }


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
