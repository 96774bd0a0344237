"""Breathing rate from the respiratory sinus arrhythmia of the RR series (breaths/min, 6-30).

Part of :mod:`processing.hrv` (every name here is importable from there).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from processing.reduce import total
from processing.rr import NAN, FloatArray, RRInput, as_rr_array
from processing.spectral import detrended_dft, hann, segments, spline_tachogram

BoolArray = npt.NDArray[np.bool_]
BREATH_MIN_HZ = 0.095
"""6 breaths/min, less half a bin of a 60 s window zero-padded eight times."""
BREATH_MAX_HZ = 0.5
"""30 breaths/min."""
PAD = 8
"""Zero-padding factor of each piece's periodogram: peaks placed to 1/8 of a bin."""

_BINS_CACHE: dict[tuple[int, float, float], tuple[int, int, FloatArray]] = {}
_PIECE_PLANS: dict[tuple[int, int, int], FloatArray] = {}
"""Detrend-window-DFT matrices of the breathing bins, per piece length (the slow channel's 60 s pieces:
one entry, 240 × 395 float64 = 758 KB per process, shared by every strap)."""


def _breath_bins(nfft: int, fs_hz: float, from_hz: float) -> tuple[int, int, FloatArray]:
    """The bins [lo, hi) of an ``nfft`` periodogram from ``from_hz`` to BREATH_MAX_HZ (never its first
    or last bin, which cannot be a local maximum), and their frequencies; cached per size."""
    key = (nfft, fs_hz, from_hz)
    hit = _BINS_CACHE.get(key)
    if hit is None:
        freqs = np.fft.rfftfreq(nfft, 1.0 / fs_hz)
        lo = max(1, int(np.searchsorted(freqs, from_hz, side="left")))
        hi = max(lo, min(freqs.size - 1, int(np.searchsorted(freqs, BREATH_MAX_HZ, side="right"))))
        hit = (lo, hi, np.asarray(freqs[lo:hi], dtype=np.float64))
        if len(_BINS_CACHE) >= 16:
            _BINS_CACHE.pop(next(iter(_BINS_CACHE)))
        _BINS_CACHE[key] = hit
    return hit


def _piece_plan(n: int, lo: int, hi: int) -> FloatArray:
    """:func:`detrended_dft` of bins lo-1..hi (one either side) of pieces of ``n``, and a last column
    that gives each piece's mean; cached (at most four lengths)."""
    key = (n, lo, hi)
    plan = _PIECE_PLANS.get(key)
    if plan is None:
        m = detrended_dft(n, PAD * n, lo - 1, hi + 1)
        plan = np.ascontiguousarray(np.concatenate((m, np.full((n, 1), 1.0 / n)), axis=1))
        if len(_PIECE_PLANS) >= 4:
            _PIECE_PLANS.pop(next(iter(_PIECE_PLANS)))
        _PIECE_PLANS[key] = plan
    return plan


def _spectra(seg: FloatArray, lo: int, hi: int, *, plan: bool) -> tuple[FloatArray, FloatArray]:
    """Periodogram bins lo-1..hi of each row of ``seg`` (detrended, Hann, zero-padded PAD times) and
    each row's mean. ``plan``: with the cached matrix (rows of the usual length), else by FFT."""
    n = seg.shape[1]
    if plan:
        r = seg @ _piece_plan(n, lo, hi)
        k = hi - lo + 2
        mean = r[:, -1].copy()
        re, im = r[:, :k], r[:, k : 2 * k]
        spec = re * re
        spec += im * im
        return spec, mean
    w, _wss, xc, xss = hann(n)
    mean = seg.sum(axis=1) / n
    y = (seg - mean[:, None] - ((seg @ xc) / xss)[:, None] * xc[None, :]) * w[None, :]
    spec = np.abs(np.fft.rfft(y, PAD * n, axis=1)[:, lo - 1 : hi + 1]) ** 2
    return np.asarray(spec, dtype=np.float64), np.asarray(mean, dtype=np.float64)


def _rates_of_segments(
    seg: FloatArray, *, fs_hz: float, hf_from_hz: float, lf_dominance: float, plan: bool
) -> FloatArray:
    """Breathing rate of each row of ``seg`` (equal-length pieces of the 4 Hz tachogram, ms); rows
    without a peak in either band are left out. All rows at once (no Python loop per row)."""
    n = seg.shape[1]
    # only the bins from 6/min to 30/min (and one either side, to tell a local maximum) are looked at
    lo, hi, f = _breath_bins(PAD * n, fs_hz, min(BREATH_MIN_HZ, hf_from_hz))
    if hi <= lo:
        return np.empty(0)
    spec, mean = _spectra(seg, lo, hi, plan=plan)
    hf_band, lf_band, f2 = _bin_masks(f, hf_from_hz)
    inner = spec[:, 1:-1]
    is_peak = inner > spec[:, :-2]
    is_peak &= inner >= spec[:, 2:]
    hf_ok = is_peak & hf_band
    top_hz = 500.0 / float(mean.max())  # beats sample the RSA: at most half the (lowest) heart rate
    if top_hz < float(f[-1]):
        hf_ok &= f[None, :] <= np.minimum(BREATH_MAX_HZ, 500.0 / mean)[:, None]
    # the power is never negative: -1 marks "not a candidate", argmax then finds the first largest peak
    # the HF peak of the differenced tachogram (power x f^2): the LF tail of a sigh or pause does not win
    hf_score = np.where(hf_ok, inner * f2, -1.0)
    lf_pow = np.where(is_peak & lf_band, inner, -1.0)
    best_hf = hf_score.argmax(axis=1).tolist()
    best_lf = lf_pow.argmax(axis=1).tolist()
    rates: list[float] = []
    for r, (bh, bl) in enumerate(zip(best_hf, best_lf, strict=True)):
        has_hf = hf_score[r, bh] >= 0.0
        v_lf = lf_pow[r, bl]
        if v_lf >= 0.0 and (not has_hf or v_lf > lf_dominance * inner[r, bh]):
            rates.append(60.0 * float(f[bl]))
        elif has_hf:
            rates.append(60.0 * float(f[bh]))
    return np.asarray(rates, dtype=np.float64)


