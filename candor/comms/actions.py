"""The communications domain's actions: each one durable transaction with its audit row.

Who may call the staff ones (write posts, send updates) is decided by the staff console's entry points,
by role (candor.staff.choices.Role.COMMUNICATIONS or ADMINISTRATOR): this domain sits below staff.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.utils import timezone
from django.utils.text import slugify

from candor.comms import notices, outbox, unsubscribe
from candor.comms.choices import PostStatus, Reason, Status, UpdateStatus, Via
from candor.comms.emails import TEST_KIND
from candor.comms.models import Email, Notice, Post, Preferences, Update
from candor.kernel.actions import durable
from candor.kernel.refusal import Code, Refusal
from candor.privacy import audit
from candor.privacy.audit import EventType

# --- Preferences -----------------------------------------------------------------------------------


def _set_product_updates(user: Any, on: bool, via: str, acting_user: Any) -> Preferences:
    prefs, _ = Preferences.objects.select_for_update().get_or_create(user=user)
    if prefs.product_updates != on:
        prefs.product_updates = on
        prefs.changed_at = timezone.now()
        prefs.changed_via = Via(via)
        prefs.save(update_fields=["product_updates", "changed_at", "changed_via"])
        audit.record(
            EventType.EMAIL_PREFERENCES_CHANGED,
            acting_user=acting_user,
            subject=user,
            extra={"product_updates": on, "via": str(Via(via))},
        )
    return prefs


@durable
def set_product_updates(user: Any, on: bool, *, via: str, acting_user: Any) -> Preferences:
    """Turn product updates on or off for ``user`` (from settings or the API)."""
    return _set_product_updates(user, on, via, acting_user)


@durable
def unsubscribe_with_token(token: str, *, via: str = Via.ONE_CLICK, acting_user: Any = None) -> bool:
    """Unsubscribe the person a product update's token was made for. False (and nothing changed) for a
    token that is not ours, tampered with, or whose email record is gone."""
    email_id = unsubscribe.email_id_of(token)
    if email_id is None:
        return False
    row = Email.objects.select_related("user").filter(pk=email_id).first()
    if row is None or not row.user.is_active:
        return False
    _set_product_updates(row.user, False, via, acting_user)
    return True


def token_works(token: str) -> bool:
    """Whether ``unsubscribe_with_token`` would find someone for this token (changing nothing): the
    page a GET shows asks only then."""
    email_id = unsubscribe.email_id_of(token)
    return email_id is not None and Email.objects.filter(pk=email_id, user__is_active=True).exists()


def preferences_of(user: Any) -> Preferences:
    """The person's preferences, or the defaults (not stored) when they never changed any."""
    return Preferences.objects.filter(user=user).first() or Preferences(user=user)


# --- Notices ---------------------------------------------------------------------------------------


# notify(user, kind, title, body, link=, key=, once=): called inside other domains' actions.
notify = notices.notify


@durable
def dismiss_notice(user: Any, public_id: str, *, acting_user: Any) -> Notice:
    """Stop showing one of the person's notices. Dismissing it again changes nothing; another person's
    notice or an unknown id is refused alike (NOT_FOUND), so neither can be told from the other."""
    notice = Notice.objects.select_for_update().filter(user=user, public_id=public_id).first()
    if notice is None:
        raise Refusal(Code.NOT_FOUND, "There is no such notice.")
    if notice.dismissed_at is None:
        notice.dismissed_at = timezone.now()
        notice.save(update_fields=["dismissed_at"])
        audit.record(EventType.NOTICE_DISMISSED, acting_user=acting_user, subject=user)
    return notice


def open_notices(user: Any) -> list[Notice]:
    """The person's notices not yet dismissed, newest first: one query (the banner on every page)."""
    return list(Notice.objects.filter(user=user, dismissed_at__isnull=True).order_by("-created_at", "-pk"))


def kept_notices(user: Any) -> list[Notice]:
    """Open notices and those dismissed that are still kept (CANDOR_NOTICE_KEEP_DAYS), newest first."""
    return list(Notice.objects.filter(user=user).order_by("-created_at", "-pk"))


# --- The blog --------------------------------------------------------------------------------------


def _unique_slug(wanted: str, post: Post | None) -> str:
    base = slugify(wanted)[:70].strip("-") or "post"
    slug, n = base, 2
    others = Post.objects.exclude(pk=post.pk) if post is not None and post.pk else Post.objects.all()
    while others.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


TITLE_MAX, SUMMARY_MAX, SLUG_MAX = 200, 400, 80
BODY_MAX = 200_000  # characters of Markdown: a long article is a tenth of it


def _checked_slug(wanted: str, post: Post | None) -> str:
    """The address staff asked for, as a slug; refused rather than changed when it cannot be used, so
    that a post never lands at an address nobody chose."""
    slug = slugify(wanted).strip("-")
    if not slug:
        raise Refusal(Code.INVALID, "An address is made of letters, digits and hyphens.", field="slug")
    if len(slug) > SLUG_MAX:
        raise Refusal(Code.INVALID, f"An address has at most {SLUG_MAX} characters.", field="slug")
    others = Post.objects.exclude(pk=post.pk) if post is not None and post.pk else Post.objects.all()
    if others.filter(slug=slug).exists():
        raise Refusal(Code.CONFLICT, "Another post already has this address.", field="slug")
    return slug


