"""A product update's way out and what it does not do: the one-click address (a GET changes nothing, a
POST with no cookie and no CSRF token unsubscribes), unsubscribing by mail, no tracking of any kind in
what is sent, the cap that drops an update for a person (never sends it later), and the rate's spacing."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from candor.comms import actions, tasks, unsubscribe
from candor.comms.choices import Reason, Status, Via
from candor.comms.models import Email, Preferences
from candor.privacy.logfilter import redact
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

FAST = 600_000  # a rate at which the pump never waits

BODY = """# What is new

Models can now be **tagged**. Read [the developer docs](/developers/api/) or
[the changelog](https://example.com/changes?from=2026#top), and write to [us](mailto:hello@example.org).

<img src="/static/candor/pixel.png" alt="pixel"> ![an image](https://tracker.example.net/p.gif)
<a href="https://elsewhere.example.net/x"><img src="https://tracker.example.net/2.gif"></a>
"""


def _send_update(author: Any, subject: str = "News", body: str = BODY) -> Any:
    update = actions.save_update(None, subject=subject, body=body, acting_user=author)
    actions.start_sending(update, acting_user=author)
    tasks.pump(seconds=30, rate_per_minute=FAST)
    return update


def _token_of(user: Any) -> str:
    return unsubscribe.token_for(Email.objects.get(user=user, update__isnull=False).pk)


# --- The one-click address ----------------------------------------------------------------------------


def test_a_get_shows_one_button_and_changes_nothing() -> None:
    person = make_user("pia")
    _send_update(make_user("writer"))
    token = _token_of(person)
    page = Client().get(f"/-/unsubscribe/{token}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("<form") == 1 and 'method="post"' in html and html.count("<button") == 1
    assert actions.preferences_of(person).product_updates  # a link scanner changed nothing
    assert "pia" not in html  # neither the username nor the address (pia@example.org)
    assert "no-store" in page["Cache-Control"] and page["Referrer-Policy"] == "no-referrer"
    assert "noindex" in page["X-Robots-Tag"] and 'name="robots" content="noindex' in html


def test_a_one_click_post_with_no_cookie_and_no_csrf_token_unsubscribes_at_once() -> None:
    person = make_user("pia")
    _send_update(make_user("writer"))
    token = _token_of(person)
    # What a mail client sends (RFC 8058): a form POST of List-Unsubscribe=One-Click, nothing else.
    client = Client(enforce_csrf_checks=True)
    answer = client.post(f"/-/unsubscribe/{token}/", {"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    assert "You are unsubscribed" in answer.content.decode()
    assert "/settings/emails/" in answer.content.decode() and "pia" not in answer.content.decode()
    prefs = Preferences.objects.get(user=person)
    assert not prefs.product_updates and prefs.changed_via == Via.ONE_CLICK
    again = client.post(f"/-/unsubscribe/{token}/", {"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200 and not actions.preferences_of(person).product_updates


def _tampered(token: str) -> str:
    return token[:5] + ("A" if token[5] != "A" else "B") + token[6:]


@pytest.mark.parametrize("how", ["tampered", "other-site", "garbage", "gone"])
def test_a_bad_token_gets_a_clear_400_page_and_changes_nothing(how: str) -> None:
    person = make_user("pia")
    _send_update(make_user("writer"))
    token = _token_of(person)
    if how == "tampered":
        token = _tampered(token)
    elif how == "other-site":  # a real token of another installation (another secret key)
        with override_settings(SECRET_KEY="another-site-" + "k" * 50):
            token = unsubscribe.token_for(Email.objects.get(user=person).pk)
    elif how == "garbage":
        token = "not-a-token"
    else:
        Email.objects.filter(user=person).delete()  # the record was swept: the token names nothing
    for method in ("get", "post"):
        answer = getattr(Client(), method)(f"/-/unsubscribe/{token}/")
        assert answer.status_code == 400, (how, method)
        assert "This unsubscribe link does not work" in answer.content.decode()
        assert "Nothing was changed" in answer.content.decode()
        assert "no-store" in answer["Cache-Control"]
    assert actions.preferences_of(person).product_updates


def test_the_token_is_kept_out_of_logs() -> None:
    token = unsubscribe.token_for("0" * 32)
    assert token not in redact(f'"POST /-/unsubscribe/{token}/ HTTP/1.1" 200')


# --- Unsubscribing by mail ----------------------------------------------------------------------------


def _mail(subject: str) -> bytes:
    return (
        f"From: Pia <pia@example.org>\r\nTo: {settings.UNSUBSCRIBE_EMAIL}\r\n"
        f"Subject: {subject}\r\nMessage-ID: <x@example.org>\r\n\r\n(sent by the mail reader)\r\n"
    ).encode()


def test_an_unsubscribe_email_unsubscribes_by_its_token() -> None:
    person = make_user("pia")
    _send_update(make_user("writer"))
    # The subject as the mailto link of pia's List-Unsubscribe gives it to her mail reader.
    message = next(m for m in mail.outbox if m.to == ["pia@example.org"]).message()
    mailto = re.search(r"<(mailto:[^>]+)>", message["List-Unsubscribe"])
    assert mailto is not None and mailto.group(1).startswith(f"mailto:{settings.UNSUBSCRIBE_EMAIL}?")
    subject = parse_qs(urlsplit(mailto.group(1)).query)["subject"][0]
    out = io.StringIO()
    call_command("comms", "unsubscribe-mail", stdin=io.BytesIO(_mail(subject)), stdout=out)
    assert "Unsubscribed" in out.getvalue() and "pia" not in out.getvalue()
    prefs = Preferences.objects.get(user=person)
    assert not prefs.product_updates and prefs.changed_via == Via.MAIL


@pytest.mark.parametrize(
    "subject",
    ["hello", "unsubscribe", "unsubscribe not-a-token-at-all-00", "Re: unsubscribe {tampered}"],
)
def test_an_email_without_a_valid_token_fails_and_changes_nothing(subject: str) -> None:
    person = make_user("pia")
    _send_update(make_user("writer"))
    subject = subject.format(tampered=_tampered(_token_of(person)))
    with pytest.raises(CommandError, match="Nothing changed"):
        call_command("comms", "unsubscribe-mail", stdin=io.BytesIO(_mail(subject)))
    assert actions.preferences_of(person).product_updates


def test_a_message_that_is_not_an_email_fails_clearly() -> None:
    with pytest.raises(CommandError, match="No unsubscribe token"):
        call_command("comms", "unsubscribe-mail", stdin=io.BytesIO(b"\x00\xff" * 100))


# --- No tracking ----------------------------------------------------------------------------------


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: list[str] = []
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "href" and value is not None:
                self.hrefs.append(value)
            if name in ("src", "srcset", "background", "poster", "data") and value is not None:
                self.sources.append(value)


def _parts(message: Any) -> tuple[str, str]:
    text = message.body
    html = next(content for content, kind in message.alternatives if kind == "text/html")
    return text, html


def test_a_sent_update_has_no_pixel_no_redirect_and_no_personal_parameter_but_the_unsubscribe() -> None:
    people = [make_user("pia"), make_user("quin")]
    _send_update(make_user("writer"))
    site = settings.WEBSITE_URL
    by_person = {m.to[0]: _parts(m) for m in mail.outbox}
    assert set(by_person) >= {p.email for p in people}
    links_of: dict[str, set[str]] = {}
    for address, (text, html) in by_person.items():
        parsed = Links()
        parsed.feed(html)
        # No image of any kind, nothing the reader's client would fetch on opening.
        assert "img" not in parsed.tags and parsed.sources == [], address
        assert "<img" not in html.lower() and "url(" not in html.lower()
        assert "tracker.example.net" not in html and "tracker.example.net" not in text
        for href in parsed.hrefs:
            url = urlsplit(href)
            assert url.scheme in ("https", "http", "mailto"), href  # absolute, every one
            # Straight to the destination: no address of somewhere else carried inside the link.
            assert not re.search(r"(https?|mailto)(:|%3a)", f"{url.path}?{url.query}", re.I), href
        # The card's links as written, made absolute, and nothing added to them.
        assert f"{site}/developers/api/" in parsed.hrefs
        assert "https://example.com/changes?from=2026#top" in parsed.hrefs
        assert "mailto:hello@example.org" in parsed.hrefs
        links_of[address] = {h for h in parsed.hrefs if "/-/unsubscribe/" not in h}
        unsubscribe_links = [h for h in parsed.hrefs if "/-/unsubscribe/" in h]
        assert len(unsubscribe_links) == 1
        assert all(h.startswith(site) for h in unsubscribe_links)
        for line_url in re.findall(r"https?://\S+", text):
            assert "tracker" not in line_url and "redirect" not in line_url
    # Every link but the unsubscribe one is the same for everyone: nothing per person rides on them.
    assert len({frozenset(links) for links in links_of.values()}) == 1
    texts = {re.sub(r"/-/unsubscribe/[^/\s]+/", "", t) for t, _ in by_person.values()}
    assert len(texts) == 1  # the text part too differs by the unsubscribe link alone


# --- The cap: dropped, never delayed -------------------------------------------------------------------


def test_an_update_over_the_cap_is_dropped_for_the_person_and_never_sent_later() -> None:
    writer = make_user("writer")
    pia = make_user("pia")
    _send_update(writer, "first")
    second = _send_update(writer, "second")
    row = Email.objects.get(user=pia, update=second)
    assert (row.status, row.reason) == (Status.SKIPPED, Reason.CAPPED)
    # Much later (the cap long over), the pump runs again: the dropped email stays dropped.
    with override_settings(PRODUCT_EMAIL_CAP_DAYS=0):
        tasks.pump(seconds=30, rate_per_minute=FAST)
    row.refresh_from_db()
    assert (row.status, row.reason) == (Status.SKIPPED, Reason.CAPPED) and row.sent_at is None
    assert [m.subject for m in mail.outbox].count("[Candor] second") == 0
    second.refresh_from_db()
    assert second.status == "sent"  # closed: nothing of it is waiting


# --- The rate: the pump's own spacing -------------------------------------------------------------------


class Clock:
    """time.monotonic and time.sleep for the pump: sleeping moves the clock, nothing really waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.sends: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_rate_spaces_the_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    writer = make_user("writer")
    for index in range(9):
        make_user(f"p{index}")
    update = actions.save_update(None, subject="Paced", body="x", acting_user=writer)
    actions.start_sending(update, acting_user=writer)
    clock = Clock()
    monkeypatch.setattr(tasks.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(tasks.time, "sleep", clock.sleep)
    real_deliver = tasks.outbox.deliver

    def deliver(email_id: Any, **kwargs: Any) -> Any:
        clock.sends.append(clock.now)
        return real_deliver(email_id, **kwargs)

    monkeypatch.setattr(tasks.outbox, "deliver", deliver)
    done = tasks.pump(seconds=3600, rate_per_minute=6)  # one every 10 s
    assert done["sent"] == 10
    gaps = [b - a for a, b in zip(clock.sends, clock.sends[1:], strict=False)]
    assert gaps == [pytest.approx(10.0)] * 9
    assert clock.sleeps == [pytest.approx(10.0)] * 9


def test_a_run_stops_at_its_deadline_and_the_next_run_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    writer = make_user("writer")
    for index in range(5):
        make_user(f"p{index}")
    update = actions.save_update(None, subject="Paced", body="x", acting_user=writer)
    actions.start_sending(update, acting_user=writer)
    clock = Clock()
    monkeypatch.setattr(tasks.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(tasks.time, "sleep", clock.sleep)
    first = tasks.pump(seconds=25, rate_per_minute=6)  # room for sends at 0, 10 and 20 s
    assert first["sent"] == 3 and first["more"] == 1
    second = tasks.pump(seconds=3600, rate_per_minute=6)
    assert second["sent"] == 3 and second["more"] == 0
    assert len(mail.outbox) == 6
