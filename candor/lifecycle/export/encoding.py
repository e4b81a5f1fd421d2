"""How the export's values become JSON, fast: the records of a category are cut from values encoded once.

Pure: Python values in, JSON text out.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import operator
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

ENCODE = json.JSONEncoder(ensure_ascii=False).encode
# What that encoder writes for a string (the C function when there is one).
encode_string = json.encoder.encode_basestring
BETWEEN_RECORDS = ",\n    "
NOT_EXPORTED = [ENCODE({"present": p, "note": "not exported"}) for p in (False, True)]


def record_layout(
    slots: Mapping[str, int], fields: Mapping[str, object]
) -> tuple[str, Callable[[tuple[str, ...]], Any]]:
    """How a category's record is cut from a row's encoded values: a template and what fills it.

    The record is the object {"model", "id", <field>: <value>, ...} as json would write it (same keys in
    the same order, same separators), but filled with values encoded once per row, whichever categories
    they go to: building and encoding a dict per record and category was most of the export's time.
    """
    keys = dict.fromkeys(["model", "id", *fields])  # a field named "model" or "id" keeps its place
    template = ", ".join(f"{encode_string(key).replace('%', '%%')}: %s" for key in keys)
    # Two keys at least (model, id), so the getter always gives a tuple for the % operator.
    return f"{{{template}}}", operator.itemgetter(*(slots[key] for key in keys))


def json_value(value: Any) -> str:
    """``value`` as json.dumps writes it (ensure_ascii off), the common kinds without the encoder's setup."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return encode_string(value)
    if type(value) is int:
        return repr(value)
    return ENCODE(value)


def plain(value: Any) -> Any:
    """A field's value as JSON: dates in ISO 8601, ids and decimals as strings, bytes in base64."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    return str(value)
