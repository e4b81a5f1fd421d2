from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _hub_environment(settings: Any, tmp_path: Path) -> None:
    # The access tests make hundreds of API reads from one address within a test; the rate limits have
    # their own tests in tests/api.
    settings.API_RATE_PER_MINUTE = 1_000_000
    settings.API_ANON_RATE_PER_MINUTE = 1_000_000
    settings.MEDIA_ROOT = tmp_path / "media"
