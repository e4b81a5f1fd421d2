"""``candor emails``: the emails the server sent you, and whether you get product updates."""

from __future__ import annotations

import argparse
import json

from candor_client.output import note, shown
from candor_client.session import connect


def cmd_emails(args: argparse.Namespace) -> int:
    _, _, api = connect(args, need_token=True)
    with api:
        if args.product_updates is not None:
            prefs = api.set_product_updates(args.product_updates == "on")
            if args.json:
                print(json.dumps(prefs, indent=2))
                return 0
            print(
                "Product updates are on: you will get them."
                if prefs.get("product_updates")
                else "Product updates are off. Account, security and policy emails still come."
            )
            return 0
        prefs = api.email_preferences()
        page = api.list_emails(limit=args.limit)
    if args.json:
        print(json.dumps({"preferences": prefs, "emails": page}, indent=2))
        return 0
    state = "on" if prefs.get("product_updates") else "off"
    print(f"Product updates: {state} (change with `candor emails --product-updates on|off`).")
    if prefs.get("address_refused"):
        print("A mail server refused your address for good: change it in your settings on the website.")
    items = [item for item in page.get("items") or [] if isinstance(item, dict)]
    for item in items:
        when = str(item.get("queued_at", ""))[:16].replace("T", " ")
        status = shown(item.get("status_label", item.get("status", "?")), 60)
        why = shown(item.get("reason_label", ""), 120)
        print(f"{when}  {shown(item.get('subject', '?'), 70):<44}  {status}{f' ({why})' if why else ''}")
    if not items:
        print("No emails sent to you are on record.")
    elif page.get("next"):
        note(f"more emails than --limit {args.limit} shows: raise it, or see them all on the website")
    return 0
