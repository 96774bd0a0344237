"""The time-varying thresholds of Lipponen & Tarvainen (2019): quartile deviations over centred windows.

A beat's threshold is ``alpha`` times the quartile deviation, (Q3 - Q1) / 2, of the absolute dRRs (or
mRRs) within ``half_beats`` (45) beats on either side of it: a centred window of 91 beats, as in the paper
and in NeuroKit2 (a centred rolling quantile). Near either end of a series the window is cut at the end,
so it shrinks to the beats that exist (46 at the first beat) instead of sliding inwards: a window that
slid inwards would judge beat 13 by beats 0-90, mostly the future (on systole's ``rr.txt`` that gave a
quartile deviation of 12.0 ms at beat 13 instead of 17.5 ms and three false detections in its first 30
beats; BENCHMARKS.md). A series no longer than one window (the 60 s window of a strap: about 70 beats)
is one window for all its beats, as before: on 70-beat windows every 6 beats over the three recordings,
shrinking windows made 984 detections, one window 975 (NeuroKit2 957), and one sort costs less (the
5-second update's most frequent call). In a longer series every beat has its own window: thresholds
held for blocks of 8 beats (as before) made 79 detections on the clean NSRDB recording instead of 75
(both before the end-beat rule of :mod:`.rules`; NeuroKit2 makes 74). Quartiles are linear-interpolated
(numpy's and pandas' default); equal to pandas' centred rolling quantiles for series longer than one
window.

With a C compiler the install builds :mod:`._kernels` (setup.py): the per-beat quartile deviations of a long
series and the running median in one pass each, a sorted window slid along the series, with the numpy code's
interpolation in the same order (``tests/processing/test_artifacts_kernels.py``: identical bit for bit). On
a 300 s window that takes the thresholds from about 100 to 10 µs and the median from 20 to 6 µs.
"""

from __future__ import annotations

import types

import numpy as np
import numpy.typing as npt


def _load_kernels() -> types.ModuleType | None:
    try:  # the compiled loops (setup.py): the same numbers, one pass per series instead of a sort per window
        from processing.artifacts import _kernels
    except ImportError:  # built without a C compiler: numpy alone
        return None
    return _kernels


