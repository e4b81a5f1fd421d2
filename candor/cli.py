"""The ``candor`` command: the API client, the server, the worker, the demo, and Django's commands.

``candor login|logout|whoami|push|pull|ls|visibility|rm|export`` are the client (``candor_client``, a
package of its own in ``client/``), which runs on machines with no server settings and no data folder,
so it is dispatched before Django is configured.
``candor demo``, ``candor serve`` and ``candor worker`` are management commands of ``candor.core``;
anything else (``candor migrate``, ``candor check --deploy``…) is Django's own.
"""

from __future__ import annotations

import os
import sys

from candor_client import COMMANDS as CLIENT_COMMANDS

# True once main() has seen words that only ask for help or the version: the settings then make no data
# folder and generate no key, since answering a question must leave nothing behind.
answering_only = False

_QUESTIONS = {"help", "version", "--version", "-h", "--help"}


def asks_only(words: list[str]) -> bool:
    """Whether Django will only print help or a version for these words (argparse's -h/--help count
    wherever they come before a bare ``--``)."""
    if words and words[0] in _QUESTIONS:
        return True
    options = words[: words.index("--")] if "--" in words else words
    return "-h" in options or "--help" in options


def main(argv: list[str] | None = None) -> None:
    global answering_only
    argv = list(sys.argv if argv is None else argv)
    argv[0] = "candor"
    words = argv[1:]
    if words and words[0] in CLIENT_COMMANDS:
        from candor_client.commands import main as client_main

        raise SystemExit(client_main(words))
    if not words or words in (["-h"], ["--help"]):
        # Loading the settings would make ./data (and a secret key) wherever someone asks for help.
        from candor_client.commands import overview

        sys.stdout.write(overview())
        return
    answering_only = asks_only(words)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "candor.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings.INSTALLED_APPS  # noqa: B018 - loads the settings, which parse the environment
    except ImproperlyConfigured as error:
        print(f"candor: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None

    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
