"""A person's emails, preferences and notices through the inventory's machinery: in their export, gone
after their erasure, and removed by the retention sweep when their time is up (CANDOR_EMAIL_RECORD_DAYS,
CANDOR_NOTICE_KEEP_DAYS), with time moved forward."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from candor.accounts.models import User
from candor.comms import actions, outbox
from candor.comms.choices import NoticeKind, Via
from candor.comms.models import Email, Notice, Preferences
from candor.lifecycle import erasure, export, retention
from candor.privacy.models import ExportArchive
from tests.conftest import deliver_on_commit, make_user

pytestmark = pytest.mark.django_db
EMAILS_RULE = "emails sent over the record's retention"
NOTICES_RULE = "dismissed notices"


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def later(**delta: float) -> Any:
    return timezone.now() + timedelta(**delta)


def with_comms(user: User, words: str) -> None:
    """A sent email, a preference and a notice of the person's, each with words of their own."""
    row = outbox.queue("password-changed", user.pk)
    assert row is not None
    deliver_on_commit()
    actions.set_product_updates(user, False, via=Via.SETTINGS, acting_user=user)
    actions.notify(user, NoticeKind.SECURITY, f"Notice for {words}", f"About {words}.")


def test_the_persons_emails_preferences_and_notices_are_in_their_export_and_nobody_elses(
    django_capture_on_commit_callbacks: Any,
) -> None:
    erin, frank = make_user("erin"), make_user("frank")
    with_comms(erin, "erin-words")
    with_comms(frank, "frank-words")
    with django_capture_on_commit_callbacks(execute=True):
        archive = export.request_export(erin, acting_user=erin)
    archive.refresh_from_db()
    assert archive.status == ExportArchive.Status.READY
    zipped = zipfile.ZipFile(io.BytesIO(b"".join(export.open_archive(archive))))
    text = b"\n".join(zipped.read(name) for name in zipped.namelist()).decode("utf-8", "replace")
    assert "Your password was changed" in text  # the subject as sent
    assert "Notice for erin-words" in text and "About erin-words." in text
    assert "communications.preferences" in text and "communications.emails" in text
    assert "frank-words" not in text and str(frank.pk) not in text


def test_erasure_removes_the_persons_rows_and_keeps_everyone_elses() -> None:
    erin, frank = make_user("erin"), make_user("frank")
    with_comms(erin, "erin-words")
    with_comms(frank, "frank-words")
    erasure.erase_account(erin.pk)
    for model in (Email, Preferences, Notice):
        assert not model.objects.filter(user_id=erin.pk).exists(), model.__name__
        assert model.objects.filter(user_id=frank.pk).exists(), model.__name__


def by_rule(outcomes: Any) -> dict[str, int]:
    return {o.rule: o.count for o in outcomes}


def test_the_sweep_removes_email_records_past_their_year(settings: Any) -> None:
    settings.EMAIL_RECORD_DAYS = 365
    erin = make_user("erin")
    old = Email.objects.create(user=erin, category="account", kind="password-changed")
    young = Email.objects.create(user=erin, category="account", kind="password-changed")
    Email.objects.filter(pk=young.pk).update(queued_at=later(days=2))
    assert by_rule(retention.sweep(now=later(days=364)))[EMAILS_RULE] == 0
    assert by_rule(retention.sweep(now=later(days=365, minutes=1)))[EMAILS_RULE] == 1
    assert list(Email.objects.values_list("pk", flat=True)) == [young.pk]
    assert not Email.objects.filter(pk=old.pk).exists()


def test_the_sweep_removes_dismissed_notices_after_their_days_and_never_an_open_one(settings: Any) -> None:
    settings.NOTICE_KEEP_DAYS = 90
    erin = make_user("erin")
    dismissed = actions.notify(erin, NoticeKind.SECURITY, "Seen")
    kept_open = actions.notify(erin, NoticeKind.SECURITY, "Not seen yet")
    actions.dismiss_notice(erin, dismissed.public_id, acting_user=erin)
    assert by_rule(retention.sweep(now=later(days=89)))[NOTICES_RULE] == 0
    assert by_rule(retention.sweep(now=later(days=90, minutes=1)))[NOTICES_RULE] == 1
    assert by_rule(retention.sweep(now=later(days=2000)))[NOTICES_RULE] == 0
    assert list(Notice.objects.values_list("pk", flat=True)) == [kept_open.pk]
