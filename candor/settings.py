"""Candor's one settings module.

Everything an operator may change comes from a ``CANDOR_*`` environment variable (plus the
conventional ``DATABASE_URL``), parsed strictly by :mod:`candor.env`. With no variable set at all,
Candor runs embedded: SQLite in WAL mode, a local-memory cache, a database-backed task queue, files and
emails on local disk, all under one data folder. The README's settings table lists every variable.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from candor import cli
from candor.env import Env

env = Env()
# `candor … --help` and `candor --version` load these settings too (Django finds its commands through
# them), but a question must leave nothing behind: then no data folder is made and no key generated.
_MAY_WRITE = not cli.answering_only

BASE_DIR = Path(__file__).resolve().parent

# --- Identity of the platform (clause C22) -------------------------------------------------------
PLATFORM_NAME = env.text("CANDOR_PLATFORM_NAME", "Candor")
WEBSITE_URL = (
    env.url("CANDOR_WEBSITE_URL", "http://127.0.0.1:8000", schemes=("http", "https")) or ""
).rstrip("/")
CONTACT_EMAIL = env.email("CANDOR_CONTACT_EMAIL", "privacy@candor.localhost")

# --- Mode -----------------------------------------------------------------------------------------
DEBUG = env.flag("CANDOR_DEBUG", False)
PRODUCTION = env.flag("CANDOR_PRODUCTION", False)
if DEBUG and PRODUCTION:
    raise ImproperlyConfigured("CANDOR_DEBUG and CANDOR_PRODUCTION cannot both be on.")

# --- Data folder ----------------------------------------------------------------------------------
DATA_DIR = env.path("CANDOR_DATA_DIR", Path.cwd() / "data")


def _private_file(path: Path, make: str) -> str | None:
    """Read a secret kept in the data folder, creating it (owner-only) on first use.

    None when it is missing and this process may not write (it only answers a question)."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        if not _MAY_WRITE:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written under a temporary name and linked into place: two processes starting at once on a
        # new data folder both end up with the one value that won, never a half-written file.
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(make)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_text().strip()
        finally:
            temporary.unlink()
        return make


SECRET_KEY = env.text("CANDOR_SECRET_KEY", "")
if not SECRET_KEY:
    # Left empty when it may not be generated: Django then refuses to sign anything with it.
    SECRET_KEY = _private_file(DATA_DIR / "secret_key", secrets.token_urlsafe(64)) or ""
elif len(SECRET_KEY) < 50:
    raise env.error("CANDOR_SECRET_KEY", "at least 50 characters")

# --- Encryption keys (clauses C18, C25) ------------------------------------------------------------
# Master keys wrap each account's data key; the blind-index key makes the keyed hashes that let Candor
# find an account by email without storing the address in clear. Both come from the environment; on
# the embedded default they are generated into the data folder (owner-only) the first time.
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_MASTER_KEYS_FORMAT = "a comma-separated list of id:key pairs, each key 32 random bytes in URL-safe base64"


def _decode_key(text: str) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (ValueError, binascii.Error):
        return None
    return raw if len(raw) == 32 else None


def _new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _master_keys(text: str, name: str) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for item in re.split(r"[,\s]+", text.strip()):
        key_id, _, encoded = item.partition(":")
        key = _decode_key(encoded)
        if not _KEY_ID.match(key_id) or key is None or key_id in keys:
            raise env.error(name, _MASTER_KEYS_FORMAT)
        keys[key_id] = key
    if not keys:
        raise env.error(name, _MASTER_KEYS_FORMAT)
    return keys


_KEEP_APART = "Keep a copy apart from the database backups: without it no personal data in them can be read."


def _generated(path: Path, make: str, advice: str = _KEEP_APART) -> str | None:
    existed = path.exists()
    value = _private_file(path, make)
    if not existed and value == make:
        print(  # said once, to the operator who starts Candor
            f"Candor generated a key in {path} (readable by this user only). {advice}",
            file=sys.stderr,
        )
    return value


