"""Nonlinear HRV: Poincaré SD1/SD2 and the short-term DFA exponent α1.

Part of :mod:`processing.hrv` (every name here is importable from there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from processing.reduce import total
from processing.rr import NAN, FloatArray, RRInput, as_rr_array


@dataclass(frozen=True, slots=True)
class Poincare:
    sd1_ms: float
    sd2_ms: float


def poincare(rr_ms: RRInput) -> Poincare:
    """Poincaré plot descriptors (Brennan, McDonald & Flint, IEEE TBME 2001;48:1342-7).

    With x1 = (RR_n - RR_n+1)/√2 and x2 = (RR_n + RR_n+1)/√2: SD1 = SD(x1), SD2 = SD(x2), sample SDs
    (ddof=1), as NeuroKit2 computes them. NaN below 3 intervals.
    """
    rr = as_rr_array(rr_ms)
    if rr.size < 3:
        return Poincare(NAN, NAN)
    c = rr - float(total(rr)) / rr.size
    d = rr[1:] - rr[:-1]  # np.diff of a 1-D series, without its Python frame
    return poincare_of(c, float(np.dot(d, d)))


def poincare_of(c: FloatArray, dd: float) -> Poincare:
    """:func:`poincare` from the mean-removed series ``c`` (3 or more) and the sum of squared successive
    differences ``dd``, with one more dot product: with m = n - 1 pairs,
    var(x1) = (dd - (c_n - c_1)²/m) / (2 (m - 1)) and, as Σc = 0,
    var(x2) = (2 Σc² - c_1² - c_n² + 2 Σ c_i c_i+1 - (c_1 + c_n)²/m) / (2 (m - 1))."""
    m = c.size - 1
    first, last = float(c[0]), float(c[-1])
    cc = float(np.dot(c, c))
    cab = float(np.dot(c[:-1], c[1:]))
    v1 = (dd - (last - first) ** 2 / m) / (2.0 * (m - 1))
    v2 = (2.0 * cc - first * first - last * last + 2.0 * cab - (first + last) ** 2 / m) / (2.0 * (m - 1))
    return Poincare(math.sqrt(max(v1, 0.0)), math.sqrt(max(v2, 0.0)))


def dfa_alpha1(rr_ms: RRInput, *, min_box: int = 4, max_box: int = 16, min_beats: int = 64) -> float:
    """Short-term DFA exponent α1 (Peng et al., Chaos 1995;5:82-7; Kubios: boxes of 4-16 beats).

    The mean-removed RR series is integrated; for each box size n in ``min_box``..``max_box`` the profile
    is cut into non-overlapping boxes, a least-squares line is removed in each, and F(n) is the RMS of
    the residuals; α1 is the slope of log F(n) against log n. NaN below ``min_beats`` intervals.
    """
    rr = as_rr_array(rr_ms)
    if rr.size < max(min_beats, 2 * max_box):
        return NAN
    return dfa_alpha1_of(rr - float(total(rr)) / rr.size, min_box, max_box)


def dfa_alpha1_of(c: FloatArray, min_box: int = 4, max_box: int = 16) -> float:
    """:func:`dfa_alpha1` of the mean-removed series ``c`` (long enough)."""
    n = c.size
    plan = _plan_for(n, min_box, max_box)
    nb = int(plan.n_fit[n])  # the boxes are ordered by their end: those inside the series come first
    ends, starts = plan.ints[0, :nb], plan.ints[1, :nb]
    centres, lengths, sxx = plan.floats[:, :nb]
    y = c.cumsum()
    p = np.empty((3, n + 1))  # prefix sums of y, i*y and y*y, each starting at 0
    p[:, 0] = 0.0
    y.cumsum(out=p[0, 1:])
    (plan.index[:n] * y).cumsum(out=p[1, 1:])
    (y * y).cumsum(out=p[2, 1:])
    box = p.take(ends, axis=1)
    box -= p.take(starts, axis=1)
    sy, sxy, ss = box
    sxy -= centres * sy
    ss -= sy * sy / lengths + sxy * sxy / sxx
    np.maximum(ss, 0.0, out=ss)
    sums = np.bincount(plan.ints[2, :nb], weights=ss, minlength=plan.n_sizes)
    f2 = sums / ((n // plan.sizes) * plan.sizes)  # values covered by the boxes of each size
    if not bool((f2 > 0).all()):
        return NAN
    log_f = np.log(f2)  # 2 log F(n): the slope below is halved
    return 0.5 * float(np.dot(plan.lx, log_f)) / plan.lxx


@dataclass(frozen=True, slots=True)
class _DfaPlan:
    """Every box of every size (4-16) that fits in ``size`` values, boxes starting at 0 for each size,
    ordered by where they end: a series of n values uses the first ``n_fit[n]`` boxes. One plan per
    (min_box, max_box), shared by every series length."""

    size: int
    ints: npt.NDArray[np.int64]
    """Rows: the box's end (exclusive), its start, and the index of its size."""
    floats: FloatArray
    """Rows: the box's centre index, its length, and Σ(x - x̄)² of its indices."""
    n_fit: npt.NDArray[np.int64]
    """Per series length 0..size, how many boxes end inside it."""
    n_sizes: int
    sizes: npt.NDArray[np.int64]
    index: FloatArray
    lx: FloatArray
    lxx: float


_DFA_PLANS: dict[tuple[int, int], _DfaPlan] = {}


def _plan_for(n_rr: int, min_box: int, max_box: int) -> _DfaPlan:
    key = (min_box, max_box)
    plan = _DFA_PLANS.get(key)
    if plan is None or plan.size < n_rr:
        size = 512
        while size < n_rr:
            size *= 2
        sizes = np.arange(min_box, max_box + 1, dtype=np.int64)
        starts: list[npt.NDArray[np.int64]] = []
        which: list[npt.NDArray[np.int64]] = []
        for k, bs in enumerate(sizes.tolist()):
            m = size // bs
            starts.append(np.arange(m, dtype=np.int64) * bs)
            which.append(np.full(m, k, dtype=np.int64))
        st = np.concatenate(starts)
        wh = np.concatenate(which)
        ln = sizes[wh]
        order = np.argsort(st + ln, kind="stable")
        st, wh, ln = st[order], wh[order], ln[order]
        ends = st + ln
        lf = ln.astype(np.float64)
        log_n = np.log(sizes.astype(np.float64))
        lx = log_n - log_n.mean()
        plan = _DfaPlan(
            size=size,
            ints=np.stack((ends, st, wh)),
            floats=np.stack((st + (lf - 1.0) / 2.0, lf, lf * (lf * lf - 1.0) / 12.0)),
            n_fit=np.searchsorted(ends, np.arange(size + 1), side="right").astype(np.int64),
            n_sizes=int(sizes.size),
            sizes=sizes,
            index=np.arange(size, dtype=np.float64),
            lx=lx,
            lxx=float(np.dot(lx, lx)),
        )
        if len(_DFA_PLANS) >= 4:
            _DFA_PLANS.clear()
        _DFA_PLANS[key] = plan
    return plan
