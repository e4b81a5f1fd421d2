"""The outbox's core: a product update fanned out and sent by the pump, once per person, with the cap,
the opt-out and the list headers; an account email queued by ids and sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from candor.comms import actions, outbox, tasks, unsubscribe
from candor.comms.choices import Reason, Status, UpdateStatus
from candor.comms.models import Email, Preferences
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def _update(author: Any, subject: str = "News") -> Any:
    update = actions.save_update(
        None, subject=subject, body="Hello **all**. [Docs](/developers/)", acting_user=author
    )
    return actions.start_sending(update, acting_user=author)


def test_an_update_reaches_each_person_once_with_the_list_headers() -> None:
    staff = make_user("writer")
    people = [make_user(f"p{i}") for i in range(5)]
    update = _update(staff)
    first = tasks.pump(seconds=30, rate_per_minute=600_000)
    again = tasks.pump(seconds=30, rate_per_minute=600_000)
    assert first["sent"] == len(people) + 1 and again["sent"] == 0
    update.refresh_from_db()
    assert update.status == UpdateStatus.SENT
    sent = [m.message() for m in mail.outbox]
    assert len({m["To"] for m in sent}) == len(sent) == len(people) + 1
    one = sent[0]
    assert one["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/-/unsubscribe/" in one["List-Unsubscribe"] and "mailto:" in one["List-Unsubscribe"]
    assert one["List-Id"]


def test_the_cap_drops_a_second_update_and_the_opt_out_holds() -> None:
    staff = make_user("writer")
    quiet = make_user("quiet")
    actions.set_product_updates(quiet, False, via="settings", acting_user=quiet)
    _update(staff, "one")
    tasks.pump(seconds=30, rate_per_minute=600_000)
    _update(staff, "two")
    tasks.pump(seconds=30, rate_per_minute=600_000)
    assert [m.subject for m in mail.outbox].count("[Candor] two") == 0
    capped = Email.objects.filter(update__subject="two", reason=Reason.CAPPED).count()
    assert capped == 1  # the writer (quiet had no row: opted out before the fan-out)
    assert not Email.objects.filter(user=quiet).exists()
    assert Preferences.objects.get(user=staff).last_product_at is not None


def test_a_token_unsubscribes_and_a_tampered_one_does_not() -> None:
    staff = make_user("writer")
    _update(staff)
    tasks.pump(seconds=30, rate_per_minute=600_000)
    row = Email.objects.get(user=staff)
    token = unsubscribe.token_for(row.pk)
    assert not actions.unsubscribe_with_token(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
    assert actions.preferences_of(staff).product_updates
    assert actions.unsubscribe_with_token(token)
    assert not actions.preferences_of(staff).product_updates


def test_refs_hold_ids_only() -> None:
    person = make_user("p")
    with pytest.raises(ValueError):
        outbox.queue("product-update-test", person.pk, refs={"update": "someone@example.org"})


def test_a_test_copy_is_an_account_email_with_no_list_headers() -> None:
    staff = make_user("writer")
    update = actions.save_update(None, subject="Hi", body="x", acting_user=staff)
    actions.send_test(update, acting_user=staff)
    from tests.conftest import deliver_on_commit

    deliver_on_commit()
    message = mail.outbox[-1].message()
    assert message["Subject"].endswith("[test] Hi") and message["List-Unsubscribe"] is None
    assert Email.objects.get(user=staff).status == Status.SENT
    assert timezone.now() - Email.objects.get(user=staff).sent_at < timedelta(minutes=1)
