"""What the README tells a newcomer to type works as written."""

from __future__ import annotations

import base64
import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def fenced_block_under(heading: str) -> str:
    """The first fenced code block after the README's heading ``heading``."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index(f"\n## {heading}\n")
    match = re.search(r"```\w*\n(.*?)```", readme[start:], re.DOTALL)
    assert match, f"no code block under {heading!r}"
    return match.group(1)


def placeholder_value(name: str) -> str:
    """A valid secret for a ``...`` the README leaves to the operator."""
    if name == "CANDOR_SECRET_KEY":
        return secrets.token_urlsafe(64)
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def test_the_production_block_passes_check_deploy_as_written(tmp_path: Path) -> None:
    block = fenced_block_under("Running it for real")
    commands = [shlex.split(line, comments=True) for line in block.replace("\\\n", " ").splitlines()]
    exports = [words[1:] for words in commands if words[:1] == ["export"]]
    assert len(exports) == 1, block
    variables = {}
    for assignment in exports[0]:
        name, _, value = assignment.partition("=")
        variables[name] = value.replace("...", placeholder_value(name))
    assert ["uv", "run", "candor", "check", "--deploy"] in commands, block
    assert "System check identified no issues" in block

    # Exactly the README's variables: nothing of the test process's Candor or Django settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CANDOR_", "DJANGO_"))}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "candor", "check", "--deploy"],
        env={**env, **variables},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout + result.stderr
    # In production the keys come from the environment: nothing is generated into ./data.
    assert list(tmp_path.iterdir()) == []
