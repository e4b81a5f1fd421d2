"""A batch of counts waiting to be written: what the per-process buffer collects, and what the database
and Redis writers take. Its own module, below all three, so that each imports it at the top."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

Event = tuple[datetime, str, bool, int | None, str, tuple[tuple[str, str], ...]]


@dataclass
class Batch:
    """Counts waiting to be written. Keys are aggregates only; visitor hashes are salted (see salt.py).

    Requests are first counted whole, one counter per distinct (hour, route, bot, model, kind,
    dimensions): a single dictionary addition on the request's path. ``fold()`` spreads them over the
    tables' keys when the batch is taken for writing.
    """

    events: Counter[Event] = field(default_factory=Counter)
    routes: Counter[tuple[datetime, str, bool]] = field(default_factory=Counter)  # (hour, route, bot)
    models: Counter[tuple[datetime, int, str]] = field(default_factory=Counter)  # (hour, model, kind)
    dimensions: Counter[tuple[date, str, str]] = field(default_factory=Counter)  # (day, dim, value)
    visitors: defaultdict[tuple[date, int], set[int]] = field(default_factory=lambda: defaultdict(set))

    def size(self) -> int:
        return (
            len(self.events) + len(self.routes) + len(self.models) + len(self.dimensions) + len(self.visitors)
        )

    def fold(self) -> Batch:
        for (hour, route, bot, model_id, kind, dimensions), n in self.events.items():
            self.routes[(hour, route, bot)] += n
            if bot:
                continue
            if model_id is not None:
                self.models[(hour, model_id, kind)] += n
            day = hour.date()
            for dimension, value in dimensions:
                self.dimensions[(day, dimension, value)] += n
        self.events.clear()
        return self

    def merge(self, other: Batch) -> None:
        self.events.update(other.events)
        self.routes.update(other.routes)
        self.models.update(other.models)
        self.dimensions.update(other.dimensions)
        for key, hashes in other.visitors.items():
            self.visitors[key] |= hashes
