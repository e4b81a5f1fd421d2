"""A model card as the Hugging Face Hub has it: ``README.md``, YAML front-matter, then Markdown.

Pure: no database, no file. :func:`parse` splits a README into its front-matter and its Markdown body,
reads the front-matter with PyYAML's safe loader (no Python objects, no aliases, a bounded size), and
checks each field Candor knows (licence, tags, task, library, languages, data sets, base models). A bad
value is never silently kept nor silently dropped: it is left out of the validated values and named in
the card's problems, which its owner sees. :func:`render` writes a README back from fields and a body
(the website's edit form), keeping every other key of the front-matter the README had.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pycountry
import yaml
from django.core.exceptions import ValidationError

from candor.hub.choices import HUB_LICENSE_IDS, LIBRARIES, LICENSES, TASKS
from candor.hub.validators import MAX_TAGS, parse_tags

PATH = "README.md"
# A README longer than this is not read as a card (the website's card field has the same bound).
MAX_README = 200_000
# The front-matter is metadata, not prose: a few kilobytes in practice. The bound keeps a hostile one
# (a huge document, a deeply nested one) from costing more than a glance.
MAX_FRONT_MATTER = 32_768
MAX_DEPTH = 20
MAX_LIST = 100
MAX_ITEM = 200

_FENCE = re.compile(r"---[ \t]*")
_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?"
_REPO_ID = re.compile(rf"{_PART}/{_PART}")
_LANGUAGE = re.compile(r"([a-z]{2,3})(?:-[A-Za-z0-9]{2,8})*")


@dataclass(frozen=True)
class Problem:
    """Something wrong in the card: which front-matter key (or "README.md" for the whole) and what."""

    field: str
    message: str

    @property
    def blocking(self) -> bool:
        """Whether a client checking the README before an upload should refuse it: a front-matter
        that cannot be read, or a licence Candor does not know (the Hub refuses those too). Other
        problems are told to the owner once the README is committed, and leave their field unset."""
        return self.field in (PATH, "license")


@dataclass(frozen=True)
class Card:
    """A README read as a card: its validated values (None or empty where it has none, or a bad one),
    its front-matter as a plain mapping (JSON-safe, for the protocol's ``cardData``), the Markdown below
    the front-matter, and what is wrong with it."""

    body: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    license: str | None = None
    library: str | None = None
    task: str | None = None
    tags: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    base_models: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def errors(self) -> list[str]:
        return [problem.message for problem in self.problems]


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader (plain data only: no tag builds a Python object), refusing aliases.

    An alias (``*a``) repeats a node without copying it, so a few lines can stand for billions of
    values once walked (the "billion laughs"); a card's metadata never needs one.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a card", event.start_mark
            )
        return super().compose_node(parent, index)


def split(text: str) -> tuple[str | None, str, Problem | None]:
    """The front-matter (None if the README has none), the Markdown body, and a problem if a
    front-matter block is opened and never closed (then the whole text is the body)."""
    text = text.removeprefix("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or not _FENCE.fullmatch(lines[0].rstrip("\r\n")):
        return None, text, None
    for number, line in enumerate(lines[1:], start=1):
        if _FENCE.fullmatch(line.rstrip("\r\n")):
            # The blank lines between the front-matter and the text are layout, not part of the card.
            return "".join(lines[1:number]), "".join(lines[number + 1 :]).lstrip("\r\n"), None
    return None, text, Problem(PATH, "The front-matter of README.md opens with --- but never closes.")


def _jsonable(value: Any, depth: int = 0) -> Any:
    """YAML's plain data as JSON's: dates as ISO strings, keys as strings, bytes and sets refused."""
    if depth > MAX_DEPTH:
        raise ValueError("it is nested too deeply")
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item, depth + 1) for item in value]
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise ValueError(f"it holds a value of a kind a card does not use ({type(value).__name__})")


def load_front_matter(text: str) -> tuple[dict[str, Any], Problem | None]:
    """The front-matter as a mapping, or an empty one and the problem that kept it from being read."""
    if len(text) > MAX_FRONT_MATTER:
        message = f"The front-matter of README.md is longer than {MAX_FRONT_MATTER} characters."
        return {}, Problem(PATH, message)
    try:
        loaded = yaml.load(text, Loader=_Loader)  # noqa: S506 (_Loader is a SafeLoader)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        at = f" (line {where.line + 2})" if where is not None else ""
        reason = getattr(error, "problem", None) or "it is not valid YAML"
        return {}, Problem(PATH, f"The front-matter of README.md is not valid YAML{at}: {reason}.")
    except RecursionError:
        return {}, Problem(PATH, "The front-matter of README.md is nested too deeply.")
    if loaded is None:
        return {}, None
    if not isinstance(loaded, dict):
        return {}, Problem(PATH, "The front-matter of README.md must be a mapping of keys to values.")
    try:
        return _jsonable(loaded), None
    except ValueError as error:
        return {}, Problem(PATH, f"The front-matter of README.md cannot be used: {error}.")


@lru_cache(maxsize=1)
def _language_codes() -> frozenset[str]:
    """Every ISO 639 code: 639-1 (two letters), 639-2 (bibliographic and terminology) and 639-3."""
    codes: set[str] = set()
    for language in pycountry.languages:
        for attribute in ("alpha_2", "alpha_3", "bibliographic"):
            code = getattr(language, attribute, None)
            if code:
                codes.add(code)
    return frozenset(codes)


def _choice(choices: Sequence[tuple[str, str]], aliases: Mapping[str, str] | None = None) -> dict[str, str]:
    """Lower-cased spelling → Candor's id (the Hub spells ids in lower case, Candor some in SPDX's)."""
    found = {value.lower(): value for value, _ in choices}
    for candor_id, hub_id in (aliases or {}).items():
        found[hub_id.lower()] = candor_id
    return found


_LICENSES = _choice(LICENSES, HUB_LICENSE_IDS)
_LIBRARIES = _choice(LIBRARIES)
_TASKS = _choice(TASKS)


def _strings(key: str, value: Any, problems: list[Problem], *, one_or_many: bool = True) -> list[str]:
    """A list of strings (or one string, when ``one_or_many``), each at most MAX_ITEM characters."""
    items = [value] if one_or_many and isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        shape = "a string or a list of strings" if one_or_many else "a list of strings"
        problems.append(Problem(key, f"{key} in README.md must be {shape}."))
        return []
    if len(items) > MAX_LIST:
        problems.append(Problem(key, f"{key} in README.md has more than {MAX_LIST} items."))
        return []
    kept: list[str] = []
    for item in items:
        item = item.strip()
        if not item or len(item) > MAX_ITEM:
            problems.append(Problem(key, f"{key} in README.md has an empty or overlong item."))
        elif item not in kept:
            kept.append(item)
    return kept


def _one_of(key: str, value: Any, known: dict[str, str], what: str, problems: list[Problem]) -> str | None:
    if not isinstance(value, str):
        problems.append(Problem(key, f"{key} in README.md must be a string."))
        return None
    found = known.get(value.strip().lower())
    if found is None:
        problems.append(Problem(key, f"Unknown {what} {_shown(value)} in README.md."))
    return found


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:59] + "…")


def validate(data: Mapping[str, Any], body: str = "", problems: Sequence[Problem] = ()) -> Card:
    """Check the fields Candor knows in a front-matter mapping; other keys are kept in ``data`` only."""
    found = list(problems)
    values: dict[str, Any] = {}
    if "license" in data and data["license"] is not None:
        values["license"] = _one_of("license", data["license"], _LICENSES, "licence id", found)
    if "library_name" in data and data["library_name"] is not None:
        values["library"] = _one_of("library_name", data["library_name"], _LIBRARIES, "library", found)
    if "pipeline_tag" in data and data["pipeline_tag"] is not None:
        values["task"] = _one_of("pipeline_tag", data["pipeline_tag"], _TASKS, "task (pipeline_tag)", found)
    if data.get("tags") is not None:
        tags: list[str] = []
        for tag in _strings("tags", data["tags"], found, one_or_many=False):
            try:
                tags += [t for t in parse_tags([tag]) if t not in tags]
            except ValidationError as error:
                found.append(Problem("tags", f"{' '.join(error.messages)} (in README.md)"))
        if len(tags) > MAX_TAGS:
            message = f"README.md has more than {MAX_TAGS} tags: the first {MAX_TAGS} are kept."
            found.append(Problem("tags", message))
            tags = tags[:MAX_TAGS]
        values["tags"] = tuple(tags)
    if data.get("language") is not None:
        languages: list[str] = []
        for code in _strings("language", data["language"], found):
            match = _LANGUAGE.fullmatch(code)
            if match is None or match.group(1) not in _language_codes():
                message = f"Unknown language code {_shown(code)} in README.md (ISO 639)."
                found.append(Problem("language", message))
            else:
                languages.append(code)
        values["languages"] = tuple(languages)
    if data.get("datasets") is not None:
        values["datasets"] = tuple(_strings("datasets", data["datasets"], found, one_or_many=False))
    if data.get("base_model") is not None:
        bases: list[str] = []
        for base in _strings("base_model", data["base_model"], found):
            if _REPO_ID.fullmatch(base) is None or ".." in base:
                message = f"base_model {_shown(base)} in README.md is not an owner/name id."
                found.append(Problem("base_model", message))
            else:
                bases.append(base)
        values["base_models"] = tuple(bases)
    return Card(body=body, data=dict(data), problems=tuple(found), **values)


def parse(text: str) -> Card:
    """Read a README as a card (see the module's docstring). Never raises on what a README holds."""
    if len(text) > MAX_README:
        message = f"README.md is longer than {MAX_README} characters: it is not shown."
        return Card(body="", problems=(Problem(PATH, message),))
    front, body, problem = split(text)
    if problem is not None:
        return Card(body=body, problems=(problem,))
    if front is None:
        return Card(body=body)
    data, problem = load_front_matter(front)
    return validate(data, body, () if problem is None else (problem,))


def decode(raw: bytes) -> Card:
    """A README's bytes as a card: UTF-8, or a problem (and no card) if they are not."""
    if len(raw) > MAX_README * 4:
        return parse("x" * (MAX_README + 1))
    try:
        return parse(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return Card(problems=(Problem(PATH, "README.md is not UTF-8 text: it is not shown."),))


def hub_license(license_id: str) -> str:
    """The Hub's spelling of a Candor licence id."""
    return HUB_LICENSE_IDS.get(license_id, license_id)


def render(
    body: str,
    *,
    previous: Mapping[str, Any] | None = None,
    license: str | None = None,
    library: str | None = None,
    task: str | None = None,
    tags: Sequence[str] | None = None,
) -> str:
    """A README with these fields in its front-matter (each None leaves the previous value as it was;
    "other" and an empty list remove the key) and ``body`` below it. Other keys are kept in order."""
    data: dict[str, Any] = dict(previous or {})
    for key, value in (
        ("license", None if license is None else hub_license(license)),
        ("library_name", library),
        ("pipeline_tag", task),
    ):
        if value is None:
            continue
        if value == "other" and key != "license":
            data.pop(key, None)
        else:
            data[key] = value
    if tags is not None:
        if tags:
            data["tags"] = list(tags)
        else:
            data.pop("tags", None)
    body = body.lstrip("\r\n")
    if not data:
        return body
    front = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return f"---\n{front}---\n\n{body}" if body else f"---\n{front}---\n"
