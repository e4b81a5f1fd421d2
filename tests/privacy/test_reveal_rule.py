"""The decryption rule (issue 14): while a request is answered for someone, a value of another person is
decrypted only inside a staff grant (candor.staff.gate), or when its owner published it and the
visibility helper handed it to this request. The rule is on in every test of the suite, so any code path
that decrypts another person's value outside a grant fails the suite by name (crypto.NotYours)."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import AnonymousUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.tasks import task
from django.test import Client, RequestFactory

from candor.accounts import actions as account_actions
from candor.accounts.models import SecurityEvent, User
from candor.api import actions as token_actions
from candor.api.models import ApiToken
from candor.hub import actions as hub_actions
from candor.hub import visibility
from candor.hub.models import MLModel, ModelFile
from candor.privacy import crypto
from candor.privacy.middleware import ViewerMiddleware
from candor.staff import actions as staff_actions
from candor.staff import gate
from tests.conftest import make_user
from tests.staff.factory import make_staff

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def as_request(viewer: User | None, read: Callable[[], Any]) -> Any:
    """``read`` run as the view of a request by ``viewer`` (None: anonymous), through the middleware."""
    request = RequestFactory().get("/")
    request.user = viewer if viewer is not None else AnonymousUser()
    seen: list[Any] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(read())
        return HttpResponse("ok")

    ViewerMiddleware(view)(request)
    return seen[0]


def fresh(record: type[Any], **lookup: Any) -> Any:
    return record.objects.filter(**lookup).order_by("pk").first()  # a new instance: nothing decrypted yet


@pytest.fixture
def erin() -> User:
    user = make_user("erin")
    account_actions.record_event(
        user, SecurityEvent.Kind.SIGN_IN, RequestFactory().get("/", REMOTE_ADDR="203.0.113.9")
    )
    token_actions.create_token(user, name="laptop of erin", scopes=["read"], acting_user=user)
    private = hub_actions.create_model(acting_user=user, name="secret-plan", title="Erin's secret plan")
    assert private.visibility == "private"
    return user


def test_the_middleware_names_the_viewer_after_authentication() -> None:
    stack = django_settings.MIDDLEWARE
    assert stack.index("candor.privacy.middleware.ViewerMiddleware") > stack.index(
        "django.contrib.auth.middleware.AuthenticationMiddleware"
    )
    owner = make_user("olga")
    assert as_request(owner, crypto.current_viewer) == str(owner.pk)
    assert as_request(None, crypto.current_viewer) == crypto.ANONYMOUS
    assert crypto.current_viewer() is None  # reset when the request ends


@pytest.mark.parametrize(
    ("record", "lookup", "field"),
    [
        (User, "pk", "email"),
        (SecurityEvent, "user_id", "ip_address"),
        (ApiToken, "user_id", "name"),
        (MLModel, "owner_id", "title"),
    ],
)
def test_a_request_that_reads_another_persons_value_fails(
    erin: User, record: Any, lookup: str, field: str
) -> None:
    someone = make_user("mallory")
    with pytest.raises(crypto.NotYours, match=f"{record._meta.label}.{field} of another account"):
        as_request(someone, lambda: getattr(fresh(record, **{lookup: erin.pk}), field))
    with pytest.raises(crypto.NotYours):
        as_request(None, lambda: getattr(fresh(record, **{lookup: erin.pk}), field))
    # The owner reads their own; with no request (a task, a command) the platform reads it for its work.
    assert as_request(erin, lambda: getattr(fresh(record, **{lookup: erin.pk}), field))
    assert getattr(fresh(record, **{lookup: erin.pk}), field)


def test_the_same_values_are_read_inside_a_grant(erin: User) -> None:
    agent = make_staff("sam", ["trust_and_safety"])
    lead = make_staff("lee", ["trust_and_safety"])
    grant = staff_actions.request_grant(
        acting_user=agent,
        subject=erin,
        role="trust_and_safety",
        purpose="security_incident",
        case_reference="INC-4",
        categories=["network.ip", "contact.email"],
    )
    staff_actions.approve_grant(grant.public_id, acting_user=lead)
    revealed = as_request(agent, lambda: gate.reveal(grant.public_id, acting_user=agent))
    values = {(item.record, item.field): item.values for item in revealed.items}
    assert "203.0.113.9" in values[("accounts.SecurityEvent", "ip_address")]
    assert values[("accounts.User", "email")] == ("erin@example.org",)
    # Outside the gate, in the same kind of request, the staff member reads nothing of hers.
    with pytest.raises(crypto.NotYours):
        as_request(agent, lambda: fresh(User, pk=erin.pk).email)


def test_a_key_in_the_cache_is_checked_too(erin: User) -> None:
    someone = make_user("mallory")

    def own_then_other() -> str:
        assert fresh(User, pk=erin.pk).email == "erin@example.org"  # erin's key is now in the cache
        crypto.set_viewer(someone.pk)  # as the API's token authentication does
        return str(fresh(User, pk=erin.pk).email)

    with pytest.raises(crypto.NotYours):
        as_request(erin, own_then_other)


def test_writing_into_another_persons_row_is_allowed(erin: User) -> None:
    someone = make_user("mallory")

    def write() -> None:
        event = SecurityEvent(user_id=erin.pk, kind=SecurityEvent.Kind.SIGN_IN, ip_address="198.51.100.1")
        event.save()

    as_request(someone, write)
    assert SecurityEvent.objects.filter(user=erin, kind=SecurityEvent.Kind.SIGN_IN).count() == 2


@task()
def email_of(user_id: str) -> list[str | None]:
    """What a task sees: the account's email (the platform mailing them, say), and the viewer."""
    return [str(fresh(User, pk=user_id).email), crypto.current_viewer()]


