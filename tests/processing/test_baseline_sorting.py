"""The baseline's shortcuts give exactly what the plain definitions give (processing.baseline)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import processing.baseline as baseline_mod
from processing.baseline import BaselineTracker, stable_argsort, weighted_median

DAY_S = 86400.0


def _plain_weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    i = int(np.searchsorted(cw, 0.5 * cw[-1]))
    return float(x[order][min(i, x.size - 1)])


float16_values = st.lists(
    st.floats(min_value=-300.0, max_value=300.0, allow_nan=False, width=16), min_size=1, max_size=400
)


@given(float16_values)
@settings(max_examples=200, deadline=None)
def test_stable_argsort_equals_numpys_stable_sort_on_the_float16_grid(values: list[float]) -> None:
    """Values stored as float16 (many ties, negatives, zeros) sort in exactly numpy's stable order."""
    x = np.asarray(values, dtype=np.float16).astype(np.float64)
    assert np.array_equal(stable_argsort(x), np.argsort(x, kind="stable"))


@given(float16_values, st.floats(min_value=-300.0, max_value=300.0, width=16))
@settings(max_examples=200, deadline=None)
def test_stable_argsort_of_deviations_from_a_grid_value(values: list[float], med: float) -> None:
    """|x - m| of grid values (the MAD's input) is on the grid too and sorts in the stable order."""
    x = np.abs(np.asarray(values, dtype=np.float16).astype(np.float64) - float(np.float16(med)))
    assert np.array_equal(stable_argsort(x), np.argsort(x, kind="stable"))


def test_stable_argsort_off_the_grid_falls_back_to_numpy() -> None:
    """Values that are not float16 (here, thirds) still get numpy's stable order, ties included."""
    rng = np.random.default_rng(1)
    x = np.round(rng.normal(0, 3, 500)) / 3.0
    assert np.array_equal(stable_argsort(x), np.argsort(x, kind="stable"))


def test_weighted_median_equals_the_plain_definition() -> None:
    """The weighted median through the shared sort equals argsort-cumsum-searchsorted written out."""
    rng = np.random.default_rng(2)
    for _ in range(50):
        x = rng.normal(70, 5, 300).astype(np.float16).astype(np.float64)
        w = rng.uniform(0, 5, 300)
        assert weighted_median(x, w) == _plain_weighted_median(x, w)


@pytest.mark.parametrize("n_samples", [40, 1500])
def test_tracker_statistics_equal_the_plain_sorts(n_samples: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every hour's statistics and the snapshot are identical with numpy's stable sort in its place."""

    def fill() -> BaselineTracker:
        b = BaselineTracker(utc_offset_s=0)
        rng = np.random.default_rng(n_samples)
        t0 = 1_700_000_000.0
        for i in range(n_samples):
            t = t0 + i * 70.0
            b.add(float(70 + 6 * rng.standard_normal()), float(3.5 + 0.3 * rng.standard_normal()), t)
        return b

    fast = fill()
    times = [1_700_000_000.0 + n_samples * 70.0 + k * 1800.0 for k in range(48)]
    got = [fast.stats_for(t) for t in times] + [s for _, s in fast.snapshot()]
    monkeypatch.setattr(baseline_mod, "stable_argsort", lambda x: np.argsort(x, kind="stable"))
    plain = fill()
    want = [plain.stats_for(t) for t in times] + [s for _, s in plain.snapshot()]
    assert got == want
    assert fast.n_samples > 30
