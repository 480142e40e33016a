"""bench/gc_growth.py's growth figure: the peak store size after the warm-up over
the peak during it (the first tenth of the run)."""

from __future__ import annotations

import pytest

from bench.gc_growth import Sample, growth


def _samples(sizes: list[int]) -> list[Sample]:
    return [Sample(float(i * 10), i * 100, size // 10, size, i) for i, size in enumerate(sizes)]


def test_a_flat_store_grows_by_about_one() -> None:
    g = growth(_samples([100, 500, 480, 510, 490, 500, 505, 495, 500, 500, 500]))
    assert g.warmup_seconds == 10.0
    assert (g.bytes_during_warmup, g.bytes_after_warmup) == (500, 510)
    assert g.bytes_ratio == pytest.approx(1.02)
    assert g.commits == 1000


def test_a_store_without_gc_grows_with_the_commits() -> None:
    g = growth(_samples([100 * (i + 1) for i in range(21)]))
    # warm-up: samples at 0..20 s (a tenth of 200 s); then up to 2100
    assert (g.bytes_during_warmup, g.bytes_after_warmup) == (300, 2100)
    assert g.bytes_ratio == 7.0
    assert g.versions_ratio == 7.0


def test_too_few_samples_are_refused() -> None:
    with pytest.raises(ValueError):
        growth(_samples([1, 2]))
