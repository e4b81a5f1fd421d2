"""The server and credentials a command uses, and the :class:`Api` that talks to them."""

from __future__ import annotations

import argparse

from candor_client.api import Api
from candor_client.config import TOKEN_ENV, Config, Target, config_path, resolve
from candor_client.errors import EXIT_AUTH, ClientError


def connect(args: argparse.Namespace, *, need_token: bool = False) -> tuple[Config, Target, Api]:
    """The stored config, the resolved target and an API client for it; without a token where one is
    needed, the command stops here, before any request."""
    config = Config.load(config_path())
    target = resolve(config, args.server)
    if need_token and target.token is None:
        raise ClientError(
            f"not logged in to {target.server}: run `candor login` (or set {TOKEN_ENV})", EXIT_AUTH
        )
    return config, target, Api(target.server, target.token, origin=target.origin)
