"""Notices: added inside other actions (security changes, a refused address, a policy version), shown
as a banner on every page of their person, dismissed from the page or the API.

The banner's look at a desktop's and a phone's width: tests/browser/test_notices_flow.py. The client's
printing of them: tests/client/test_notices.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from candor.accounts import actions as account_actions
from candor.accounts.models import EmailConfirmation, User
from candor.api.actions import create_token
from candor.comms import actions, outbox
from candor.comms.choices import NoticeKind, Status
from candor.comms.models import Email, Notice
from candor.privacy.audit import EventType
from candor.privacy.models import AuditEvent
from candor.web.demo import demo_notices
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PAGES = ("/", "/models/", "/settings/")


def _notice(user: User, title: str = "Something to know", **kw: Any) -> Notice:
    kw.setdefault("body", "The details, in a few words.")
    kw.setdefault("link", "/privacy/")
    return actions.notify(user, kw.pop("kind", "account"), title, **kw)


def _signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _notice_queries(queries: list[dict[str, str]]) -> list[str]:
    return [q["sql"] for q in queries if "comms_notice" in q["sql"]]


# --- notify --------------------------------------------------------------------------------------


def test_a_key_keeps_one_open_notice_and_a_later_one_comes_after_dismissal(owner: User) -> None:
    first = _notice(owner, key="security:password", kind="security")
    again = _notice(owner, "Said twice", key="security:password", kind="security")
    assert again.pk == first.pk and Notice.objects.filter(user=owner).count() == 1
    actions.dismiss_notice(owner, first.public_id, acting_user=owner)
    later = _notice(owner, key="security:password", kind="security")
    assert later.pk != first.pk and later.dismissed_at is None


def test_a_policy_version_is_told_once_even_after_it_was_dismissed(owner: User, member: User) -> None:
    # What the policy issue will call for each account when a version is published.
    told = actions.notify(owner, "policy", "Our privacy policy changes", "Version 7.", key="policy:7")
    assert told.kind == NoticeKind.POLICY
    assert actions.notify(owner, "policy", "Our privacy policy changes", key="policy:7").pk == told.pk
    actions.dismiss_notice(owner, told.public_id, acting_user=owner)
    again = actions.notify(owner, "policy", "Our privacy policy changes", key="policy:7")
    assert again.pk == told.pk and again.dismissed_at is not None, "dismissed, so not shown again"
    assert actions.open_notices(owner) == []
    # Another version is another notice; another person has their own.
    assert actions.notify(owner, "policy", "Version 8", key="policy:8").pk != told.pk
    assert actions.notify(member, "policy", "Version 7", key="policy:7").user_id == member.pk
    assert [n.key for n in actions.open_notices(owner)] == ["policy:8"]


@pytest.mark.parametrize(
    "link",
    ["https://elsewhere.example/", "//elsewhere.example/", "/\\elsewhere.example", "javascript:x", "/a b"],
)
def test_a_notice_links_only_to_this_site(owner: User, link: str) -> None:
    with pytest.raises(ValueError, match="this site"):
        _notice(owner, link=link)
    assert not Notice.objects.exists()


def test_bad_notices_are_refused(owner: User) -> None:
    with pytest.raises(ValueError):
        actions.notify(owner, "gossip", "Unknown kind")
    with pytest.raises(ValueError, match="title"):
        actions.notify(owner, "account", "  ")
    with pytest.raises(ValueError, match="key"):
        actions.notify(owner, "account", "Long key", key="k" * 81)
    assert not Notice.objects.exists()


def test_the_words_are_stored_encrypted(owner: User) -> None:
    _notice(owner, "A title nobody reads in the database", body="A body neither")
    with connection.cursor() as cursor:
        cursor.execute("SELECT title, body FROM comms_notice")
        stored = " ".join(cursor.fetchone())
    assert "nobody reads" not in stored and "neither" not in stored


# --- Security notices, a refused address ------------------------------------------------------------


def test_a_password_change_leaves_one_security_notice(owner: User) -> None:
    for new in ("a-new-password-for-alice-1", "another-one-for-alice-22"):
        account_actions.change_password(
            owner, new_password=new, current_session_key=None, end_other_sessions=False, acting_user=owner
        )
    (notice,) = actions.open_notices(owner)
    assert notice.kind == NoticeKind.SECURITY and notice.key == "security:password"
    assert notice.title == "Your password was changed" and notice.link == reverse("accounts:settings")


def test_a_password_reset_is_a_security_notice_too(owner: User) -> None:
    account_actions.reset_password(owner, new_password="reset-password-for-alice-3", acting_user=None)
    (notice,) = actions.open_notices(owner)
    assert notice.kind == NoticeKind.SECURITY and notice.title == "Your password was reset"


def test_an_email_change_is_told_once_it_is_confirmed(owner: User) -> None:
    account_actions.request_email_change(
        owner, password=PASSWORD, new_email="alice.new@example.org", acting_user=owner
    )
    assert actions.open_notices(owner) == [], "nothing changed yet: only asked"
    confirmation = EmailConfirmation.objects.get(user=owner, purpose=EmailConfirmation.Purpose.CHANGE)
    account_actions.confirm_email(confirmation.public_id, confirmation.token(), acting_user=owner)
    (notice,) = actions.open_notices(owner)
    assert notice.key == "security:email" and notice.title == "Your email address was changed"
    assert "alice.new" not in notice.title + notice.body


def test_a_refused_address_is_told_once_with_a_link_to_the_emails_page(owner: User) -> None:
    for _ in range(2):
        row = Email.objects.create(user=owner, category="account", kind="password-changed")
        outbox.mark_undeliverable(row, owner, 550)
    (notice,) = actions.open_notices(owner)
    assert notice.kind == NoticeKind.UNDELIVERABLE and notice.link == "/settings/emails/"
    assert Email.objects.filter(status=Status.UNDELIVERABLE).count() == 2


# --- The banner -----------------------------------------------------------------------------------


def test_the_banner_is_on_every_page_of_its_person_only(owner: User, member: User) -> None:
    notice = _notice(owner, "Your password was changed <b>now</b>", body="Body & more")
    mine, theirs = _signed_in(owner), _signed_in(member)
    for page in PAGES:
        html = mine.get(page).content.decode()
        assert 'aria-labelledby="notices-heading"' in html and "A notice for you" in html, page
        assert "Your password was changed &lt;b&gt;now&lt;/b&gt;" in html and "Body &amp; more" in html
        assert 'href="/privacy/"' in html
        assert f'action="/notices/{notice.public_id}/dismiss/"' in html
        assert 'name="csrfmiddlewaretoken"' in html and f'name="next" value="{page}"' in html
        assert 'Dismiss<span class="visually-hidden"> the notice:' in html
        other = theirs.get(page).content.decode()
        assert "notices-heading" not in other and notice.public_id not in other
        assert "notices-heading" not in Client().get(page).content.decode()


def test_several_notices_are_counted_in_the_heading(owner: User) -> None:
    _notice(owner, "One")
    _notice(owner, "Two", link="")
    html = _signed_in(owner).get("/").content.decode()
    assert "2 notices for you" in html and html.index(">Two<") < html.index(">One<"), "newest first"


def test_the_banner_costs_one_query_and_nothing_for_visitors(owner: User) -> None:
    _notice(owner)
    _notice(owner, "Another")
    signed_in = _signed_in(owner)
    signed_in.get("/")  # the session and the data key are read once before counting
    with CaptureQueriesContext(connection) as seen:
        assert signed_in.get("/").status_code == 200
    assert len(_notice_queries(seen.captured_queries)) == 1
    with CaptureQueriesContext(connection) as seen:
        assert Client().get("/").status_code == 200
    assert _notice_queries(seen.captured_queries) == []


def test_pages_with_the_banner_are_kept_from_shared_caches(owner: User) -> None:
    _notice(owner)
    response = _signed_in(owner).get("/models/")
    assert "notices-heading" in response.content.decode()
    assert "private" in response["Cache-Control"] and "no-store" in response["Cache-Control"]


# --- Dismissing from the page --------------------------------------------------------------------


def test_dismissing_goes_back_to_the_page_and_the_banner_is_gone(owner: User) -> None:
    notice = _notice(owner)
    client = _signed_in(owner)
    response = client.post(f"/notices/{notice.public_id}/dismiss/", {"next": "/models/?q=tiny&sort=name"})
    assert response.status_code == 302 and response["Location"] == "/models/?q=tiny&sort=name"
    notice.refresh_from_db()
    assert notice.dismissed_at is not None
    html = client.get("/models/").content.decode()
    assert "notices-heading" not in html and "Notice dismissed." in html
    assert AuditEvent.objects.filter(event_type=EventType.NOTICE_DISMISSED, subject_id=owner.pk).count() == 1
    # Again: the same answer, nothing more recorded.
    again = client.post(f"/notices/{notice.public_id}/dismiss/", {"next": "/"})
    assert again.status_code == 302
    assert AuditEvent.objects.filter(event_type=EventType.NOTICE_DISMISSED).count() == 1


@pytest.mark.parametrize(
    "wanted",
    [
        "https://elsewhere.example/",
        "//elsewhere.example/",
        "/\\elsewhere.example",
        "\\\\elsewhere.example",
        "javascript:alert(1)",
        "/\telsewhere",
        "",
        "models/",
    ],
)
def test_never_an_open_redirect(owner: User, wanted: str) -> None:
    notice = _notice(owner)
    response = _signed_in(owner).post(f"/notices/{notice.public_id}/dismiss/", {"next": wanted})
    assert response.status_code == 302 and response["Location"] == "/"


def test_someone_elses_notice_and_an_unknown_one_answer_404(owner: User, member: User) -> None:
    notice = _notice(owner)
    theirs = _signed_in(member)
    foreign = theirs.post(f"/notices/{notice.public_id}/dismiss/", {"next": "/"})
    unknown = theirs.post("/notices/no-such-notice/dismiss/", {"next": "/"})
    assert foreign.status_code == unknown.status_code == 404
    notice.refresh_from_db()
    assert notice.dismissed_at is None
    assert not AuditEvent.objects.filter(event_type=EventType.NOTICE_DISMISSED).exists()


def test_only_a_post_with_its_csrf_token_dismisses(owner: User) -> None:
    notice = _notice(owner)
    client = _signed_in(owner)
    assert client.get(f"/notices/{notice.public_id}/dismiss/").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert strict.post(f"/notices/{notice.public_id}/dismiss/", {"next": "/"}).status_code == 403
    visitor = Client().post(f"/notices/{notice.public_id}/dismiss/", {"next": "/"})
    assert visitor.status_code == 302 and visitor["Location"].startswith(reverse("accounts:login"))
    notice.refresh_from_db()
    assert notice.dismissed_at is None


# --- The API --------------------------------------------------------------------------------------


def _api(user: User, scopes: tuple[str, ...] = ("read", "write")) -> Client:
    token = create_token(user, name="notices", scopes=scopes, expires_in_days=1, acting_user=user)[1]
    return Client(headers={"Authorization": f"Bearer {token}"})


def test_the_api_lists_open_notices_and_with_all_the_dismissed_ones(owner: User) -> None:
    kept = _notice(owner, "Old one", link="")
    new = _notice(owner, "New one")
    actions.dismiss_notice(owner, kept.public_id, acting_user=owner)
    api = _api(owner, ("read",))
    listed = api.get("/api/v1/me/notices").json()["items"]
    assert [item["id"] for item in listed] == [new.public_id]
    item = listed[0]
    assert item["title"] == "New one" and item["kind"] == "account" and item["dismissed_at"] is None
    assert item["url"].endswith("/privacy/") and item["url"].startswith("http")
    everything = api.get("/api/v1/me/notices?all=true").json()["items"]
    assert [i["id"] for i in everything] == [new.public_id, kept.public_id]
    assert everything[1]["dismissed_at"] is not None and everything[1]["url"] is None


def test_the_api_dismisses_once_and_refuses_foreign_and_unknown_ids(owner: User, member: User) -> None:
    notice = _notice(owner)
    api = _api(owner)
    first = api.post(f"/api/v1/me/notices/{notice.public_id}/dismiss")
    second = api.post(f"/api/v1/me/notices/{notice.public_id}/dismiss")
    assert first.status_code == second.status_code == 200
    assert first.json()["dismissed_at"] == second.json()["dismissed_at"] is not None
    assert api.get("/api/v1/me/notices").json()["items"] == []
    other = _notice(member)
    for wrong in (other.public_id, "no-such-notice"):
        refused = api.post(f"/api/v1/me/notices/{wrong}/dismiss")
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    other.refresh_from_db()
    assert other.dismissed_at is None


def test_the_api_needs_a_signed_in_caller_and_the_write_scope_to_dismiss(owner: User) -> None:
    notice = _notice(owner)
    assert Client().get("/api/v1/me/notices").status_code == 401
    assert Client().post(f"/api/v1/me/notices/{notice.public_id}/dismiss").status_code == 401
    reader = _api(owner, ("read",))
    refused = reader.post(f"/api/v1/me/notices/{notice.public_id}/dismiss")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    notice.refresh_from_db()
    assert notice.dismissed_at is None
    # The website's session, with its CSRF header, may dismiss too.
    session = _signed_in(owner)
    ok = session.post(f"/api/v1/me/notices/{notice.public_id}/dismiss", content_type="application/json")
    assert ok.status_code == 200 and json.loads(ok.content)["id"] == notice.public_id


def test_the_openapi_schema_documents_both_operations(client: Client) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    listed = schema["paths"]["/api/v1/me/notices"]["get"]
    assert [p["name"] for p in listed["parameters"]] == ["all"]
    assert "404" in schema["paths"]["/api/v1/me/notices/{id}/dismiss"]["post"]["responses"]


def test_the_demo_has_a_notice_for_alice_once(owner: User) -> None:
    demo_notices()
    demo_notices()
    (notice,) = actions.open_notices(owner)
    assert notice.title == "Welcome to the demo"
    actions.dismiss_notice(owner, notice.public_id, acting_user=owner)
    demo_notices()
    assert actions.open_notices(owner) == []
