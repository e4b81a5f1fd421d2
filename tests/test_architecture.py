"""The architecture's own checks that import-linter cannot make."""

from candor.api.errors import STATUS
from candor.kernel.refusal import Code


def test_every_refusal_code_has_an_http_status():
    assert set(STATUS) == set(Code)
    assert all(100 <= status < 600 for status in STATUS.values())
