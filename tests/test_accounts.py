from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from candor.accounts import actions
from candor.accounts.models import EmailConfirmation, User, UserSession
from candor.accounts.validators import RESERVED_USERNAMES
from candor.kernel.refusal import Code, Refusal
from candor.privacy.audit import EventType
from candor.privacy.models import AuditEvent
from tests.audit_rows import no_rows, only_row
from tests.conftest import PASSWORD, Mailbox, make_user

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "plum-orchard-sunrise-44"


def signup(
    client: Client, username: str = "erin", email: str = "erin@example.org", password: str = GOOD_PASSWORD
):
    return client.post(
        reverse("accounts:signup"), {"username": username, "email": email, "password": password}
    )


def path_of(url: str) -> str:
    return urlsplit(url).path


class TestSignUp:
    def test_form_asks_for_username_email_and_password_only(self, client: Client) -> None:
        page = client.get(reverse("accounts:signup")).content.decode()
        names = set(re.findall(r'<input[^>]* name="([^"]+)"', page)) - {"csrfmiddlewaretoken"}
        assert names == {"username", "email", "password"}

    def test_creates_an_unverified_account_and_sends_a_link(self, client: Client, mailbox: Mailbox) -> None:
        response = signup(client)
        assert response.status_code == 200
        assert b"Check your inbox" in response.content
        user = User.objects.named("erin").get()
        assert not user.email_verified and not user.can_publish
        assert user.password.startswith("argon2$argon2id$")
        assert "/accounts/verify/" in mailbox.link_to("erin@example.org")
        assert "_auth_user_id" not in client.session  # sign-up does not log in before verification

    @pytest.mark.parametrize(
        ("username", "message"),
        [
            ("ab", "3 to 39 characters"),
            ("a" * 40, "at most 39 characters"),
            ("-lead", "single hyphens"),
            ("trail-", "single hyphens"),
            ("dou--ble", "single hyphens"),
            ("under_score", "single hyphens"),
            ("émile", "single hyphens"),
            ("Admin", "reserved"),
            ("settings", "reserved"),
        ],
    )
    def test_rejects_bad_usernames_and_keeps_what_was_typed(
        self, client: Client, username: str, message: str
    ) -> None:
        response = signup(client, username=username)
        assert response.status_code == 400
        body = response.content.decode()
        assert message in body
        assert 'value="erin@example.org"' in body  # the email typed is kept
        assert GOOD_PASSWORD not in body  # the password is not echoed
        assert not User.objects.exists()

    def test_site_paths_are_reserved(self) -> None:
        for name in ("admin", "api", "settings", "models", "privacy", "developers", "trends", "login"):
            assert name in RESERVED_USERNAMES

    def test_usernames_are_unique_without_regard_to_case(self, client: Client, owner: User) -> None:
        response = signup(client, username="ALICE")
        assert response.status_code == 400
        assert b"This username is taken" in response.content
        assert User.objects.named("alice").count() == 1

    def test_weak_and_common_passwords_are_refused(self, client: Client) -> None:
        for password in ("password123", "1234567890123", "short"):
            response = signup(client, password=password)
            assert response.status_code == 400
            assert b"password" in response.content.lower()
        assert not User.objects.exists()

    def test_a_taken_address_gets_the_same_answer_and_its_owner_is_told(
        self, client: Client, owner: User, mailbox: Mailbox
    ) -> None:
        fresh = signup(client, username="newcomer", email="fresh@example.org")
        taken = signup(client, username="intruder", email="ALICE@example.org")
        assert taken.status_code == fresh.status_code == 200

        def strip(r):
            return r.content.decode().replace("ALICE@example.org", "X").replace("fresh@example.org", "X")

        assert strip(taken) == strip(fresh)
        # The name is taken as for a new address, by an account that does not claim the address.
        assert User.objects.named("intruder").get().address_unclaimed
        assert "already belongs to your account" in mailbox.body(mailbox.last_to(owner.email))


