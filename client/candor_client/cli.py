"""The ``candor`` command of the client installed on its own (``uv tool install ./client``).

Client words run here. Every other word belongs to the server: where the server is installed too (the
repository's own environment) it is handed over to it, so either package's ``candor`` script behaves
the same; elsewhere it is refused with a message that says why.
"""

from __future__ import annotations

import sys

from candor_client import COMMANDS, server_installed


def main(argv: list[str] | None = None) -> None:
    words = list(sys.argv[1:] if argv is None else argv)
    # The client's commands are imported only when a client word is given, so that a server command
    # passed through here does not load httpx and the whole client first.
    if words and words[0] in COMMANDS:
        from candor_client.commands import main as client_main

        raise SystemExit(client_main(words))
    if server_installed():
        # Imported only here: the server is optional, and absent where the client is installed alone.
        from candor.cli import main as server_main

        server_main(["candor", *words])
        return
    from candor_client.commands import overview

    if not words or words in (["-h"], ["--help"]):
        sys.stdout.write(overview())
        return
    print(
        f"candor: {words[0]} is not a command of the client; the server's commands need the Candor server "
        "installed (see `candor --help`).",
        file=sys.stderr,
    )
    raise SystemExit(2)
