"""Typed hooks: how one app tells the others that something happened, without importing them.

A lower layer cannot call up (accounts cannot import hub, nor the orchestrators), yet some events need
work everywhere: an account erased, a listing changed, accounts swept away by retention. The layer
where the event happens sends a :class:`Hook`; the apps that care connect a receiver in their
``AppConfig.ready``. Unlike Django's signals, a hook's payload is one typed value, receivers are plain
functions of it, and an exception in a receiver propagates (nothing is swallowed): a hook is part of
the transaction that sends it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass


class Hook[T]:
    """A named event with one payload type. Receivers run in the order they were connected."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._receivers: list[Callable[[T], None]] = []

    def connect(self, receiver: Callable[[T], None]) -> Callable[[T], None]:
        """Add ``receiver`` (once, however often it is connected); usable as a decorator."""
        if receiver not in self._receivers:
            self._receivers.append(receiver)
        return receiver

    def disconnect(self, receiver: Callable[[T], None]) -> None:
        if receiver in self._receivers:
            self._receivers.remove(receiver)

    @property
    def receivers(self) -> tuple[Callable[[T], None], ...]:
        return tuple(self._receivers)

    def send(self, payload: T) -> None:
        for receiver in list(self._receivers):
            receiver(payload)

    def __repr__(self) -> str:
        return f"Hook({self.name!r}, {len(self._receivers)} receivers)"


@dataclass(frozen=True)
class AccountsGone:
    """Accounts about to be deleted (erased by their owner, or swept by retention): their ids."""

    account_ids: Sequence[uuid.UUID]
    # True when the sender removes the accounts' stored files itself (the erasure, through its ledger,
    # so that a crash between the commit and the removal cannot leave one behind): receivers then leave
    # the files to it and only forget the rest.
    files_handled: bool = False


@dataclass(frozen=True)
class ListingChanged:
    """What the public listings show has changed: a model was published, hidden, edited or deleted."""

    model_ids: Sequence[int] = ()


# Sent inside the deleting transaction, before the rows go: receivers remove what the accounts own
# outside the database (files), and what no foreign key would cascade.
accounts_gone: Hook[AccountsGone] = Hook("accounts_gone")
# Sent after commit: receivers drop cached listings, feeds and rankings.
listing_changed: Hook[ListingChanged] = Hook("listing_changed")
