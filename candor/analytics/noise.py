"""Differential privacy for the trends report: OpenDP's discrete Laplace mechanism and the ε split.

With ``settings.TRENDS_DP_EPSILON`` > 0, every count of a release gets noise before suppression. One
request adds one to at most one cell of each of the report's six tables (visits, visitors, browsers,
languages, referrers, models), and the cells of a table are disjoint, so each table is one measurement
of L1 sensitivity 1 spending ε/6, and the release spends ε by sequential composition. This protects
one request (event-level privacy), not a person, who may make many.

:class:`Noise` adds the noise table by table and adds up what OpenDP's privacy map says each
measurement spent, so the ε recorded for a release is OpenDP's own account, not a figure assumed here.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Protocol, cast

from django.conf import settings

# What one release measures, each once: the visits series carries the bots' total as one more cell.
TABLES = ("visits", "visitors", "browsers", "languages", "referrers", "models")
MECHANISM = "discrete Laplace (OpenDP)"
UNIT = "one request"


class Mechanism(Protocol):
    """A measurement of integer vectors: OpenDP's, or a stand-in with the same two calls."""

    def __call__(self, values: list[int]) -> Sequence[int]: ...

    def map(self, d_in: int) -> float: ...


def epsilon() -> float:
    """The ε each new release spends in all (0: no differential privacy)."""
    return max(0.0, float(settings.TRENDS_DP_EPSILON))


def enabled() -> bool:
    return epsilon() > 0


def epsilon_per_table(total: float, tables: int = len(TABLES)) -> float:
    """Each table's share of a release's ε: the tables are measured one after another."""
    if total <= 0 or tables < 1:
        raise ValueError("a release spends a positive ε over at least one table")
    return total / tables


def laplace(epsilon_each: float) -> Mechanism:
    """OpenDP's discrete Laplace mechanism for vectors of integer counts of L1 sensitivity 1, spending
    ``epsilon_each`` (its scale is 1/ε)."""
    # Imported on first use: OpenDP loads a native library, which only a DP release needs.
    import opendp.prelude as dp

    dp.enable_features("contrib")
    space = dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)
    return cast(Mechanism, dp.m.make_laplace(*space, scale=1.0 / epsilon_each))


class Noise:
    """Adds noise to one release's tables and adds up the ε the measurements spent."""

    def __init__(self, epsilon_each: float, mechanism: Mechanism | None = None) -> None:
        self.mechanism = mechanism if mechanism is not None else laplace(epsilon_each)
        self.scale = 1.0 / epsilon_each
        self.spent = 0.0
        self.measured = 0

    def series(self, values: Sequence[int]) -> list[int]:
        """One measurement: the noisy counts of ``values``, in their order."""
        self.spent += float(self.mechanism.map(1))
        self.measured += 1
        return [int(v) for v in self.mechanism(list(values))] if values else []

    def table[K: Hashable](self, counts: Mapping[K, int]) -> dict[K, int]:
        """One measurement: each entry's noisy count, keyed as given."""
        keys = list(counts)
        return dict(zip(keys, self.series([counts[key] for key in keys]), strict=True))

    def describe(self) -> dict[str, Any]:
        """What a release says of its noise (stored with it, shown with it)."""
        return {
            "enabled": True,
            "epsilon": self.spent,
            "epsilon_per_table": self.spent / self.measured if self.measured else 0.0,
            "mechanism": MECHANISM,
            "scale": self.scale,
            "unit": UNIT,
        }
