"""The client's commands: their arguments, and what each does with the API.

``main`` returns the exit code; every expected failure becomes one line on stderr (see ``EPILOG``).
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import ipaddress
import json
import math
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from candor_client.api import (
    CHUNK,
    EXIT_AUTH,
    EXIT_ERROR,
    EXIT_USAGE,
    Api,
    ClientError,
    shown,
)
from candor_client.config import (
    SERVER_ENV,
    TOKEN_ENV,
    Config,
    Target,
    config_path,
    is_token_shaped,
    resolve,
)

TOKEN_PREFIX = "cnd_"  # noqa: S105 - the public prefix of every token, not a secret
SHA256_RE = re.compile(r"[0-9a-f]{64}")
VISIBILITIES = ("public", "unlisted", "private")
SORTS = ("updated", "popular", "name")  # the API's orders of GET /api/v1/models
MAX_STATS_DAYS = 365

EPILOG = """\
server: --server URL, else $CANDOR_SERVER, else the one stored by `candor login`, else http://127.0.0.1:8000
token: $CANDOR_TOKEN, else the one stored by `candor login` for that server
config file: $XDG_CONFIG_HOME/candor/config.json (default ~/.config/candor/config.json), mode 0600
exit codes: 0 done, 1 failed, 2 bad arguments, 3 server unreachable, 4 not logged in or token rejected
"""


# --- Output helpers -------------------------------------------------------------------------------


def human(size: float) -> str:
    """Sizes in SI units, as a file manager shows them: 12.4 MB."""
    if size < 1000:
        return f"{int(size)} B"
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000 or unit == "TB":
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class Progress:
    """A one-line progress bar on stderr; silent when stderr is not a terminal (logs, CI, pipes)."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = total > 0 and self.stream.isatty()
        self.total = total
        self.done = 0
        self.label = ""
        self.started = time.monotonic()
        self.drawn_at = 0.0
        self.drawn = False

    def describe(self, label: str) -> None:
        self.label = shown(label)
        self._draw(force=True)

    def advance(self, count: int) -> None:
        self.done += count
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.drawn_at < 0.1 and self.done < self.total:
            return
        self.drawn_at = now
        width = max(shutil.get_terminal_size((80, 24)).columns - 1, 40)
        fraction = min(1.0, self.done / self.total)
        rate = self.done / max(now - self.started, 1e-3)
        filled = int(20 * fraction)
        bar = "[" + "#" * filled + "." * (20 - filled) + "]"
        stats = f" {fraction:4.0%} {human(self.done)}/{human(self.total)} {human(rate)}/s"
        room = width - len(bar) - len(stats) - 1
        label = self.label if len(self.label) <= room else "…" + self.label[-(room - 1) :]
        self.stream.write(f"\r{label:<{room}} {bar}{stats}")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def number(value: object) -> float:
    """A figure from the server's JSON, or 0 if it is not one (an odd server must not crash the client)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) else 0.0


def note(message: str) -> None:
    print(f"candor: {message}", file=sys.stderr)


# --- Arguments ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    owner: str
    name: str

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"


def model_ref(value: str) -> ModelRef:
    owner, slash, name = value.partition("/")
    if not slash or not owner or not name or "/" in name:
        raise argparse.ArgumentTypeError(f"expected owner/name, got {value!r}")
    return ModelRef(owner, name)


def positive_limit(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= 100:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to 100, got {value!r}")
    return number


def day_count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_STATS_DAYS:
        raise argparse.ArgumentTypeError(
            f"expected a number of days from 1 to {MAX_STATS_DAYS}, got {value!r}"
        )
    return number


def connect(args: argparse.Namespace, *, need_token: bool = False) -> tuple[Config, Target, Api]:
    config = Config.load(config_path())
    target = resolve(config, args.server)
    if need_token and target.token is None:
        raise ClientError(
            f"not logged in to {target.server}: run `candor login` (or set {TOKEN_ENV})", EXIT_AUTH
        )
    return config, target, Api(target.server, target.token, origin=target.origin)


# --- Accounts -------------------------------------------------------------------------------------


def _is_loopback(server: str) -> bool:
    host = urlsplit(server).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_login(args: argparse.Namespace) -> int:
    config = Config.load(config_path())
    server = resolve(config, args.server, {k: v for k, v in os.environ.items() if k != TOKEN_ENV}).server
    if args.token_stdin:
        token = sys.stdin.readline().strip()
    else:
        if not sys.stdin.isatty():
            raise ClientError("no terminal to ask for the token: pipe it in with --token-stdin", EXIT_USAGE)
        print(
            f"Paste a token made on {server} (account settings, API tokens); it is not shown.",
            file=sys.stderr,
        )
        token = getpass.getpass("Token: ").strip()
    if not token:
        raise ClientError("no token given", EXIT_USAGE)
    if not is_token_shaped(token) or not token.startswith(TOKEN_PREFIX):
        raise ClientError(f"that is not a Candor token (tokens start with {TOKEN_PREFIX})", EXIT_USAGE)
    if urlsplit(server).scheme == "http" and not _is_loopback(server):
        note(f"warning: {server} is plain HTTP: the token crosses the network unencrypted")
    with Api(server, token, origin="login") as api:
        me = api.me()
    config.server = server
    config.tokens[server] = token
    config.save()
    print(f"Logged in to {server} as {shown(me.get('username', '?'))}. Token stored in {config.path}.")
    if not me.get("email_verified", True):
        note("your email address is not confirmed yet: confirm it before you publish")
    if os.environ.get(TOKEN_ENV):
        note(f"{TOKEN_ENV} is set, and is used instead of the stored token while it is")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    config = Config.load(config_path())
    server = resolve(config, args.server, {k: v for k, v in os.environ.items() if k != TOKEN_ENV}).server
    token = config.tokens.pop(server, None)
    if token is None:
        print(f"Not logged in to {server}.")
        return 0
    failure: ClientError | None = None
    revoked = False
    if args.revoke:
        try:
            with Api(server, token, origin="config") as api:
                revoked = api.revoke_own_token(token)
        except ClientError as error:
            # A token the server no longer accepts needs no revoking; anything else is reported, and
            # the token is forgotten all the same, as the user asked.
            if error.status != 401:
                failure = error
    config.save()
    if revoked:
        print(f"Logged out of {server}: the token is revoked and forgotten.")
    else:
        print(
            f"Logged out of {server}: the token is forgotten on this machine; it stays valid until "
            "it expires or you revoke it on the website."
        )
    if os.environ.get(TOKEN_ENV):
        note(f"{TOKEN_ENV} is still set, and is still used")
    if failure is not None:
        raise ClientError(f"could not revoke the token: {failure}", failure.exit_code)
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    _, target, api = connect(args, need_token=True)
    with api:
        me = api.me()
    source = f" (token from {TOKEN_ENV})" if target.origin == "env" else ""
    print(f"{shown(me.get('username', '?'))} on {target.server}{source}")
    return 0


# --- Push -----------------------------------------------------------------------------------------


@dataclass
class LocalFile:
    path: str  # relative, with '/'
    location: Path
    size: int = 0
    sha256: str = ""


def local_files(root: Path) -> tuple[list[LocalFile], list[str]]:
    """The regular files under ``root``, and why others were left out.

    Symbolic links are followed only to files inside ``root``: one that leads out of it could otherwise
    publish a file its owner never meant to (a key in ~/.ssh, say). ``.git`` folders are never sent.
    """
    real_root = Path(os.path.realpath(root))
    found: list[LocalFile] = []
    skipped: list[str] = []
    for folder, dirnames, filenames in os.walk(root):
        kept = []
        for dirname in sorted(dirnames):
            if dirname == ".git":
                continue
            if os.path.islink(os.path.join(folder, dirname)):
                skipped.append(f"{_relative(root, folder, dirname)}/ (a link to a folder: not followed)")
                continue
            kept.append(dirname)
        dirnames[:] = kept
        for filename in sorted(filenames):
            location = Path(folder, filename)
            relative = _relative(root, folder, filename)
            try:
                relative.encode("utf-8")
            except UnicodeEncodeError:
                skipped.append(f"{shown(relative)} (its name is not valid UTF-8)")
                continue
            info = location.lstat()
            if stat.S_ISLNK(info.st_mode):
                real = Path(os.path.realpath(location))
                if not real.is_relative_to(real_root):
                    skipped.append(f"{shown(relative)} (a link leading out of the folder)")
                    continue
                if not real.is_file():
                    skipped.append(f"{shown(relative)} (a link to something that is not a file)")
                    continue
            elif not stat.S_ISREG(info.st_mode):
                skipped.append(f"{shown(relative)} (not a regular file)")
                continue
            found.append(LocalFile(relative, location))
    found.sort(key=lambda f: f.path)
    return found, skipped


def _relative(root: Path, folder: str, name: str) -> str:
    return Path(os.path.relpath(os.path.join(folder, name), root)).as_posix()


def hash_file(location: Path, progress: Progress) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(location, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            progress.advance(len(chunk))
    return size, digest.hexdigest()


def ensure_model(api: Api, ref: ModelRef, me: dict[str, Any]) -> dict[str, Any]:
    model = api.find_model(ref.owner, ref.name)
    if model is not None:
        return model
    if ref.owner.lower() != str(me.get("username", "")).lower():
        # Models are created under the caller's own name only, so another owner's must already exist.
        raise ClientError(f"no model {shown(ref)}, or you cannot see it")
    try:
        model = api.create_model(ref.name)
    except ClientError as error:
        if error.status != 409:
            raise
        return api.get_model(ref.owner, ref.name)  # made meanwhile by another push
    print(f"Created {shown(model.get('full_name', ref))} (private: `candor visibility` publishes it).")
    return model


def cmd_push(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    if not root.is_dir():
        raise ClientError(f"{args.dir} is not a folder", EXIT_USAGE)
    ref: ModelRef = args.model
    _, _, api = connect(args, need_token=True)
    files, skipped = local_files(root)
    for reason in skipped:
        note(f"skipped {reason}")
    with api:
        me = api.me()
        model = ensure_model(api, ref, me)
        owner, name = str(model.get("owner", ref.owner)), str(model.get("name", ref.name))
        remote = {str(item.get("path")): item for item in api.list_files(owner, name)}

        hashing = Progress(sum(f.location.stat().st_size for f in files))
        try:
            for item in files:
                hashing.describe(f"hashing {item.path}")
                item.size, item.sha256 = hash_file(item.location, hashing)
        finally:
            hashing.close()
        changed = [f for f in files if remote.get(f.path, {}).get("sha256") != f.sha256]

        uploading = Progress(sum(f.size for f in changed))
        sent = 0
        try:
            for item in changed:
                uploading.describe(item.path)
                with open(item.location, "rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    result = api.upload(owner, name, item.path, handle, size, uploading.advance)
                if result.get("sha256") != item.sha256:
                    raise ClientError(f"{shown(item.path)} changed while it was uploaded: push again")
                sent += size
        finally:
            uploading.close()

        local_paths = {f.path for f in files}
        extra = sorted(p for p in remote if p not in local_paths)
        if args.delete:
            for path in extra:
                api.delete_file(owner, name, path)

    unchanged = len(files) - len(changed)
    summary = f"Uploaded {plural(len(changed), 'file')} ({human(sent)}), skipped {unchanged} unchanged"
    if args.delete and extra:
        summary += f", deleted {plural(len(extra), 'file')} no longer in {args.dir}"
    print(summary + ".")
    if extra and not args.delete:
        note(
            f"{plural(len(extra), 'file')} on the server {'is' if len(extra) == 1 else 'are'} not in "
            f"{args.dir} and {'was' if len(extra) == 1 else 'were'} kept (--delete removes them)"
        )
    return 0


# --- Pull -----------------------------------------------------------------------------------------


def safe_target(root: Path, server_path: object) -> Path:
    """Where a file the server lists goes under ``root``, or an error if it would land outside it.

    The server is not trusted with the local disk: '..', absolute paths, backslashes (a separator on
    Windows) and control characters are all refused.
    """
    if not isinstance(server_path, str) or not server_path:
        raise ClientError(
            f"the server listed an unsafe file path {shown(repr(server_path))}: nothing written"
        )
    parts = server_path.split("/")
    if (
        server_path.startswith("/")
        or "\\" in server_path
        or any(not c.isprintable() for c in server_path)
        or any(part in ("", ".", "..") for part in parts)
        or re.match(r"[A-Za-z]:", server_path)
    ):
        raise ClientError(
            f"the server listed an unsafe file path {shown(repr(server_path))}: nothing written"
        )
    target = root.joinpath(*parts)
    if not target.is_relative_to(root):  # pragma: no cover - the checks above already exclude it
        raise ClientError(
            f"the server listed an unsafe file path {shown(repr(server_path))}: nothing written"
        )
    return target


def _inside(real_root: Path, folder: Path) -> None:
    """A symbolic link already in the folder must not carry a download out of it."""
    if not Path(os.path.realpath(folder)).is_relative_to(real_root):
        raise ClientError(f"refusing to write into {folder}: a link there leads out of the download folder")


def _same_file(target: Path, size: int, sha256: str) -> bool:
    try:
        info = target.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_size != size:
        return False
    digest = hashlib.sha256()
    with open(target, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest() == sha256


def _download(api: Api, ref: ModelRef, item: dict[str, Any], target: Path, progress: Progress) -> None:
    # Streamed to a hidden file beside the target and renamed only once its SHA-256 checks out, so a
    # failed or tampered download never takes the place of a good file.
    descriptor, temporary = tempfile.mkstemp(prefix=".candor-", suffix=".part", dir=target.parent)
    try:
        digest = hashlib.sha256()
        with os.fdopen(descriptor, "wb") as out:
            for chunk in api.download(ref.owner, ref.name, item["path"]):
                out.write(chunk)
                digest.update(chunk)
                progress.advance(len(chunk))
        if digest.hexdigest() != item["sha256"]:
            raise ClientError(
                f"{shown(item['path'])}: the SHA-256 of the download ({digest.hexdigest()[:12]}…) is not the "
                f"server's ({item['sha256'][:12]}…): the download was discarded"
            )
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def cmd_pull(args: argparse.Namespace) -> int:
    ref: ModelRef = args.model
    root = Path(args.dir if args.dir is not None else ref.name)
    if root.exists() and not root.is_dir():
        raise ClientError(f"{root} exists and is not a folder", EXIT_USAGE)
    _, _, api = connect(args)
    with api:
        listed = api.list_files(ref.owner, ref.name)
        plan: list[tuple[dict[str, Any], Path]] = []
        for item in listed:
            target = safe_target(root, item.get("path"))
            size, sha256 = item.get("size"), item.get("sha256")
            if (
                not isinstance(size, int)
                or size < 0
                or not isinstance(sha256, str)
                or not SHA256_RE.fullmatch(sha256)
            ):
                raise ClientError(
                    f"the server listed {shown(item.get('path'))} without a valid size or SHA-256"
                )
            plan.append((item, target))

        root.mkdir(parents=True, exist_ok=True)
        real_root = Path(os.path.realpath(root))
        wanted: list[tuple[dict[str, Any], Path]] = []
        for item, target in plan:
            existing = target.parent
            while not existing.exists():
                existing = existing.parent
            # Checked before the folders are made, or a link in DIR could have them made elsewhere.
            _inside(real_root, existing)
            target.parent.mkdir(parents=True, exist_ok=True)
            _inside(real_root, target.parent)
            if not _same_file(target, item["size"], item["sha256"]):
                wanted.append((item, target))

        progress = Progress(sum(item["size"] for item, _ in wanted))
        received = 0
        try:
            for item, target in wanted:
                progress.describe(item["path"])
                _download(api, ref, item, target, progress)
                received += item["size"]
        finally:
            progress.close()
    print(
        f"Downloaded {plural(len(wanted), 'file')} ({human(received)}) to {root}, "
        f"skipped {len(plan) - len(wanted)} unchanged."
    )
    return 0


# --- Your data -------------------------------------------------------------------------------------


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


# --- Listing and managing models ------------------------------------------------------------------


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


# --- Parser ---------------------------------------------------------------------------------------


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
        "skipped. A new model is private until `candor visibility` publishes it.",
    )
    push.add_argument("dir", metavar="DIR", help="the folder to upload")
    push.add_argument(
        "model", metavar="OWNER/NAME", type=model_ref, help="the model (your user name / a name)"
    )
    push.add_argument(
        "--delete", action="store_true", help="also delete files on the server that are not in DIR"
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

    rm = command(
        "rm",
        "Delete a model and all its files.",
        cmd_rm,
        "Asks you to type the model's name first, unless --yes is given.",
    )
    rm.add_argument("model", metavar="OWNER/NAME", type=model_ref, help="the model")
    rm.add_argument("--yes", action="store_true", help="do not ask for confirmation")
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


def overview() -> str:
    """``candor --help``: the client's commands, then the server's (where it is installed), without
    loading any server setting."""
    from candor_client import server_installed

    return build_parser().format_help() + ("\n" + SERVER_COMMANDS if server_installed() else "")


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ClientError as error:
        print(f"candor {args.command}: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"\ncandor {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`candor ls | head`): nothing left to tell anyone, and
        # Python's own flush at exit must not fail on the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        print(f"candor {args.command}: {error.strerror or error}{where}", file=sys.stderr)
        return EXIT_ERROR
