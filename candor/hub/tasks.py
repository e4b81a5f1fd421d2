"""The hub's background work: removing the blobs no revision holds any more."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from django.db import transaction
from django.tasks import task

from candor.hub import blobs


@task()
def collect_blobs(blob_ids: list[int]) -> int:
    return blobs.collect(blob_ids)


def enqueue_collect(blob_ids: list[int]) -> None:
    collect_blobs.enqueue(blob_ids)


def collect_after_commit(blob_ids: Iterable[int]) -> None:
    """Queue the removal of these blobs (if nothing holds them) once the current transaction commits; the
    daily sweep removes them if the task is lost."""
    ids = sorted(set(blob_ids))
    if ids:
        transaction.on_commit(partial(enqueue_collect, ids))
