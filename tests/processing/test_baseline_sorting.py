"""The baseline's shortcuts give exactly what the plain definitions give (processing.baseline)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import processing.baseline as baseline_mod
from processing.baseline import HOUR_STEPS, MAD_TO_SD, BaselineTracker, stable_argsort, weighted_median

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


def _plain_robust(b: BaselineTracker, w: np.ndarray) -> tuple[float, float, float, float]:
    """Median and floored 1.4826 MAD of HR and ln RMSSD, written out with numpy's stable sort."""
    s = b._samples
    hr, lr = s.hr[: s.n].astype(np.float64), s.lr[: s.n].astype(np.float64)
    hr_med, lr_med = _plain_weighted_median(hr, w), _plain_weighted_median(lr, w)
    hr_sd = max(MAD_TO_SD * _plain_weighted_median(np.abs(hr - hr_med), w), b.hr_sd_floor)
    lr_sd = max(MAD_TO_SD * _plain_weighted_median(np.abs(lr - lr_med), w), b.ln_rmssd_sd_floor)
    return hr_med, hr_sd, lr_med, lr_sd


def _plain_at_hour(b: BaselineTracker, hour: int) -> tuple[float, ...]:
    """The statistics at a whole hour, from the definition (kernel weights, blend towards all-day)."""
    s = b._samples
    m = s.m[: s.n].astype(np.float64)
    h = s.h[: s.n].astype(np.float64) / HOUR_STEPS
    d = np.maximum(np.abs((h - hour + 12.0) % 24.0 - 12.0) - b.kernel_flat_h, 0.0)
    w = m * np.exp(b.kernel_kappa * (np.cos(2.0 * math.pi * d / 24.0) - 1.0))
    share = min(1.0, float(w.sum()) / b.local_min_minutes)
    return tuple(
        (1.0 - share) * a + share * c for a, c in zip(_plain_robust(b, m), _plain_robust(b, w), strict=True)
    )


@pytest.mark.parametrize("n_samples", [40, 1500, 2048, 8064])
def test_tracker_statistics_equal_the_definition(n_samples: int) -> None:
    """Each hour's statistics equal the weighted medians and MADs written out with numpy's stable sort."""
    b = BaselineTracker(utc_offset_s=0)
    rng = np.random.default_rng(n_samples)
    t0 = 1_700_000_000.0
    step = 70.0 if n_samples < 2000 else 300.0
    for i in range(n_samples):
        b._samples.add(
            t0 + i * step,
            int(((t0 + i * step) % DAY_S) / 3600.0 * HOUR_STEPS) % (24 * HOUR_STEPS),
            1 + i % 5,
            float(70 + 6 * rng.standard_normal()),
            float(3.5 + 0.3 * rng.standard_normal()),
            0.0,
        )
    b._version += 1
    assert b.n_samples == n_samples
    for hour in range(24):
        got = b._at_hour(hour)
        assert (got.hr_bpm, got.hr_sd, got.ln_rmssd, got.ln_rmssd_sd) == _plain_at_hour(b, hour)
    total = b._overall("personal")
    m = b._samples.m[:n_samples].astype(np.float64)
    assert (total.hr_bpm, total.hr_sd, total.ln_rmssd, total.ln_rmssd_sd) == _plain_robust(b, m)


def test_negative_and_signed_zero_values_order_like_floats() -> None:
    """ln RMSSD can be negative or zero: the keyed orders equal numpy's stable sort there too."""
    rng = np.random.default_rng(4)
    x16 = np.concatenate((np.asarray([0.0, -0.0, 0.0, -0.0]), rng.normal(0, 1, 300))).astype(np.float16)
    col = baseline_mod._Column.of(x16, keyed=True)
    x = x16.astype(np.float64)
    assert np.array_equal(col.order, np.argsort(x, kind="stable"))
    for med in (0.0, float(x[7]), -1.5):
        dev, order = col.deviation_order(med)
        assert np.array_equal(dev, np.abs(x - med))
        assert np.array_equal(order, np.argsort(dev, kind="stable"))


@given(float16_values, st.integers(min_value=0, max_value=399))
@settings(max_examples=200, deadline=None)
def test_column_orders_equal_numpys_stable_sort(values: list[float], at: int) -> None:
    """A column's value order and its deviation order around one of its values equal the stable sorts."""
    x16 = np.asarray(values, dtype=np.float16)
    col = baseline_mod._Column.of(x16, keyed=True)
    x = x16.astype(np.float64)
    assert np.array_equal(col.order, np.argsort(x, kind="stable"))
    dev, order = col.deviation_order(float(x[at % x.size]))
    assert np.array_equal(order, np.argsort(dev, kind="stable"))
