"""Background tasks of the accounts domain.

Tasks carry ids only, never an address or a name: the task queue is storage too, and must hold nothing
personal (a queued row outlives the request that made it).
"""

from __future__ import annotations

from functools import partial

from django.tasks import TaskContext, task

from candor.accounts import emails
from candor.core.taskqueue import run_once


@task(takes_context=True)
def send_account_email(
    context: TaskContext[[str, str, int | None], None],
    kind: str,
    user_id: str,
    confirmation_id: int | None = None,
) -> None:
    # A second run of this task (its worker died before recording that it was done) sends nothing.
    run_once(str(context.task_result.id), "send", partial(emails.send, kind, user_id, confirmation_id))
