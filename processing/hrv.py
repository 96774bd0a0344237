"""HRV features over one clean window of RR intervals (ms): one pure function per family.

* :func:`time_domain` — mean RR, mean HR, SDNN, RMSSD, pNN50 (Task Force 1996);
* :func:`frequency_domain` — LF, HF, LF/HF and the HF peak (4 Hz cubic spline, Welch);
* :func:`breathing_rate` — breaths/min from the RSA peak of 60 s pieces, kept clear of Mayer waves;
* :func:`poincare` — SD1, SD2 (Brennan et al. 2001);
* :func:`dfa_alpha1` — short-term detrended fluctuation exponent over 4-16 beats (Peng et al. 1995);
* :func:`stress_index` — Baevsky's stress index as its square root, √SI (Baevsky & Chernikova 2017); not Kubios' variant.

``compute_window`` is the stable entry point (ARCHITECTURE.md contract): every feature, NaN where the
window is too short for it. Functions raise only :class:`processing.errors.ProcessingError` subclasses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.linalg.lapack import dgtsv

from processing.errors import InvalidRR

NAN = float("nan")
FloatArray = npt.NDArray[np.float64]
RRInput = Sequence[float] | npt.NDArray[np.floating] | npt.NDArray[np.integer]


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


_VALIDATED: ContextVar[FloatArray | None] = ContextVar("validated_rr", default=None)
"""The array compute_window has just validated: the per-family functions it calls skip re-checking it."""


def as_rr_array(rr_ms: RRInput) -> FloatArray:
    """A 1-D float64 array of finite, positive RR intervals (ms); raises :class:`InvalidRR` otherwise."""
    if rr_ms is _VALIDATED.get():
        return rr_ms  # type: ignore[return-value]
    if isinstance(rr_ms, np.ndarray) and rr_ms.dtype == np.float64 and rr_ms.ndim == 1:
        arr: FloatArray = np.asarray(rr_ms, dtype=np.float64)
    else:
        try:
            arr = np.asarray(rr_ms, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidRR(f"not a numeric series ({exc})") from exc
        if arr.ndim != 1:
            raise InvalidRR(f"expected a 1-D series, got shape {arr.shape}")
    # one sum and one min: a NaN or inf makes the sum non-finite
    if arr.size and not (math.isfinite(float(arr.sum())) and float(arr.min()) > 0.0):
        raise InvalidRR("RR values must be finite and positive (ms)")
    return arr


# -- time domain --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeDomain:
    mean_rr_ms: float
    mean_hr_bpm: float
    sdnn_ms: float
    rmssd_ms: float
    pnn50_pct: float


def time_domain(rr_ms: RRInput, *, nn_threshold_ms: float = 50.0) -> TimeDomain:
    """Time-domain HRV (Task Force of the ESC and NASPE, Circulation 1996;93:1043-65).

    mean RR; mean HR = 60000 / mean RR; SDNN = sample SD (ddof=1) of RR; RMSSD = root mean square of
    successive differences; pNN50 = share of successive differences larger than 50 ms among all successive
    differences (%), the Task Force and pyhrv denominator (NeuroKit2 divides by the number of intervals).
    """
    rr = as_rr_array(rr_ms)
    n = rr.size
    if n == 0:
        return TimeDomain(NAN, NAN, NAN, NAN, NAN)
    mean_rr = float(rr.sum()) / n
    if n < 2:
        return TimeDomain(mean_rr, 60000.0 / mean_rr, NAN, NAN, NAN)
    d = np.diff(rr)
    c = rr - mean_rr
    sdnn = math.sqrt(float(np.dot(c, c)) / (n - 1))
    rmssd = float(math.sqrt(float(np.dot(d, d)) / d.size))
    pnn50 = 100.0 * float(np.count_nonzero(np.abs(d) > nn_threshold_ms)) / d.size
    return TimeDomain(mean_rr, 60000.0 / mean_rr, sdnn, rmssd, pnn50)


# -- frequency domain ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FrequencyDomain:
    lf_ms2: float
    hf_ms2: float
    lf_hf: float
    hf_peak_hz: float
    resp_rate_bpm: float


_NAN_FD = FrequencyDomain(NAN, NAN, NAN, NAN, NAN)


def natural_cubic_spline(x: FloatArray, y: FloatArray, xi: FloatArray) -> FloatArray:
    """Evaluate the natural cubic spline through (x, y) at ``xi`` (x strictly increasing, xi inside).

    Second derivatives from the tridiagonal system (LAPACK dgtsv), then the usual piecewise cubic
    (e.g. Press et al., Numerical Recipes, 3rd ed., section 3.3).
    """
    n = x.size
    h = np.diff(x)
    dy = np.diff(y) / h
    m = np.zeros(n)
    if n > 2:
        off = h[1:-1]
        _, _, _, sol, info = dgtsv(off, 2.0 * (h[:-1] + h[1:]), off, 6.0 * np.diff(dy))
        if info != 0:
            raise InvalidRR("beat times are not strictly increasing")
        m[1:-1] = sol
    k = np.minimum(np.maximum(np.searchsorted(x, xi, side="right") - 1, 0), n - 2)
    hk = h[k]
    a = (x[k + 1] - xi) / hk
    b = 1.0 - a
    out = a * y[k] + b * y[k + 1] + ((a**3 - a) * m[k] + (b**3 - b) * m[k + 1]) * (hk * hk) / 6.0
    return np.asarray(out, dtype=np.float64)


def resample_rr(rr_ms: RRInput, *, fs_hz: float = 4.0) -> FloatArray:
    """The tachogram on an even ``fs_hz`` grid by cubic-spline interpolation of RR at the beat times."""
    rr = as_rr_array(rr_ms)
    if rr.size < 4:
        return np.empty(0)
    t = np.cumsum(rr) / 1000.0
    grid = np.arange(t[0], t[-1], 1.0 / fs_hz)
    return natural_cubic_spline(t, rr, grid)


_CACHE_MAX = 64
"""Process-wide caches (Hann windows, DFA box plans) keep at most this many sizes."""
_HANN_CACHE: dict[int, tuple[FloatArray, float, FloatArray, float]] = {}


def _hann(n: int) -> tuple[FloatArray, float, FloatArray, float]:
    """Periodic Hann window (as scipy.signal.welch uses), its power sum, and linear-detrend helpers."""
    hit = _HANN_CACHE.get(n)
    if hit is None:
        w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
        x = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
        hit = (w, float(np.dot(w, w)), x, float(np.dot(x, x)))
        if len(_HANN_CACHE) >= _CACHE_MAX:
            _HANN_CACHE.pop(next(iter(_HANN_CACHE)))
        _HANN_CACHE[n] = hit
    return hit


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
    nseg = 1 + (x.size - nper) // step
    seg = np.lib.stride_tricks.as_strided(x, shape=(nseg, nper), strides=(step * x.strides[0], x.strides[0]))
    w, wss, xc, xss = _hann(nper)
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


def _band_power(freqs: FloatArray, psd: FloatArray, band: tuple[float, float]) -> float:
    df = float(freqs[1] - freqs[0])
    sel = (freqs >= band[0]) & (freqs < band[1])
    return float(psd[sel].sum() * df)


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

    ``tachogram``: ``resample_rr(rr_ms, fs_hz=fs_hz)`` when the caller has it already (compute_window
    shares it with :func:`breathing_rate`).
    """
    rr = as_rr_array(rr_ms)
    if rr.size < 4 or float(rr.sum()) / 1000.0 < max(min_duration_s, segment_s):
        return _NAN_FD
    x = resample_rr(rr, fs_hz=fs_hz) if tachogram is None else tachogram
    freqs, psd = welch_psd(x, fs_hz=fs_hz, segment_s=segment_s, overlap=overlap)
    if freqs.size == 0:
        return _NAN_FD
    lf = _band_power(freqs, psd, lf_band_hz)
    hf = _band_power(freqs, psd, hf_band_hz)
    hf_sel = (freqs >= hf_band_hz[0]) & (freqs < hf_band_hz[1])
    peak_hz = float(freqs[hf_sel][int(np.argmax(psd[hf_sel]))]) if np.any(hf_sel) and hf > 0 else NAN
    return FrequencyDomain(lf, hf, lf / hf if hf > 0 else NAN, peak_hz, 60.0 * peak_hz)