class TestVerification:
    def test_get_shows_a_button_and_post_verifies(self, client: Client, mailbox: Mailbox) -> None:
        signup(client)
        link = path_of(mailbox.link_to("erin@example.org"))
        assert client.get(link).status_code == 200
        assert not User.objects.named("erin").get().email_verified  # a link scanner confirms nothing
        response = client.post(link)
        assert response.status_code == 302
        assert User.objects.named("erin").get().email_verified
        assert client.post(link).status_code == 400  # used once

    def test_expired_link_is_refused_with_a_clear_message(self, client: Client, mailbox: Mailbox) -> None:
        signup(client)
        link = path_of(mailbox.link_to("erin@example.org"))
        EmailConfirmation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        response = client.post(link)
        assert response.status_code == 400
        assert b"expired" in response.content
        assert not User.objects.named("erin").get().email_verified

    def test_tampered_token_is_refused(self, client: Client, mailbox: Mailbox) -> None:
        signup(client)
        link = path_of(mailbox.link_to("erin@example.org"))
        tampered = link[:-3] + ("x" if link[-3] != "x" else "y") + link[-2:]
        response = client.post(tampered)
        assert response.status_code == 400
        assert b"not valid" in response.content
        assert not User.objects.named("erin").get().email_verified

    def test_resend_replaces_the_old_link(self, owner: User, mailbox: Mailbox) -> None:
        owner.email_verified = False
        owner.save()
        client = Client()
        client.force_login(owner)
        client.post(reverse("accounts:resend_verification"))
        first = path_of(mailbox.link_to(owner.email))
        client.post(reverse("accounts:resend_verification"))
        second = path_of(mailbox.link_to(owner.email))
        assert first != second
        assert client.post(first).status_code == 400
        assert client.post(second).status_code == 302
        owner.refresh_from_db()
        assert owner.can_publish

    def test_the_stored_row_does_not_hold_the_token(self, client: Client, mailbox: Mailbox) -> None:
        signup(client)
        token = path_of(mailbox.link_to("erin@example.org")).rstrip("/").rsplit("/", 1)[-1]
        row = EmailConfirmation.objects.values().get()
        assert all(token not in str(value) for value in row.values())


class TestLogIn:
    def login(self, client: Client, identifier: str, password: str = PASSWORD, **extra: str):
        return client.post(reverse("accounts:login"), {"username": identifier, "password": password}, **extra)

    @pytest.mark.parametrize("identifier", ["alice", "ALICE", "alice@example.org", "Alice@Example.org"])
    def test_with_username_or_email(self, client: Client, owner: User, identifier: str) -> None:
        response = self.login(client, identifier)
        assert response.status_code == 302
        assert client.session["_auth_user_id"] == str(owner.pk)

    def test_wrong_password_gives_a_clear_error_and_keeps_the_name(self, client: Client, owner: User) -> None:
        response = self.login(client, "alice", "not-the-password")
        assert response.status_code == 400
        body = response.content.decode()
        assert "do not match an account" in body
        assert 'value="alice"' in body and "not-the-password" not in body
        assert "_auth_user_id" not in client.session

    def test_failures_are_throttled_per_account(self, client: Client, owner: User, settings) -> None:
        settings.LOGIN_FAILURES_PER_ACCOUNT = 3
        for n in range(3):
            self.login(client, "alice", "wrong", REMOTE_ADDR=f"198.51.100.{n}")
        # Even the right password from a new address is refused while the account is throttled.
        response = self.login(client, "alice@example.org", PASSWORD, REMOTE_ADDR="198.51.100.99")
        assert response.status_code == 400
        assert b"Too many failed attempts" in response.content
        assert "_auth_user_id" not in client.session

    def test_failures_are_throttled_per_address(
        self, client: Client, owner: User, member: User, settings
    ) -> None:
        settings.LOGIN_FAILURES_PER_ADDRESS = 3
        for name in ("nobody1", "nobody2", "nobody3"):
            self.login(client, name, "wrong", REMOTE_ADDR="203.0.113.7")
        assert b"Too many failed" in self.login(client, "bob", PASSWORD, REMOTE_ADDR="203.0.113.7").content
        assert self.login(client, "bob", PASSWORD, REMOTE_ADDR="203.0.113.8").status_code == 302

    def test_throttle_counters_expire_and_do_not_hold_the_address(self, owner: User, settings) -> None:
        from candor.core.counters import DATABASE

        settings.LOGIN_FAILURES_PER_ADDRESS = 1
        settings.LOGIN_FAILURE_WINDOW_SECONDS = 3  # room for two Argon2 checks on a busy machine
        client = Client()
        self.login(client, "alice", "wrong", REMOTE_ADDR="192.0.2.55")
        keys = DATABASE.keys()
        assert keys and not any("192.0.2.55" in key for key in keys)
        assert b"Too many" in self.login(client, "alice", PASSWORD, REMOTE_ADDR="192.0.2.55").content
        import time

        time.sleep(3.1)
        assert self.login(client, "alice", PASSWORD, REMOTE_ADDR="192.0.2.55").status_code == 302

    def test_inactive_account_cannot_log_in(self, client: Client, owner: User) -> None:
        owner.is_active = False
        owner.save()
        assert self.login(client, "alice").status_code == 400

    def test_next_is_followed_only_on_this_site(self, client: Client, owner: User) -> None:
        response = client.post(
            reverse("accounts:login") + "?next=https://evil.example/",
            {"username": "alice", "password": PASSWORD},
        )
        assert response["Location"] == reverse("accounts:settings")
        client.logout()
        response = client.post(
            reverse("accounts:login") + "?next=/settings/sessions/",
            {"username": "alice", "password": PASSWORD},
        )
        assert response["Location"] == "/settings/sessions/"

    def test_logout_needs_post_and_ends_the_session(self, owner_client: Client) -> None:
        confirm = owner_client.get(reverse("accounts:logout"))
        assert confirm.status_code == 200 and b'method="post"' in confirm.content
        assert owner_client.get(reverse("accounts:settings")).status_code == 200  # GET changed nothing
        assert owner_client.post(reverse("accounts:logout")).status_code == 302
        assert owner_client.get(reverse("accounts:settings")).status_code == 302
        assert not UserSession.objects.filter(user__isnull=False).exists()


