"""``candor export``: ask the server for a copy of all your data, wait for it, and save it."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from candor_client.errors import EXIT_USAGE, ClientError
from candor_client.output import human
from candor_client.session import connect


def _newest(exports: list[dict[str, Any]], status: str) -> dict[str, Any] | None:
    matching = [e for e in exports if e.get("status") == status]
    return max(matching, key=lambda e: str(e.get("created_at", ""))) if matching else None


def cmd_export(args: argparse.Namespace) -> int:
    target = Path(args.output)
    if target.exists():
        raise ClientError(f"{target} already exists: choose another file with -o", EXIT_USAGE)
    if not target.parent.is_dir():
        raise ClientError(f"{target.parent} is not a folder", EXIT_USAGE)
    _, _, api = connect(args, need_token=True)
    with api:
        started = api.request_export()
        if started is None:
            print("An export is already being prepared; waiting for it.", file=sys.stderr)
        deadline = time.monotonic() + args.wait
        while True:
            exports = api.list_exports()
            pending = _newest(exports, "pending")
            ready = _newest(exports, "ready")
            if pending is None and ready is not None:
                break
            if pending is None and _newest(exports, "failed") is not None:
                raise ClientError("the server could not prepare the export: ask for a new one later")
            if time.monotonic() >= deadline:
                raise ClientError(
                    f"the export is still being prepared after {args.wait:g} s (is the server's worker "
                    "running?); run `candor export` again later to download it"
                )
            time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))
        # Written owner-only beside the target, renamed into place once whole: it is personal data.
        descriptor, temporary = tempfile.mkstemp(prefix=".candor-", suffix=".part", dir=target.parent)
        try:
            received = 0
            with os.fdopen(descriptor, "wb") as out:
                for chunk in api.download_export(str(ready["id"])):
                    out.write(chunk)
                    received += len(chunk)
            os.chmod(temporary, 0o600)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    print(f"Your data: {target} ({human(received)}). Open index.html inside it for a summary.")
    return 0