_master_keys_text = env.text("CANDOR_MASTER_KEYS", "")
_index_key_text = env.text("CANDOR_BLIND_INDEX_KEY", "")
_log_key_text = env.text("CANDOR_LOG_SIGNING_KEY", "")
_missing_keys = [
    name
    for name, text in (
        ("CANDOR_MASTER_KEYS", _master_keys_text),
        ("CANDOR_BLIND_INDEX_KEY", _index_key_text),
        ("CANDOR_LOG_SIGNING_KEY", _log_key_text),
    )
    if not text
]
if PRODUCTION and _missing_keys:
    raise ImproperlyConfigured(
        f"{_missing_keys[0]} is required when CANDOR_PRODUCTION is on: keys are never generated in "
        "production (see the README)."
    )
if _master_keys_text:
    # The first key wraps new data keys; the others only unwrap, until `candor privacy rewrap` has run.
    MASTER_KEYS = _master_keys(_master_keys_text, "CANDOR_MASTER_KEYS")
else:
    _key_file = DATA_DIR / "master_keys"
    _key_file_text = _generated(_key_file, f"local1:{_new_key()}")
    # No key at all only while answering a question: nothing can be encrypted or read with none.
    MASTER_KEYS = {} if _key_file_text is None else _master_keys(_key_file_text, f"the key file {_key_file}")
_index_key_file_text = None if _index_key_text else _generated(DATA_DIR / "blind_index_key", _new_key())
if _index_key_text or _index_key_file_text is not None:
    _index_key = _decode_key(_index_key_text or _index_key_file_text or "")
else:
    _index_key = b""  # answering a question: no key, and blind indexes refuse to be made without one
if _index_key is None:
    raise env.error("CANDOR_BLIND_INDEX_KEY", "32 random bytes in URL-safe base64")
BLIND_INDEX_KEY = _index_key

# The access log's checkpoints are signed with this Ed25519 private key (its 32-byte seed in URL-safe
# base64); its public key is published with them. Required in production (with the other secrets, not
# with the database); generated into the data folder otherwise, as the other keys are.
_log_key_file_text = (
    None
    if _log_key_text
    else _generated(
        DATA_DIR / "log_signing_key",
        _new_key(),
        "It signs the access log's published checkpoints: keep it secret, and keep it.",
    )
)
if _log_key_text or _log_key_file_text is not None:
    _log_key = _decode_key(_log_key_text or _log_key_file_text or "")
else:
    _log_key = b""  # answering a question: no key, and checkpoints refuse to be signed without one
if _log_key is None:
    raise env.error(
        "CANDOR_LOG_SIGNING_KEY" if _log_key_text else f"the key file {DATA_DIR / 'log_signing_key'}",
        "an Ed25519 private key: 32 random bytes in URL-safe base64",
    )
LOG_SIGNING_KEY = _log_key

_website_host = urlsplit(WEBSITE_URL).hostname or "127.0.0.1"
ALLOWED_HOSTS = env.items("CANDOR_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", _website_host])
if _website_host not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_website_host)
CSRF_TRUSTED_ORIGINS = [WEBSITE_URL]

# --- Applications ---------------------------------------------------------------------------------
INSTALLED_APPS = [
    "candor.core",
    "candor.privacy",
    "candor.accounts",
    "candor.comms",
    "candor.hub",
    "candor.analytics",
    "candor.staff",
    "candor.developers",
    "candor.lifecycle",
    "candor.web",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "django_tasks_db",
    "ninja",
    "candor.api",
]