def _rates_of_segments(
    seg: FloatArray, *, fs_hz: float, hf_from_hz: float, lf_dominance: float
) -> FloatArray:
    """Breathing rate of each row of ``seg`` (equal-length pieces of the 4 Hz tachogram, ms); rows
    without a peak in either band are left out. All rows at once (no Python loop per row)."""
    n = seg.shape[1]
    w, _wss, xc, xss = _hann(n)
    mean = seg.sum(axis=1) / n
    y = (seg - mean[:, None] - ((seg @ xc) / xss)[:, None] * xc[None, :]) * w[None, :]
    nfft = 8 * n  # zero-padded: peaks placed to 1/8 of a bin
    # only the bins from 6/min to 30/min (and one either side, to tell a local maximum) are looked at
    lo, hi, f = _breath_bins(nfft, fs_hz, min(_BREATH_MIN_HZ, hf_from_hz))
    if hi <= lo:
        return np.empty(0)
    spec = np.abs(np.fft.rfft(y, nfft, axis=1)[:, lo - 1 : hi + 1]) ** 2
    inner = spec[:, 1:-1]
    is_peak = (inner > spec[:, :-2]) & (inner >= spec[:, 2:])
    top_hz = np.minimum(_BREATH_MAX_HZ, 0.5 * 1000.0 / mean)  # beats sample the RSA: half the HR
    hf_ok = is_peak & (f >= hf_from_hz)[None, :] & (f[None, :] <= top_hz[:, None])
    lf_ok = is_peak & ((f >= _BREATH_MIN_HZ) & (f < hf_from_hz))[None, :]
    # the power is never negative: -1 marks "not a candidate", argmax then finds the first largest peak
    # the HF peak of the differenced tachogram (power x f^2): the LF tail of a sigh or pause does not win
    hf_score = np.where(hf_ok, inner * (f * f)[None, :], -1.0)
    lf_pow = np.where(lf_ok, inner, -1.0)
    rows = np.arange(seg.shape[0])
    best_hf = np.argmax(hf_score, axis=1)
    best_lf = np.argmax(lf_pow, axis=1)
    has_hf = hf_score[rows, best_hf] >= 0.0
    v_hf = inner[rows, best_hf]
    v_lf = lf_pow[rows, best_lf]
    has_lf = v_lf >= 0.0
    take_lf = has_lf & (~has_hf | (v_lf > lf_dominance * v_hf))
    rates = 60.0 * f[np.where(take_lf, best_lf, best_hf)]
    return np.asarray(rates[has_hf | has_lf], dtype=np.float64)


