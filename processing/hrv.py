"""HRV features over one clean window of RR intervals (ms): one pure function per family.

* :func:`time_domain` — mean RR, mean HR, SDNN, RMSSD, pNN50 (Task Force 1996);
* :func:`frequency_domain` — LF, HF, LF/HF and the HF peak (4 Hz cubic spline, Welch);
* :func:`breathing_rate` — breaths/min from the RSA peak of 60 s pieces, kept clear of Mayer waves;
* :func:`poincare` — SD1, SD2 (Brennan et al. 2001);
* :func:`dfa_alpha1` — short-term detrended fluctuation exponent over 4-16 beats (Peng et al. 1995);
* :func:`stress_index` — Baevsky's stress index as its square root, √SI (Baevsky & Chernikova 2017); not Kubios' variant.

``compute_window`` is the stable entry point (ARCHITECTURE.md contract): every feature, NaN where the
window is too short for it. Functions raise only :class:`processing.errors.ProcessingError` subclasses.

The families live in their own modules (:mod:`processing.rr`, :mod:`processing.hrv_time`,
:mod:`processing.spectral`, :mod:`processing.breathing`, :mod:`processing.hrv_nonlinear`); every public
name is importable from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from processing.breathing import breathing_rate, rate_of_tachogram
from processing.hrv_nonlinear import Poincare, dfa_alpha1, dfa_alpha1_of, poincare, poincare_of
from processing.hrv_time import TimeDomain, stress_index, stress_index_of, time_domain
from processing.reduce import largest, smallest, total
from processing.rr import NAN, FloatArray, RRInput, as_rr_array
from processing.spectral import (
    NAN_FD,
    FrequencyDomain,
    band_powers,
    frequency_domain,
    natural_cubic_spline,
    resample_rr,
    spline_tachogram,
    welch_psd,
)

__all__ = [
    "NAN",
    "FloatArray",
    "FrequencyDomain",
    "HrvWindow",
    "Poincare",
    "RRInput",
    "TimeDomain",
    "as_rr_array",
    "breathing_rate",
    "compute_window",
    "dfa_alpha1",
    "frequency_domain",
    "natural_cubic_spline",
    "poincare",
    "resample_rr",
    "stress_index",
    "time_domain",
    "welch_psd",
    "window_of",
]

_NAN_PC = Poincare(NAN, NAN)


@dataclass(frozen=True, slots=True)
class HrvWindow:
    """Features over a window ending at ``t`` (epoch s). NaN where the window is too short for a feature.

    ``valid`` is False when ``artifact_pct`` is above the window limit (5 %): such a window feeds neither
    the baseline nor the score. ``dfa_a1`` is NaN when ``artifact_pct`` is above 3 %.
    """

    t: float
    window_s: float
    n_beats: int
    artifact_pct: float
    mean_rr_ms: float
    mean_hr_bpm: float
    sdnn_ms: float
    rmssd_ms: float
    pnn50_pct: float
    lf_ms2: float = NAN
    hf_ms2: float = NAN
    lf_hf: float = NAN
    sd1_ms: float = NAN
    sd2_ms: float = NAN
    dfa_a1: float = NAN
    stress_index: float = NAN
    resp_rate_bpm: float = NAN
    valid: bool = True

    @property
    def ln_rmssd(self) -> float:
        return math.log(self.rmssd_ms) if self.rmssd_ms > 0 else NAN


def compute_window(
    rr_ms: RRInput,
    *,
    t: float = NAN,
    window_s: float | None = None,
    artifact_pct: float = 0.0,
    max_artifact_pct: float = 5.0,
    max_artifact_pct_dfa: float = 3.0,
    full: bool = True,
) -> HrvWindow:
    """All features for one clean (corrected) window of RR intervals in ms; NaN where too short.

    ``full=False`` computes the time domain only (the fast channel's HR and RMSSD). The same numbers as
    the per-family functions, with the intermediate results they share (sum, mean-removed series,
    successive differences, the 4 Hz tachogram) computed once.
    """
    return window_of(
        as_rr_array(rr_ms),
        t=t,
        window_s=window_s,
        artifact_pct=artifact_pct,
        max_artifact_pct=max_artifact_pct,
        max_artifact_pct_dfa=max_artifact_pct_dfa,
        full=full,
    )


def window_of(
    rr: FloatArray,
    *,
    t: float = NAN,
    window_s: float | None = None,
    artifact_pct: float = 0.0,
    max_artifact_pct: float = 5.0,
    max_artifact_pct_dfa: float = 3.0,
    full: bool = True,
) -> HrvWindow:
    """:func:`compute_window` of a series already validated (:func:`as_rr_array`), such as the corrected
    series of :func:`processing.artifacts.detect` (the stream processor's windows: one check fewer)."""
    n = rr.size
    total_ms = float(total(rr)) if n else 0.0
    win_s = float(window_s) if window_s is not None else total_ms / 1000.0
    valid = bool(n >= 2 and artifact_pct <= max_artifact_pct)
    if n < 2:
        mean_rr = total_ms / n if n else NAN
        hr = 60000.0 / mean_rr if n else NAN
        return HrvWindow(t, win_s, n, artifact_pct, mean_rr, hr, NAN, NAN, NAN, valid=valid)
    mean_rr = total_ms / n
    d = rr[1:] - rr[:-1]  # np.diff's numbers, without its wrapper
    dd = float(np.dot(d, d))
    c = rr - mean_rr
    sdnn = math.sqrt(float(np.dot(c, c)) / (n - 1))
    rmssd = math.sqrt(dd / (n - 1))
    pnn50 = 100.0 * float(np.count_nonzero(np.abs(d) > 50.0)) / (n - 1)
    if not full:
        return HrvWindow(
            t, win_s, n, artifact_pct, mean_rr, 60000.0 / mean_rr, sdnn, rmssd, pnn50, valid=valid
        )
    # one 4 Hz tachogram for the spectrum and the breathing rate (both resample the same way)
    x = spline_tachogram(rr) if n >= 8 and total_ms >= 30000.0 else None
    fd = NAN_FD
    if n >= 4 and total_ms >= 120000.0:
        fd = band_powers(x if x is not None else spline_tachogram(rr))
    pc = poincare_of(c, dd) if n >= 3 else _NAN_PC
    dfa = dfa_alpha1_of(c) if n >= 64 and artifact_pct <= max_artifact_pct_dfa else NAN
    si = stress_index_of(rr, float(smallest(rr)), float(largest(rr))) if n >= 30 else NAN
    resp = rate_of_tachogram(x, total_ms / 1000.0) if x is not None else NAN
    return HrvWindow(
        t=t,
        window_s=win_s,
        n_beats=n,
        artifact_pct=artifact_pct,
        mean_rr_ms=mean_rr,
        mean_hr_bpm=60000.0 / mean_rr,
        sdnn_ms=sdnn,
        rmssd_ms=rmssd,
        pnn50_pct=pnn50,
        lf_ms2=fd.lf_ms2,
        hf_ms2=fd.hf_ms2,
        lf_hf=fd.lf_hf,
        sd1_ms=pc.sd1_ms,
        sd2_ms=pc.sd2_ms,
        dfa_a1=dfa,
        stress_index=si,
        resp_rate_bpm=resp,
        valid=valid,
    )