def test_a_task_run_inside_a_request_has_no_viewer(erin: User) -> None:
    someone = make_user("mallory")

    def in_a_task() -> list[str | None]:
        result = email_of.enqueue(str(erin.pk))  # ImmediateBackend: run here, inside the request
        with pytest.raises(crypto.NotYours):
            fresh(User, pk=erin.pk).email  # noqa: B018 - back in the request: its viewer again
        return list(result.return_value)

    assert as_request(someone, in_a_task) == ["erin@example.org", None]


def _published_model(tmp_client: Client, owner: User, visibility_name: str) -> MLModel:
    model = hub_actions.create_model(acting_user=owner, name="open-model", title="An open model")
    upload = SimpleUploadedFile("weights.bin", b"\x01\x02" * 2048)
    tmp_client.force_login(owner)
    response = tmp_client.post(
        f"/{owner.username}/open-model/upload/", {"file": upload, "path": "w/weights.bin"}
    )
    assert response.status_code == 302
    hub_actions.set_visibility(MLModel.objects.get(pk=model.pk), visibility_name, acting_user=owner)
    return MLModel.objects.get(pk=model.pk)


@pytest.mark.parametrize("visibility_name", ["public", "unlisted"])
def test_an_anonymous_visitor_reads_a_published_models_title_and_files(visibility_name: str) -> None:
    olga = make_user("olga")
    _published_model(Client(), olga, visibility_name)
    visitor = Client()
    page = visitor.get("/olga/open-model/")
    assert page.status_code == 200 and b"An open model" in page.content and b"w/weights.bin" in page.content
    download = visitor.get("/olga/open-model/files/w/weights.bin")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"\x01\x02" * 2048  # type: ignore[attr-defined]
    listed = visitor.get("/api/v1/models/olga/open-model/files").json()
    assert [item["path"] for item in listed["items"]] == ["w/weights.bin"]


def test_only_what_the_helper_handed_over_is_published() -> None:
    olga = make_user("olga")
    published = _published_model(Client(), olga, "public")
    hidden = hub_actions.create_model(acting_user=olga, name="hidden", title="Not for you")

    def read() -> tuple[str, str, str]:
        with pytest.raises(crypto.NotYours):
            fresh(MLModel, pk=published.pk).title  # noqa: B018 - not handed over yet
        model = visibility.get_model(AnonymousUser(), "olga", "open-model")
        path = fresh(ModelFile, model=model).path
        with pytest.raises(crypto.NotYours):
            fresh(MLModel, pk=hidden.pk).title  # noqa: B018 - her private model stays hers
        with pytest.raises(crypto.NotYours):
            fresh(User, pk=olga.pk).email  # noqa: B018 - and her email too
        return model.title, path, str(fresh(User, pk=olga.pk).username)

    assert as_request(None, read) == ("An open model", "w/weights.bin", "olga")


def test_a_streamed_body_is_read_inside_its_requests_scope() -> None:
    olga = make_user("olga")
    someone = make_user("mallory")
    key_id = crypto.data_key_for(olga.pk)[0]
    crypto.forget_cached_keys()

    def chunks() -> Any:
        yield b"head"
        crypto.cipher_for_key_id(key_id)  # a sealed file's key, looked up while streaming
        yield b"tail"

    def view(request: HttpRequest) -> StreamingHttpResponse:
        return StreamingHttpResponse(chunks())

    request = RequestFactory().get("/")
    request.user = someone
    response = ViewerMiddleware(view)(request)
    assert crypto.current_viewer() is None
    with pytest.raises(crypto.NotYours, match="sealed file"):
        b"".join(response.streaming_content)  # type: ignore[attr-defined]


def _calls(name: str, *, entered: bool) -> list[str]:
    """Files of candor/ that call ``name`` (``with …name(…)`` only, when ``entered``)."""
    found = []
    for path in sorted((ROOT / "candor").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            calls = (
                ([item.context_expr for item in node.items] if isinstance(node, ast.With) else [])
                if entered
                else ([node] if isinstance(node, ast.Call) else [])
            )
            for call in calls:
                if not isinstance(call, ast.Call):
                    continue
                func = call.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called == name:
                    found.append(str(path.relative_to(ROOT)))
    return sorted(set(found))


def test_revealing_is_entered_only_by_the_gate_and_unwrap_called_only_in_crypto() -> None:
    assert _calls("revealing", entered=True) == ["candor/staff/gate.py"]
    # Every unwrap is in crypto: data_key_for (writing, or the owner's own reads), _key_by_id (after the
    # rule's check), rewrap_all (re-wrapping under a new master key, no value decrypted) and
    # verify_keyring (start-up check of the master keys, its key discarded).
    assert _calls("unwrap", entered=False) == ["candor/privacy/crypto.py"]
    # And nothing outside crypto reaches the cache of unwrapped keys or the scope's variable.
    for private in ("_cache", "_revealing", "_viewer", "_shown", "_key_by_id"):
        users = [
            str(path.relative_to(ROOT))
            for path in (ROOT / "candor").rglob("*.py")
            if f"crypto.{private}" in path.read_text()
        ]
        assert users == [], private
