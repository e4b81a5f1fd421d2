"""Where the client keeps its server address and tokens, and how it picks them for a command.

The config file holds bearer tokens, so it is created with mode 0600 and never read while others can:
a file that became readable by others is put back to 0600 with a warning.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from candor_client.errors import EXIT_ERROR, EXIT_USAGE, ClientError

DEFAULT_SERVER = "http://127.0.0.1:8000"
TOKEN_ENV = "CANDOR_TOKEN"  # noqa: S105 - the variable's name, not its value
SERVER_ENV = "CANDOR_SERVER"


def config_path(environ: Mapping[str, str] = os.environ) -> Path:
    # The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    base = environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "candor" / "config.json"


def normalize_server(raw: str) -> str:
    """``scheme://host[:port][/prefix]`` without a trailing slash, or a usage error."""
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientError(f"the server address must start with http:// or https://, got {raw!r}", EXIT_USAGE)
    if parts.username or parts.password:
        # Credentials in the URL would end up in error messages and proxies' logs.
        raise ClientError("the server address may not contain a user name or password", EXIT_USAGE)
    if parts.query or parts.fragment:
        raise ClientError("the server address may not contain '?' or '#'", EXIT_USAGE)
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


@dataclass
class Config:
    """The stored settings: the default server, and one token per server.

    Tokens are keyed by server so that ``--server`` pointing elsewhere never sends another server's token.
    """

    path: Path
    server: str | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Config:
        try:
            info = path.stat()
        except FileNotFoundError:
            return cls(path)
        if info.st_uid != os.getuid():
            raise ClientError(f"the config file {path} belongs to another user: refusing to use it")
        if info.st_mode & 0o077:
            print(
                f"candor: warning: {path} was readable by others (mode {stat.filemode(info.st_mode)}); "
                "its mode is now 0600. Revoke the tokens it held if others may have read them.",
                file=sys.stderr,
            )
            path.chmod(0o600)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise ClientError(f"the config file {path} is damaged: fix it or delete it") from None
        server = data.get("server") if isinstance(data, dict) else None
        tokens = data.get("tokens", {}) if isinstance(data, dict) else None
        if (
            not isinstance(data, dict)
            or not (server is None or isinstance(server, str))
            or not isinstance(tokens, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in tokens.items())
        ):
            raise ClientError(f"the config file {path} is damaged: fix it or delete it")
        return cls(path, server, dict(tokens))

    def save(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        payload = json.dumps({"server": self.server, "tokens": self.tokens}, indent=2) + "\n"
        # Written beside the real file and renamed over it, so a crash never leaves half a file, and
        # created 0600 from the first byte so the token is never briefly readable by others.
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(temporary, flags, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise ClientError(
                f"cannot write the config file {self.path}: {error.strerror}", EXIT_ERROR
            ) from None


@dataclass(frozen=True)
class Target:
    """The server a command talks to and the credentials it uses there."""

    server: str
    token: str | None
    origin: str | None  # "env", "config" or None: it decides what a 401 message says


def is_token_shaped(token: str) -> bool:
    """Visible ASCII only: anything else cannot go into an HTTP header (and is a pasting accident)."""
    return bool(token) and token.isascii() and token.isprintable() and " " not in token


def resolve(config: Config, server_option: str | None, environ: Mapping[str, str] = os.environ) -> Target:
    raw = server_option or environ.get(SERVER_ENV) or config.server or DEFAULT_SERVER
    server = normalize_server(raw)
    env_token = environ.get(TOKEN_ENV, "").strip()
    if env_token:
        if not is_token_shaped(env_token):
            raise ClientError(
                f"{TOKEN_ENV} does not hold a token (it has spaces or odd characters)", EXIT_USAGE
            )
        return Target(server, env_token, "env")
    stored = config.tokens.get(server)
    return Target(server, stored, "config" if stored else None)
