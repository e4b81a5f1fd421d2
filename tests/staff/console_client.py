"""A test client signed in as a member of staff, its session verified by the second factor."""

from __future__ import annotations

from django.test import Client

from candor.accounts.models import User
from candor.staff import sessions


def staff_client(user: User, *, verified: bool = True) -> Client:
    client = Client()
    client.force_login(user)
    if verified:
        session = client.session
        sessions.mark_verified(session)
        session.save()
    return client
