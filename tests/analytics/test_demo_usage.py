"""The demo's made-up usage: public demo models only, in every list and report, and loaded once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from candor.analytics import popularity
from candor.analytics.models import ModelDaily
from candor.analytics.trends import report
from candor.hub.models import MLModel
from candor.web.demo import load_demo_data

pytestmark = pytest.mark.django_db


def test_demo_usage_fills_the_lists_with_public_models_only() -> None:
    load_demo_data()
    public = set(MLModel.objects.filter(visibility="public").values_list("pk", flat=True))
    hidden = set(MLModel.objects.exclude(visibility="public").values_list("pk", flat=True))
    assert public and hidden
    counted = set(ModelDaily.objects.values_list("model_id", flat=True))
    assert counted == public  # no count for an unlisted or private demo model
    shown = {entry.model.pk for entry in popularity.popular(10)}
    assert shown and shown <= public
    today = datetime.now(UTC).date()
    data = report.for_range(today - timedelta(days=29), today, "week")
    assert any(row["value"] for row in data["browsers"]["rows"])

    before = sorted(ModelDaily.objects.values_list("day", "model_id", "views"))
    load_demo_data()  # a second run adds nothing
    assert sorted(ModelDaily.objects.values_list("day", "model_id", "views")) == before
