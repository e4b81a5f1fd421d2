"""The one table of the task machinery: side effects of tasks already carried out.

A task can be run twice (its worker died before the outcome was written, and it was handed to another),
and most tasks are written to find their work done the second time. A side effect outside the database,
an email above all, cannot be looked for afterwards: the task marks it here, under its own id, before
carrying it out, so a second run of the same task skips it.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone

from candor.privacy.inventory import NotPersonal, Sweep, declare


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
