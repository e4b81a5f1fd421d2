"""HyperLogLog sketches of one day's visitors, through datasketch.

Each visitor arrives as a 32-bit keyed hash (see :mod:`candor.analytics.salt`); the sketch keeps, per
register, the longest run of zero bits seen. Two sketches merge by taking the larger value in each
register, which is how concurrent flushes combine without losing anyone.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from datasketch import HyperLogLog

SITE_PRECISION = 14  # 16,384 registers (16 KiB): about 0.8% standard error, for the whole site
MODEL_PRECISION = 10  # 1,024 registers (1 KiB): about 3%, one a model and day that had visitors


def _identity(value: int) -> int:
    return value  # the values are already uniform 32-bit hashes


def precision_for(model_id: int) -> int:
    return SITE_PRECISION if model_id == 0 else MODEL_PRECISION


def build(hashes: Iterable[int], precision: int, registers: bytes | None = None) -> HyperLogLog:
    """A sketch of ``hashes``, merged into the stored ``registers`` if there are any."""
    if registers:
        sketch = HyperLogLog(reg=np.frombuffer(registers, dtype=np.int8).copy(), hashfunc=_identity)
    else:
        sketch = HyperLogLog(p=precision, hashfunc=_identity)
    for value in hashes:
        sketch.update(value)
    return sketch


def to_bytes(sketch: HyperLogLog) -> bytes:
    return bytes(sketch.reg.tobytes())


def estimate(sketch: HyperLogLog) -> int:
    return round(sketch.count())