class TestPasswordReset:
    def test_same_answer_whether_or_not_the_address_has_an_account(
        self, client: Client, owner: User, mailbox: Mailbox
    ) -> None:
        known = client.post(reverse("accounts:password_reset"), {"email": owner.email})
        unknown = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.org"})
        assert known.status_code == unknown.status_code == 302
        assert known["Location"] == unknown["Location"]
        assert mailbox.to(owner.email) and not mailbox.to("nobody@example.org")

    def test_link_sets_a_new_password_once_and_ends_sessions(
        self, client: Client, owner: User, mailbox: Mailbox
    ) -> None:
        other = Client()
        other.force_login(owner)
        client.post(reverse("accounts:password_reset"), {"email": owner.email})
        link = path_of(mailbox.link_to(owner.email))
        form_url = client.get(link)["Location"]
        response = client.post(form_url, {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD})
        assert response.status_code == 302
        owner.refresh_from_db()
        assert owner.check_password(GOOD_PASSWORD)
        assert other.get(reverse("accounts:settings")).status_code == 302
        assert not UserSession.objects.filter(user=owner).exists()
        assert b"not valid" in client.get(link, follow=True).content


class TestEmailChange:
    def test_needs_the_password(self, owner_client: Client, owner: User, mailbox: Mailbox) -> None:
        response = owner_client.post(
            reverse("accounts:email_change"), {"email": "alice.new@example.org", "password": "wrong"}
        )
        assert response.status_code == 400
        assert b"password is not correct" in response.content
        assert b'value="alice.new@example.org"' in response.content
        assert not mailbox.messages()

    def test_verifies_the_new_address_and_tells_the_old_one(
        self, owner_client: Client, owner: User, mailbox: Mailbox
    ) -> None:
        response = owner_client.post(
            reverse("accounts:email_change"), {"email": "alice.new@example.org", "password": PASSWORD}
        )
        assert response.status_code == 302
        owner.refresh_from_db()
        assert owner.email == "alice@example.org"  # unchanged until confirmed
        assert "move it to a new email address" in mailbox.body(mailbox.last_to("alice@example.org"))
        link = path_of(mailbox.link_to("alice.new@example.org"))
        assert owner_client.post(link).status_code == 302
        owner.refresh_from_db()
        assert owner.email == "alice.new@example.org" and owner.email_verified

    def test_address_of_another_account_is_not_revealed(
        self, owner_client: Client, owner: User, member: User, mailbox: Mailbox
    ) -> None:
        response = owner_client.post(
            reverse("accounts:email_change"), {"email": member.email, "password": PASSWORD}
        )
        assert response.status_code == 302  # the same answer as for a free address
        assert not EmailConfirmation.objects.filter(email=member.email).exists()
        assert "already belongs to your account" in mailbox.body(mailbox.last_to(member.email))

    def test_address_taken_between_request_and_confirmation(
        self, owner_client: Client, owner: User, mailbox: Mailbox
    ) -> None:
        owner_client.post(
            reverse("accounts:email_change"), {"email": "shared@example.org", "password": PASSWORD}
        )
        link = path_of(mailbox.link_to("shared@example.org"))
        User.objects.create_user("zoe", "shared@example.org", PASSWORD)
        response = owner_client.post(link)
        assert response.status_code == 400
        assert b"no longer available" in response.content
        owner.refresh_from_db()
        assert owner.email == "alice@example.org"

    def test_can_be_cancelled(self, owner_client: Client, owner: User, mailbox: Mailbox) -> None:
        owner_client.post(reverse("accounts:email_change"), {"email": "a2@example.org", "password": PASSWORD})
        link = path_of(mailbox.link_to("a2@example.org"))
        assert b"a2@example.org" in owner_client.get(reverse("accounts:settings")).content
        owner_client.post(reverse("accounts:email_change_cancel"))
        assert owner_client.post(link).status_code == 400
        owner.refresh_from_db()
        assert owner.email == "alice@example.org"


