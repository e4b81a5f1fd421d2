"""The command-line client for a Candor server's API: ``candor login``, ``push``, ``pull``, ``ls``…

A plain package, not a Django app: it runs on machines that have no data folder and no server settings,
so nothing here may import ``django`` or ``candor.settings``.
"""

from __future__ import annotations

# The words ``candor`` hands to the client; every other word goes to Django's management commands.
COMMANDS = frozenset(
    {"login", "logout", "whoami", "push", "pull", "ls", "popular", "stats", "visibility", "rm", "export"}
)
