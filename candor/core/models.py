"""The one table of the kernel: throttling counters shared by every process when there is no Redis.

The kernel otherwise has no models; this one is here because the counters belong to
:mod:`candor.core.throttle`, which every domain uses (log-ins, password checks, API rate limits, emails
per address), and none of those domains should own the others' counters.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from candor.privacy.inventory import NotPersonal, Sweep, declare


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


declare(
    Counter,
    belongs_to=None,
    sweeps=(
        # The store applies the rule itself: on the embedded default its rows live in a file of their own
        # (see candor.core.counters), which the ORM does not reach.
        Sweep("expired counters", field="expires_at", purge="candor.core.counters.purge_expired"),
    ),
    fields={
        "key": NotPersonal("the counter's scope and a keyed hash (HMAC) of what it counts, never the value"),
        "count": NotPersonal("a number of attempts"),
        "expires_at": NotPersonal("when the counting window closes"),
    },
    note="Throttling counters (failed log-ins and password checks, API requests, emails per address).",
)
