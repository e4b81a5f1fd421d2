"""k-suppression: no published figure counts fewer than k (clauses C8 and C12).

k is ``settings.TRENDS_MIN_COUNT``, read here and nowhere else: the popular and trending lists leave out
a model counted fewer than k times in their window, and the trends report withholds or merges every
figure under k with the rules below. The rules are plain functions of lists and dictionaries, so they
can be checked on their own.

- A series (visits or visitors per period) withholds each period under k; if the withheld periods
  together come to more than nothing but fewer than k, the smallest shown period is withheld too, so
  that no withheld figure can be worked out from a total.
- A table (browsers, languages, referrers, models) lists its entries of k or more, at most ``top`` of
  them, largest first, and merges the rest into "Other". An "Other" under k takes the smallest listed
  entries until it reaches k, and is withheld if it never does: the browser and language tables each
  add up to the visits, so a small "Other" could be subtracted out.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings

OTHER = "Other"


def min_count() -> int:
    """k: the smallest count any list or report publishes."""
    return max(1, int(settings.TRENDS_MIN_COUNT))


def suppress_figure(value: int, k: int) -> int | None:
    """One figure alone (the bots' total): itself if it reaches k, else withheld (None)."""
    return value if value >= k else None


def suppress_series(values: Sequence[int], k: int) -> list[int | None]:
    """Each period's figure, or None where withheld (see the module's rules)."""
    shown: list[int | None] = [v if v >= k else None for v in values]
    withheld = sum(v for v, s in zip(values, shown, strict=True) if s is None)
    while 0 < withheld < k:
        candidates = [i for i, s in enumerate(shown) if s is not None]
        if not candidates:
            break
        smallest = min(candidates, key=lambda i: (values[i], i))
        withheld += values[smallest]
        shown[smallest] = None
    return shown


@dataclass
class Table:
    rows: list[tuple[Hashable, int]]  # (label or model id, count), largest first
    other: int | None  # the merged rest; None when withheld
    has_other: bool  # whether there is a rest at all (withheld or not)


def suppress_table(
    counts: Mapping[Hashable, int], k: int, top: int, *, extra_other: int | None = None
) -> Table:
    """The entries of k or more (at most ``top``, largest first, ties by label); the rest in "Other".

    ``extra_other`` belongs to "Other" without entries of its own: the models past the top rows, when
    only those were read.
    """
    ordered = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    rows = [(key, n) for key, n in ordered if n >= k and key != OTHER][:top]
    listed = {key for key, _ in rows}
    rest = [n for key, n in ordered if key not in listed]
    other = sum(rest) + (extra_other or 0)
    has_other = bool(rest) or bool(extra_other)
    if has_other and other == 0 and all(n == 0 for n in rest):
        has_other = False  # nothing but zeros: nothing to merge, nothing to protect
    while has_other and other < k and rows:
        _, n = rows.pop()
        other += n
    return Table(rows, other if (has_other and other >= k) else None, has_other)
