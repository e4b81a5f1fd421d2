"""A release: the figures of one range as they may be published, in the plain JSON the ledger stores.

The counts are read (:mod:`.counts`), given noise if the release is differentially private
(:mod:`candor.analytics.noise`), then suppressed (:mod:`candor.analytics.suppression`), which works on
the noisy figures. Model rows are kept by id; :mod:`.report` names them when the release is shown.
"""

from __future__ import annotations

from typing import Any

from candor.analytics import noise, store, suppression
from candor.analytics.trends import counts
from candor.analytics.trends.ranges import TrendsQuery

# Rows listed before the rest are merged into "Other".
TOP_ROWS = {"browsers": 12, "languages": 12, "referrers": 20, "models": 20}
CATEGORY_TABLES = ("browsers", "languages", "referrers", "models")
FORMAT = 1  # the shape of a stored release
NO_NOISE: dict[str, Any] = {"enabled": False, "epsilon": 0.0, "epsilon_per_table": 0.0}


def compute(query: TrendsQuery, *, noisy: bool) -> dict[str, Any]:
    """The release for ``query``: suppressed figures, with noise if ``noisy``, as plain JSON data."""
    with store.reporting():
        found = counts.read(query, top_models=None if noisy else TOP_ROWS["models"])
    dp_out = dict(NO_NOISE)
    if noisy:
        found, dp_out = add_noise(found, noise.epsilon())
    return suppress(query, found, suppression.min_count(), dp_out)


def add_noise(found: counts.Counts, epsilon: float) -> tuple[counts.Counts, dict[str, Any]]:
    """Noisy copies of every count, one measurement per table, spending ``epsilon`` in all."""
    measure = noise.Noise(noise.epsilon_per_table(epsilon))
    with_bots = measure.series([*found.visits, found.bots])
    visitors = measure.series(found.visitors)
    tables = {name: measure.table(found.tables[name]) for name in CATEGORY_TABLES}
    return counts.Counts(with_bots[:-1], with_bots[-1], visitors, tables), measure.describe()


def suppress(query: TrendsQuery, found: counts.Counts, k: int, dp_out: dict[str, Any]) -> dict[str, Any]:
    """The release of ``found``: nothing under k, in the shape the ledger stores."""
    released: dict[str, Any] = {
        "format": FORMAT,
        "start": query.start.isoformat(),
        "end": query.end.isoformat(),
        "granularity": query.granularity,
        "k": k,
        "dp": dp_out,
        "visits": suppression.suppress_series(found.visits, k),
        "bots": suppression.suppress_figure(found.bots, k),
        "visitors": suppression.suppress_series(found.visitors, k),
    }
    for name in CATEGORY_TABLES:
        table = suppression.suppress_table(
            found.tables[name], k, TOP_ROWS[name], extra_other=found.models_rest if name == "models" else None
        )
        released[name] = {
            "rows": [[key, n] for key, n in table.rows],
            "other": table.other,
            "has_other": table.has_other,
        }
    released["cells"] = count_cells(released)
    return released


def count_cells(released: dict[str, Any]) -> int:
    """How many figures the release gives (withheld ones not counted)."""
    cells = sum(v is not None for v in released["visits"]) + sum(v is not None for v in released["visitors"])
    cells += released["bots"] is not None
    for name in CATEGORY_TABLES:
        cells += len(released[name]["rows"]) + (released[name]["other"] is not None)
    return int(cells)
