"""``candor log``, ``forget`` and ``tag``: a model's revisions seen and managed from afar."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from candor_client.args import ModelRef
from candor_client.errors import EXIT_ERROR
from candor_client.output import note, plural, shown
from candor_client.session import connect


def cmd_log(args: argparse.Namespace) -> int:
    ref: ModelRef = args.model
    _, _, api = connect(args)
    commits: list[dict[str, Any]] = []
    after: str | None = None
    with api:
        while len(commits) < args.limit:
            page = api.list_commits(
                ref.owner, ref.name, limit=min(100, args.limit - len(commits)), after=after
            )
            commits += [item for item in page["items"] if isinstance(item, dict)]
            following = page.get("next_cursor")
            if not isinstance(following, str) or not following:
                after = None
                break
            after = following
    if args.json:
        print(json.dumps({"items": commits, "next_cursor": after}, indent=2))
        return 0
    if not commits:
        print(f"{shown(ref)} has no commit yet.")
        return 0
    for item in commits:
        oid = shown(item.get("oid", "?"), 40)
        changes = item.get("changes")
        count = len(changes) if isinstance(changes, list) else 0
        when = shown(str(item.get("created_at", ""))[:19].replace("T", " "), 19)
        author = shown(item.get("author") or "(account gone)", 100)
        message = shown(item.get("message", ""), 200)
        print(f"{oid[:12]}  {when} UTC  {author}  {plural(count, 'file')} changed  {message}")
        print(f"    commit {oid}")
    if after:
        note(f"older commits than --limit {args.limit} shows: raise it")
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    ref: ModelRef = args.model
    path = str(args.path).strip("/")
    _, _, api = connect(args, need_token=True)
    with api:
        if not args.yes:
            sys.stderr.write(
                f"This removes {shown(path)} from every revision of {shown(ref)} for good: older "
                f"revisions lose it too, and its bytes are deleted. Type the path ({shown(path)}) to "
                "confirm: "
            )
            sys.stderr.flush()
            if sys.stdin.readline().strip() != path:
                note("nothing removed")
                return EXIT_ERROR
        result = api.remove_from_history(ref.owner, ref.name, path)
    count = result.get("revisions") if isinstance(result, dict) else None
    held = plural(count, "revision") if isinstance(count, int) else "every revision"
    print(f"Removed {shown(path)} from {held} of {shown(ref)}.")
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    ref: ModelRef = args.model
    _, _, api = connect(args, need_token=True)
    with api:
        if args.delete:
            api.delete_tag(ref.owner, ref.name, args.tag)
            print(f"Deleted the tag {shown(args.tag, 100)} of {shown(ref)} (its revision stays).")
            return 0
        made = api.tag(ref.owner, ref.name, args.tag, args.revision)
    oid = shown(made.get("commit", "?"), 40)
    print(f"Tagged {oid[:12]} of {shown(ref)} as {shown(made.get('name', args.tag), 100)}.")
    return 0
