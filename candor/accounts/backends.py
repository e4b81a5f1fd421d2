from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from candor.accounts.models import User, identifier_lookup


class UsernameOrEmailBackend(ModelBackend):
    """Logs in with a username or an email address, both compared without regard to case."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if not username or password is None:
            return None
        user = User.objects.filter(identifier_lookup(username)).first()
        if user is None:
            User().set_password(password)  # spend the same hashing time as a real check
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