class TestPasswordChangeAndSessions:
    def two_sessions(self, owner: User) -> tuple[Client, Client]:
        here, there = (
            Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
            Client(),
        )
        for c in (here, there):
            c.post(reverse("accounts:login"), {"username": "alice", "password": PASSWORD})
        here.get(reverse("accounts:settings"))
        return here, there

    def change(self, client: Client, end_others: bool):
        data = {"old_password": PASSWORD, "new_password": GOOD_PASSWORD}
        if end_others:
            data["end_other_sessions"] = "on"
        return client.post(reverse("accounts:password_change"), data)

    def test_ending_the_other_sessions(self, owner: User, mailbox: Mailbox) -> None:
        here, there = self.two_sessions(owner)
        assert self.change(here, end_others=True).status_code == 302
        assert here.get(reverse("accounts:settings")).status_code == 200
        assert there.get(reverse("accounts:settings")).status_code == 302
        assert UserSession.objects.filter(user=owner).count() == 1
        assert "password" in mailbox.body(mailbox.last_to(owner.email)).lower()

    def test_keeping_the_other_sessions(self, owner: User) -> None:
        here, there = self.two_sessions(owner)
        assert self.change(here, end_others=False).status_code == 302
        assert here.get(reverse("accounts:settings")).status_code == 200
        assert there.get(reverse("accounts:settings")).status_code == 200
        owner.refresh_from_db()
        assert owner.check_password(GOOD_PASSWORD)

    def test_wrong_current_password(self, owner_client: Client, owner: User) -> None:
        response = owner_client.post(
            reverse("accounts:password_change"), {"old_password": "nope", "new_password": GOOD_PASSWORD}
        )
        assert response.status_code == 400
        owner.refresh_from_db()
        assert owner.check_password(PASSWORD)

    def test_sessions_page_lists_browser_and_ends_one(self, owner: User) -> None:
        here, there = self.two_sessions(owner)
        page = here.get(reverse("accounts:sessions")).content.decode()
        assert "Firefox" in page and "This session" in page
        assert here.session.session_key not in page  # the secret key never appears
        ids = re.findall(r'name="session" value="([^"]+)"', page)
        assert len(ids) == 1
        here.post(reverse("accounts:session_end"), {"session": ids[0]})
        assert there.get(reverse("accounts:settings")).status_code == 302
        assert here.get(reverse("accounts:settings")).status_code == 200

    def test_a_session_of_someone_else_cannot_be_ended(self, owner: User, member: User) -> None:
        bob = Client()
        bob.post(reverse("accounts:login"), {"username": "bob", "password": PASSWORD})
        bob_session = UserSession.objects.get(user=member)
        here, _ = self.two_sessions(owner)
        response = here.post(reverse("accounts:session_end"), {"session": bob_session.public_id}, follow=True)
        assert b"already ended" in response.content
        assert bob.get(reverse("accounts:settings")).status_code == 200

    def test_end_all_others(self, owner: User) -> None:
        here, there = self.two_sessions(owner)
        here.post(reverse("accounts:session_end"), {"all": "others"})
        assert there.get(reverse("accounts:settings")).status_code == 302
        assert here.get(reverse("accounts:settings")).status_code == 200