KERNELS: types.ModuleType | None = _load_kernels()
"""The compiled loops of :mod:`._kernels`, or None (numpy alone; tests set it to compare the two)."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def _window_quartile_deviation(v: FloatArray, at: IntArray | None, half_beats: int) -> FloatArray:
    """(Q3 - Q1) / 2 of ``v`` (2 or more values) over [c - half_beats, c + half_beats] ∩ the series, for
    each c in ``at`` (None: every index)."""
    m = v.size
    width = 2 * half_beats + 1
    inf = np.full(half_beats, np.inf)  # outside the series: sorted to the back of each window
    padded = np.concatenate((inf, v, inf))
    # row c of this view is the window of index c (no copy; fancy indexing or copy() then copies rows)
    rows = np.ndarray((m, width), dtype=np.float64, buffer=padded, strides=(8, 8))
    if at is None:
        at = np.arange(m)
        wins = rows.copy()
    else:
        wins = rows[at]
    wins.sort(axis=1)
    last = np.minimum(at + half_beats, m - 1) - np.maximum(at - half_beats, 0)  # the window's size - 1
    pos = last[:, None] * _QUARTILES
    i = pos.astype(np.intp)
    flat = i + np.arange(0, at.size * width, width)[:, None]  # i < last unless last == 0: i + 1 in the row
    below = np.take(wins, flat)
    q = below + (pos - i) * (np.take(wins, flat + 1) - below)
    return np.asarray(0.5 * (q[:, 1] - q[:, 0]), dtype=np.float64)


_QUARTILES = np.array([[0.25, 0.75]])


def whole_quartile_deviation_and_max(v: FloatArray) -> tuple[float, float]:
    """(Q3 - Q1) / 2 of all of ``v`` (2 or more values) and its largest value, from one sort."""
    xs = np.sort(v).tolist()
    last = len(xs) - 1
    q: list[float] = []
    for share in (0.25, 0.75):
        pos = last * share
        i = int(pos)
        below = xs[i]
        q.append(below + (pos - i) * (xs[min(i + 1, last)] - below))
    return 0.5 * (q[1] - q[0]), xs[last]


def _whole(v: FloatArray) -> float:
    """(Q3 - Q1) / 2 of all of ``v``, as a number (one sort)."""
    return whole_quartile_deviation_and_max(v)[0]


def quartile_deviation(v: FloatArray, *, half_beats: int) -> FloatArray:
    """Per index of ``v``, the quartile deviation of ``v`` over its centred window (module docstring).

    A series no longer than one window (``2 * half_beats + 1``: a 60 s window) is one window for all its
    beats (module docstring). Otherwise the indices from ``m - 1 - half_beats`` to ``half_beats``, if any,
    all have the whole series as their window: it is sorted once for them.
    """
    m = v.size
    if m <= 2 * half_beats + 1:
        return np.full(m, _whole(v))
    a, b = max(m - 1 - half_beats, 0), min(half_beats, m - 1)
    if a >= b:  # a long series: every window differs
        if KERNELS is not None:
            out = np.empty(m)
            KERNELS.rolling_quartile_deviation(np.ascontiguousarray(v, dtype=np.float64), half_beats, out)
            return out
        return _window_quartile_deviation(v, None, half_beats)
    centres = np.concatenate((np.arange(a + 1), np.arange(b + 1, m)))
    counts = np.ones(centres.size, dtype=np.intp)
    counts[a] = b - a + 1
    return np.repeat(_window_quartile_deviation(v, centres, half_beats), counts)


def quartile_deviation_at(v: FloatArray, at: IntArray, *, half_beats: int) -> FloatArray:
    """:func:`quartile_deviation` of ``v`` at the indices ``at`` only (only their windows sorted).

    A few indices (the usual case: the beats flagged in a 60 s window) are done one by one with Python's
    sort, which costs less than the numpy calls of the vectorised path; the arithmetic is the same, in
    the same order, so the values are identical.
    """
    m = v.size
    if m <= 2 * half_beats + 1:
        return np.full(at.size, _whole(v))
    if KERNELS is not None and at.size > _FEW_COMPILED:  # every window in one pass costs less
        return quartile_deviation(v, half_beats=half_beats)[at]
    if at.size > _FEW:
        return _window_quartile_deviation(v, at, half_beats)
    values = v.tolist()
    out = []
    for c in at.tolist():
        lo, hi = max(c - half_beats, 0), min(c + half_beats + 1, m)
        win = sorted(values[lo:hi])
        last = hi - lo - 1
        q = []
        for share in (0.25, 0.75):
            pos = last * share
            i = int(pos)
            below = win[i]
            q.append(below + (pos - i) * (win[min(i + 1, last)] - below))
        out.append(0.5 * (q[1] - q[0]))
    return np.asarray(out, dtype=np.float64)


_FEW = 8
_FEW_COMPILED = 2


_RUNS: dict[int, IntArray] = {}
"""Per window width w, the rows i + 0..w-1 for i = 0, 1, ... (shared by every series length; grown to a
power of two of rows when a longer series comes: 90 KB for the median filter's 11 beats and 1,024 rows)."""


def _runs(rows: int, width: int) -> IntArray:
    """Indices (rows, width): row i is i, i + 1, ..., i + width - 1 (a view of a shared plan)."""
    plan = _RUNS.get(width)
    if plan is None or plan.shape[0] < rows:
        size = 1024
        while size < rows:
            size *= 2
        plan = np.asarray(np.arange(size)[:, None] + np.arange(width)[None, :], dtype=np.intp)
        _RUNS[width] = plan
    return plan[:rows]


def median_filter(x: FloatArray, size: int) -> FloatArray:
    """Running median of odd ``size``, edges padded with the end values (scipy's mode="nearest")."""
    if KERNELS is not None:
        out = np.empty(x.size)
        KERNELS.median_filter(np.ascontiguousarray(x, dtype=np.float64), size, out)
        return out
    h = size // 2
    padded = np.concatenate((np.full(h, x[0]), x, np.full(h, x[-1])))
    wins = np.take(padded, _runs(x.size, size))
    wins.partition(h, axis=1)
    return np.asarray(wins[:, h], dtype=np.float64)
