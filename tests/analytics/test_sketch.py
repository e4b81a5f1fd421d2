"""The visitor sketch: the same registers and estimates as datasketch's HyperLogLog, and a merge that
loses no one."""

from __future__ import annotations

import random

import pytest

from candor.analytics import sketch


@pytest.mark.parametrize(("precision", "visitors"), [(10, 40), (10, 20_000), (14, 300), (14, 250_000)])
def test_registers_and_estimate_match_datasketch(precision: int, visitors: int) -> None:
    # Imported here, not at collection: datasketch (with numpy) takes seconds to load, and only this
    # test compares against it.
    import numpy as np
    from datasketch import HyperLogLog

    rng = random.Random(precision * visitors)
    hashes = [rng.getrandbits(32) for _ in range(visitors)]
    reference = HyperLogLog(p=precision, hashfunc=lambda value: value)
    for value in hashes:
        reference.update(value)
    ours = sketch.build(hashes, precision)
    assert ours.to_bytes() == reference.reg.astype(np.int8).tobytes()
    assert ours.count() == pytest.approx(reference.count(), rel=1e-9)
    # And the estimate is near the truth: a few standard errors (1.04 / sqrt(m)).
    assert abs(sketch.estimate(ours) - visitors) <= 4 * 1.04 / (2 ** (precision / 2)) * visitors + 2


def test_merging_stored_registers_equals_one_sketch_of_everyone() -> None:
    rng = random.Random(9)
    first = [rng.getrandbits(32) for _ in range(5000)]
    second = [rng.getrandbits(32) for _ in range(5000)] + first[:1000]
    stored = sketch.build(first, sketch.SITE_PRECISION).to_bytes()
    merged = sketch.build(second, sketch.SITE_PRECISION, stored)
    whole = sketch.build(first + second, sketch.SITE_PRECISION)
    assert merged.to_bytes() == whole.to_bytes()
    other = sketch.Sketch(sketch.SITE_PRECISION)
    other.update(second)
    combined = sketch.Sketch(sketch.SITE_PRECISION, stored)
    combined.merge(other)
    assert combined.to_bytes() == whole.to_bytes()
    assert abs(sketch.estimate(whole) - 10_000) < 10_000 * 0.04  # 1,000 of the second came before


def test_a_sketch_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match="registers"):
        sketch.Sketch(sketch.MODEL_PRECISION, bytes(10))
    with pytest.raises(ValueError, match="same precision"):
        sketch.Sketch(10).merge(sketch.Sketch(14))
