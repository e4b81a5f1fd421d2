"""``candor login``, ``logout`` and ``whoami``: the token this machine keeps for a server."""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import os
import sys
from urllib.parse import urlsplit

from candor_client.api import Api
from candor_client.config import TOKEN_ENV, Config, config_path, is_token_shaped, resolve
from candor_client.errors import EXIT_USAGE, ClientError
from candor_client.output import note, shown
from candor_client.session import connect

TOKEN_PREFIX = "cnd_"  # noqa: S105 - the public prefix of every token, not a secret


def _is_loopback(server: str) -> bool:
    host = urlsplit(server).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _server_without_env_token(config: Config, option: str | None) -> str:
    # login and logout act on the stored token, so CANDOR_TOKEN must not stand in for it here.
    return resolve(config, option, {k: v for k, v in os.environ.items() if k != TOKEN_ENV}).server


def cmd_login(args: argparse.Namespace) -> int:
    config = Config.load(config_path())
    server = _server_without_env_token(config, args.server)
    if args.token_stdin:
        token = sys.stdin.readline().strip()
    else:
        if not sys.stdin.isatty():
            raise ClientError("no terminal to ask for the token: pipe it in with --token-stdin", EXIT_USAGE)
        print(
            f"Paste a token made on {server} (account settings, API tokens); it is not shown.",
            file=sys.stderr,
        )
        token = getpass.getpass("Token: ").strip()
    if not token:
        raise ClientError("no token given", EXIT_USAGE)
    if not is_token_shaped(token) or not token.startswith(TOKEN_PREFIX):
        raise ClientError(f"that is not a Candor token (tokens start with {TOKEN_PREFIX})", EXIT_USAGE)
    if urlsplit(server).scheme == "http" and not _is_loopback(server):
        note(f"warning: {server} is plain HTTP: the token crosses the network unencrypted")
    with Api(server, token, origin="login") as api:
        me = api.me()
    config.server = server
    config.tokens[server] = token
    config.save()
    print(f"Logged in to {server} as {shown(me.get('username', '?'))}. Token stored in {config.path}.")
    if not me.get("email_verified", True):
        note("your email address is not confirmed yet: confirm it before you publish")
    if os.environ.get(TOKEN_ENV):
        note(f"{TOKEN_ENV} is set, and is used instead of the stored token while it is")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    config = Config.load(config_path())
    server = _server_without_env_token(config, args.server)
    token = config.tokens.pop(server, None)
    if token is None:
        print(f"Not logged in to {server}.")
        return 0
    failure: ClientError | None = None
    revoked = False
    if args.revoke:
        try:
            with Api(server, token, origin="config") as api:
                revoked = api.revoke_own_token(token)
        except ClientError as error:
            # A token the server no longer accepts needs no revoking; anything else is reported, and
            # the token is forgotten all the same, as the user asked.
            if error.status != 401:
                failure = error
    config.save()
    if revoked:
        print(f"Logged out of {server}: the token is revoked and forgotten.")
    else:
        print(
            f"Logged out of {server}: the token is forgotten on this machine; it stays valid until "
            "it expires or you revoke it on the website."
        )
    if os.environ.get(TOKEN_ENV):
        note(f"{TOKEN_ENV} is still set, and is still used")
    if failure is not None:
        raise ClientError(
            f"could not revoke the token: {failure}",
            failure.exit_code,
            status=failure.status,
            code=failure.code,
        )
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    _, target, api = connect(args, need_token=True)
    with api:
        me = api.me()
    source = f" (token from {TOKEN_ENV})" if target.origin == "env" else ""
    print(f"{shown(me.get('username', '?'))} on {target.server}{source}")
    return 0
