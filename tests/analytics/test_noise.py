"""The trends report's noise on its own: OpenDP's discrete Laplace mechanism and the ε split, on plain
lists and dictionaries, no database."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest

from candor.analytics import noise
from candor.analytics.trends.counts import Counts
from candor.analytics.trends.release import CATEGORY_TABLES, add_noise


class Shift:
    """A stand-in mechanism: adds a known amount and claims a known ε, so the bookkeeping shows."""

    def __init__(self, by: int, epsilon: float) -> None:
        self.by, self.epsilon, self.calls = by, epsilon, 0

    def __call__(self, values: list[int]) -> Sequence[int]:
        self.calls += 1
        return [v + self.by for v in values]

    def map(self, d_in: int) -> float:
        assert d_in == 1  # one request moves each table by at most one
        return self.epsilon


def test_dp_is_on_for_a_positive_epsilon_only(settings: Any) -> None:
    settings.TRENDS_DP_EPSILON = 0.6
    assert noise.enabled() and noise.epsilon() == 0.6
    settings.TRENDS_DP_EPSILON = -1
    assert not noise.enabled() and noise.epsilon() == 0.0


def test_epsilon_is_split_evenly_over_the_six_tables() -> None:
    assert noise.TABLES == ("visits", "visitors", "browsers", "languages", "referrers", "models")
    assert noise.epsilon_per_table(1.2) == pytest.approx(0.2)
    assert noise.epsilon_per_table(1.0, tables=4) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="positive"):
        noise.epsilon_per_table(0.0)


def test_noise_keeps_order_and_keys_and_adds_up_what_each_measurement_spent() -> None:
    measure = noise.Noise(0.5, Shift(3, 0.5))
    assert measure.series([1, 2, 0]) == [4, 5, 3]
    assert measure.table({"en": 10, "fr": 0}) == {"en": 13, "fr": 3}
    assert measure.table({}) == {}  # a table with no entries is still one measurement
    assert measure.spent == pytest.approx(1.5) and measure.measured == 3
    described = measure.describe()
    assert described["epsilon"] == pytest.approx(1.5)
    assert described["epsilon_per_table"] == pytest.approx(0.5)
    assert described["scale"] == pytest.approx(2.0)
    assert described["unit"] == "one request"


def test_opendp_spends_the_epsilon_it_was_given() -> None:
    for epsilon in (0.05, 0.15, 1.0):
        assert noise.laplace(epsilon).map(1) == pytest.approx(epsilon)


def test_a_release_measures_each_table_once_and_spends_epsilon_in_all() -> None:
    counts = Counts(
        visits=[40, 0, 13],
        bots=7,
        visitors=[20, 1, 0],
        tables={
            "browsers": {"Firefox": 30},
            "languages": {"en": 30, "fr": 2},
            "referrers": {},
            "models": {5: 0},
        },
    )
    noisy, described = add_noise(counts, 0.9)
    assert described["epsilon"] == pytest.approx(0.9)
    assert described["epsilon_per_table"] == pytest.approx(0.15)
    assert described["mechanism"] == "discrete Laplace (OpenDP)"
    assert len(noisy.visits) == 3 and len(noisy.visitors) == 3 and isinstance(noisy.bots, int)
    assert {name: set(noisy.tables[name]) for name in CATEGORY_TABLES} == {
        name: set(counts.tables[name]) for name in CATEGORY_TABLES
    }
    assert noisy.models_rest is None


def test_the_noise_follows_the_discrete_laplace_distribution() -> None:
    """At scale b, P(0) = (1 - e^(-1/b)) / (1 + e^(-1/b)) and the variance is 2 e^(-1/b) / (1 - e^(-1/b))²;
    20,000 draws land within five standard errors of both (a false alarm is far rarer than one in a
    million runs)."""
    epsilon, draws = 0.5, 20_000
    values = noise.Noise(epsilon).series([0] * draws)
    assert all(isinstance(v, int) for v in values)
    q = math.exp(-epsilon)
    p_zero = (1 - q) / (1 + q)
    zeros = sum(v == 0 for v in values) / draws
    assert abs(zeros - p_zero) < 5 * math.sqrt(p_zero * (1 - p_zero) / draws)
    variance = 2 * q / (1 - q) ** 2
    mean = sum(values) / draws
    assert abs(mean) < 5 * math.sqrt(variance / draws)
    spread = sum(v * v for v in values) / draws
    assert spread == pytest.approx(variance, rel=0.1)
    assert len(set(values)) > 10  # and it is noise: many different values
