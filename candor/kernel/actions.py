"""The shape of a state change: :func:`durable`.

Every function that changes state is an action (``<app>/actions.py``): it takes the account acting as
the keyword-only ``acting_user`` (None for the platform itself: retention, a task), runs in one
``transaction.atomic(durable=True)`` (so it is never a fragment of a larger transaction that another
caller could roll back after its side effects), writes its audit row inside that transaction, and
sends email, enqueues tasks and purges caches in ``transaction.on_commit``. An action that needs
another's work calls that action's undecorated body (``<name>.inner``), never the action itself.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

from django.db import transaction


class Action[**P, R]:
    """A function run as an action: in one durable transaction. ``inner`` is the undecorated body."""

    def __init__(self, function: Callable[P, R]) -> None:
        parameter = inspect.signature(function).parameters.get("acting_user")
        if parameter is None or parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
            raise TypeError(f"{function.__qualname__}: an action takes a keyword-only acting_user")
        self.inner = function
        functools.update_wrapper(self, function)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        with transaction.atomic(durable=True):
            return self.inner(*args, **kwargs)


def durable[**P, R](function: Callable[P, R]) -> Action[P, R]:
    """Declare ``function`` an action (see the module's docstring)."""
    return Action(function)
