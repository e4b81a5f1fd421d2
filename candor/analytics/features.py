"""What a request may contribute to analytics, reduced at the edge (clause C7).

Each function takes one request header and returns a value from a narrow vocabulary (the patterns in
:mod:`candor.analytics.models`), or nothing. The raw header never leaves this module: results are cached
per process, in memory only, keyed by the header.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from itertools import pairwise
from typing import cast
from urllib.parse import urlsplit

import ua_parser
from publicsuffixlist import PublicSuffixList
from ua_parser import load_lazy_builtins
from ua_parser.lazy import UserAgentMatcher

from candor.analytics.models import BROWSER_DIGITS, BROWSER_PATTERN, DOMAIN_PATTERN

MAX_HEADER = 512
UNKNOWN_LANGUAGE = "und"  # ISO 639's "undetermined"

_BROWSER = re.compile(BROWSER_PATTERN)
_DOMAIN = re.compile(DOMAIN_PATTERN)
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}")
_NOT_BROWSER_CHARS = re.compile(r"[^A-Za-z0-9 ._-]+")
_THREE_DIGITS = re.compile(BROWSER_DIGITS)
# The list ships inside the package (publicsuffixlist updates it with each release); nothing is fetched.
# A name under a suffix it does not know (.local, .lan, .internal, .localhost) is a private network's.
_SUFFIXES = PublicSuffixList(accept_unknown=False)
_WEB = ("http", "https")
# A rule's alternative that can only match fixed words: letters and the like, escaped punctuation,
# optional parts and nested alternatives; no wildcard, character class, repetition or class escape.
_FIXED_WORDS = re.compile(r"(?:\\[^dDwWsSbBpP0-9]|\(\?:|[^\\.\[\]{}*+(])*")


def _alternatives(regex: str) -> list[str]:
    """The top-level alternatives of a rule's first capturing group, the one its family's ``$1`` names."""
    start, depth, in_class, i = -1, 0, False, 0
    cuts: list[int] = []
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            if start >= 0:
                depth += 1
            elif not regex.startswith("(?", i):
                start = i + 1
        elif char == ")" and start >= 0:
            if depth == 0:
                return [regex[a + 1 : b] for a, b in pairwise([start - 1, *cuts, i])]
            depth -= 1
        elif char == "|" and start >= 0 and depth == 0:
            cuts.append(i)
        i += 1
    return []


@lru_cache(maxsize=1)
def _vocabulary() -> tuple[frozenset[str], re.Pattern[str]]:
    """Every browser family uap-core's rules can give, as long as it does not come from the visitor.

    Most rules name their family, or take it from a list of words in the user agent. A few take whatever
    text stands before a version ("^(.{0,200})/(\\d+) CFNetwork", "[A-z]+[Bb]ot"): those families would
    be the visitor's own words, so they are left out, and such a user agent counts as "Other".
    """
    named: set[str] = set()
    templates: list[str] = []
    for rule in load_lazy_builtins()[0]:
        family = cast("UserAgentMatcher", rule).family
        if "$1" not in family:
            named.add(family)
            continue
        before, after = family.split("$1", 1)
        for words in _alternatives(rule.regex):
            if _FIXED_WORDS.fullmatch(words):
                templates.append(f"{re.escape(before)}(?:{words}){re.escape(after)}")
    return frozenset(named), re.compile("|".join(templates) or "(?!)")


def known_family(family: str) -> bool:
    named, templated = _vocabulary()
    return family in named or templated.fullmatch(family) is not None


@lru_cache(maxsize=4096)
def browser(user_agent: str) -> tuple[str, bool]:
    """(browser family, is a known bot) from a User-Agent header, through ua-parser's uap-core rules."""
    if not user_agent:
        return "Unknown", False
    parsed = ua_parser.parse(user_agent[:MAX_HEADER])
    family = parsed.user_agent.family if parsed.user_agent else "Other"
    if not known_family(family):
        family = "Other"
    is_bot = bool(parsed.device and parsed.device.family == "Spider")
    family = " ".join(_NOT_BROWSER_CHARS.sub(" ", family).split())[:40].strip()
    if not _BROWSER.match(family) or _THREE_DIGITS.search(family):
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
        parts = urlsplit(referer[:MAX_HEADER])
        host = parts.hostname
    except ValueError:
        return None
    if not host or parts.scheme.lower() not in _WEB:
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
