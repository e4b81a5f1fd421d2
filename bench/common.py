"""What the benchmark scripts share: Django set up in a measuring process, each measurement run in a
process of its own (so its peak RSS and caches are its own), and figures appended to bench/README.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "candor.settings")
    import django

    django.setup()


def run_child(script: str, action: str, env: dict[str, str], *extra: str) -> dict[str, float]:
    """Run ``script --child ACTION EXTRA…`` in a fresh process; its last output line is its figures."""
    result = subprocess.run(
        [sys.executable, script, "--child", action, *extra],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"{action} failed:\n{result.stderr[-4000:]}")
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def append_to_readme(text: str) -> None:
    with open(ROOT / "bench" / "README.md", "a") as out:
        out.write("\n" + text)
