"""The command-line client for a Candor server's API: ``candor login``, ``push``, ``pull``, ``ls``…

A package of its own (``candor-client``, httpx its only dependency), not a Django app: it runs on
machines that have no data folder and no server settings, so nothing here may import ``django`` or
``candor``, except to hand a server command over to an installed server.
"""

from __future__ import annotations

from importlib.util import find_spec

# The words ``candor`` hands to the client; every other word goes to Django's management commands.
COMMANDS = frozenset(
    {
        "login",
        "logout",
        "whoami",
        "push",
        "pull",
        "ls",
        "popular",
        "stats",
        "visibility",
        "rm",
        "export",
        "emails",
        "log",
        "forget",
        "tag",
        "notices",
    }
)


def server_installed() -> bool:
    """Whether the Candor server is installed beside the client (found without importing it)."""
    return find_spec("candor") is not None
