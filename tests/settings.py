"""Candor's settings, plus an app that exists only for tests (a model declared in the inventory and
nowhere else, to prove that export, erasure and the sweep need no code of their own for it)."""

from candor.settings import *  # noqa: F403
from candor.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
