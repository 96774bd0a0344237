"""The time-varying thresholds of Lipponen & Tarvainen (2019): quartile deviations over centred windows.

A beat's threshold is ``alpha`` times the quartile deviation, (Q3 - Q1) / 2, of the absolute dRRs (or
mRRs) within ``half_beats`` (45) beats on either side of it: a centred window of 91 beats, as in the paper
and in NeuroKit2 (a centred rolling quantile). Near either end of a series the window is cut at the end,
so it shrinks to the beats that exist (46 at the first beat) instead of sliding inwards: a window that
slid inwards would judge beat 13 by beats 0-90, mostly the future (on systole's ``rr.txt`` that gave a
quartile deviation of 12.0 ms at beat 13 instead of 17.5 ms and three false detections in its first 30
beats; BENCHMARKS.md). Every beat has its own window: thresholds held for blocks of 8 beats (as before)
made 79 detections on the clean NSRDB recording instead of 75, where NeuroKit2 makes 74. Quartiles are
linear-interpolated (numpy's and pandas' default); equal to pandas' centred rolling quantiles.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def _window_quartile_deviation(v: FloatArray, at: IntArray, half_beats: int) -> FloatArray:
    """(Q3 - Q1) / 2 of ``v`` over [c - half_beats, c + half_beats] ∩ the series, for each c in ``at``."""
    m = v.size
    width = 2 * half_beats + 1
    inf = np.full(half_beats, np.inf)  # outside the series: sorted to the back of each window
    wins = np.take(np.concatenate((inf, v, inf)), at[:, None] + np.arange(width))
    wins.sort(axis=1)
    last = np.minimum(at + half_beats, m - 1) - np.maximum(at - half_beats, 0)  # the window's size - 1
    pos = last[:, None] * _QUARTILES
    i = pos.astype(np.intp)
    rows = np.arange(at.size)[:, None]
    below = wins[rows, i]
    q = below + (pos - i) * (wins[rows, np.minimum(i + 1, last[:, None])] - below)
    return np.asarray((q[:, 1] - q[:, 0]) / 2.0, dtype=np.float64)


_QUARTILES = np.array([[0.25, 0.75]])


def quartile_deviation(v: FloatArray, *, half_beats: int) -> FloatArray:
    """Per index of ``v``, the quartile deviation of ``v`` over its centred window (module docstring)."""
    return _window_quartile_deviation(v, np.arange(v.size), half_beats)


def quartile_deviation_at(v: FloatArray, at: IntArray, *, half_beats: int) -> FloatArray:
    """:func:`quartile_deviation` of ``v`` at the indices ``at`` only (only their windows sorted)."""
    return _window_quartile_deviation(v, at, half_beats)


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
    h = size // 2
    padded = np.concatenate((np.full(h, x[0]), x, np.full(h, x[-1])))
    wins = np.take(padded, _runs(x.size, size))
    wins.partition(h, axis=1)
    return np.asarray(wins[:, h], dtype=np.float64)