MIDDLEWARE = [
    # Outermost: HEAD gets every header the other middleware sets, and no body.
    "candor.web.middleware.HeadMiddleware",
    # Outside the Cache-Control policy, so it sees it: ETags for what may be revalidated, and 304s.
    "django.middleware.http.ConditionalGetMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "candor.web.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "candor.accounts.middleware.SessionActivityMiddleware",
    # Who is looking: the decryption rule reads it (candor.privacy.crypto, after authentication).
    "candor.privacy.middleware.ViewerMiddleware",
    # Counts the request into the aggregates once the view has answered (clause C7).
    "candor.analytics.capture.AnalyticsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "candor.urls"
WSGI_APPLICATION = "candor.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "candor.web.context_processors.platform",
                "candor.comms.context_processors.notices",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
_database_url = env.url("DATABASE_URL", None, schemes=("postgres", "postgresql", "sqlite"))
if _database_url and not _database_url.startswith("sqlite"):
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)}
else:
    if _MAY_WRITE:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "candor.sqlite3"),
            "OPTIONS": {
                # IMMEDIATE takes the write lock when a transaction starts, so two writers queue on the
                # busy timeout instead of failing with "database is locked" half-way.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA secure_delete=ON;"
                    "PRAGMA foreign_keys=ON;"
                ),
            },
            "TEST": {"NAME": ":memory:"},
            # Opening a connection runs the PRAGMAs above; a worker keeps its connection between requests.
            "CONN_MAX_AGE": 600,
            "CONN_HEALTH_CHECKS": True,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# How long a web request waits for another's write lock before it answers 503 with Retry-After
# (candor/kernel/locks.py). Web processes only: the worker and commands keep the long wait above.
DB_LOCK_TIMEOUT_SECONDS = env.number("CANDOR_DB_LOCK_TIMEOUT_SECONDS", 3.0, minimum=0.05, maximum=60.0)

# --- Cache, task queue ----------------------------------------------------------------------------
REDIS_URL = env.url("CANDOR_REDIS_URL", None, schemes=("redis", "rediss"))
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    # Throttling counters (candor.core.counters): Redis increments them atomically for every process.
    COUNTERS = "cache"
    INSTALLED_APPS.append("django_rq")
    # Every job gets retries: after a transient error, or when its worker died (candor.core.rqworker).
    RQ_QUEUES = {"default": {"URL": REDIS_URL, "QUEUE_CLASS": "candor.core.rqworker.RetryingQueue"}}
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
else:
    # The cache's general use (listing pages) may stay in one process's memory; the throttling counters
    # may not, so they go to the database (candor.core.counters), shared by every process.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    COUNTERS = "database"
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
if env.flag("CANDOR_TASKS_IMMEDIATE", False):
    TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
# How many times a task is tried (after a transient error, or its worker's death) before it is failed,
# and the longest wait between the worker's retries (database or broker unavailable, loop restarts).
TASK_ATTEMPTS = env.integer("CANDOR_TASK_ATTEMPTS", 5, minimum=1, maximum=100)
WORKER_BACKOFF_MAX_SECONDS = env.integer("CANDOR_WORKER_BACKOFF_MAX_SECONDS", 60, minimum=1, maximum=3600)

