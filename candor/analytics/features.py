"""What a request may contribute to analytics, reduced at the edge (clause C7).

Each function takes one request header and returns a value from a narrow vocabulary (the patterns in
:mod:`candor.analytics.models`), or nothing. The raw header never leaves this module: results are cached
per process, in memory only, keyed by the header.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import urlsplit

import ua_parser
from publicsuffixlist import PublicSuffixList

from candor.analytics.models import BROWSER_PATTERN, DOMAIN_PATTERN

MAX_HEADER = 512
UNKNOWN_LANGUAGE = "und"  # ISO 639's "undetermined"

_BROWSER = re.compile(BROWSER_PATTERN)
_DOMAIN = re.compile(DOMAIN_PATTERN)
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}")
_NOT_BROWSER_CHARS = re.compile(r"[^A-Za-z0-9 ._-]+")
# The list ships inside the package (publicsuffixlist updates it with each release); nothing is fetched.
_SUFFIXES = PublicSuffixList()


@lru_cache(maxsize=4096)
def browser(user_agent: str) -> tuple[str, bool]:
    """(browser family, is a known bot) from a User-Agent header, through ua-parser's uap-core rules."""
    if not user_agent:
        return "Unknown", False
    parsed = ua_parser.parse(user_agent[:MAX_HEADER])
    family = parsed.user_agent.family if parsed.user_agent else "Other"
    is_bot = bool(parsed.device and parsed.device.family == "Spider")
    family = " ".join(_NOT_BROWSER_CHARS.sub(" ", family).split())[:40].strip()
    if not _BROWSER.match(family):
        family = "Other"
    return family, is_bot


@lru_cache(maxsize=1024)
def language(accept_language: str) -> str:
    """The primary subtag of the first language asked for: "en-GB,fr;q=0.5" gives "en"."""
    first = accept_language[:MAX_HEADER].split(",", 1)[0].split(";", 1)[0].strip()
    primary = first.split("-", 1)[0].split("_", 1)[0]
    return primary.lower() if _LANGUAGE.fullmatch(primary) else UNKNOWN_LANGUAGE


@lru_cache(maxsize=4096)
def referring_domain(referer: str, own_hosts: frozenset[str]) -> str | None:
    """The registered domain of an external Referer ("news.example.co.uk" gives "example.co.uk").

    Nothing of the path or query is kept. Our own pages, IP addresses, and anything that is not a
    public host name give None.
    """
    try:
        host = urlsplit(referer[:MAX_HEADER]).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".").lower()
    if host in own_hosts:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return None
    try:
        domain = _SUFFIXES.privatesuffix(host)
    except (ValueError, UnicodeError):
        return None
    if not domain or len(domain) > 100 or not _DOMAIN.match(domain):
        return None
    return str(domain)
