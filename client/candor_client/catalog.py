"""``candor ls``, ``popular``, ``stats``, ``visibility`` and ``rm``: models seen and managed from afar."""

from __future__ import annotations

import argparse
import json
import sys

from candor_client.args import ModelRef
from candor_client.errors import EXIT_ERROR
from candor_client.output import human, note, number, plural, shown
from candor_client.session import connect


def cmd_ls(args: argparse.Namespace) -> int:
    _, _, api = connect(args)
    with api:
        if args.model is None:
            page = api.list_models(limit=args.limit, query=args.search, sort=args.sort)
            if args.json:
                print(json.dumps(page, indent=2))
                return 0
            items = page.get("items") or []
            for model in items:
                updated = str(model.get("updated_at", ""))[:10]
                title = shown(model.get("title", ""), 80)
                print(f"{shown(model.get('full_name', '?'), 60):<40} {updated}  {title}")
            if not items:
                print("No public models match." if args.search else "No public models yet.")
            elif page.get("next"):
                note(f"more models than --limit {args.limit} shows: raise it, or narrow with --search")
            return 0
        ref: ModelRef = args.model
        model = api.get_model(ref.owner, ref.name)
        files = api.list_files(ref.owner, ref.name)
    if args.json:
        print(json.dumps({"model": model, "files": files}, indent=2))
        return 0
    total = sum(int(item.get("size") or 0) for item in files)
    print(
        f"{shown(model.get('full_name', ref))} ({shown(model.get('visibility', '?'))}): "
        f"{plural(len(files), 'file')}, {human(total)}"
    )
    for item in files:
        sha = str(item.get("sha256", ""))[:12]
        print(f"{human(int(item.get('size') or 0)):>9}  {sha:<12}  {shown(item.get('path', '?'))}")
    return 0


def cmd_popular(args: argparse.Namespace) -> int:
    kind = "trending" if args.trending else "popular"
    _, _, api = connect(args)
    with api:
        ranking = api.ranking(kind, limit=args.limit)
    if args.json:
        print(json.dumps(ranking, indent=2))
        return 0
    items = [item for item in ranking["items"] if isinstance(item, dict)]
    if items:
        print(f"{'#':>3}  {'model':<40} {'views':>9} {'downloads':>9} {'score':>10}")
    for item in items:
        score = number(item.get("score"))
        shown_score = f"{score:,.0f}" if score.is_integer() else f"{score:,.2f}"
        print(
            f"{number(item.get('rank')):>3.0f}  {shown(item.get('full_name', '?'), 60):<40} "
            f"{number(item.get('views')):>9,.0f} {number(item.get('downloads')):>9,.0f} {shown_score:>10}"
        )
    if not items:
        needed = ranking.get("min_count", "?")
        print(f"No model is {kind} yet: a model needs {needed} views and downloads to appear.")
    note(shown(str(ranking.get("formula", "")), 400))
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    ref: ModelRef = args.model
    _, _, api = connect(args, need_token=True)
    with api:
        stats = api.model_stats(ref.owner, ref.name, days=args.days)
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    days = [day for day in stats["days"] if isinstance(day, dict)]
    views = sum(number(day.get("views")) for day in days)
    downloads = sum(number(day.get("downloads")) for day in days)
    print(
        f"{shown(stats.get('full_name', ref))}: {views:,.0f} views and {downloads:,.0f} downloads "
        f"over the last {plural(len(days), 'day')}"
    )
    print(f"{'day':<10}  {'views':>9}  {'downloads':>9}")
    for day in days:
        counts = f"{number(day.get('views')):>9,.0f}  {number(day.get('downloads')):>9,.0f}"
        print(f"{shown(day.get('day', '?'), 10):<10}  {counts}")
    note(shown(str(stats.get("note", "")), 400))
    return 0


def cmd_visibility(args: argparse.Namespace) -> int:
    ref: ModelRef = args.model
    _, _, api = connect(args, need_token=True)
    with api:
        model = api.update_model(ref.owner, ref.name, {"visibility": args.visibility})
    print(f"{shown(model.get('full_name', ref))} is now {shown(model.get('visibility', args.visibility))}.")
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    ref: ModelRef = args.model
    _, _, api = connect(args, need_token=True)
    with api:
        model = api.get_model(ref.owner, ref.name)
        full_name = shown(model.get("full_name", ref))
        if not args.yes:
            files = model.get("files")
            count = len(files) if isinstance(files, list) else files if isinstance(files, int) else None
            what = f"and its {plural(count, 'file')} " if count is not None else "and its files "
            sys.stderr.write(
                f"This deletes {full_name} {what}for good. Type its name ({ref.name}) to confirm: "
            )
            sys.stderr.flush()
            answer = sys.stdin.readline().strip()
            if answer != ref.name:
                note("not deleted")
                return EXIT_ERROR
        api.delete_model(ref.owner, ref.name)
    print(f"Deleted {full_name}.")
    return 0
