"""The console's product-update pages: who may reach them, writing, the preview as the email shows,
a test to oneself, the confirmation that counts the accounts, sending once however often it is
pressed, progress in counts only, cancelling."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import override_settings

from candor.comms import actions, tasks
from candor.comms.choices import PostStatus, Status, UpdateStatus
from candor.comms.models import Email, Post, Update
from candor.privacy import audit
from candor.privacy.models import AuditEvent
from tests.conftest import deliver_on_commit, make_user
from tests.staff.console_client import staff_client
from tests.staff.factory import make_staff

pytestmark = pytest.mark.django_db

FAST = 600_000


def _private(answer: object) -> None:
    assert "no-store" in answer["Cache-Control"]  # type: ignore[index]
    assert "noindex" in answer["X-Robots-Tag"]  # type: ignore[index]


def _write(client: object, **data: str) -> Update:
    fields = {"subject": "Tags arrive", "body": "Models can be **tagged**. [Docs](/developers/)", "post": ""}
    fields.update(data)
    answer = client.post("/staff/updates/new/", fields)  # type: ignore[attr-defined]
    assert answer.status_code == 302, answer.content
    return Update.objects.order_by("-created_at").first()  # type: ignore[return-value]


@pytest.mark.parametrize("roles", [["support"], ["legal", "on_call"], ["trust_and_safety"]])
def test_other_roles_get_the_consoles_refusal_and_change_nothing(roles: list[str]) -> None:
    writer = make_staff("cora", ["communications"])
    update = actions.save_update(None, subject="S", body="B", acting_user=writer)
    client = staff_client(make_staff("sam", roles))
    for method, path in [
        ("get", "/staff/updates/"),
        ("get", "/staff/updates/new/"),
        ("post", "/staff/updates/new/"),
        ("get", f"/staff/updates/{update.public_id}/"),
        ("get", f"/staff/updates/{update.public_id}/preview/"),
        ("get", f"/staff/updates/{update.public_id}/email.html"),
        ("post", f"/staff/updates/{update.public_id}/test/"),
        ("get", f"/staff/updates/{update.public_id}/send/"),
        ("post", f"/staff/updates/{update.public_id}/send/"),
        ("post", f"/staff/updates/{update.public_id}/cancel/"),
    ]:
        answer = getattr(client, method)(path, {"subject": "x", "body": "y"} if method == "post" else None)
        assert answer.status_code == 403, path
        assert "Only the communications team and administrators" in answer.content.decode()
        _private(answer)
    update.refresh_from_db()
    assert update.status == UpdateStatus.DRAFT and Update.objects.count() == 1
    assert not Email.objects.exists()
    assert "Product updates" not in client.get("/staff/").content.decode()  # no link to them either


def test_someone_not_on_staff_finds_nothing_and_a_visitor_is_sent_to_log_in() -> None:
    from django.test import Client

    update = actions.save_update(None, subject="S", body="B", acting_user=make_user("w"))
    outsider = Client()
    outsider.force_login(make_user("carol", staff=True))
    assert outsider.get(f"/staff/updates/{update.public_id}/preview/").status_code == 404
    assert Client().get("/staff/updates/").status_code == 302


@pytest.mark.parametrize("role", ["communications", "administrator"])
def test_write_preview_test_confirm_send_and_follow(role: str) -> None:
    writer = make_staff("cora", [role])
    people = [make_user(f"person{i}") for i in range(4)]
    quiet = make_user("quiet")
    actions.set_product_updates(quiet, False, via="settings", acting_user=quiet)
    make_user("unconfirmed", verified=False)
    post = actions.publish_post(
        actions.save_post(None, title="Tags, at last", summary="", body="x", acting_user=writer),
        acting_user=writer,
    )
    client = staff_client(writer)
    assert "Product updates" in client.get("/staff/").content.decode()  # the console's link
    listed = client.get("/staff/updates/new/")
    assert listed.status_code == 200 and "Tags, at last" in listed.content.decode()  # the post select
    update = _write(client, post=str(post.pk))
    assert update.post == post and update.author == writer

    preview = client.get(f"/staff/updates/{update.public_id}/preview/")
    _private(preview)
    text = preview.content.decode()
    assert preview.status_code == 200 and "Models can be tagged. Docs (http" in text  # the text part
    assert f"/staff/updates/{update.public_id}/email.html" in text and "sandbox" in text
    frame = client.get(f"/staff/updates/{update.public_id}/email.html")
    assert frame.status_code == 200
    assert "<strong>tagged</strong>" in frame.content.decode()  # the HTML part, from the email's template
    assert "/blog/tags-at-last/" in frame.content.decode()
    assert (
        "'unsafe-inline'" in frame["Content-Security-Policy"]
        and "script" not in frame["Content-Security-Policy"]
    )
    assert frame["X-Frame-Options"] == "SAMEORIGIN"

    tested = client.post(f"/staff/updates/{update.public_id}/test/")
    assert tested.status_code == 302
    deliver_on_commit()
    assert [m.to for m in mail.outbox] == [[writer.email]]
    assert mail.outbox[0].subject.endswith("[test] Tags arrive")
    mail.outbox.clear()

    confirm = client.get(f"/staff/updates/{update.public_id}/send/")
    assert confirm.status_code == 200
    # The writer and the four people: not the one who opted out, not the unconfirmed address.
    assert re.search(r'id="audience">5<', confirm.content.decode())
    assert "600 emails a minute" in confirm.content.decode()
    update.refresh_from_db()
    assert update.status == UpdateStatus.DRAFT  # the confirmation page itself starts nothing

    for _ in range(2):  # pressed twice
        assert client.post(f"/staff/updates/{update.public_id}/send/").status_code == 302
    assert AuditEvent.objects.filter(event_type=audit.EventType.UPDATE_SENDING).count() == 1
    tasks.pump(seconds=30, rate_per_minute=FAST)
    assert client.post(f"/staff/updates/{update.public_id}/send/").status_code == 302
    tasks.pump(seconds=30, rate_per_minute=FAST)
    recipients = sorted(m.to[0] for m in mail.outbox)
    assert recipients == sorted([writer.email, *(p.email for p in people)])  # each once

    page = client.get(f"/staff/updates/{update.public_id}/")
    body = page.content.decode()
    assert page.status_code == 200 and "5 of 5 emails dealt with" in body
    assert "Finished" in body and "Started" in body
    # Counts only: no address or username of anyone it went to.
    for person in [*people, quiet]:
        assert person.email not in body and person.username not in body
    listing = client.get("/staff/updates/").content.decode()
    assert "Tags arrive" in listing and all(p.username not in listing for p in people)


def test_a_started_update_cannot_be_changed_and_a_cancelled_one_sends_nothing_more() -> None:
    writer = make_staff("cora", ["communications"])
    for index in range(3):
        make_user(f"p{index}")
    client = staff_client(writer)
    update = _write(client)
    client.post(f"/staff/updates/{update.public_id}/send/")
    tasks.fan_out(update)
    changed = client.post(
        f"/staff/updates/{update.public_id}/edit/", {"subject": "Changed", "body": "Changed", "post": ""}
    )
    assert changed.status_code == 400 and "can no longer be changed" in changed.content.decode()
    assert client.post(f"/staff/updates/{update.public_id}/cancel/").status_code == 302
    tasks.pump(seconds=30, rate_per_minute=FAST)
    update.refresh_from_db()
    assert update.status == UpdateStatus.CANCELLED and update.subject == "Tags arrive"
    assert mail.outbox == []
    assert set(Email.objects.filter(update=update).values_list("status", flat=True)) == {Status.SKIPPED}
    again = client.post(f"/staff/updates/{update.public_id}/send/")
    assert again.status_code == 409 and "was cancelled" in again.content.decode()
    assert "Stop sending" not in client.get(f"/staff/updates/{update.public_id}/").content.decode()


def test_bad_input_is_refused_in_the_page_and_stores_nothing() -> None:
    writer = make_staff("cora", ["communications"])
    draft = Post.objects.create(slug="draft", title="A draft", status=PostStatus.DRAFT)
    client = staff_client(writer)
    for data in (
        {"subject": "", "body": "x", "post": ""},
        {"subject": "x" * 151, "body": "x", "post": ""},
        {"subject": "S", "body": "", "post": ""},
        {"subject": "S", "body": "x", "post": str(draft.pk)},  # only published posts may be chosen
        {"subject": "S", "body": "x", "post": "not-a-post"},
    ):
        answer = client.post("/staff/updates/new/", data)
        assert answer.status_code == 400, data
        assert 'class="errorlist' in answer.content.decode()
    assert not Update.objects.exists()
    assert client.get("/staff/updates/no-such-update/").status_code == 404
    assert client.post("/staff/updates/no-such-update/send/").status_code == 404


def test_the_confirmation_says_the_cap_and_the_rate_it_will_use() -> None:
    writer = make_staff("cora", ["communications"])
    update = actions.save_update(None, subject="S", body="B", acting_user=writer)
    with override_settings(PRODUCT_EMAIL_CAP_DAYS=3, PRODUCT_EMAILS_PER_MINUTE=1):
        text = staff_client(writer).get(f"/staff/updates/{update.public_id}/send/").content.decode()
    assert "in the last 3 days" in text and "at 1 email a minute" in text and "about 1 minute" in text