def test_settings_pages_need_login(client: Client) -> None:
    for name in ("settings", "email_change", "password_change", "sessions"):
        response = client.get(reverse(f"accounts:{name}"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


def test_only_verified_accounts_can_publish(db: None) -> None:
    assert make_user("vera", verified=True).can_publish
    assert not make_user("una", verified=False).can_publish


def test_confirm_email_action_rejects_a_link_for_a_replaced_address(owner: User) -> None:
    owner.email_verified = False
    owner.save()
    actions.resend_verification(owner, acting_user=owner)
    confirmation = EmailConfirmation.objects.get(user=owner)
    User.objects.filter(pk=owner.pk).update(email="elsewhere@example.org")
    with pytest.raises(Refusal) as error:
        actions.confirm_email(confirmation.public_id, confirmation.token(), acting_user=None)
    assert error.value.code is Code.STALE_LINK


class TestAuditTrail:
    """Each change to an account writes one audit row of ids, numbers and known words; a refusal none."""

    def forget_rows(self) -> None:
        AuditEvent.objects.all().delete()

    def test_sign_up(self, client: Client, mailbox: Mailbox) -> None:
        assert signup(client).status_code == 200
        erin = User.objects.named("erin").get()
        only_row(EventType.SIGNED_UP, acting=erin, subject=erin, personal=["erin", GOOD_PASSWORD])

    def test_sign_up_with_a_taken_address_writes_the_same_row(self, owner: User, mailbox: Mailbox) -> None:
        user = actions.sign_up(username="taker", email=owner.email, password=GOOD_PASSWORD, acting_user=None)
        row = only_row(EventType.SIGNED_UP, acting=user, subject=user, personal=["taker", owner.email])
        assert row.extra == {}

    def test_a_refused_sign_up_writes_nothing(self, owner: User) -> None:
        with pytest.raises(Refusal) as refused:
            actions.sign_up(
                username="ALICE", email="new@example.org", password=GOOD_PASSWORD, acting_user=None
            )
        assert refused.value.code is Code.USERNAME_TAKEN and refused.value.fields == {
            "username": ["This username is taken."]
        }
        no_rows()

    def test_confirmation(self, client: Client, mailbox: Mailbox) -> None:
        signup(client)
        self.forget_rows()
        link = path_of(mailbox.link_to("erin@example.org"))
        assert Client().post(link).status_code == 302
        erin = User.objects.named("erin").get()
        row = only_row(EventType.EMAIL_CONFIRMED, acting=erin, subject=erin, personal=["erin"])
        assert row.extra == {"how": "link"}

    def test_a_refused_confirmation_writes_nothing(self, client: Client, mailbox: Mailbox) -> None:
        signup(client)
        self.forget_rows()
        link = path_of(mailbox.link_to("erin@example.org"))
        assert Client().post(link[:-3] + "xyz/").status_code == 400
        no_rows()

    def test_email_change(self, owner_client: Client, owner: User, mailbox: Mailbox) -> None:
        owner_client.post(
            reverse("accounts:email_change"), {"email": "a.new@example.org", "password": PASSWORD}
        )
        no_rows()  # asking is not changing: the row comes with the change
        assert owner_client.post(path_of(mailbox.link_to("a.new@example.org"))).status_code == 302
        personal = ["alice", "a.new@example.org", PASSWORD]
        only_row(EventType.EMAIL_CHANGED, acting=owner, subject=owner, personal=personal)

    def test_a_refused_email_change_writes_nothing(
        self, owner_client: Client, owner: User, mailbox: Mailbox
    ) -> None:
        owner_client.post(
            reverse("accounts:email_change"), {"email": "shared@example.org", "password": PASSWORD}
        )
        User.objects.create_user("zoe", "shared@example.org", PASSWORD)
        assert owner_client.post(path_of(mailbox.link_to("shared@example.org"))).status_code == 400
        no_rows()

    def test_password_change(self, owner: User, mailbox: Mailbox) -> None:
        sessions = TestPasswordChangeAndSessions()
        here, _ = sessions.two_sessions(owner)
        assert sessions.change(here, end_others=True).status_code == 302
        row = only_row(
            EventType.PASSWORD_CHANGED,
            acting=owner,
            subject=owner,
            personal=["alice", PASSWORD, GOOD_PASSWORD],
        )
        assert row.extra == {"how": "password", "ended_sessions": 1}

    def test_a_refused_password_change_writes_nothing(self, owner_client: Client, owner: User) -> None:
        response = owner_client.post(
            reverse("accounts:password_change"), {"old_password": "nope", "new_password": GOOD_PASSWORD}
        )
        assert response.status_code == 400
        no_rows()

    def test_password_reset(self, client: Client, owner: User, mailbox: Mailbox) -> None:
        Client().force_login(owner)
        client.post(reverse("accounts:password_reset"), {"email": owner.email})
        form_url = client.get(path_of(mailbox.link_to(owner.email)))["Location"]
        client.post(form_url, {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD})
        row = only_row(
            EventType.PASSWORD_RESET,
            acting=owner,
            subject=owner,
            personal=["alice", owner.email, GOOD_PASSWORD],
        )
        assert row.extra == {"how": "link", "ended_sessions": 1}

    def test_a_refused_password_reset_writes_nothing(
        self, client: Client, owner: User, mailbox: Mailbox
    ) -> None:
        client.post(reverse("accounts:password_reset"), {"email": owner.email})
        form_url = client.get(path_of(mailbox.link_to(owner.email)))["Location"]
        response = client.post(
            form_url, {"new_password1": GOOD_PASSWORD, "new_password2": "something-else-77"}
        )
        assert response.status_code == 200 and b"errorlist" in response.content
        no_rows()

    def test_signing_out(self, owner_client: Client, owner: User) -> None:
        owner_client.post(reverse("accounts:logout"))
        row = only_row(EventType.SESSION_ENDED, acting=owner, subject=owner, personal=["alice"])
        assert row.extra == {"how": "signed_out"}

    def test_ending_another_session(self, owner: User) -> None:
        here, _ = TestPasswordChangeAndSessions().two_sessions(owner)
        other = UserSession.objects.filter(user=owner).exclude(session_key=here.session.session_key).get()
        here.post(reverse("accounts:session_end"), {"session": other.public_id})
        row = only_row(
            EventType.SESSION_ENDED, acting=owner, subject=owner, personal=["alice", other.public_id]
        )
        assert row.extra == {"how": "owner", "ended": 1}

    def test_ending_all_other_sessions(self, owner: User) -> None:
        here, _ = TestPasswordChangeAndSessions().two_sessions(owner)
        here.post(reverse("accounts:session_end"), {"all": "others"})
        row = only_row(EventType.SESSION_ENDED, acting=owner, subject=owner, personal=["alice"])
        assert row.extra == {"how": "all_others", "ended": 1}

    def test_a_refused_session_end_writes_nothing(self, owner: User, member: User) -> None:
        Client().force_login(member)
        bob_session = UserSession.objects.get(user=member)
        here, _ = TestPasswordChangeAndSessions().two_sessions(owner)
        here.post(reverse("accounts:session_end"), {"session": bob_session.public_id})
        with pytest.raises(Refusal) as refused:
            actions.end_session(
                owner,
                here.session.session_key,
                current_session_key=here.session.session_key,
                acting_user=owner,
            )
        assert refused.value.code is Code.NO_SESSION  # the key is not a public id: nothing matches
        current = UserSession.objects.get(session_key=here.session.session_key)
        with pytest.raises(Refusal) as refused:
            actions.end_session(
                owner, current.public_id, current_session_key=here.session.session_key, acting_user=owner
            )
        assert refused.value.code is Code.CURRENT_SESSION
        no_rows()
