"""Background tasks of the accounts domain.

Tasks carry ids only, never an address or a name: the task queue is storage too, and must hold nothing
personal (a queued row outlives the request that made it).
"""

from __future__ import annotations

from django.tasks import task

from candor.accounts import emails


@task()
def send_account_email(kind: str, user_id: str, confirmation_id: int | None = None) -> None:
    emails.send(kind, user_id, confirmation_id)
