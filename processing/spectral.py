"""Frequency-domain HRV: the 4 Hz tachogram (natural cubic spline) and LF/HF power by Welch's method.

Part of :mod:`processing.hrv` (every name here is importable from there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.linalg.lapack import dgtsv

from processing.errors import InvalidRR
from processing.reduce import total
from processing.rr import NAN, FloatArray, RRInput, as_rr_array


@dataclass(frozen=True, slots=True)
class FrequencyDomain:
    lf_ms2: float
    hf_ms2: float
    lf_hf: float
    hf_peak_hz: float
    resp_rate_bpm: float


NAN_FD = FrequencyDomain(NAN, NAN, NAN, NAN, NAN)


def _spline_coefficients(x: FloatArray, y: FloatArray) -> FloatArray:
    """Per interval k of the natural cubic spline through (x, y): rows a, b, c, d of
    S(x) = a + b t + c t² + d t³ with t = x - x_k (second derivatives from LAPACK dgtsv)."""
    n = x.size
    h = x[1:] - x[:-1]
    dy = y[1:] - y[:-1]
    dy /= h
    m = np.zeros(n)
    if n > 2:
        off = h[1:-1]
        diag = h[:-1] + h[1:]
        diag *= 2.0
        rhs = dy[1:] - dy[:-1]
        rhs *= 6.0
        _, _, _, sol, info = dgtsv(off, diag, off, rhs, 0, 1, 0, 1)  # diag and rhs are scratch
        if info != 0:
            raise InvalidRR("beat times are not strictly increasing")
        m[1:-1] = sol
    coef = np.empty((4, n - 1))
    coef[0] = y[:-1]
    m0, m1 = m[:-1], m[1:]
    tmp = m0 + m1
    tmp += m0
    tmp *= h
    tmp *= 1.0 / 6.0
    np.subtract(dy, tmp, out=coef[1])
    np.multiply(m0, 0.5, out=coef[2])
    np.subtract(m1, m0, out=coef[3])
    h *= 6.0
    coef[3] /= h
    return coef


def _spline_eval(x: FloatArray, coef: FloatArray, xi: FloatArray, k: npt.NDArray[np.intp]) -> FloatArray:
    """The spline of ``coef`` at ``xi``, which lie in the intervals ``k`` (Horner's scheme)."""
    c = coef.take(k, axis=1)
    t = xi - x.take(k)
    out: FloatArray = c[3] * t
    out += c[2]
    out *= t
    out += c[1]
    out *= t
    out += c[0]
    return out


def natural_cubic_spline(x: FloatArray, y: FloatArray, xi: FloatArray) -> FloatArray:
    """Evaluate the natural cubic spline through (x, y) at ``xi`` (x strictly increasing, xi inside).

    Second derivatives from the tridiagonal system (LAPACK dgtsv), then the piecewise cubic in
    Horner form (e.g. Press et al., Numerical Recipes, 3rd ed., section 3.3).
    """
    n = x.size
    k = np.clip(x.searchsorted(xi, side="right") - 1, 0, n - 2)
    return _spline_eval(x, _spline_coefficients(x, y), xi, k)


def spline_tachogram(rr: FloatArray, fs_hz: float = 4.0) -> FloatArray:
    """:func:`resample_rr` of an already validated series of at least 4 intervals."""
    t = rr.cumsum()
    t *= 0.001
    grid = np.arange(t[0], t[-1], 1.0 / fs_hz)
    # the interval of each grid point, as searchsorted(t, grid, "right") - 1 gives it, from the grid
    # points before each beat (n searches instead of one per grid point): grid[0] = t[0] and every grid
    # point lies below t[-1]
    before = grid.searchsorted(t, side="left")
    k = _int_range(t.size - 1).repeat(before[1:] - before[:-1])
    return _spline_eval(t, _spline_coefficients(t, rr), grid, k)


_RANGE: list[npt.NDArray[np.intp]] = [np.arange(1024, dtype=np.intp)]


def _int_range(n: int) -> npt.NDArray[np.intp]:
    """0, 1, ..., n - 1 as a view of one shared array (grown to a power of two when needed)."""
    if _RANGE[0].size < n:
        size = _RANGE[0].size
        while size < n:
            size *= 2
        _RANGE[0] = np.arange(size, dtype=np.intp)
    return _RANGE[0][:n]


def resample_rr(rr_ms: RRInput, *, fs_hz: float = 4.0) -> FloatArray:
    """The tachogram on an even ``fs_hz`` grid by cubic-spline interpolation of RR at the beat times."""
    rr = as_rr_array(rr_ms)
    if rr.size < 4:
        return np.empty(0)
    return spline_tachogram(rr, fs_hz)


CACHE_MAX = 64
"""Process-wide caches (Hann windows) keep at most this many sizes."""
_HANN_CACHE: dict[int, tuple[FloatArray, float, FloatArray, float]] = {}


def hann(n: int) -> tuple[FloatArray, float, FloatArray, float]:
    """Periodic Hann window (as scipy.signal.welch uses), its power sum, and linear-detrend helpers."""
    hit = _HANN_CACHE.get(n)
    if hit is None:
        w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
        x = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
        hit = (w, float(np.dot(w, w)), x, float(np.dot(x, x)))
        if len(_HANN_CACHE) >= CACHE_MAX:
            _HANN_CACHE.pop(next(iter(_HANN_CACHE)))
        _HANN_CACHE[n] = hit
    return hit


def detrended_dft(n: int, nfft: int, lo: int, hi: int) -> FloatArray:
    """The (n, 2 (hi - lo)) matrix that maps a piece of ``n`` samples to the real and imaginary parts of
    bins lo..hi-1 of the ``nfft``-point DFT of the piece linearly detrended and Hann-windowed (zero-padded
    when nfft > n). Detrending, windowing and the DFT are all linear, so they fold into one matrix:
    A = (I - P) diag(w) E, with P the projection onto a constant and a line."""
    w, _wss, xc, xss = hann(n)
    ang = (2.0 * np.pi / nfft) * np.outer(np.arange(n, dtype=np.float64), np.arange(lo, hi, dtype=np.float64))
    m = np.concatenate((np.cos(ang), -np.sin(ang)), axis=1) * w[:, None]
    m -= m.sum(axis=0)[None, :] / n
    m -= xc[:, None] * ((xc @ m) / xss)[None, :]
    return np.ascontiguousarray(m)


def segments(x: FloatArray, per: int, step: int) -> FloatArray:
    """The pieces of ``per`` samples of ``x`` every ``step`` samples, as rows of a strided view."""
    count = 1 + (x.size - per) // step
    st = x.strides[0]
    return np.lib.stride_tricks.as_strided(x, shape=(count, per), strides=(step * st, st))


def welch_psd(
    x: FloatArray, *, fs_hz: float = 4.0, segment_s: float = 64.0, overlap: float = 0.5
) -> tuple[FloatArray, FloatArray]:
    """One-sided Welch PSD (units²/Hz): Hann segments, linear detrend per segment, ``overlap`` shared.

    Welch, IEEE Trans. Audio Electroacoust. 1967;15:70-3. Same conventions as ``scipy.signal.welch(x, fs,
    window="hann", nperseg, noverlap, detrend="linear", scaling="density")``, vectorised over segments.
    A series shorter than one segment gives empty arrays.
    """
    nper = round(segment_s * fs_hz)
    step = max(1, round(nper * (1.0 - overlap)))
    if x.size < nper:
        return np.empty(0), np.empty(0)
    seg = segments(x, nper, step)
    nseg = seg.shape[0]
    w, wss, xc, xss = hann(nper)
    mean = seg.sum(axis=1, keepdims=True) / nper
    slope = (seg @ xc)[:, None] / xss
    seg = (seg - mean - slope * xc[None, :]) * w[None, :]
    spec = np.abs(np.fft.rfft(seg, axis=1)) ** 2
    psd = spec.sum(axis=0) / (nseg * fs_hz * wss)
    if nper % 2 == 0:
        psd[1:-1] *= 2.0
    else:
        psd[1:] *= 2.0
    freqs = np.asarray(np.fft.rfftfreq(nper, 1.0 / fs_hz), dtype=np.float64)
    return freqs, np.asarray(psd, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class _BandPlan:
    """The Welch bins of the LF and HF bands for one segment length: the detrend-window-DFT matrix of
    the bins from the LF band's first to the HF band's last, and where each band lies among them."""

    matrix: FloatArray
    n_bins: int
    lf: slice
    hf: slice
    hf_freqs: FloatArray
    df: float
    wss: float


_BAND_PLANS: dict[tuple[int, float, tuple[float, float], tuple[float, float]], _BandPlan | None] = {}


def _band_plan(nper: int, fs_hz: float, lf: tuple[float, float], hf: tuple[float, float]) -> _BandPlan | None:
    """The plan of these bands; None when a band is empty or touches DC or Nyquist (not the HRV bands)."""
    key = (nper, fs_hz, lf, hf)
    if key in _BAND_PLANS:
        return _BAND_PLANS[key]
    freqs = np.fft.rfftfreq(nper, 1.0 / fs_hz)
    last = freqs.size - 1 if nper % 2 == 0 else freqs.size  # bins 1..last-1 are counted twice
    sel_lf = np.flatnonzero((freqs >= lf[0]) & (freqs < lf[1]))
    sel_hf = np.flatnonzero((freqs >= hf[0]) & (freqs < hf[1]))
    both = np.concatenate((sel_lf, sel_hf))
    plan = None
    if sel_lf.size and sel_hf.size and both.min() >= 1 and both.max() < last:
        lo, hi = int(both.min()), int(both.max()) + 1
        plan = _BandPlan(
            matrix=detrended_dft(nper, nper, lo, hi),
            n_bins=hi - lo,
            lf=slice(int(sel_lf[0]) - lo, int(sel_lf[-1]) + 1 - lo),
            hf=slice(int(sel_hf[0]) - lo, int(sel_hf[-1]) + 1 - lo),
            hf_freqs=np.asarray(freqs[sel_hf], dtype=np.float64),
            df=float(freqs[1] - freqs[0]),
            wss=hann(nper)[1],
        )
    if len(_BAND_PLANS) >= 8:
        _BAND_PLANS.pop(next(iter(_BAND_PLANS)))
    _BAND_PLANS[key] = plan
    return plan


def frequency_domain(
    rr_ms: RRInput,
    *,
    fs_hz: float = 4.0,
    segment_s: float = 64.0,
    overlap: float = 0.5,
    lf_band_hz: tuple[float, float] = (0.04, 0.15),
    hf_band_hz: tuple[float, float] = (0.15, 0.40),
    min_duration_s: float = 120.0,
    tachogram: FloatArray | None = None,
) -> FrequencyDomain:
    """LF and HF power (ms²), LF/HF and the HF peak as breathing rate (Task Force 1996 bands).

    The RR series is resampled at ``fs_hz`` (4 Hz) with a natural cubic spline at the beat times, then Welch's
    method with Hann ``segment_s`` (64 s) segments, ``overlap`` (50 %) and a linear detrend per segment
    (as Kubios HRV, Tarvainen et al., Comput Methods Programs Biomed 2014;113:210-20). Power is the PSD
    summed over [lo, hi) times the bin width. The breathing rate is the frequency of the largest HF bin
    (respiratory sinus arrhythmia; Hirsch & Bishop 1981) in breaths per minute. NaN when the window is
    shorter than ``min_duration_s`` (LF needs two minutes) or than one segment.

    Only the bins of the two bands are computed (one matrix product: detrend, window and DFT folded
    together); the result is :func:`welch_psd`'s, summed the same way.

    ``tachogram``: ``resample_rr(rr_ms, fs_hz=fs_hz)`` when the caller has it already (compute_window
    shares it with :func:`breathing_rate`).
    """
    rr = as_rr_array(rr_ms)
    if rr.size < 4 or float(total(rr)) / 1000.0 < max(min_duration_s, segment_s):
        return NAN_FD
    x = spline_tachogram(rr, fs_hz) if tachogram is None else tachogram
    return band_powers(x, fs_hz, segment_s, overlap, lf_band_hz, hf_band_hz)


def band_powers(
    x: FloatArray,
    fs_hz: float = 4.0,
    segment_s: float = 64.0,
    overlap: float = 0.5,
    lf_band_hz: tuple[float, float] = (0.04, 0.15),
    hf_band_hz: tuple[float, float] = (0.15, 0.40),
) -> FrequencyDomain:
    """:func:`frequency_domain` of the tachogram ``x`` (at ``fs_hz``)."""
    nper = round(segment_s * fs_hz)
    step = max(1, round(nper * (1.0 - overlap)))
    if x.size < nper:
        return NAN_FD
    plan = _band_plan(nper, fs_hz, lf_band_hz, hf_band_hz)
    if plan is None:
        return _band_powers_from_psd(x, fs_hz, segment_s, overlap, lf_band_hz, hf_band_hz)
    seg = segments(x, nper, step)
    r = seg @ plan.matrix
    r *= r
    col = r.sum(axis=0)
    nb = plan.n_bins
    psd = col[:nb] + col[nb:]  # |X|² per bin, summed over the segments
    scale = 2.0 / (seg.shape[0] * fs_hz * plan.wss)  # one-sided density (no band touches DC or Nyquist)
    lf = float(total(psd[plan.lf])) * scale * plan.df
    hf_psd = psd[plan.hf]
    hf = float(total(hf_psd)) * scale * plan.df
    peak_hz = float(plan.hf_freqs[int(hf_psd.argmax())]) if hf_psd.size and hf > 0 else NAN
    return FrequencyDomain(lf, hf, lf / hf if hf > 0 else NAN, peak_hz, 60.0 * peak_hz)


def _band_powers_from_psd(
    x: FloatArray,
    fs_hz: float,
    segment_s: float,
    overlap: float,
    lf_band_hz: tuple[float, float],
    hf_band_hz: tuple[float, float],
) -> FrequencyDomain:
    """:func:`band_powers` from the whole Welch PSD (bands that touch DC or Nyquist, or an empty band)."""
    freqs, psd = welch_psd(x, fs_hz=fs_hz, segment_s=segment_s, overlap=overlap)
    df = float(freqs[1] - freqs[0])
    lf_sel = (freqs >= lf_band_hz[0]) & (freqs < lf_band_hz[1])
    hf_sel = (freqs >= hf_band_hz[0]) & (freqs < hf_band_hz[1])
    lf = float(psd[lf_sel].sum() * df)
    hf = float(psd[hf_sel].sum() * df)
    peak_hz = float(freqs[hf_sel][int(np.argmax(psd[hf_sel]))]) if np.any(hf_sel) and hf > 0 else NAN
    return FrequencyDomain(lf, hf, lf / hf if hf > 0 else NAN, peak_hz, 60.0 * peak_hz)
