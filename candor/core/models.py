"""The kernel's two tables, both of machinery every domain uses and none should own.

- ``TaskStep``: side effects of tasks already carried out. A task can be run twice (its worker died
  before the outcome was written, and it was handed to another), and most tasks are written to find
  their work done the second time. A side effect outside the database, an email above all, cannot be
  looked for afterwards: the task marks it here, under its own id, before carrying it out, so a second
  run of the same task skips it.
- ``Counter``: throttling counters shared by every process when there is no Redis. They belong to
  :mod:`candor.core.throttle`, which every domain uses (log-ins, password checks, API rate limits, emails
  per address).
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone

from candor.kernel.hooks import Hook
from candor.privacy.inventory import NotPersonal, Purge, Sweep, declare


class TaskStep(models.Model):
    task_id = models.CharField(max_length=64)
    step = models.CharField(max_length=40)
    done_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint("task_id", "step", name="core_task_step_once")]

    def __str__(self) -> str:
        return f"{self.task_id}:{self.step}"


declare(
    TaskStep,
    belongs_to=None,
    # Long after the last retry of any task (hours at most), so no second run can miss its mark.
    sweeps=(Sweep("marks of tasks' completed steps", field="done_at", days=7),),
    note="A task's random id and the name of a step: nothing of anyone.",
    fields={
        "id": NotPersonal(),
        "task_id": NotPersonal("the random id the task queue gave a task"),
        "step": NotPersonal("the name of a step of a task, such as sending its email"),
        "done_at": NotPersonal(),
    },
)


class Counter(models.Model):
    """A fixed-window count: how many times something happened since the window opened.

    ``key`` is the scope and an HMAC of what is counted (a client address, a login name, an email
    address), never the value itself; the row is worthless once ``expires_at`` has passed.
    """

    key = models.CharField(max_length=100, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField()

    class Meta:
        indexes: ClassVar = [models.Index(fields=["expires_at"], name="core_counter_expires")]

    def __str__(self) -> str:
        return self.key


# Sent by the retention sweep; candor.core.counters connects its purge in CoreConfig.ready (the models
# cannot import the store, which imports them).
expired_counters: Hook[Purge] = Hook("expired_counters")

declare(
    Counter,
    belongs_to=None,
    sweeps=(
        # The store applies the rule itself: on the embedded default its rows live in a file of their own
        # (see candor.core.counters), which the ORM does not reach.
        Sweep("expired counters", field="expires_at", purge=expired_counters),
    ),
    fields={
        "key": NotPersonal("the counter's scope and a keyed hash (HMAC) of what it counts, never the value"),
        "count": NotPersonal("a number of attempts"),
        "expires_at": NotPersonal("when the counting window closes"),
    },
    note="Throttling counters (failed log-ins and password checks, API requests, emails per address).",
)
