"""The slow update's shortcuts (folded matrices, shared sums, box plans) give the textbook numbers."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from processing import breathing, hrv, spectral


def test_spline_matches_scipy_natural_cubic_spline(real_rr: npt.NDArray[np.float64]) -> None:
    """The 4 Hz tachogram equals scipy's natural CubicSpline through RR at the beat times (1e-9)."""
    from scipy.interpolate import CubicSpline

    rr = real_rr[:400]
    t = np.cumsum(rr) / 1000.0
    grid = np.arange(t[0], t[-1], 0.25)
    ref = CubicSpline(t, rr, bc_type="natural")(grid)
    np.testing.assert_allclose(hrv.resample_rr(rr), ref, rtol=1e-9)


def test_band_powers_equal_welch_psd_band_sums(real_rr: npt.NDArray[np.float64]) -> None:
    """LF, HF and the HF peak from the band-only matrix equal the full Welch PSD summed over the bands."""
    rr = real_rr[:400]
    x = hrv.resample_rr(rr)
    f, p = hrv.welch_psd(x)
    df = f[1] - f[0]
    lf_ref = p[(f >= 0.04) & (f < 0.15)].sum() * df
    hf_sel = (f >= 0.15) & (f < 0.40)
    fd = hrv.frequency_domain(rr)
    assert fd.lf_ms2 == pytest.approx(lf_ref, rel=1e-9)
    assert fd.hf_ms2 == pytest.approx(p[hf_sel].sum() * df, rel=1e-9)
    assert fd.hf_peak_hz == f[hf_sel][np.argmax(p[hf_sel])]


def test_breathing_pieces_by_matrix_equal_fft(real_rr: npt.NDArray[np.float64]) -> None:
    """The 60 s pieces' rates from the folded detrend-window-DFT matrix equal those from the padded FFT."""
    x = hrv.resample_rr(real_rr[:400])
    seg = spectral.segments(x, 240, 120)
    by_matrix, by_fft = (
        breathing._rates_of_segments(seg, fs_hz=4.0, hf_from_hz=0.15, lf_dominance=10.0, plan=plan)
        for plan in (True, False)
    )
    assert by_matrix.size == seg.shape[0]
    np.testing.assert_array_equal(by_matrix, by_fft)


def test_poincare_from_shared_sums_equals_definition(real_rr: npt.NDArray[np.float64]) -> None:
    """SD1 and SD2 from the time domain's sums equal the sample SDs of (RRn ∓ RRn+1)/√2 (1e-9)."""
    a, b = real_rr[:-1], real_rr[1:]
    w = hrv.compute_window(real_rr)
    assert w.sd1_ms == pytest.approx(np.std((a - b) / math.sqrt(2.0), ddof=1), rel=1e-9)
    assert w.sd2_ms == pytest.approx(np.std((a + b) / math.sqrt(2.0), ddof=1), rel=1e-9)


def _dfa_by_boxes(rr: npt.NDArray[np.float64]) -> float:
    """α1 the plain way: a least-squares line fitted in every box of 4-16 beats of the profile."""
    y = np.cumsum(rr - rr.mean())
    log_f = []
    for n in range(4, 17):
        m = y.size // n
        boxes = y[: m * n].reshape(m, n)
        i = np.arange(n)
        res = [box - np.polyval(np.polyfit(i, box, 1), i) for box in boxes]
        log_f.append(0.5 * math.log(float(np.mean(np.square(res)))))
    return float(np.polyfit(np.log(np.arange(4, 17)), log_f, 1)[0])


def test_dfa_box_plan_equals_fitting_every_box(real_rr: npt.NDArray[np.float64]) -> None:
    """α1 from the shared box plan and prefix sums equals fitting a line in every box (1e-9), at several lengths."""
    for n in (64, 200, 337, 1000):
        assert hrv.dfa_alpha1(real_rr[:n]) == pytest.approx(_dfa_by_boxes(real_rr[:n]), abs=1e-9), n


def test_compute_window_equals_the_family_functions(real_rr: npt.NDArray[np.float64]) -> None:
    """compute_window's shared intermediates give the per-family functions' numbers (1e-12)."""
    rr = real_rr[:400]
    w = hrv.compute_window(rr)
    td, fd, pc = hrv.time_domain(rr), hrv.frequency_domain(rr), hrv.poincare(rr)
    expected = {
        "sdnn_ms": td.sdnn_ms,
        "rmssd_ms": td.rmssd_ms,
        "pnn50_pct": td.pnn50_pct,
        "lf_ms2": fd.lf_ms2,
        "hf_ms2": fd.hf_ms2,
        "sd1_ms": pc.sd1_ms,
        "sd2_ms": pc.sd2_ms,
        "dfa_a1": hrv.dfa_alpha1(rr),
        "stress_index": hrv.stress_index(rr),
        "resp_rate_bpm": hrv.breathing_rate(rr),
    }
    for name, value in expected.items():
        assert getattr(w, name) == pytest.approx(value, rel=1e-12), name


def test_bands_touching_dc_fall_back_to_the_whole_psd(real_rr: npt.NDArray[np.float64]) -> None:
    """A band that includes DC (no band-only matrix for it) gets the whole Welch PSD's band sum."""
    rr = real_rr[:400]
    f, p = hrv.welch_psd(hrv.resample_rr(rr))
    fd = hrv.frequency_domain(rr, lf_band_hz=(0.0, 0.15))
    assert fd.lf_ms2 == pytest.approx(p[f < 0.15].sum() * (f[1] - f[0]), rel=1e-12)
