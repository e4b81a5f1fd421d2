"""The session engine: Django's database sessions, stored in :class:`UserSession`.

Django's stock table cannot say whose session a row is, so a person could not list or end their
sessions. This store copies three things out of the session data into columns when it saves: the
account, the browser family and the time of last activity.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DBStore
from django.utils import timezone

from candor.accounts.models import UserSession
from candor.kernel.locks import write_if_free

BROWSER_KEY = "_candor_browser"
ACTIVE_KEY = "_candor_active"


class SessionStore(DBStore):
    _loaded: dict[str, Any] | None = None

    def load(self) -> dict[str, Any]:
        data: dict[str, Any] = super().load()
        self._loaded = dict(data)
        return data

    def save(self, must_create: bool = False) -> None:
        if not must_create and self._only_activity_changed():
            # Bumping "last active" is the one write a signed-in GET makes: made if the database's
            # write lock is free now, skipped if not, so a read never waits for a writer
            # (candor/kernel/locks.py). A later request notes the activity instead.
            write_if_free(super().save)
            return
        super().save(must_create=must_create)

    def _only_activity_changed(self) -> bool:
        if self._loaded is None or self.session_key is None:
            return False
        current = dict(self.items())
        unchanged = {ACTIVE_KEY, BROWSER_KEY}
        return {k: v for k, v in current.items() if k not in unchanged} == {
            k: v for k, v in self._loaded.items() if k not in unchanged
        }

    @classmethod
    def get_model_class(cls) -> Any:
        return UserSession

    def create_model_instance(self, data: dict[str, Any]) -> Any:
        instance: Any = super().create_model_instance(data)
        instance.user_id = data.get(SESSION_KEY)
        instance.browser_family = str(data.get(BROWSER_KEY, ""))[:64]
        instance.last_active = timezone.now()
        model: Any = self.model
        existing = model.objects.filter(session_key=instance.session_key).values_list(
            "public_id", "created_at"
        )
        for public_id, created_at in existing:
            instance.public_id, instance.created_at = public_id, created_at
        return instance
