"""Browser family from a User-Agent header, through ua-parser (uap-core's rules).

Only the family ("Firefox", "Chrome", "Googlebot") is ever kept; the raw header is not stored.
"""

from __future__ import annotations

from functools import lru_cache

import ua_parser

MAX_HEADER = 512  # longer headers are cut before parsing; none of uap-core's rules need more


@lru_cache(maxsize=4096)
def browser_family(user_agent: str) -> str:
    if not user_agent:
        return "Unknown"
    parsed = ua_parser.parse_user_agent(user_agent[:MAX_HEADER])
    return parsed.family if parsed else "Other"