# --- Accounts -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["candor.accounts.backends.UsernameOrEmailBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:settings"
LOGOUT_REDIRECT_URL = "home"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60  # one hour
UNVERIFIED_ACCOUNT_DAYS = env.integer("CANDOR_UNVERIFIED_ACCOUNT_DAYS", 7, minimum=1)
# After an erasure the tables that held the account's rows are rewritten (candor.lifecycle.rewrite), at
# most once per this many minutes; 0: only by the daily sweep and `candor privacy rewrite`.
REWRITE_AFTER_ERASURE_MINUTES = env.integer(
    "CANDOR_REWRITE_AFTER_ERASURE_MINUTES", 10, minimum=0, maximum=1440
)
EXPORT_TTL_DAYS = env.integer("CANDOR_EXPORT_TTL_DAYS", 7, minimum=1)
# Xorbs (the Xet protocol's uploaded chunk runs) no upload has used for this long are swept.
XET_XORB_DAYS = env.integer("CANDOR_XET_XORB_DAYS", 7, minimum=1, maximum=365)
SECURITY_EVENT_DAYS = env.integer("CANDOR_SECURITY_EVENT_DAYS", 30, minimum=1, maximum=365)
# The audit trail (candor.privacy.audit): ids and event types, kept after erasure, swept after this.
AUDIT_EVENT_DAYS = env.integer("CANDOR_AUDIT_EVENT_DAYS", 730, minimum=30, maximum=3660)
# --- Staff access (candor.staff) ---
# How long a signature of the confidentiality agreement holds before it must be signed again.
STAFF_AGREEMENT_DAYS = env.integer("CANDOR_STAFF_AGREEMENT_DAYS", 365, minimum=1, maximum=3 * 366)
# A grant's time limit when the request names none (at most 24 hours, whatever is asked).
GRANT_DEFAULT_MINUTES = env.integer("CANDOR_GRANT_DEFAULT_MINUTES", 60, minimum=5, maximum=24 * 60)
# A staff session (verified by the second factor) lasts at most this long, and ends after this idle time.
STAFF_SESSION_HOURS = env.integer("CANDOR_STAFF_SESSION_HOURS", 8, minimum=1, maximum=24)
STAFF_IDLE_MINUTES = env.integer("CANDOR_STAFF_IDLE_MINUTES", 30, minimum=1, maximum=24 * 60)
# Whether a person's list of accesses to their data (and its digest) names the member of staff, by the
# username of their account. Off: their role, countries and purpose only.
ACCESS_SHOWS_STAFF_NAME = env.flag("CANDOR_ACCESS_SHOWS_STAFF_NAME", False)
# How often the worker signs a checkpoint of the access log (none when the log has not grown).
LOG_CHECKPOINT_MINUTES = env.integer("CANDOR_LOG_CHECKPOINT_MINUTES", 60, minimum=1, maximum=7 * 24 * 60)
VERIFICATION_TTL_HOURS = env.integer("CANDOR_VERIFICATION_TTL_HOURS", 48, minimum=1, maximum=24 * 30)
LOGIN_FAILURES_PER_ACCOUNT = env.integer("CANDOR_LOGIN_FAILURES_PER_ACCOUNT", 5, minimum=1)
LOGIN_FAILURES_PER_ADDRESS = env.integer("CANDOR_LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1)
LOGIN_FAILURE_WINDOW_SECONDS = env.integer("CANDOR_LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60, minimum=1)
# Emails anyone can trigger (verification, reset, "address in use") sent to one address in an hour.
EMAILS_PER_ADDRESS_PER_HOUR = env.integer("CANDOR_EMAILS_PER_ADDRESS_PER_HOUR", 5, minimum=1)

# How many reverse proxies in front of Candor append to X-Forwarded-For (0: use the socket's address).
TRUSTED_PROXY_COUNT = env.integer("CANDOR_TRUSTED_PROXIES", 0, maximum=5)
# API requests a minute: per token or signed-in person, and per client address for anonymous callers.
API_RATE_PER_MINUTE = env.integer("CANDOR_API_RATE_PER_MINUTE", 600, minimum=1)
API_ANON_RATE_PER_MINUTE = env.integer("CANDOR_API_ANON_RATE_PER_MINUTE", 120, minimum=1)

SESSION_ENGINE = "candor.accounts.sessions"
SESSION_COOKIE_AGE = 60 * 60 * 24 * 14
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"

# --- Email ----------------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env.email("CANDOR_FROM_EMAIL", "no-reply@candor.localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_URL = env.url("CANDOR_EMAIL_URL", None, schemes=("smtp", "smtps"))
MAIL_DIR = DATA_DIR / "mail"
if EMAIL_URL:
    _mail = urlsplit(EMAIL_URL)
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _mail.hostname or "localhost",
                "port": _mail.port or (465 if _mail.scheme == "smtps" else 25),
                "username": unquote(_mail.username or ""),
                "password": unquote(_mail.password or ""),
                "use_ssl": _mail.scheme == "smtps",
                "use_tls": "starttls" in parse_qs(_mail.query, keep_blank_values=True),
                "timeout": 20,
            },
        }
    }
else:
    # The embedded stand-in for recipients' inboxes: one file per sending connection.
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(MAIL_DIR)},
        }
    }