def _breath_bins(nfft: int, fs_hz: float, from_hz: float) -> tuple[int, int, FloatArray]:
    """The bins [lo, hi) of an ``nfft`` periodogram from ``from_hz`` to _BREATH_MAX_HZ (never its first
    or last bin, which cannot be a local maximum), and their frequencies; cached per size."""
    key = (nfft, fs_hz, from_hz)
    hit = _BINS_CACHE.get(key)
    if hit is None:
        freqs = np.fft.rfftfreq(nfft, 1.0 / fs_hz)
        lo = max(1, int(np.searchsorted(freqs, from_hz, side="left")))
        hi = max(lo, min(freqs.size - 1, int(np.searchsorted(freqs, _BREATH_MAX_HZ, side="right"))))
        hit = (lo, hi, np.asarray(freqs[lo:hi], dtype=np.float64))
        if len(_BINS_CACHE) >= 16:
            _BINS_CACHE.pop(next(iter(_BINS_CACHE)))
        _BINS_CACHE[key] = hit
    return hit


_BINS_CACHE: dict[tuple[int, float, float], tuple[int, int, FloatArray]] = {}
_BREATH_MIN_HZ = 0.095
"""6 breaths/min, less half a bin of a 60 s window zero-padded eight times."""
_BREATH_MAX_HZ = 0.5
"""30 breaths/min."""


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
    median of their rates is returned (breathing drifts over minutes; one long periodogram smears it).
    NaN with fewer than 30 s of beats or no peak. Measured against a respiration belt and a simulated
    RSA with Mayer waves in BENCHMARKS.md ("Breathing rate").

    ``tachogram``: ``resample_rr(rr_ms, fs_hz=fs_hz)`` when the caller has it already.
    """
    rr = as_rr_array(rr_ms)
    if rr.size < 8:
        return NAN
    total_s = float(rr.sum()) / 1000.0
    if total_s < 30.0:
        return NAN
    x = resample_rr(rr, fs_hz=fs_hz) if tachogram is None else tachogram
    per = round(window_s * fs_hz)
    if total_s <= 1.5 * window_s or x.size < per:
        seg = x[None, :]
    else:
        step = max(1, round(step_s * fs_hz))
        count = 1 + (x.size - per) // step
        seg = np.lib.stride_tricks.as_strided(
            x, shape=(count, per), strides=(step * x.strides[0], x.strides[0])
        )
    if seg.shape[1] < 8:
        return NAN
    rates = _rates_of_segments(seg, fs_hz=fs_hz, hf_from_hz=hf_from_hz, lf_dominance=lf_dominance)
    return float(np.median(rates)) if rates.size else NAN


# -- nonlinear ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Poincare:
    sd1_ms: float
    sd2_ms: float


def _sd(x: FloatArray) -> float:
    """Sample standard deviation (ddof=1), without numpy's slower std wrapper."""
    c = x - float(x.sum()) / x.size
    return math.sqrt(float(np.dot(c, c)) / (x.size - 1))


