"""The ``candor`` client's command table: each command's words, arguments and help, and ``main``.

What each command does lives with its group (:mod:`accounts`, :mod:`sync`, :mod:`catalog`,
:mod:`export`); how a failure ends (its message and exit code) in :mod:`errors`. ``main`` returns the
exit code; every expected failure becomes one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from candor_client import server_installed
from candor_client.accounts import cmd_login, cmd_logout, cmd_whoami
from candor_client.args import MAX_STATS_DAYS, SORTS, VISIBILITIES, day_count, model_ref, positive_limit
from candor_client.catalog import cmd_ls, cmd_popular, cmd_rm, cmd_stats, cmd_visibility
from candor_client.config import SERVER_ENV
from candor_client.emails import cmd_emails
from candor_client.errors import EXIT_ERROR, ClientError, exit_codes_help
from candor_client.export import cmd_export
from candor_client.history import cmd_forget, cmd_log, cmd_tag
from candor_client.notices import announce, cmd_notices
from candor_client.sync import cmd_pull, cmd_push

EPILOG = f"""\
server: --server URL, else $CANDOR_SERVER, else the one stored by `candor login`, else http://127.0.0.1:8000
token: $CANDOR_TOKEN, else the one stored by `candor login` for that server
config file: $XDG_CONFIG_HOME/candor/config.json (default ~/.config/candor/config.json), mode 0600
{exit_codes_help()}
"""


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="candor",
        description="The command-line client of a Candor server: publish and fetch models.",
        epilog=EPILOG,
        formatter_class=formatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--server", metavar="URL", help=f"the Candor server (else ${SERVER_ENV}, the stored one…)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, summary: str, handler: Callable[[argparse.Namespace], int], details: str = ""
    ) -> Any:
        sub = commands.add_parser(
            name,
            parents=[common],
            help=summary,
            description=summary + ("\n\n" + details if details else ""),
            epilog=EPILOG,
            formatter_class=formatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    login = command(
        "login",
        "Check an API token and store it for this server.",
        cmd_login,
        "Make a token in your account settings on the website. The token is asked for without echo, or\n"
        "read from standard input with --token-stdin; it is checked with the server, then stored in the\n"
        "config file (mode 0600). $CANDOR_TOKEN, when set, is used instead of the stored token.",
    )
    login.add_argument("--token-stdin", action="store_true", help="read the token from standard input")
    logout = command(
        "logout",
        "Forget the stored token for this server.",
        cmd_logout,
        "The token stays valid on the server until it expires, unless --revoke is given (which needs a\n"
        "token with the write scope) or you revoke it on the website.",
    )
    logout.add_argument("--revoke", action="store_true", help="also revoke the token on the server")
    command("whoami", "Print your user name and the server.", cmd_whoami)

    push = command(
        "push",
        "Upload a folder's files to a model, creating the model if needed.",
        cmd_push,
        "Every regular file under DIR is sent, with its path relative to DIR, unless the server already\n"
        "has the same bytes (compared by SHA-256). .git/ folders and links that lead out of DIR are\n"
        "skipped. A new model is private until `candor visibility` publishes it.\n"
        "The push is one commit on main, made on the revision it listed: if someone changed the same\n"
        "files meanwhile, it is refused (pull, then push again); other files' changes are kept.",
    )
    push.add_argument("dir", metavar="DIR", help="the folder to upload")
    push.add_argument(
        "model", metavar="OWNER/NAME", type=model_ref, help="the model (your user name / a name)"
    )
    push.add_argument(
        "--delete", action="store_true", help="also delete files on the server that are not in DIR"
    )
    push.add_argument(
        "-m", "--message", metavar="MESSAGE", default="", help="what the commit changes (default: its files)"
    )

    pull = command(
        "pull",
        "Download a model's files into a folder.",
        cmd_pull,
        "Each file is written to a temporary file, checked against the server's SHA-256, then renamed\n"
        "into place; files already there with the same SHA-256 are skipped.",
    )
    pull.add_argument("model", metavar="OWNER/NAME", type=model_ref, help="the model")
    pull.add_argument("dir", metavar="DIR", nargs="?", help="where to put the files (default: NAME)")
    pull.add_argument(
        "--revision", metavar="REV", help="the files of this revision: a commit id or a tag (default: main)"
    )

    log = command(
        "log",
        "List a model's commits, newest first.",
        cmd_log,
        "Each commit: its id (short, then in full), date, author, how many files it changed and its\n"
        "message. Any commit id can be given to `candor pull --revision`.",
    )
    log.add_argument("model", metavar="OWNER/NAME", type=model_ref, help="the model")
    log.add_argument(
        "--limit", type=positive_limit, default=20, help="how many commits to list (1-100, default 20)"
    )
    log.add_argument("--json", action="store_true", help="print the API's JSON instead of a list")

    forget = command(
        "forget",
        "Remove a file from every revision of a model, for good.",
        cmd_forget,
        "Deleting a file (push --delete) keeps it in older revisions; forget removes it from all of\n"
        "them, and its stored bytes with them. Asks you to type the path first, unless --yes is given.",
    )
    forget.add_argument("model", metavar="OWNER/NAME", type=model_ref, help="your model")
    forget.add_argument("path", metavar="PATH", help="the file's path in the model")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    tag = command(
        "tag",
        "Name a revision of a model with a tag (or delete a tag).",
        cmd_tag,
        "The tag names main's latest commit unless --revision names another; `candor pull --revision\n"
        "TAG` then downloads that revision's files.",
    )
    tag.add_argument("model", metavar="OWNER/NAME", type=model_ref, help="your model")
    tag.add_argument("tag", metavar="TAG", help="the tag's name (no spaces or slashes)")
    tag.add_argument("--revision", metavar="REV", help="the commit id or tag to name (default: main)")
    tag.add_argument("--delete", action="store_true", help="delete the tag instead (its revision stays)")

    ls = command(
        "ls",
        "List public models, or one model's files.",
        cmd_ls,
        "Without an argument: public models, the most recently updated first (or --sort popular or\n"
        "name; the first --limit of them).\n"
        "With OWNER/NAME: that model's files, with their sizes and SHA-256 prefixes (private and unlisted\n"
        "models too, when your token may see them).",
    )
    ls.add_argument("model", metavar="OWNER/NAME", type=model_ref, nargs="?", help="list this model's files")
    ls.add_argument(
        "--limit", type=positive_limit, default=20, help="how many models to list (1-100, default 20)"
    )
    ls.add_argument("--search", metavar="WORDS", help="only models matching these words")
    ls.add_argument(
        "--sort", choices=SORTS, default="updated", help="the order of the models (default: updated first)"
    )
    ls.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")

    popular = command(
        "popular",
        "List the most popular public models, or the trending ones.",
        cmd_popular,
        "Popular: views and downloads over the last 30 days. --trending: the last 7 days, recent hours\n"
        "weighing most. The server prints the exact formula; models below its threshold, and those\n"
        "their owners keep out of the lists, never appear.",
    )
    popular.add_argument("--trending", action="store_true", help="the trending list instead")
    popular.add_argument(
        "--limit", type=positive_limit, default=20, help="how many models to list (1-100, default 20)"
    )
    popular.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")

    stats = command(
        "stats",
        "Show your model's views and downloads per day.",
        cmd_stats,
        "For the model's owner only (the token must be yours); to anyone else the counts do not exist.\n"
        "Only what was counted while the model was public is there; bots are left out.",
    )
    stats.add_argument("model", metavar="OWNER/NAME", type=model_ref, help="your model")
    stats.add_argument(
        "--days",
        type=day_count,
        default=30,
        help=f"how many days, to today (1-{MAX_STATS_DAYS}, default 30)",
    )
    stats.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")

    visibility = command(
        "visibility",
        "Make a model public, unlisted or private.",
        cmd_visibility,
        "public: listed and searchable. unlisted: readable by anyone with the link, never listed.\n"
        "private: only you.",
    )
    visibility.add_argument("model", metavar="OWNER/NAME", type=model_ref, help="the model")
    visibility.add_argument("visibility", choices=VISIBILITIES, help="the new visibility")

    export = command(
        "export",
        "Download a copy of all your data (a ZIP).",
        cmd_export,
        "Asks the server for an export (or waits for the one being prepared), then downloads it once\n"
        "ready: one JSON file per kind of data, your model files, and index.html, a summary to read.\n"
        "The file is written readable by you only.",
    )
    export.add_argument("-o", "--output", default="candor-data-export.zip", help="where to save it")
    export.add_argument(
        "--wait", type=float, default=600.0, metavar="SECONDS", help="how long to wait for it (default 600)"
    )

    emails = command(
        "emails",
        "List the emails the server sent you; turn product updates on or off.",
        cmd_emails,
        "Each email: when, its subject, and what became of it (sent, not sent and why). Account,\n"
        "security and policy emails are always sent; --product-updates on|off changes only product\n"
        "updates (it needs a token with the write scope).",
    )
    emails.add_argument(
        "--product-updates", choices=("on", "off"), help="turn product updates on or off, and list nothing"
    )
    emails.add_argument(
        "--limit", type=positive_limit, default=20, help="how many emails to list (1-100, default 20)"
    )
    emails.add_argument("--json", action="store_true", help="print the API's JSON instead of a list")

    rm = command(
        "rm",
        "Delete a model and all its files.",
        cmd_rm,
        "Asks you to type the model's name first, unless --yes is given.",
    )
    rm.add_argument("model", metavar="OWNER/NAME", type=model_ref, help="the model")
    rm.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    notices = command(
        "notices",
        "List your notices (what the website's banner shows), or dismiss one.",
        cmd_notices,
        "Changes of the privacy policy, changes to how you sign in, an address mail servers refuse.\n"
        "After any other command, notices this machine has not printed before are printed once, on\n"
        "stderr. `candor notices dismiss ID` stops showing one, here and on the website.",
    )
    notices.add_argument("--all", action="store_true", help="also those you dismissed that are still kept")
    notices.add_argument("--json", action="store_true", help="print the API's JSON instead of a list")
    actions = notices.add_subparsers(dest="action", metavar="ACTION")
    # SUPPRESS: an option given before the action must not be reset by the action's own parser.
    nested = argparse.ArgumentParser(add_help=False)
    nested.add_argument("--server", metavar="URL", default=argparse.SUPPRESS, help="the Candor server")
    dismiss = actions.add_parser(
        "dismiss", parents=[nested], help="dismiss one notice", description="Dismiss one of your notices."
    )
    dismiss.add_argument("id", metavar="ID", help="the notice's id, as `candor notices` prints it")
    return parser


SERVER_COMMANDS = """\
server commands (they read the server's settings from the environment; see README.md):
  demo                set up ./data with demo accounts and run the site on 127.0.0.1
  serve               run the production web server
  worker              run the background task worker
  backup [PATH]       write a consistent backup of the database
  restore PATH --yes  put a backup back, then delete again every account deleted since
  privacy sweep       apply the retention rules now ([--dry-run] to see what would go)
  privacy rewrap      re-wrap every data key under the first of CANDOR_MASTER_KEYS
  analytics status    what the usage counters, visitor-hash salts and trends ledger hold
  analytics rollup    run the worker's analytics rollup now
  migrate, check, shell, createsuperuser, …: every Django management command
  `candor help` lists them all; `candor help COMMAND` explains one
"""


# After these, no notice is printed: `notices` shows them itself, `logout` leaves the account.
QUIET_ABOUT_NOTICES = frozenset({"notices", "logout"})


def overview() -> str:
    """``candor --help``: the client's commands, then the server's (where it is installed), without
    loading any server setting."""
    return build_parser().format_help() + ("\n" + SERVER_COMMANDS if server_installed() else "")


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    exit_code = _run(args)
    if exit_code != EXIT_INTERRUPTED and args.command not in QUIET_ABOUT_NOTICES:
        try:
            announce()
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
    return exit_code


EXIT_INTERRUPTED = 130


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.handler(args))
    except ClientError as error:
        print(f"candor {args.command}: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"\ncandor {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (`candor ls | head`): nothing left to tell anyone, and
        # Python's own flush at exit must not fail on the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        print(f"candor {args.command}: {error.strerror or error}{where}", file=sys.stderr)
        return EXIT_ERROR