def _check_post_text(title: str, summary: str, body: str) -> None:
    problems: dict[str, list[str]] = {}
    if not title:
        problems["title"] = ["A post needs a title."]
    elif len(title) > TITLE_MAX:
        problems["title"] = [f"A title has at most {TITLE_MAX} characters."]
    if len(summary) > SUMMARY_MAX:
        problems["summary"] = [f"A summary has at most {SUMMARY_MAX} characters."]
    if len(body) > BODY_MAX:
        problems["body"] = [f"A post has at most {BODY_MAX:,} characters."]
    if problems:
        raise Refusal(Code.INVALID_FIELDS, "The post cannot be saved as it is.", fields=problems)


@durable
def save_post(
    post: Post | None, *, title: str, summary: str, body: str, slug: str = "", acting_user: Any
) -> Post:
    """Create a draft (``post`` None) or change a post. A post keeps its address unless a new slug is
    given; a new post without one takes its title's (made unique)."""
    title, summary, slug = title.strip(), summary.strip(), slug.strip()
    _check_post_text(title, summary, body)
    post = Post(author=acting_user) if post is None else Post.objects.select_for_update().get(pk=post.pk)
    if slug and slug != post.slug:
        post.slug = _checked_slug(slug, post)
    elif not post.slug:
        post.slug = _unique_slug(title, None)
    post.title, post.summary, post.body = title, summary, body
    post.updated_at = timezone.now()
    post.save()
    audit.record(EventType.POST_SAVED, acting_user=acting_user)
    return post


@durable
def publish_post(post: Post, *, acting_user: Any) -> Post:
    post = Post.objects.select_for_update().get(pk=post.pk)
    if post.status != PostStatus.PUBLISHED:
        post.status = PostStatus.PUBLISHED
        post.published_at = post.published_at or timezone.now()
        post.save(update_fields=["status", "published_at"])
        audit.record(EventType.POST_PUBLISHED, acting_user=acting_user)
    return post


@durable
def unpublish_post(post: Post, *, acting_user: Any) -> Post:
    post = Post.objects.select_for_update().get(pk=post.pk)
    if post.status != PostStatus.DRAFT:
        post.status = PostStatus.DRAFT
        post.save(update_fields=["status"])
        audit.record(EventType.POST_UNPUBLISHED, acting_user=acting_user)
    return post


@durable
def delete_post(post: Post, *, acting_user: Any) -> None:
    Post.objects.filter(pk=post.pk).delete()
    audit.record(EventType.POST_DELETED, acting_user=acting_user)


# --- Product updates -------------------------------------------------------------------------------


@durable
def save_update(
    update: Update | None, *, subject: str, body: str, post: Post | None = None, acting_user: Any
) -> Update:
    """Write a product update, or change one that has not started sending."""
    if update is None:
        update = Update(author=acting_user)
    else:
        update = Update.objects.select_for_update().get(pk=update.pk)
        if update.status != UpdateStatus.DRAFT:
            raise Refusal(Code.CONFLICT, "This update has started sending: it can no longer be changed.")
    update.subject, update.body, update.post = subject, body, post
    update.updated_at = timezone.now()
    update.save()
    audit.record(EventType.UPDATE_SAVED, acting_user=acting_user)
    return update


@durable
def send_test(update: Update, *, acting_user: Any) -> Email | None:
    """Send the update to the member of staff who asks, as everyone will get it (an account email, so
    neither their preferences nor the cap hold it back, and it does not count against the cap)."""
    audit.record(EventType.UPDATE_TEST_SENT, acting_user=acting_user)
    return outbox.queue(TEST_KIND, acting_user.pk, refs={"update": update.public_id})


@durable
def start_sending(update: Update, *, acting_user: Any) -> Update:
    """Start sending ``update`` to every account holder who has not opted out. The worker's outbox run
    makes one row per person and sends them at CANDOR_PRODUCT_EMAILS_PER_MINUTE. Pressing it twice
    sends nothing twice."""
    update = Update.objects.select_for_update().get(pk=update.pk)
    if update.status == UpdateStatus.DRAFT:
        update.status = UpdateStatus.SENDING
        update.started_at = timezone.now()
        update.save(update_fields=["status", "started_at"])
        audit.record(EventType.UPDATE_SENDING, acting_user=acting_user)
    elif update.status == UpdateStatus.CANCELLED:
        raise Refusal(Code.CONFLICT, "This update was cancelled.")
    return update


@durable
def cancel_update(update: Update, *, acting_user: Any) -> Update:
    """Stop sending: what is still queued is marked not sent."""
    update = Update.objects.select_for_update().get(pk=update.pk)
    if update.status in (UpdateStatus.DRAFT, UpdateStatus.SENDING):
        update.status = UpdateStatus.CANCELLED
        update.finished_at = timezone.now()
        update.save(update_fields=["status", "finished_at"])
        Email.objects.filter(update=update, status=Status.QUEUED).update(
            status=Status.SKIPPED, reason=Reason.NOT_NEEDED
        )
        audit.record(EventType.UPDATE_CANCELLED, acting_user=acting_user)
    return update


def progress(update: Update) -> dict[str, int]:
    """How many of the update's emails are in each state (for the staff page)."""
    counts = dict.fromkeys(Status.values, 0)
    for row in Email.objects.filter(update=update).values("status").order_by().annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


def audience_count() -> int:
    """How many accounts a product update sent now would be made for (before the cap and refused
    addresses drop some): what the staff's confirmation page says."""
    return int(outbox.product_audience().count())


def updates() -> list[Update]:
    """Every product update, newest first (the staff's list)."""
    return list(Update.objects.select_related("post").order_by("-created_at"))


def update_by_id(public_id: str) -> Update | None:
    return Update.objects.select_related("post").filter(public_id=public_id).first()


def published_posts() -> list[Post]:
    """The posts an update may point at."""
    return list(Post.objects.filter(status=PostStatus.PUBLISHED).order_by("-published_at"))
