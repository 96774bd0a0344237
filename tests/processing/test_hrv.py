"""HRV features against NeuroKit2 on real recordings and against known synthetic powers."""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from processing import hrv
from processing.errors import InvalidRR
from tests.processing.conftest import load_rr

REL_TOL = 0.005  # the agreement tolerance: 0.5 %


@functools.cache
def _neurokit(name: str) -> dict[str, float]:
    """NeuroKit2's values for one fixture recording (hrv_time and its Poincaré helper; computed once)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import neurokit2 as nk
        from neurokit2.hrv.hrv_nonlinear import _hrv_nonlinear_poincare

        rr = load_rr(name)
        peaks = np.concatenate([[0], np.cumsum(rr)]).astype(np.int64)  # integer ms at 1000 Hz: exact
        t = nk.hrv_time(peaks, sampling_rate=1000)
        pc = _hrv_nonlinear_poincare(rr, out={})
        dfa = nk.fractal_dfa(rr, scale=np.arange(4, 17), overlap=False)[0]
    return {
        "mean_rr_ms": float(t["HRV_MeanNN"].iloc[0]),
        "sdnn_ms": float(t["HRV_SDNN"].iloc[0]),
        "rmssd_ms": float(t["HRV_RMSSD"].iloc[0]),
        "pnn50_pct": float(t["HRV_pNN50"].iloc[0]),
        "sd1_ms": float(pc["SD1"]),
        "sd2_ms": float(pc["SD2"]),
        "dfa_a1": float(dfa),
    }


RECORDINGS = ["Short", "Long"]


@pytest.mark.parametrize("name", RECORDINGS)
@pytest.mark.parametrize("feature", ["mean_rr_ms", "sdnn_ms", "rmssd_ms", "sd1_ms", "sd2_ms"])
def test_agrees_with_neurokit2(name: str, feature: str) -> None:
    """Mean RR, SDNN, RMSSD, SD1 and SD2 agree with NeuroKit2 within 0.5 % on the real recordings."""
    ours = hrv.compute_window(load_rr(name))
    ref = _neurokit(name)[feature]
    assert getattr(ours, feature) == pytest.approx(ref, rel=REL_TOL)


@pytest.mark.parametrize("name", RECORDINGS)
def test_pnn50_agrees_with_neurokit2_after_denominator(name: str) -> None:
    """pNN50 agrees with NeuroKit2 within 0.5 % once its denominator (N intervals, ours N-1 differences) is matched."""
    rr = load_rr(name)
    ours = hrv.compute_window(rr).pnn50_pct
    n = rr.size
    ref = _neurokit(name)["pnn50_pct"] * n / (n - 1)
    assert ours == pytest.approx(ref, rel=REL_TOL)


def test_pnn50_uses_task_force_denominator() -> None:
    """pNN50 counts differences > 50 ms among all successive differences (Task Force 1996)."""
    assert hrv.time_domain([800, 900, 905, 800, 810]).pnn50_pct == pytest.approx(50.0)


def test_mean_hr_is_60000_over_mean_rr() -> None:
    """Mean HR is 60000 / mean RR."""
    assert hrv.time_domain([750.0, 850.0]).mean_hr_bpm == pytest.approx(75.0)


def test_lf_hf_powers_of_synthetic_tachogram(tachogram: Callable[..., npt.NDArray[np.float64]]) -> None:
    """Sinusoids of 25 ms at 0.1 Hz and 35 ms at 0.25 Hz come back as a²/2 in LF and HF within 5 %."""
    rr = tachogram(300.0, [(25.0, 0.1, 0.3), (35.0, 0.25, 1.1)])
    fd = hrv.frequency_domain(rr)
    assert fd.lf_ms2 == pytest.approx(25.0**2 / 2, rel=0.05)
    assert fd.hf_ms2 == pytest.approx(35.0**2 / 2, rel=0.05)


def test_hf_peak_is_breathing_rate(tachogram: Callable[..., npt.NDArray[np.float64]]) -> None:
    """The HF peak of a 0.25 Hz sinus arrhythmia reads as 15 breaths/min (within one 1/64 Hz bin)."""
    rr = tachogram(300.0, [(30.0, 0.25, 0.0)])
    assert hrv.frequency_domain(rr).resp_rate_bpm == pytest.approx(15.0, abs=60.0 / 64.0)


def test_welch_matches_scipy() -> None:
    """The vectorised Welch PSD equals scipy.signal.welch with the same settings."""
    from scipy.signal import welch

    x = np.random.default_rng(1).normal(size=1200)
    f_ref, p_ref = welch(x, fs=4.0, window="hann", nperseg=256, noverlap=128, detrend="linear")
    f, p = hrv.welch_psd(x)
    np.testing.assert_allclose(f, f_ref)
    np.testing.assert_allclose(p, p_ref, rtol=1e-10)


def test_frequency_features_nan_for_short_window() -> None:
    """A 60 s window is too short for LF/HF (NaN, not an error) but not for the breathing rate."""
    w = hrv.compute_window(np.full(60, 1000.0) + np.arange(60) % 3)
    assert math.isnan(w.lf_ms2) and math.isnan(w.hf_ms2)
    assert math.isfinite(w.rmssd_ms)
    assert w.resp_rate_bpm == pytest.approx(20.0, abs=1.0)  # a three-beat cycle at 60 bpm


def test_dfa_alpha1_of_white_noise_is_half() -> None:
    """White-noise RR gives α1 ≈ 0.5 (uncorrelated; Peng 1995), within 0.1 over 3000 beats."""
    rr = 900.0 + np.random.default_rng(2).normal(0, 30, 3000)
    assert hrv.dfa_alpha1(rr) == pytest.approx(0.5, abs=0.1)


def test_dfa_alpha1_of_random_walk_is_one_and_a_half() -> None:
    """An integrated (Brownian) RR series gives α1 ≈ 1.5, within 0.1."""
    rr = 900.0 + np.cumsum(np.random.default_rng(3).normal(0, 2, 3000))
    assert hrv.dfa_alpha1(rr) == pytest.approx(1.5, abs=0.1)


@pytest.mark.parametrize("name", RECORDINGS)
def test_dfa_alpha1_agrees_with_neurokit2(name: str) -> None:
    """α1 agrees with NeuroKit2's fractal_dfa (boxes 4-16, no overlap) within 0.02 on the real recordings."""
    assert hrv.dfa_alpha1(load_rr(name)) == pytest.approx(_neurokit(name)["dfa_a1"], abs=0.02)


