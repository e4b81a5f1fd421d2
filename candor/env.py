"""Strict parsing of the ``CANDOR_*`` environment variables.

Every reader refuses a malformed value with an ``ImproperlyConfigured`` error that names the variable
and says what was expected. The value itself is never echoed: it may be a password or a URL with
credentials in it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import EmailValidator

_TRUE = {"1", "true", "yes", "on"}
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
_S3_FORMAT = "http(s)://ACCESS_KEY:SECRET@host[:port]/bucket[?region=…&prefix=…]"


@dataclass(frozen=True)
class ObjectStoreUrl:
    """What ``CANDOR_S3_URL`` says: where the S3-compatible store is, the bucket, and how to talk to it."""

    endpoint_url: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    prefix: str = ""
    connect_timeout: float = 3.0
    read_timeout: float = 30.0
    attempts: int = 3
    multipart_mb: int = 64

    def storage(self) -> dict[str, Any]:
        """The STORAGES entry of django-storages' S3Storage for this store.

        Path-style addressing (any host name works), no ACLs, never a signed URL handed out (every
        download goes through Candor's access checks), and names kept as given (they are random or
        content-addressed: an existing name is overwritten, never renamed). botocore's standard retries,
        a few attempts, short timeouts: past them the object store says StoreUnavailable.
        """
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "endpoint_url": self.endpoint_url,
                "bucket_name": self.bucket,
                "access_key": self.access_key,
                "secret_key": self.secret_key,
                "region_name": self.region,
                "location": self.prefix,
                "use_ssl": self.endpoint_url.startswith("https:"),
                "addressing_style": "path",
                "default_acl": None,
                "querystring_auth": False,
                "file_overwrite": True,
                "client_config": Config(
                    s3={"addressing_style": "path"},
                    connect_timeout=self.connect_timeout,
                    read_timeout=self.read_timeout,
                    retries={"mode": "standard", "total_max_attempts": self.attempts},
                    # Checksums only where S3 requires them: not every S3-compatible server takes the
                    # newer trailing checksums, and each file's SHA-256 is Candor's own check.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    max_pool_connections=32,
                ),
                "transfer_config": TransferConfig(
                    multipart_threshold=self.multipart_mb * 1024 * 1024,
                    multipart_chunksize=16 * 1024 * 1024,
                    max_concurrency=4,
                    use_threads=True,
                ),
            },
        }

    def __repr__(self) -> str:
        # Never the secret, wherever the settings are printed (a debug page, an error report).
        return f"ObjectStoreUrl({self.endpoint_url!r}, bucket={self.bucket!r}, prefix={self.prefix!r})"


_FALSE = {"0", "false", "no", "off"}


class Env:
    """Reads settings from a mapping (``os.environ`` by default), strictly."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    @staticmethod
    def error(name: str, expected: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"{name} is malformed: expected {expected}.")

    def text(self, name: str, default: str) -> str:
        return self._raw(name) or default

    def flag(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise self.error(name, "one of 1/0, true/false, yes/no, on/off")

    def integer(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        if not re.fullmatch(r"[+-]?\d+", raw):
            raise self.error(name, "a whole number")
        value = int(raw)
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise self.error(name, f"a whole number of at least {minimum}{upper}")
        return value

    def number(
        self, name: str, default: float, *, minimum: float = 0.0, maximum: float | None = None
    ) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        if not re.fullmatch(r"[+]?(\d+(\.\d*)?|\.\d+)", raw):
            raise self.error(name, "a decimal number such as 0.5")
        value = float(raw)
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise self.error(name, f"a number of at least {minimum}{upper}")
        return value

    def url(self, name: str, default: str | None, *, schemes: tuple[str, ...]) -> str | None:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            parts = urlsplit(raw)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise self.error(name, f"a URL with scheme {' or '.join(schemes)}") from None
        if parts.scheme not in schemes or not parts.netloc:
            raise self.error(name, f"a URL with scheme {' or '.join(schemes)} and a host")
        return raw

    def email(self, name: str, default: str) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            EmailValidator()(raw)
        except ValidationError:
            raise self.error(name, "an email address") from None
        return raw

    def items(self, name: str, default: list[str]) -> list[str]:
        raw = self._raw(name)
        if raw is None:
            return list(default)
        items = [item.strip() for item in raw.split(",")]
        if any(not item for item in items):
            raise self.error(name, "a comma-separated list with no empty items")
        return items

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw not in choices:
            raise self.error(name, f"one of {', '.join(choices)}")
        return raw

    def path(self, name: str, default: Path) -> Path:
        raw = self._raw(name)
        return Path(raw).expanduser().resolve() if raw else default

    def object_store(self, name: str) -> ObjectStoreUrl | None:
        """An S3-compatible store's URL, checked whole; None when unset.

        ``http://KEY:SECRET@host:port/bucket?region=…&prefix=…&connect_timeout=…&read_timeout=…&attempts=…
        &multipart_mb=…``: the scheme is the endpoint's (https for TLS), the credentials are
        percent-decoded, the path is the bucket alone. A mistake is told by name, never with the value.
        """
        raw = self._raw(name)
        if raw is None:
            return None
        try:
            parts = urlsplit(raw)
            port = parts.port
            host = parts.hostname
        except ValueError:
            raise self.error(name, _S3_FORMAT) from None
        if parts.scheme not in ("http", "https") or not host:
            raise self.error(name, f"{_S3_FORMAT} (scheme http or https, and a host)")
        if not parts.username or not parts.password:
            raise self.error(name, f"{_S3_FORMAT} (an access key and a secret before the host)")
        bucket = parts.path.strip("/")
        if not _BUCKET.fullmatch(bucket):
            raise self.error(name, f"{_S3_FORMAT} (a bucket name: 3 to 63 of a-z, 0-9, . and -)")
        try:
            query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
        except ValueError:
            raise self.error(name, f"{_S3_FORMAT} (options as name=value&name=value)") from None
        options = dict(query)
        known = {"region", "prefix", "connect_timeout", "read_timeout", "attempts", "multipart_mb"}
        if len(options) != len(query) or not set(options) <= known:
            raise self.error(name, f"{_S3_FORMAT} (options once each, among {', '.join(sorted(known))})")
        prefix = options.get("prefix", "").strip("/")
        if prefix and (not _PREFIX.fullmatch(prefix) or {".", ".."} & set(prefix.split("/"))):
            raise self.error(name, f"{_S3_FORMAT} (a prefix of letters, digits, ., _, - and /)")
        region = options.get("region", "us-east-1")
        if not re.fullmatch(r"[a-z0-9-]{1,40}", region):
            raise self.error(name, f"{_S3_FORMAT} (a region such as us-east-1)")
        inner = Env({f"{name} option {key}": value for key, value in options.items()})
        netloc = f"[{host}]" if ":" in host else host
        return ObjectStoreUrl(
            endpoint_url=f"{parts.scheme}://{netloc}" + (f":{port}" if port is not None else ""),
            bucket=bucket,
            access_key=unquote(parts.username),
            secret_key=unquote(parts.password),
            region=region,
            prefix=prefix,
            connect_timeout=inner.number(f"{name} option connect_timeout", 3.0, minimum=0.1, maximum=60.0),
            read_timeout=inner.number(f"{name} option read_timeout", 30.0, minimum=1.0, maximum=600.0),
            attempts=inner.integer(f"{name} option attempts", 3, minimum=1, maximum=10),
            multipart_mb=inner.integer(f"{name} option multipart_mb", 64, minimum=5, maximum=5120),
        )