# --- Communications (candor.comms) ----------------------------------------------------------------
# An email the mail server could not take for now (4xx, connection refused) is tried again, with waits
# that double from a minute, this many times in all before it is marked failed.
EMAIL_ATTEMPTS = env.integer("CANDOR_EMAIL_ATTEMPTS", 6, minimum=1, maximum=20)
# How long the record of an email sent to a person ("Emails we sent you") is kept.
EMAIL_RECORD_DAYS = env.integer("CANDOR_EMAIL_RECORD_DAYS", 365, minimum=1, maximum=10 * 366)
# Product updates: at most one to a person in this many days (one over the cap is dropped for them, not
# delayed), and sent at most this many a minute by the worker.
PRODUCT_EMAIL_CAP_DAYS = env.integer("CANDOR_PRODUCT_EMAIL_CAP_DAYS", 7, minimum=0, maximum=366)
PRODUCT_EMAILS_PER_MINUTE = env.integer("CANDOR_PRODUCT_EMAILS_PER_MINUTE", 600, minimum=1, maximum=600_000)
# How long a dismissed notice is kept before the sweep removes it.
NOTICE_KEEP_DAYS = env.integer("CANDOR_NOTICE_KEEP_DAYS", 90, minimum=1, maximum=10 * 366)
_mail_domain = DEFAULT_FROM_EMAIL.rpartition("@")[2]
# DKIM signing of every email (optional): the private key (RSA, in PEM), its selector, and the
# signing domain (by default the domain of CANDOR_FROM_EMAIL).
DKIM_PRIVATE_KEY = env.text("CANDOR_DKIM_PRIVATE_KEY", "").replace("\\n", "\n").strip()
DKIM_SELECTOR = env.text("CANDOR_DKIM_SELECTOR", "candor")
DKIM_DOMAIN = env.text("CANDOR_DKIM_DOMAIN", _mail_domain)
# The address of the "mailto:" unsubscribe of product updates (List-Unsubscribe): mail to it is read by
# `candor comms unsubscribe-mail`, which the mail server pipes each message to.
UNSUBSCRIBE_EMAIL = env.email("CANDOR_UNSUBSCRIBE_EMAIL", f"unsubscribe@{_mail_domain}")
# Blog posts on one page of /blog/.
BLOG_POSTS_PER_PAGE = env.integer("CANDOR_BLOG_POSTS_PER_PAGE", 10, minimum=1, maximum=100)

# --- Files ----------------------------------------------------------------------------------------
MEDIA_ROOT = DATA_DIR / "media"
MAX_UPLOAD_BYTES = env.integer("CANDOR_MAX_UPLOAD_MB", 5 * 1024, minimum=1) * 1024 * 1024
# Multipart uploads from the web form are spooled to disk past this size, never held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# The first handler drops a file that passes MAX_UPLOAD_BYTES while it is read, before it is spooled;
# the last spools into the staging area (named by account, locked, recovered after a crash), not /tmp.
FILE_UPLOAD_HANDLERS = [
    "candor.hub.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "candor.hub.uploads.StagingUploadHandler",
]
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static" if PRODUCTION else None
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # In production `candor serve` collects the assets under hashed names that can be cached for ever;
    # elsewhere they are served straight from the apps, so no collect step is needed.
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Model files and export archives: the data folder's media/ by default, or an S3-compatible store
# (CANDOR_S3_URL), which every machine of a site shares. Candor never hands out the store's own URLs
# (every download goes through its access checks), sets no ACLs, and keeps names as given: they are
# random or content-addressed, so an existing name is overwritten rather than renamed.
OBJECT_STORE = env.object_store("CANDOR_S3_URL")
if OBJECT_STORE is not None:
    STORAGES["default"] = OBJECT_STORE.storage()
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG

# --- Internationalisation -------------------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security headers -----------------------------------------------------------------------------
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

