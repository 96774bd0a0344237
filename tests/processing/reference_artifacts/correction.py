"""Corrections of classified artifacts, and the helpers :func:`tests.processing.reference_artifacts.detect` builds on.

Correction keeps the beat times honest: an ectopic beat is moved to the midpoint of its neighbours (the
short/long pair becomes two equal intervals), a missed beat is split in two, an extra beat is merged with
its successor, and a lone long or short interval is replaced by the local median.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from tests.processing.reference_artifacts.rules import _EXTRA, Classification

FloatArray = npt.NDArray[np.float64]


def _correct(
    rr: FloatArray, c: Classification, origin: npt.NDArray[np.intp]
) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Apply the corrections of the module docstring to the events of ``c`` (which never overlap).

    ``origin`` names, per interval of ``rr``, the input interval it came from; it is carried along (a
    merged interval keeps its first piece's origin, both halves of a split keep the split one's).
    """
    out = rr.copy()
    out[c.replace_at] = c.median_rr_ms[c.replace_at]
    if c.pair_a.size:
        mean = 0.5 * (rr[c.pair_a] + rr[c.pair_a + 1])
        out[c.pair_a] = mean
        out[c.pair_a + 1] = mean
    merge, split = c.merge_at, c.split_at
    if merge.size:
        out[merge] = out[merge] + out[merge + 1]
        keep = np.ones(out.size, dtype=np.bool_)
        keep[merge + 1] = False  # the second piece goes
        out = out[keep]
        origin = origin[keep]
        split = split - np.searchsorted(merge, split)  # later indices shift left by earlier merges
    if split.size:
        out[split] = out[split] / 2.0
        twice = np.ones(out.size, dtype=np.intp)
        twice[split] = 2  # each half once more, right after itself
        out = np.repeat(out, twice)
        origin = np.repeat(origin, twice)
    return out, origin


def _n_events(c: Classification) -> int:
    return c.pair_a.size + c.merge_at.size + c.split_at.size + c.replace_at.size


def _event_starts(c: Classification) -> npt.NDArray[np.intp]:
    return np.concatenate((c.pair_a, c.merge_at, c.split_at, c.replace_at))


def _keep(c: Classification, ok: npt.NDArray[np.bool_]) -> Classification:
    """Only the events of ``c`` that start where ``ok`` is True (the rest of the classes cleared)."""
    classes = np.zeros_like(c.classes)
    for at, width in ((c.pair_a, 2), (c.merge_at, 2), (c.split_at, 1), (c.replace_at, 1)):
        for w in range(width):
            classes[at[ok[at]] + w] = c.classes[at[ok[at]] + w]
    return Classification(
        classes,
        c.median_rr_ms,
        c.pair_a[ok[c.pair_a]],
        c.merge_at[ok[c.merge_at]],
        c.split_at[ok[c.split_at]],
        c.replace_at[ok[c.replace_at]],
    )


def _dense(
    starts: npt.NDArray[np.intp], n: int, *, window_beats: int, min_events: int
) -> npt.NDArray[np.bool_]:
    """True for the intervals that have at least ``min_events`` event starts within ``window_beats``."""
    if starts.size < min_events:
        return np.zeros(n, dtype=np.bool_)
    csum = np.zeros(n + 2, dtype=np.intp)
    np.cumsum(np.bincount(starts, minlength=n + 1)[: n + 1], out=csum[1:])
    h = window_beats // 2
    idx = np.arange(n)
    counts = csum[np.minimum(idx + h + 1, n + 1)] - csum[np.maximum(idx - h, 0)]
    return np.asarray(counts >= min_events, dtype=np.bool_)


def _possible(c: Classification, rr: FloatArray, *, min_rr_ms: float, max_rr_ms: float) -> Classification:
    """``c`` without the events that would turn an impossible (too short) interval into a plausible one.

    A piece shorter than ``min_rr_ms`` may only be merged away as an extra beat (the spurious R peak
    removed, the real interval restored, if that lies in range); any other correction of it would invent
    a beat, so it is left as it is and the range gate removes it afterwards.
    """
    short = rr < min_rr_ms
    if not short.any():
        return c
    n = rr.size
    ok = np.ones(n, dtype=np.bool_)
    pair_bad = short[c.pair_a] | short[np.minimum(c.pair_a + 1, n - 1)]
    ok[c.pair_a[pair_bad]] = False
    ok[c.split_at[short[c.split_at]]] = False
    ok[c.replace_at[short[c.replace_at]]] = False
    merged = rr[c.merge_at] + rr[np.minimum(c.merge_at + 1, n - 1)]
    ok[c.merge_at[(merged < min_rr_ms) | (merged > max_rr_ms)]] = False
    return _merge_short(_keep(c, ok), rr, min_rr_ms=min_rr_ms, max_rr_ms=max_rr_ms)


def _merge_short(
    c: Classification, rr: FloatArray, *, min_rr_ms: float, max_rr_ms: float, tol: float = 0.10
) -> Classification:
    """Merge each too-short piece the decision rules left alone with the neighbour that makes the sum
    closest to the local median, when that sum is in range and within ``tol`` of the median.

    Such a piece can only be the beginning or the end of an interval cut by a spurious R peak (no heart
    beats twice within 300 ms); removing it alone would drop its time and leave the other piece as a
    short interval, shifting every later beat.
    """
    classes = c.classes.copy()
    n = rr.size
    merges = c.merge_at.tolist()
    for j in np.flatnonzero((rr < min_rr_ms) & (classes == 0)).tolist():
        best, best_err = -1, math.inf
        for a in (j - 1, j):
            if a < 0 or a + 1 >= n or classes[a] != 0 or classes[a + 1] != 0:
                continue
            total = rr[a] + rr[a + 1]
            err = abs(total / c.median_rr_ms[j] - 1.0)
            if min_rr_ms <= total <= max_rr_ms and err <= tol and err < best_err:
                best, best_err = a, err
        if best >= 0:
            classes[best : best + 2] = _EXTRA
            merges.append(best)
    if len(merges) == c.merge_at.size:
        return c
    return Classification(
        classes,
        c.median_rr_ms,
        c.pair_a,
        np.asarray(sorted(merges), dtype=np.intp),
        c.split_at,
        c.replace_at,
    )
