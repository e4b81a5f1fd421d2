"""The HTTP calls to a Candor server's API v1; a refusal ends in :func:`candor_client.errors.refused`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import IO, Any, NoReturn
from urllib.parse import quote

import httpx

from candor_client.errors import EXIT_UNREACHABLE, ClientError, refused
from candor_client.output import shown

CHUNK = 1024 * 1024

try:
    VERSION = version("candor-client")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    VERSION = "dev"


@dataclass(frozen=True)
class Target:
    server: str
    token: str
    origin: str | None


# Every server and token this process's requests were answered with as a signed-in person, so that
# the command's end can print that person's new notices (candor_client.notices).
_signed_in: list[Target] = []


def signed_in_target() -> Target | None:
    """The last server and token a request of this process was answered with (the token accepted)."""
    return _signed_in[-1] if _signed_in else None


def quote_path(*segments: str) -> str:
    return "/".join(quote(segment, safe="") for segment in segments)


class Api:
    """One server, one set of credentials. Methods return the decoded JSON or raise ``ClientError``."""

    def __init__(
        self,
        server: str,
        token: str | None,
        *,
        origin: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.server = server
        self.token = token
        # Where the token came from ("env", "config", "login"): a 401 tells the user what to fix there.
        self.origin = origin if token else None
        headers = {"User-Agent": f"candor-client/{VERSION}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # Redirects are not followed: a server that redirects (say http to https) is given as --server
        # under its real address instead, so the token is never sent to a place the user did not name.
        self.http = httpx.Client(
            base_url=server + "/",
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10.0),
            follow_redirects=False,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- Transport --------------------------------------------------------------------------------

    def _unreachable(self, error: httpx.TransportError) -> ClientError:
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            return ClientError(f"cannot reach the server at {self.server} ({shown(error)})", EXIT_UNREACHABLE)
        if isinstance(error, httpx.TimeoutException):
            return ClientError(f"the server at {self.server} stopped answering (timed out)", EXIT_UNREACHABLE)
        return ClientError(
            f"lost the connection to the server at {self.server} ({shown(error) or type(error).__name__})",
            EXIT_UNREACHABLE,
        )

    def _send(
        self,
        method: str,
        path: str,
        *,
        not_found: str | None = None,
        stream: bool = False,
        body_changed: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        try:
            request = self.http.build_request(method, path.lstrip("/"), **kwargs)
            response = self.http.send(request, stream=stream)
        except httpx.LocalProtocolError as error:
            # Raised here, before anything reached the server: the body did not match its length.
            raise ClientError(body_changed or f"could not send the request ({shown(error)})") from None
        except httpx.TransportError as error:
            raise self._unreachable(error) from None
        if self.token is not None and response.status_code != 401:
            # The server took the token: the command has talked to it as a signed-in person.
            _signed_in.append(Target(self.server, self.token, self.origin))
        if response.status_code >= 300:
            try:
                response.read()
            except httpx.TransportError as error:
                raise self._unreachable(error) from None
            finally:
                response.close()
            self._fail(response, not_found)
        return response

    def _json(self, method: str, path: str, *, not_found: str | None = None, **kwargs: Any) -> Any:
        response = self._send(method, path, not_found=not_found, **kwargs)
        if response.status_code == 204:
            return None
        try:
            return response.json()
        except ValueError:
            raise ClientError(
                f"unexpected answer from {self.server} (status {response.status_code}, not JSON): "
                "is it a Candor server?"
            ) from None

    def _fail(self, response: httpx.Response, not_found: str | None) -> NoReturn:
        try:
            body = response.json()
        except ValueError:
            body = None
        raise refused(
            response.status_code,
            body,
            server=self.server,
            origin=self.origin,
            not_found=not_found,
            retry_header=response.headers.get("Retry-After"),
            location=response.headers.get("Location"),
        )

    # --- Accounts ---------------------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "api/v1/me")
        return result

    def revoke_own_token(self, token: str) -> bool:
        """Revoke this very token; False if the server lists no token that starts like it."""
        listed = self._json("GET", "api/v1/tokens")
        items = listed.get("items") if isinstance(listed, dict) else None
        for item in items if isinstance(items, list) else []:
            prefix = item.get("prefix") if isinstance(item, dict) else None
            # The server shows each token's first characters only, enough to tell a person's apart.
            if isinstance(prefix, str) and len(prefix) >= 8 and token.startswith(prefix):
                self._json("DELETE", f"api/v1/tokens/{quote_path(str(item.get('id', '')))}")
                return True
        return False

    # --- Notices --------------------------------------------------------------------------------------

    def notices(self, *, include_dismissed: bool = False) -> list[dict[str, Any]]:
        params = {"all": "true"} if include_dismissed else {}
        listed = self._json("GET", "api/v1/me/notices", params=params)
        items = listed.get("items") if isinstance(listed, dict) else None
        if not isinstance(items, list):
            raise ClientError(f"unexpected answer from {self.server}: no list of notices")
        return [item for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]

    def dismiss_notice(self, notice_id: str) -> dict[str, Any]:
        not_found = f"you have no notice {shown(notice_id, 64)} (see `candor notices`)"
        result: dict[str, Any] = self._json(
            "POST", f"api/v1/me/notices/{quote_path(notice_id)}/dismiss", not_found=not_found
        )
        return result

    # --- Your data ------------------------------------------------------------------------------------

    def request_export(self) -> dict[str, Any] | None:
        """Ask for an export of your data; None when one is already being prepared."""
        try:
            result: dict[str, Any] = self._json("POST", "api/v1/me/export")
        except ClientError as error:
            if error.status == 409:
                return None
            raise
        return result

    def list_exports(self) -> list[dict[str, Any]]:
        listed = self._json("GET", "api/v1/me/exports")
        items = listed.get("items") if isinstance(listed, dict) else None
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    def download_export(self, export_id: str) -> Iterator[bytes]:
        url = f"api/v1/me/exports/{quote_path(export_id)}/download"
        not_found = "that export is gone (expired, replaced by a newer one, or not yours)"
        response = self._send("GET", url, not_found=not_found, stream=True)
        try:
            yield from response.iter_bytes(CHUNK)
        except httpx.TransportError as error:
            raise self._unreachable(error) from None
        finally:
            response.close()

    # --- Emails --------------------------------------------------------------------------------------

    def list_emails(self, *, limit: int) -> dict[str, Any]:
        result = self._json("GET", "api/v1/me/emails", params={"limit": limit})
        if not isinstance(result, dict) or not isinstance(result.get("items"), list):
            raise ClientError(f"unexpected answer from {self.server}: no list of emails")
        return result

    def email_preferences(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "api/v1/me/email-preferences")
        return result

    def set_product_updates(self, on: bool) -> dict[str, Any]:
        result: dict[str, Any] = self._json(
            "PATCH", "api/v1/me/email-preferences", json={"product_updates": on}
        )
        return result

    # --- Models -----------------------------------------------------------------------------------

    @staticmethod
    def _model_path(owner: str, name: str) -> str:
        return f"api/v1/models/{quote_path(owner, name)}"

    @staticmethod
    def _no_model(owner: str, name: str) -> str:
        return f"no model {shown(owner, 100)}/{shown(name, 100)}, or you cannot see it"

    def list_models(self, *, limit: int, query: str | None = None, sort: str | None = None) -> dict[str, Any]:
        params: dict[str, str | int] = {"limit": limit}
        if query:
            params["q"] = query
        if sort:
            params["sort"] = sort
        result: dict[str, Any] = self._json("GET", "api/v1/models", params=params)
        return result

    def ranking(self, kind: str, *, limit: int) -> dict[str, Any]:
        """The popular or trending list: {"formula", "min_count", "items": [...]}."""
        result = self._json("GET", f"api/v1/models/{quote_path(kind)}", params={"limit": limit})
        if not isinstance(result, dict) or not isinstance(result.get("items"), list):
            raise ClientError(f"unexpected answer from {self.server}: no list of models")
        return result

    def model_stats(self, owner: str, name: str, *, days: int) -> dict[str, Any]:
        """A model's views and downloads per day, which only its owner may read."""
        not_found = (
            f"no model {shown(owner, 100)}/{shown(name, 100)} of yours: only a model's owner sees its counts"
        )
        result = self._json(
            "GET", self._model_path(owner, name) + "/stats", params={"days": days}, not_found=not_found
        )
        if not isinstance(result, dict) or not isinstance(result.get("days"), list):
            raise ClientError(f"unexpected answer from {self.server}: no counts per day")
        return result

    def get_model(self, owner: str, name: str) -> dict[str, Any]:
        path = self._model_path(owner, name)
        result: dict[str, Any] = self._json("GET", path, not_found=self._no_model(owner, name))
        return result

    def create_model(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", "api/v1/models", json={"name": name})
        return result

    def find_model(self, owner: str, name: str) -> dict[str, Any] | None:
        try:
            return self.get_model(owner, name)
        except ClientError as error:
            if error.status == 404:
                return None
            raise

    def update_model(self, owner: str, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        path = self._model_path(owner, name)
        result: dict[str, Any] = self._json(
            "PATCH", path, json=changes, not_found=self._no_model(owner, name)
        )
        return result

    def delete_model(self, owner: str, name: str) -> None:
        self._json("DELETE", self._model_path(owner, name), not_found=self._no_model(owner, name))

    # --- Files ------------------------------------------------------------------------------------

    def list_files(self, owner: str, name: str) -> list[dict[str, Any]]:
        return self.list_revision(owner, name)[1]

    def list_revision(
        self, owner: str, name: str, revision: str | None = None
    ) -> tuple[str | None, list[dict[str, Any]]]:
        """The commit id of a revision (main by default) and its files; (None, []) for a model with no
        file yet."""
        if revision is None:
            path, not_found = self._model_path(owner, name) + "/files", self._no_model(owner, name)
        else:
            path = f"{self._model_path(owner, name)}/revisions/{quote_path(revision)}/files"
            not_found = None  # the server says whether the model or the revision is missing
        result = self._json("GET", path, not_found=not_found)
        items = result.get("items") if isinstance(result, dict) else None
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ClientError(f"unexpected answer from {self.server}: no list of files")
        commit = result.get("commit")
        return (commit if isinstance(commit, str) else None), items

    def upload_blob(
        self, owner: str, name: str, path: str, handle: IO[bytes], size: int, on_chunk: Callable[[int], None]
    ) -> dict[str, Any]:
        """Store a file's bytes for the coming commit: {"sha256", "size"}."""
        result: dict[str, Any] = self._json(
            "POST",
            self._model_path(owner, name) + "/blobs",
            content=_body(handle, size, on_chunk),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            not_found=self._no_model(owner, name),
            body_changed=f"{shown(path)} changed size while it was uploaded: push again",
            timeout=httpx.Timeout(60.0, connect=10.0, read=600.0),
        )
        return result

    def commit(
        self, owner: str, name: str, changes: list[dict[str, str]], *, message: str, parent: str | None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"changes": changes, "message": message}
        if parent is not None:
            payload["parent"] = parent
        result: dict[str, Any] = self._json(
            "POST", self._model_path(owner, name) + "/commits", json=payload, timeout=600.0
        )
        return result

    def list_commits(self, owner: str, name: str, *, limit: int, after: str | None = None) -> dict[str, Any]:
        params: dict[str, str | int] = {"limit": limit}
        if after:
            params["after"] = after
        result = self._json("GET", self._model_path(owner, name) + "/commits", params=params, not_found=None)
        if not isinstance(result, dict) or not isinstance(result.get("items"), list):
            raise ClientError(f"unexpected answer from {self.server}: no list of commits")
        return result

    def remove_from_history(self, owner: str, name: str, path: str) -> dict[str, Any]:
        url = f"{self._model_path(owner, name)}/history/{quote_path(*path.split('/'))}"
        result: dict[str, Any] = self._json("DELETE", url)
        return result

    def tag(self, owner: str, name: str, tag: str, revision: str | None) -> dict[str, Any]:
        payload = {"name": tag} | ({"revision": revision} if revision else {})
        result: dict[str, Any] = self._json("POST", self._model_path(owner, name) + "/tags", json=payload)
        return result

    def delete_tag(self, owner: str, name: str, tag: str) -> None:
        self._json("DELETE", f"{self._model_path(owner, name)}/tags/{quote_path(tag)}")

    def download(self, owner: str, name: str, path: str, revision: str | None = None) -> Iterator[bytes]:
        """A file's bytes on main, or at ``revision`` (a commit id, best: it cannot move meanwhile)."""
        where = "files" if revision is None else f"revisions/{quote_path(revision)}/files"
        url = f"{self._model_path(owner, name)}/{where}/{quote_path(*path.split('/'))}"
        not_found = f"no file {shown(path)} in {shown(owner, 100)}/{shown(name, 100)} (deleted meanwhile?)"
        # identity: the bytes are hashed as they arrive and must be the stored ones, not a re-encoding.
        headers = {"Accept-Encoding": "identity"}
        response = self._send("GET", url, not_found=not_found, stream=True, headers=headers)
        try:
            yield from response.iter_bytes(CHUNK)
        except httpx.TransportError as error:
            raise self._unreachable(error) from None
        finally:
            response.close()


def _body(handle: IO[bytes], size: int, on_chunk: Callable[[int], None]) -> Iterator[bytes]:
    """An upload's body, read from the file as it is sent, at most ``size`` bytes."""
    remaining = size
    while remaining > 0:
        chunk = handle.read(min(CHUNK, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        on_chunk(len(chunk))
        yield chunk
