"""Candor's settings, plus an app that exists only for tests (a model declared in the inventory and
nowhere else, to prove that export, erasure and the sweep need no code of their own for it)."""

from candor.settings import *  # noqa: F403
from candor.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]

# Analytics: no background flush thread in tests; a test writes the counts out when it means to
# (candor.analytics.buffer.flush), so what it asserts never depends on timing.
ANALYTICS_FLUSH_SECONDS = 0
ANALYTICS_FLUSH_KEYS = 1_000_000