def poincare(rr_ms: RRInput) -> Poincare:
    """Poincaré plot descriptors (Brennan, McDonald & Flint, IEEE TBME 2001;48:1342-7).

    With x1 = (RR_n - RR_n+1)/√2 and x2 = (RR_n + RR_n+1)/√2: SD1 = SD(x1), SD2 = SD(x2), sample SDs
    (ddof=1), as NeuroKit2 computes them. NaN below 3 intervals.
    """
    rr = as_rr_array(rr_ms)
    if rr.size < 3:
        return Poincare(NAN, NAN)
    a, b = rr[:-1], rr[1:]
    return Poincare(_sd(a - b) / math.sqrt(2.0), _sd(a + b) / math.sqrt(2.0))


def dfa_alpha1(rr_ms: RRInput, *, min_box: int = 4, max_box: int = 16, min_beats: int = 64) -> float:
    """Short-term DFA exponent α1 (Peng et al., Chaos 1995;5:82-7; Kubios: boxes of 4-16 beats).

    The mean-removed RR series is integrated; for each box size n in ``min_box``..``max_box`` the profile
    is cut into non-overlapping boxes, a least-squares line is removed in each, and F(n) is the RMS of
    the residuals; α1 is the slope of log F(n) against log n. NaN below ``min_beats`` intervals.
    """
    rr = as_rr_array(rr_ms)
    if rr.size < max(min_beats, 2 * max_box):
        return NAN
    fit = _dfa_fit(rr.size, min_box, max_box)
    n = rr.size
    y = np.cumsum(rr - float(rr.sum()) / n)
    p = np.zeros((3, n + 1))  # prefix sums of y, i*y and y*y, each starting at 0
    np.cumsum(y, out=p[0, 1:])
    np.cumsum(fit.index[:n] * y, out=p[1, 1:])
    np.cumsum(y * y, out=p[2, 1:])
    box = p[:, fit.ends] - p[:, fit.starts]
    sy = box[0]
    sxy = box[1] - fit.centres * sy
    ss = box[2] - sy * sy / fit.lengths - sxy * sxy / fit.sxx
    sums = np.bincount(fit.which, weights=np.maximum(ss, 0.0), minlength=fit.n_sizes)
    f2 = sums / fit.counts
    if np.any(f2 <= 0):
        return NAN
    log_f = 0.5 * np.log(f2)
    return float(np.dot(fit.lx, log_f - log_f.mean()) / fit.lxx)