if PRODUCTION:
    SECURE_HSTS_SECONDS = env.integer("CANDOR_HSTS_SECONDS", 60 * 60 * 24 * 365, minimum=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # The preload directive only makes the site eligible for browsers' preload lists; an operator who
    # cannot commit to HTTPS for good turns it off (and check --deploy will then say so).
    SECURE_HSTS_PRELOAD = env.flag("CANDOR_HSTS_PRELOAD", True)
    SECURE_SSL_REDIRECT = env.flag("CANDOR_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-candor_session"
    CSRF_COOKIE_NAME = "__Host-candor_csrf"
    if not EMAIL_URL:
        raise ImproperlyConfigured(
            "CANDOR_EMAIL_URL is required when CANDOR_PRODUCTION is on: the site must be able to send "
            "verification emails (the email folder is for development only)."
        )
    if not WEBSITE_URL.startswith("https://"):
        raise env.error("CANDOR_WEBSITE_URL", "an https:// URL when CANDOR_PRODUCTION is on")
else:
    SESSION_COOKIE_NAME = "candor_session"
    CSRF_COOKIE_NAME = "candor_csrf"

# --- Analytics (clauses C7, C8, C12) ----------------------------------------------------------------
ANALYTICS_ENABLED = env.flag("CANDOR_ANALYTICS", True)
# Each process adds up its requests in memory and writes them out this often, or sooner when this many
# distinct counters are waiting. A crash loses at most one interval of counts.
ANALYTICS_FLUSH_SECONDS = env.integer("CANDOR_ANALYTICS_FLUSH_SECONDS", 10, minimum=0, maximum=3600)
ANALYTICS_FLUSH_KEYS = env.integer("CANDOR_ANALYTICS_FLUSH_KEYS", 5000, minimum=1)
# Hourly rows older than this are rolled up into the daily rows and dropped.
ANALYTICS_HOURLY_DAYS = env.integer("CANDOR_ANALYTICS_HOURLY_DAYS", 90, minimum=2, maximum=3660)
# k: no published figure counts fewer visits than this; smaller cells are merged or withheld.
TRENDS_MIN_COUNT = env.integer("CANDOR_TRENDS_MIN_COUNT", 10, minimum=1)
# Total epsilon spent by one release of the trends report; 0 turns differential privacy off.
TRENDS_DP_EPSILON = env.number("CANDOR_TRENDS_DP_EPSILON", 0.0, maximum=100.0)
# The total epsilon all releases together may spend; once it would be passed, no new range is released
# (those released before are still served). 0: no limit.
TRENDS_DP_BUDGET = env.number("CANDOR_TRENDS_DP_BUDGET", 0.0, maximum=1_000_000.0)

# --- Processes ------------------------------------------------------------------------------------
WEB_WORKERS = env.integer("CANDOR_WEB_WORKERS", 2, minimum=1, maximum=64)
# Threads per web process (gunicorn's gthread workers): a request waiting on the database's lock then
# holds one thread, not a whole process. 1 runs gunicorn's sync workers. bench/README.md has the figures.
WEB_THREADS = env.integer("CANDOR_WEB_THREADS", 8, minimum=1, maximum=64)
BIND = env.text("CANDOR_BIND", "127.0.0.1:8000")
if not re.fullmatch(r"(?:[\w.-]+|\[[0-9A-Fa-f:]+\]):\d{1,5}|unix:/\S+", BIND):
    raise env.error("CANDOR_BIND", "HOST:PORT, [IPv6]:PORT or unix:/path")

# --- Logging --------------------------------------------------------------------------------------
LOG_LEVEL = env.choice("CANDOR_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Every handler carries the redaction filter, so no record reaches a log with personal data in it.
    "filters": {"redact": {"()": "candor.privacy.logfilter.RedactPersonalData"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # Django's own handlers for these (the development server's request lines, mail to admins)
        # would bypass the filter: their records go to the root's handlers instead.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
    },
}
# Optionally also to a file (rotated by logrotate: the handler reopens it when it is moved).
LOG_FILE = env.text("CANDOR_LOG_FILE", "")
if LOG_FILE:
    LOGGING["handlers"]["file"] = {  # type: ignore[index]
        "class": "logging.handlers.WatchedFileHandler",
        "filename": LOG_FILE,
        "formatter": "plain",
        "filters": ["redact"],
    }
    LOGGING["root"]["handlers"].append("file")  # type: ignore[index]
