"""The ``candor`` command: the server, the worker, the demo, and every Django management command.

``candor demo``, ``candor serve`` and ``candor worker`` are management commands of ``candor.core``;
anything else (``candor migrate``, ``candor check --deploy``…) is Django's own.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    argv[0] = "candor"
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