@dataclass(frozen=True, slots=True)
class _DfaFit:
    """What :func:`dfa_alpha1` needs for a series of one length, computed once per length."""

    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    which: npt.NDArray[np.int64]
    lengths: FloatArray
    centres: FloatArray
    sxx: FloatArray
    counts: FloatArray
    n_sizes: int
    index: FloatArray
    lx: FloatArray
    lxx: float


_RANGE: list[FloatArray] = [np.arange(1024, dtype=np.float64)]


def _float_range(n: int) -> FloatArray:
    """0.0, 1.0, ..., n - 1 as a view of one shared array (grown to a power of two when needed)."""
    if _RANGE[0].size < n:
        size = _RANGE[0].size
        while size < n:
            size *= 2
        _RANGE[0] = np.arange(size, dtype=np.float64)
    return _RANGE[0][:n]


def _dfa_fit(n_rr: int, min_box: int, max_box: int) -> _DfaFit:
    """Cut from the shared box plan for each call (per-length copies would cost memory per length)."""
    sizes = np.arange(min_box, max_box + 1)
    starts, lengths, which, sxx, log_n = _dfa_plan_for(n_rr, min_box, max_box)
    lx = log_n - log_n.mean()
    lengths_f = lengths.astype(np.float64)
    return _DfaFit(
        starts=starts,
        ends=starts + lengths,
        which=which,
        lengths=lengths_f,
        centres=starts + (lengths - 1) / 2.0,
        sxx=sxx,
        counts=np.asarray(np.bincount(which, weights=lengths_f, minlength=sizes.size), dtype=np.float64),
        n_sizes=int(sizes.size),
        index=_float_range(n_rr),
        lx=lx,
        lxx=float(np.dot(lx, lx)),
    )


def _dfa_plan_for(
    n_rr: int, min_box: int, max_box: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray, FloatArray]:
    """The boxes that fit in ``n_rr`` values, cut from one shared plan (boxes start at 0 for every size)."""
    key = (min_box, max_box)
    plan = _DFA_PLANS.get(key)
    if plan is None or plan[5] < n_rr:
        size = 512
        while size < n_rr:
            size *= 2
        sizes = np.arange(min_box, max_box + 1)
        plan = (*_dfa_plan(size, sizes), size)
        if len(_DFA_PLANS) >= 4:
            _DFA_PLANS.clear()
        _DFA_PLANS[key] = plan
    st, ln, wh, sxx, log_n, _ = plan
    fit = st + ln <= n_rr
    return st[fit], ln[fit], wh[fit], sxx[fit], log_n


_DFA_PLANS: dict[
    tuple[int, int],
    tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray, FloatArray, int],
] = {}


def _dfa_plan(
    n_rr: int, sizes: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray, FloatArray]:
    """Box starts, lengths, size index, Σ(x - x̄)² per box and log sizes for a series of ``n_rr`` values."""
    starts: list[npt.NDArray[np.int64]] = []
    which: list[npt.NDArray[np.int64]] = []
    for k, n in enumerate(sizes.tolist()):
        m = n_rr // n
        starts.append(np.arange(m, dtype=np.int64) * n)
        which.append(np.full(m, k, dtype=np.int64))
    st = np.concatenate(starts)
    wh = np.concatenate(which)
    ln = sizes[wh].astype(np.int64)
    sxx = ln.astype(np.float64) * (ln.astype(np.float64) ** 2 - 1.0) / 12.0
    return st, ln, wh, sxx, np.log(sizes.astype(np.float64))


