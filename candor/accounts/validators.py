"""Usernames: the rules that keep profile URLs (``/<username>/``) unambiguous."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

USERNAME_MIN = 3
USERNAME_MAX = 39
# Letters and digits, with single hyphens between them (never leading, trailing or doubled).
USERNAME_RE = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")

# Every first path segment the site uses or may use: a profile with one of these names would shadow
# a page. Compared without regard to case.
RESERVED_USERNAMES = frozenset(
    [
        "about",
        "account",
        "accounts",
        "admin",
        "administrator",
        "api",
        "app",
        "assets",
        "auth",
        "billing",
        "blog",
        "candor",
        "contact",
        "cookies",
        "dashboard",
        "developer",
        "developers",
        "docs",
        "download",
        "downloads",
        "explore",
        "export",
        "feed",
        "feeds",
        "help",
        "home",
        "i18n",
        "internal",
        "legal",
        "login",
        "logout",
        "me",
        "media",
        "models",
        "new",
        "news",
        "null",
        "org",
        "orgs",
        "password",
        "popular",
        "pricing",
        "privacy",
        "profile",
        "profiles",
        "register",
        "reset",
        "robots",
        "root",
        "search",
        "security",
        "settings",
        "signin",
        "signout",
        "signup",
        "sitemap",
        "static",
        "staff",
        "status",
        "support",
        "system",
        "terms",
        "token",
        "tokens",
        "transparency",
        "trending",
        "trends",
        "undefined",
        "user",
        "users",
        "verify",
        "well-known",
        "www",
    ]
)


def validate_username(value: str) -> None:
    if not USERNAME_MIN <= len(value) <= USERNAME_MAX:
        raise ValidationError(
            "A username has %(min)d to %(max)d characters.",
            code="length",
            params={"min": USERNAME_MIN, "max": USERNAME_MAX},
        )
    if not USERNAME_RE.fullmatch(value):
        raise ValidationError(
            "Use only letters, digits and single hyphens, not at the start or the end.", code="invalid"
        )
    if value.lower() in RESERVED_USERNAMES:
        raise ValidationError("This name is reserved by the site. Please choose another.", code="reserved")
