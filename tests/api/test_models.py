"""The models endpoints and /me for each persona: owner, member, anonymous (clauses C4 and C11)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client

from candor.accounts.models import User
from candor.hub.models import MLModel
from tests.api.conftest import Api, assert_error, publish, token_for
from tests.conftest import make_user, models_named

pytestmark = pytest.mark.django_db


def names(response: object) -> list[str]:
    return [item["full_name"] for item in response.json()["items"]]  # type: ignore[attr-defined]


def test_the_list_holds_public_models_only(owner: User, alice: Api, bob: Api, anonymous: Api) -> None:
    publish(owner, "shown", summary="a public one")
    publish(owner, "by-link", visibility="unlisted")
    publish(owner, "hidden", visibility="private")
    for api in (alice, bob, anonymous):
        response = api.get("/models")
        assert response.status_code == 200
        assert names(response) == ["alice/shown"]
        assert response.json()["next"] is None
    item = anonymous.get("/models").json()["items"][0]
    assert item["url"] == f"{settings.WEBSITE_URL}/alice/shown/"
    assert item["files"] == 0 and item["visibility"] == "public" and item["summary"] == "a public one"


def test_anonymous_reads_need_no_account_and_set_no_cookie(owner: User) -> None:
    publish(owner, "open")
    client = Client()
    for path in ("/api/v1/models", "/api/v1/models/alice/open", "/api/v1/models/alice/open/files"):
        response = client.get(path)
        assert response.status_code == 200
        assert not response.cookies
    assert not client.cookies


def test_search_finds_titles_summaries_and_tags_of_public_models_only(owner: User, anonymous: Api) -> None:
    publish(owner, "one", title="Whisper Small", tags=["speech"])
    publish(owner, "two", title="Other", summary="a WHISPER-like model")
    publish(owner, "three", title="Third", tags=["whisperish"])
    publish(owner, "four", title="Whisper Unlisted", visibility="unlisted")
    publish(owner, "five", title="Whisper Private", visibility="private")
    found = names(anonymous.get("/models", q="whisper", sort="name"))
    assert found == ["alice/one", "alice/three", "alice/two"]
    assert names(anonymous.get("/models", tag="speech")) == ["alice/one"]
    assert names(anonymous.get("/models", q="nothing-like-this")) == []


def test_filters_and_sort(owner: User, anonymous: Api) -> None:
    publish(owner, "b-model", license="MIT", library="pytorch", task="translation")
    publish(owner, "a-model", license="Apache-2.0", library="onnx", task="translation")
    assert names(anonymous.get("/models", license="MIT")) == ["alice/b-model"]
    assert names(anonymous.get("/models", library="onnx")) == ["alice/a-model"]
    assert names(anonymous.get("/models", task="translation", sort="name")) == [
        "alice/a-model",
        "alice/b-model",
    ]
    assert names(anonymous.get("/models")) == ["alice/a-model", "alice/b-model"]  # newest first
    error = assert_error(anonymous.get("/models", license="WTFPL"), 422, "invalid_fields")
    assert "license" in error["fields"]
    assert "limit" in assert_error(anonymous.get("/models", limit=101), 422)["fields"]


@pytest.mark.parametrize("sort", ["updated", "name"])
def test_pages_follow_the_next_link_without_gaps_or_repeats(owner: User, member: User, sort: str) -> None:
    for n in range(7):
        publish(owner if n % 2 else member, f"model-{n}")
    publish(owner, "not-listed", visibility="unlisted")
    client, seen = Client(), []
    url: str | None = f"/api/v1/models?limit=3&sort={sort}"
    pages = 0
    while url:
        page = client.get(url).json()
        seen += [item["full_name"] for item in page["items"]]
        url = page["next"]
        if url:
            assert url.startswith(f"{settings.WEBSITE_URL}/api/v1/models?")
            url = url.removeprefix(settings.WEBSITE_URL)
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    whole = names(client.get(f"/api/v1/models?limit=100&sort={sort}"))
    assert seen == whole


def test_a_cursor_must_be_ours_and_match_the_sort(owner: User, anonymous: Api) -> None:
    for n in range(3):
        publish(owner, f"m{n}")
    following = anonymous.get("/models", limit=1).json()["next"]
    cursor = parse_qs(urlsplit(following).query)["cursor"][0]
    assert anonymous.get("/models", limit=1, cursor=cursor).status_code == 200
    # Not even the shape of a cursor: the schema's pattern refuses it, as the schema says.
    assert "cursor" in assert_error(anonymous.get("/models", cursor="0"), 422, "invalid_fields")["fields"]
    assert_error(anonymous.get("/models", cursor="forged"), 422, "invalid_fields")
    # The shape of one, but not signed by this server, or for another sort: no page there.
    payload, stamp, signature = cursor.split(":")
    forged = f"{payload}:{stamp}:{signature[::-1]}"
    assert_error(anonymous.get("/models", cursor=forged), 404, "invalid_cursor")
    assert_error(anonymous.get("/models", cursor=cursor, sort="name"), 404, "invalid_cursor")


def test_reading_a_model_by_visibility_and_persona(owner: User, alice: Api, bob: Api, anonymous: Api) -> None:
    publish(owner, "pub", tags=["b", "a"])
    publish(owner, "unl", visibility="unlisted")
    publish(owner, "priv", visibility="private")
    for api in (alice, bob, anonymous):
        public = api.get("/models/alice/pub")
        assert public.status_code == 200 and "X-Robots-Tag" not in public
        assert public.json()["tags"] == ["a", "b"]
        unlisted = api.get("/models/alice/unl")
        assert unlisted.status_code == 200 and unlisted["X-Robots-Tag"] == "noindex"
    own = alice.get("/models/alice/priv")
    assert own.status_code == 200 and own["X-Robots-Tag"] == "noindex"
    assert alice.get("/models/ALICE/PRIV").json()["name"] == "priv"


@pytest.mark.parametrize("path", ["/models/alice/priv", "/models/alice/priv/files"])
def test_a_private_model_is_exactly_a_model_that_never_existed(owner: User, member: User, path: str) -> None:
    publish(owner, "priv", visibility="private")
    for api in (Api(token_for(member)), Api(), Api(client=Client())):
        private = api.get(path)
        absent = api.get(path.replace("priv", "never-existed"))
        assert_error(private, 404, "not_found")
        assert (private.status_code, private.content) == (absent.status_code, absent.content)
        assert "X-Robots-Tag" not in private


def test_creating_a_model(owner: User, alice: Api, anonymous: Api) -> None:
    response = alice.post(
        "/models",
        {
            "name": "tiny-bert",
            "title": "Tiny BERT",
            "tags": ["nlp", "bert"],
            "license": "MIT",
            "card": "# Hi",
        },
    )
    assert response.status_code == 201
    made = response.json()
    assert made["visibility"] == "private" and made["full_name"] == "alice/tiny-bert"
    # The card given becomes the model's README.md (its first commit), the fields its front-matter.
    assert made["tags"] == ["bert", "nlp"] and made["files"] == 1 and made["card"] == "# Hi"
    assert made["license"] == "MIT" and made["card_problems"] == []
    assert made["url"] == f"{settings.WEBSITE_URL}/alice/tiny-bert/"
    assert alice.post("/models", {"name": "untitled"}).json()["title"] == "untitled"

    conflict = assert_error(alice.post("/models", {"name": "TINY-bert"}), 409, "conflict")
    assert conflict["fields"] == {"name": ["This name is taken."]}
    assert_error(anonymous.post("/models", {"name": "x"}), 401, "unauthenticated")
    for bad in ({"name": "a..b"}, {"name": "-x"}, {"name": "x" * 101}, {"name": "x", "tags": ["Not A Tag"]}):
        assert_error(alice.post("/models", bad), 422, "invalid_fields")
    assert MLModel.objects.count() == 2


def test_sharing_needs_a_confirmed_address(db: None) -> None:
    newcomer = make_user("newcomer", verified=False)
    api = Api(token_for(newcomer))
    assert_error(api.post("/models", {"name": "m", "visibility": "public"}), 403, "email_unverified")
    assert api.post("/models", {"name": "m"}).status_code == 201
    assert_error(api.patch("/models/newcomer/m", {"visibility": "unlisted"}), 403, "email_unverified")
    assert_error(api.post("/me/models/visibility", {"visibility": "public"}), 403, "email_unverified")


def test_changing_a_model(owner: User, alice: Api, bob: Api, anonymous: Api) -> None:
    publish(owner, "pub", tags=["old"])
    publish(owner, "priv", visibility="private")
    response = alice.patch(
        "/models/alice/pub", {"title": "New title", "tags": ["new"], "visibility": "unlisted"}
    )
    assert response.status_code == 200
    changed = response.json()
    assert (changed["title"], changed["tags"], changed["visibility"]) == ("New title", ["new"], "unlisted")
    assert alice.patch("/models/alice/pub", {"summary": None}).json()["title"] == "New title"

    assert_error(bob.patch("/models/alice/pub", {"title": "Mine"}), 403, "forbidden")
    private, absent = (
        bob.patch("/models/alice/priv", {"title": "x"}),
        bob.patch("/models/alice/nope", {"title": "x"}),
    )
    assert_error(private, 404)
    assert private.content == absent.content
    assert_error(anonymous.patch("/models/alice/pub", {"title": "x"}), 401)
    for bad in ({"license": "WTFPL"}, {"title": " \t"}, {"name": "rename"}, {"visibility": "secret"}):
        assert_error(alice.patch("/models/alice/pub", bad), 422, "invalid_fields")
    assert models_named("pub").get().title == "New title"


def test_deleting_a_model(owner: User, alice: Api, bob: Api, anonymous: Api) -> None:
    publish(owner, "pub")
    publish(owner, "priv", visibility="private")
    assert_error(anonymous.delete("/models/alice/pub"), 401)
    assert_error(bob.delete("/models/alice/pub"), 403, "forbidden")
    assert bob.delete("/models/alice/priv").content == bob.delete("/models/alice/nope").content
    assert alice.delete("/models/alice/pub").status_code == 204
    assert_error(alice.get("/models/alice/pub"), 404)
    assert models_named("priv").exists()


def test_me(owner: User, alice: Api, anonymous: Api) -> None:
    me = alice.get("/me").json()
    assert me == {
        "username": "alice",
        "email": "alice@example.org",
        "email_verified": True,
        "date_joined": me["date_joined"],
        "profile_visible": True,
        "profile_indexable": True,
    }
    changed = alice.patch("/me", {"profile_indexable": False})
    assert changed.status_code == 200
    assert (changed.json()["profile_visible"], changed.json()["profile_indexable"]) == (True, False)
    owner.refresh_from_db()
    assert not owner.profile_indexable
    assert_error(alice.patch("/me", {"profile_visible": "no"}), 422)
    assert_error(alice.patch("/me", {"email": "x@example.org"}), 422)
    assert_error(anonymous.get("/me"), 401)
    assert_error(anonymous.patch("/me", {"profile_visible": False}), 401)


def test_setting_the_visibility_of_all_models(owner: User, member: User, alice: Api) -> None:
    publish(owner, "a")
    publish(owner, "b", visibility="unlisted")
    publish(owner, "c", visibility="private")
    publish(member, "bobs")
    assert alice.post("/me/models/visibility", {"visibility": "private"}).json() == {"changed": 2}
    assert set(MLModel.objects.filter(owner=owner).values_list("visibility", flat=True)) == {"private"}
    assert models_named("bobs").get().visibility == "public"
    assert_error(alice.post("/me/models/visibility", {"visibility": "everyone"}), 422)