def stress_index(rr_ms: RRInput, *, bin_ms: float = 50.0, min_beats: int = 30) -> float:
    """Baevsky's stress index, reported as its square root: √SI with SI = AMo / (2 · Mo · MxDMn).

    Baevsky & Chernikova, Cardiometry 2017;10:66-76 (the literal definition, on the RR as they are).
    AMo is the share (%) of intervals in the modal ``bin_ms`` (50 ms) histogram bin, bins anchored at
    multiples of 50 ms; Mo the modal bin's centre (s); MxDMn the range max - min (s). The square root
    brings it to a roughly normal scale, as Kubios reports its own index, but this is **not** Kubios'
    stress index: Kubios uses the median RR for Mo and detrended RR (its User's Guide), and its values
    differ from these by about -19 to +2 % (issue 10's audit). Being histogram-based it is coarse:
    moving the bin edges by part of a bin moves it by 2-14 %. The attribute keeps the name
    ``stress_index`` (a contract); the docs and exports call it "Baevsky stress index (√SI)".
    NaN below ``min_beats`` or for a flat series.
    """
    rr = as_rr_array(rr_ms)
    if rr.size < min_beats:
        return NAN
    idx = np.floor(rr / bin_ms).astype(np.int64)
    idx -= int(idx.min())
    counts = np.bincount(idx)
    mode_bin = int(np.argmax(counts))
    amo_pct = 100.0 * float(counts[mode_bin]) / rr.size
    mo_s = ((mode_bin + float(np.floor(rr.min() / bin_ms))) * bin_ms + bin_ms / 2.0) / 1000.0
    mxdmn_s = float(rr.max() - rr.min()) / 1000.0
    if mxdmn_s <= 0:
        return NAN
    return math.sqrt(amo_pct / (2.0 * mo_s * mxdmn_s))


# -- everything ---------------------------------------------------------------------------------------


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

    ``full=False`` computes the time domain only (the fast channel's HR and RMSSD).
    """
    rr = as_rr_array(rr_ms)
    token = _VALIDATED.set(rr)
    try:
        td = time_domain(rr)
        fd = _NAN_FD
        pc = Poincare(NAN, NAN)
        dfa = si = resp = NAN
        if full:
            # one 4 Hz tachogram for the spectrum and the breathing rate (both resample the same way)
            x = resample_rr(rr) if rr.size >= 8 and float(rr.sum()) >= 30000.0 else None
            fd = frequency_domain(rr, tachogram=x)
            pc = poincare(rr)
            dfa = dfa_alpha1(rr) if artifact_pct <= max_artifact_pct_dfa else NAN
            si = stress_index(rr)
            resp = breathing_rate(rr, tachogram=x)
    finally:
        _VALIDATED.reset(token)
    return HrvWindow(
        t=t,
        window_s=float(window_s) if window_s is not None else float(rr.sum() / 1000.0),
        n_beats=int(rr.size),
        artifact_pct=artifact_pct,
        mean_rr_ms=td.mean_rr_ms,
        mean_hr_bpm=td.mean_hr_bpm,
        sdnn_ms=td.sdnn_ms,
        rmssd_ms=td.rmssd_ms,
        pnn50_pct=td.pnn50_pct,
        lf_ms2=fd.lf_ms2,
        hf_ms2=fd.hf_ms2,
        lf_hf=fd.lf_hf,
        sd1_ms=pc.sd1_ms,
        sd2_ms=pc.sd2_ms,
        dfa_a1=dfa,
        stress_index=si,
        resp_rate_bpm=resp,
        valid=bool(rr.size >= 2 and artifact_pct <= max_artifact_pct),
    )
