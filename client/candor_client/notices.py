"""``candor notices`` (list, dismiss), and the notices printed once after any other command.

After a command that talked to a server as a signed-in person, the person's open notices that this
machine has not printed before are printed on stderr (so piped output is unharmed), once. Which ones
were printed is remembered per server in ``notices-seen.json`` beside the config file: the notices' random
ids and nothing else (no title, no user name), and only those still open, so the file stays small.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from candor_client.api import Api, signed_in_target
from candor_client.config import config_path
from candor_client.errors import EXIT_USAGE, ClientError
from candor_client.output import shown
from candor_client.session import connect

# The server's notice ids are URL-safe base64; anything else is refused before a request is made.
NOTICE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Printing notices must never hold a command up for long, or change how it ends.
ANNOUNCE_TIMEOUT = 5.0


def seen_path(environ: Mapping[str, str] = os.environ) -> Path:
    return config_path(environ).with_name("notices-seen.json")


def load_seen(path: Path) -> dict[str, list[str]]:
    """Printed notice ids by server; an unreadable or odd file counts as empty (it is only a memory)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    servers = data.get("servers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        return {}
    return {
        server: [i for i in ids if isinstance(i, str) and NOTICE_ID.fullmatch(i)]
        for server, ids in servers.items()
        if isinstance(server, str) and isinstance(ids, list)
    }


def save_seen(path: Path, seen: Mapping[str, Iterable[str]]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    payload = json.dumps({"servers": {s: sorted(ids) for s, ids in seen.items() if ids}}, indent=2) + "\n"
    # Beside the real file, then renamed over it: two commands ending at once leave one whole file.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        with os.fdopen(os.open(temporary, flags, 0o600), "w", encoding="utf-8") as handle:
            handle.write(payload)
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def describe(notice: Mapping[str, Any], *, indent: str = "  ") -> list[str]:
    """A notice as lines of text, every piece from the server made safe to print."""
    when = str(notice.get("created_at", ""))[:10]
    kind = shown(notice.get("kind_label") or notice.get("kind") or "notice", 40)
    lines = [f"{shown(notice.get('title', ''))} ({kind}, {shown(when, 10)})"]
    if notice.get("body"):
        lines.append(indent + shown(notice["body"], 1000))
    if notice.get("url"):
        lines.append(f"{indent}More: {shown(notice['url'], 500)}")
    if notice.get("dismissed_at"):
        lines.append(f"{indent}Dismissed {shown(str(notice['dismissed_at'])[:10], 10)}")
    else:
        lines.append(f"{indent}Dismiss it: candor notices dismiss {shown(notice['id'], 64)}")
    return lines


def remember(server: str, shown_now: Iterable[str], still_open: Iterable[str]) -> None:
    path = seen_path()
    seen = load_seen(path)
    open_ids = set(still_open)
    # Forget ids no longer open (dismissed anywhere): the file holds what is still on the dashboard.
    seen[server] = sorted((set(seen.get(server, ())) & open_ids) | set(shown_now))
    save_seen(path, seen)


def announce() -> None:
    """Print the signed-in person's open notices not printed on this machine before, on stderr.

    Called when a command ends; a failure here (an older server without notices, the network gone, a
    read-only config folder) prints nothing and changes nothing of the command's result."""
    target = signed_in_target()
    if target is None:
        return
    try:
        with Api(target.server, target.token, origin=target.origin, timeout=ANNOUNCE_TIMEOUT) as api:
            notices = api.notices()
        printed = set(load_seen(seen_path()).get(target.server, ()))
        new = [n for n in notices if n["id"] not in printed]
        for notice in reversed(new):  # oldest first, so the newest ends up nearest the prompt
            first, *rest = describe(notice)
            print(f"candor: notice: {first}", file=sys.stderr)
            for line in rest:
                print(f"candor:   {line.strip()}", file=sys.stderr)
        if new or printed - {n["id"] for n in notices}:
            remember(target.server, [n["id"] for n in new], [n["id"] for n in notices])
    except (ClientError, OSError):
        return


def cmd_notices(args: argparse.Namespace) -> int:
    if getattr(args, "action", None) == "dismiss":
        return _dismiss(args)
    _, target, api = connect(args, need_token=True)
    with api:
        notices = api.notices(include_dismissed=args.all)
    if args.json:
        print(json.dumps({"items": notices}, indent=2, ensure_ascii=False))
    elif not notices:
        print("No notices." if args.all else "No open notices.")
    else:
        for notice in notices:
            print("\n".join(describe(notice)))
    open_ids = [n["id"] for n in notices if not n.get("dismissed_at")]
    with contextlib.suppress(OSError):  # a read-only config folder: the list was printed all the same
        remember(target.server, open_ids, open_ids)  # listed here: not printed again after a command
    return 0


def _dismiss(args: argparse.Namespace) -> int:
    if not NOTICE_ID.fullmatch(args.id):
        raise ClientError(
            f"{shown(args.id, 64)} is not a notice id (letters, digits, - and _; see `candor notices`)",
            EXIT_USAGE,
        )
    _, _, api = connect(args, need_token=True)
    with api:
        notice = api.dismiss_notice(args.id)
    print(f"Dismissed: {shown(notice.get('title', args.id))}")
    return 0
