"""The demo data set: a few accounts a visitor can log in as."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from candor.accounts.models import User


@dataclass(frozen=True)
class DemoAccount:
    username: str
    email: str
    password: str
    is_staff: bool = False


DEMO_ACCOUNTS = (
    DemoAccount("alice", "alice@demo.candor.localhost", "violet-harbour-71"),
    DemoAccount("bob", "bob@demo.candor.localhost", "copper-lantern-52"),
    DemoAccount("carol", "carol@demo.candor.localhost", "quiet-meadow-38"),
    DemoAccount("dana", "dana@demo.candor.localhost", "amber-signal-64", is_staff=True),
)


@transaction.atomic
def load_demo_data() -> list[tuple[DemoAccount, bool]]:
    """Create the demo accounts that do not exist yet. Returns each account and whether it was created."""
    results = []
    for account in DEMO_ACCOUNTS:
        exists = User.objects.filter(username__iexact=account.username).exists()
        if not exists:
            User.objects.create_user(
                account.username,
                account.email,
                account.password,
                email_verified=True,
                is_staff=account.is_staff,
            )
        results.append((account, not exists))
    return results