def _bin_masks(f: FloatArray, hf_from_hz: float) -> tuple[BoolArray, BoolArray, FloatArray]:
    """Which of the bins ``f`` are HF (``hf_from_hz`` to 30/min) and LF (6/min to ``hf_from_hz``)
    candidates, and f²; cached per bin set."""
    key = (f.size, float(f[0]), hf_from_hz)
    hit = _MASKS.get(key)
    if hit is None:
        hit = (
            np.asarray((f >= hf_from_hz) & (f <= BREATH_MAX_HZ), dtype=np.bool_),
            np.asarray((f >= BREATH_MIN_HZ) & (f < hf_from_hz), dtype=np.bool_),
            np.asarray(f * f, dtype=np.float64),
        )
        if len(_MASKS) >= 16:
            _MASKS.pop(next(iter(_MASKS)))
        _MASKS[key] = hit
    return hit


_MASKS: dict[tuple[int, float, float], tuple[BoolArray, BoolArray, FloatArray]] = {}


def breathing_rate(
    rr_ms: RRInput,
    *,
    fs_hz: float = 4.0,
    window_s: float = 60.0,
    step_s: float = 30.0,
    hf_from_hz: float = 0.15,
    lf_dominance: float = 10.0,
    tachogram: FloatArray | None = None,
) -> float:
    """Breathing rate (breaths/min, 6-30) from the respiratory sinus arrhythmia of a window of 30 s or more.

    The tachogram (4 Hz cubic spline) is linearly detrended, Hann-windowed and zero-padded eight times;
    the breathing peak is, among the local maxima of its periodogram from ``hf_from_hz`` (0.15 Hz, 9/min)
    up to 0.5 Hz (30/min) or half the heart rate, whichever is lower (beats sample the RSA), the one with
    the most power times f², i.e. the largest peak of the differenced tachogram's spectrum: a sigh or a
    held breath moves RR slowly and leaves a broad LF tail whose local maxima at 9-12/min outweighed the
    RSA peak in the raw periodogram (belt, all 60 s windows: 70 % within ±2/min that way, 84 % this way).
    Mayer waves (baroreflex, about 0.1 Hz) live below 0.15 Hz: a peak there (down to 6/min) is taken only
    when its raw power is ``lf_dominance`` (10) times that of the chosen peak above, as it is when someone
    breathes slowly (at 6/min the RSA and the baroreflex resonate) and not at ordinary rates. Searching
    only local maxima keeps the rising flank of LF power at 0.15 Hz from reading as 9/min.

    Windows longer than 1.5 × ``window_s`` are cut into ``window_s`` pieces every ``step_s`` and the
    median of their rates is returned (breathing drifts over minutes; one long periodogram smears it);
    those pieces' periodogram bins come from one matrix product (detrend, window, padding and DFT folded
    together), the same numbers as the FFT. NaN with fewer than 30 s of beats or no peak. Measured
    against a respiration belt and a simulated RSA with Mayer waves in BENCHMARKS.md ("Breathing rate").

    ``tachogram``: ``resample_rr(rr_ms, fs_hz=fs_hz)`` when the caller has it already.
    """
    rr = as_rr_array(rr_ms)
    if rr.size < 8:
        return NAN
    total_s = float(total(rr)) / 1000.0
    if total_s < 30.0:
        return NAN
    x = spline_tachogram(rr, fs_hz) if tachogram is None else tachogram
    return rate_of_tachogram(x, total_s, fs_hz, window_s, step_s, hf_from_hz, lf_dominance)


def rate_of_tachogram(
    x: FloatArray,
    total_s: float,
    fs_hz: float = 4.0,
    window_s: float = 60.0,
    step_s: float = 30.0,
    hf_from_hz: float = 0.15,
    lf_dominance: float = 10.0,
) -> float:
    """:func:`breathing_rate` of the tachogram ``x`` of a window of ``total_s`` seconds (30 s or more)."""
    per = round(window_s * fs_hz)
    pieces = not (total_s <= 1.5 * window_s or x.size < per)
    seg = segments(x, per, max(1, round(step_s * fs_hz))) if pieces else x[None, :]
    if seg.shape[1] < 8:
        return NAN
    rates = _rates_of_segments(
        seg, fs_hz=fs_hz, hf_from_hz=hf_from_hz, lf_dominance=lf_dominance, plan=pieces
    )
    if rates.size == 0:
        return NAN
    if rates.size == 1:
        return float(rates[0])
    rates.sort()
    mid = rates.size // 2
    return float(rates[mid]) if rates.size % 2 else 0.5 * float(rates[mid - 1] + rates[mid])
