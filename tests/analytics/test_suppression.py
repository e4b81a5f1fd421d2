"""k-suppression on its own (clauses C8, C12): plain lists and dictionaries, no database."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from candor.analytics import suppression
from candor.analytics.suppression import OTHER, suppress_figure, suppress_series, suppress_table

LABELS = ["Firefox", "Chrome", "Safari", "Edge", "Opera", "Vivaldi", "Other", "Unknown", "en", "fr", "de"]


def test_k_is_the_setting_and_never_below_one(settings: Any) -> None:
    settings.TRENDS_MIN_COUNT = 25
    assert suppression.min_count() == 25
    settings.TRENDS_MIN_COUNT = 0
    assert suppression.min_count() == 1


def test_a_lone_figure_is_shown_from_k_on() -> None:
    assert suppress_figure(9, 10) is None
    assert suppress_figure(10, 10) == 10
    assert suppress_figure(0, 1) is None


def test_small_periods_are_withheld_and_cannot_be_worked_out() -> None:
    # 3 alone could be worked out from a total, so the smallest shown period (12) goes with it; 0 is a
    # figure under k like any other.
    assert suppress_series([50, 3, 40, 12, 0, 25], 10) == [50, None, 40, None, None, 25]


def test_a_series_with_nothing_under_k_is_shown_whole() -> None:
    assert suppress_series([10, 11, 99], 10) == [10, 11, 99]
    assert suppress_series([], 10) == []


def test_ties_withhold_the_earliest_smallest_period() -> None:
    assert suppress_series([12, 12, 4], 10) == [None, 12, None]


def test_a_series_that_never_reaches_k_is_withheld_whole() -> None:
    assert suppress_series([4, 3, 20], 30) == [None, None, None]


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=60), max_size=40), st.integers(min_value=1, max_value=30))
def test_series_suppression_properties(values: list[int], k: int) -> None:
    shown = suppress_series(values, k)
    assert len(shown) == len(values)
    assert all(s is None or (s == v and s >= k) for s, v in zip(shown, values, strict=True))
    withheld = sum(v for s, v in zip(shown, values, strict=True) if s is None)
    # The guard against subtraction: what is withheld is nothing, or k or more, or everything.
    assert withheld == 0 or withheld >= k or all(s is None for s in shown)
    # And it withholds no more than it must: every period of k or more stays unless the guard took it.
    taken = [v for s, v in zip(shown, values, strict=True) if s is None and v >= k]
    assert sum(taken) == 0 or withheld - max(taken) < k


def test_small_entries_are_merged_into_other() -> None:
    table = suppress_table({"Firefox": 50, "Chrome": 30, "Edge": 4, "Opera": 3, "Vivaldi": 5}, 10, 12)
    assert table.rows == [("Firefox", 50), ("Chrome", 30)]
    assert (table.other, table.has_other) == (12, True)


def test_an_other_under_k_takes_the_smallest_listed_entries() -> None:
    table = suppress_table({"en": 50, "fr": 30, "de": 4}, 10, 12)
    assert table.rows == [("en", 50)]
    assert table.other == 34


def test_a_table_under_k_altogether_is_withheld() -> None:
    table = suppress_table({"news.example": 4, "blog.example": 3}, 10, 20)
    assert table.rows == []
    assert (table.other, table.has_other) == (None, True)


def test_entries_past_the_top_rows_join_other() -> None:
    table = suppress_table({"a": 40, "b": 30, "c": 20, "d": 10}, 10, 2)
    assert table.rows == [("a", 40), ("b", 30)]
    assert table.other == 30


def test_a_label_called_other_is_never_listed_apart() -> None:
    table = suppress_table({OTHER: 90, "Firefox": 20}, 10, 12)
    assert table.rows == [("Firefox", 20)]
    assert table.other == 90


def test_the_count_of_unread_entries_belongs_to_other() -> None:
    table = suppress_table({17: 40, 18: 25}, 10, 20, extra_other=6)
    # 6 alone is under k: the smallest listed model joins it.
    assert table.rows == [(17, 40)]
    assert table.other == 31


def test_zeros_alone_make_no_other() -> None:
    table = suppress_table({"a": 20, "b": 0, "c": 0}, 10, 12)
    assert table.rows == [("a", 20)]
    assert (table.other, table.has_other) == (None, False)
    assert suppress_table({}, 10, 12).has_other is False


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(LABELS), st.integers(min_value=0, max_value=80), max_size=11),
    st.integers(min_value=1, max_value=30),
    st.integers(min_value=1, max_value=8),
    st.none() | st.integers(min_value=0, max_value=40),
)
def test_table_suppression_properties(counts: dict[str, int], k: int, top: int, extra: int | None) -> None:
    table = suppress_table(counts, k, top, extra_other=extra)
    assert len(table.rows) <= top
    assert all(n >= k and counts[key] == n and key != OTHER for key, n in table.rows)
    assert [n for _, n in table.rows] == sorted((n for _, n in table.rows), reverse=True)
    rest = sum(counts.values()) + (extra or 0) - sum(n for _, n in table.rows)
    if table.other is not None:
        assert table.other == rest and table.other >= k
    elif table.has_other:
        assert rest < k and table.rows == []  # withheld only when it cannot reach k at all
    else:
        assert rest == 0