def test_stress_index_by_hand() -> None:
    """√(AMo / (2·Mo·MxDMn)) on a hand-computed histogram: 30 of 40 beats in the 800-850 ms bin."""
    rr = [810.0] * 30 + [700.0] * 5 + [900.0] * 5
    amo, mo, mxdmn = 75.0, 0.825, 0.2
    assert hrv.stress_index(rr) == pytest.approx(math.sqrt(amo / (2 * mo * mxdmn)))


def test_compute_window_fills_all_on_five_minutes(real_rr: npt.NDArray[np.float64]) -> None:
    """A five-minute window gets every feature."""
    w = hrv.compute_window(real_rr[:330])
    for name in ("lf_ms2", "hf_ms2", "lf_hf", "sd1_ms", "sd2_ms", "dfa_a1", "stress_index", "resp_rate_bpm"):
        assert math.isfinite(getattr(w, name)), name


def test_dfa_withheld_above_three_percent_artifacts(real_rr: npt.NDArray[np.float64]) -> None:
    """DFA α1 is NaN when the window had more than 3 % artifacts; the window stays valid up to 5 %."""
    w = hrv.compute_window(real_rr[:330], artifact_pct=4.0)
    assert math.isnan(w.dfa_a1) and w.valid
    assert not hrv.compute_window(real_rr[:330], artifact_pct=5.5).valid


@pytest.mark.parametrize("bad", [[800.0, float("nan")], [800.0, -1.0], [[800.0, 900.0]], ["a", "b"]])
def test_bad_input_raises_invalid_rr(bad: object) -> None:
    """Non-finite, non-positive, non-1-D or non-numeric RR raises InvalidRR (a ProcessingError)."""
    with pytest.raises(InvalidRR):
        hrv.compute_window(bad)  # type: ignore[arg-type]


def test_empty_window_is_all_nan() -> None:
    """An empty window gives NaN features and is not valid."""
    w = hrv.compute_window([])
    assert math.isnan(w.mean_rr_ms) and not w.valid
