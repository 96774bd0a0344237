"""Artifact detection and correction for RR series: a range gate, then Lipponen & Tarvainen (2019).

Lipponen JA, Tarvainen MP. A robust algorithm for heart rate variability time series artefact correction
using novel beat classification. J Med Eng Technol 2019;43(3):173-81 (the method of Kubios HRV).

1. Range gate: intervals outside ``min_rr_ms``..``max_rr_ms`` (300-2000 ms) are impossible for a resting or
   exercising adult; they are never interpolated. A long one is a dropout (a gap) and is removed at once;
   a short one is usually a piece of an interval cut by a spurious R peak, so it is classified with the
   rest and either merged back with its partner (EXTRA) or removed.
2. dRRs (successive differences) and mRRs (deviation from an 11-beat median, negative side doubled) are
   normalised by time-varying thresholds, ``alpha`` (5.2) times the quartile deviation of their absolute
   values over ``window_beats`` (91) beats; the thresholds are evaluated every ``threshold_stride`` beats
   (a piecewise-constant approximation of the paper's per-beat rolling quartiles, for speed). The series
   is mirrored by a few beats at each end first, so the first and last beats of a window are judged too.
3. Each beat is classified with the paper's decision rules on the subspaces (dRR, S12) and (dRR, S22):
   ectopic, long, short, missed or extra (constants c1 = 0.13, c2 = 0.17). The missed-beat test
   ``|RR/2 - medRR| < th2`` measures the halves' deviation the way th2 was made, from mRRs with the
   negative side doubled: otherwise, in a series as variable as NSRDB's, a lone interval 25-50 % long
   passes as a missed beat and is split into two short ones (RMSSD after 2 % such intervals, seeds 0-5:
   5.2 % off with the literal test, 2.1 % with this one; BENCHMARKS.md). Each artifact claims the
   intervals it spoiled (both pieces of an extra beat, both intervals of an ectopic pair), so the neighbour
   of a merged or averaged beat is never judged and corrected a second time on its own.
4. Correction keeps the beat times honest: an ectopic beat is moved to the midpoint of its neighbours
   (the short/long pair becomes two equal intervals), a missed beat is split in two, an extra beat is
   merged with its successor, and a lone long or short interval is replaced by the local median.
5. Where artifacts are dense they widen their own thresholds; there the classification is repeated on the
   corrected series (:func:`detect`).

Validated on two real recordings with injected artifacts, side by side with NeuroKit2 (BENCHMARKS.md,
tests/processing/test_artifacts_injected.py). Vectorised with numpy; only flagged beats are visited.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from processing.hrv import RRInput, as_rr_array

FloatArray = npt.NDArray[np.float64]


class BeatClass(IntEnum):
    NORMAL = 0
    OUT_OF_RANGE = 1
    ECTOPIC = 2
    LONG = 3
    SHORT = 4
    MISSED = 5
    EXTRA = 6


@dataclass(frozen=True, slots=True)
class ArtifactResult:
    """Per input beat, its class; and the corrected series (its length may differ: missed/extra/gated)."""

    classes: npt.NDArray[np.int8]
    corrected_rr_ms: FloatArray

    @property
    def flags(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.classes != BeatClass.NORMAL, dtype=np.bool_)

    @property
    def n_artifacts(self) -> int:
        return int(np.count_nonzero(self.classes))

    @property
    def artifact_pct(self) -> float:
        n = self.classes.size
        return 100.0 * self.n_artifacts / n if n else 0.0

    def count(self, kind: BeatClass) -> int:
        return int(np.count_nonzero(self.classes == kind))


def range_gate(
    rr_ms: FloatArray, *, min_rr_ms: float = 300.0, max_rr_ms: float = 2000.0
) -> npt.NDArray[np.bool_]:
    """True where an RR interval is physiologically impossible."""
    return np.asarray((rr_ms < min_rr_ms) | (rr_ms > max_rr_ms), dtype=np.bool_)


def _quartile_deviation(x: FloatArray, *, window_beats: int, stride: int) -> FloatArray:
    """(Q3 - Q1) / 2 of ``x`` over a centred window of ``window_beats``, per beat.

    Evaluated every ``stride`` beats and held in between; quartiles linear-interpolated (numpy's default
    method); one gather (``np.take``, with a cached index plan) and one in-place sort for all windows.
    """
    n = x.size
    if n <= window_beats:
        wins = np.sort(x)[None, :]
    else:
        wins = np.take(x, _window_plan(n, window_beats, stride))
        wins.sort(axis=1)
    qd = _quartile_deviation_of(wins)
    if n <= window_beats:
        return np.full(n, qd[0])
    return np.asarray(np.repeat(qd, stride)[:n], dtype=np.float64)


def _quartile_deviation_all(x: FloatArray) -> float:
    """(Q3 - Q1) / 2 of all of ``x`` (a series no longer than one threshold window), as a number."""
    xs = np.sort(x)
    k = xs.size - 1
    pos1, pos3 = 0.25 * k, 0.75 * k
    i1, i3 = int(pos1), int(pos3)
    a1, b1, a3, b3 = xs[[i1, min(i1 + 1, k), i3, min(i3 + 1, k)]].tolist()
    q1 = a1 + (pos1 - i1) * (b1 - a1)
    q3 = a3 + (pos3 - i3) * (b3 - a3)
    return float((q3 - q1) / 2.0)


def _quartile_deviation_at(
    x: FloatArray, at: npt.NDArray[np.intp], *, window_beats: int, stride: int
) -> FloatArray:
    """:func:`_quartile_deviation` of ``x`` at the indices ``at`` only (only their windows sorted)."""
    n = x.size
    if n <= window_beats:
        return np.full(at.size, _quartile_deviation(x, window_beats=window_beats, stride=stride)[0])
    blocks, inverse = np.unique(at // stride, return_inverse=True)
    wins = np.take(x, _window_plan(n, window_beats, stride)[blocks])
    wins.sort(axis=1)
    return _quartile_deviation_of(wins)[inverse]


def _quartile_deviation_of(wins: FloatArray) -> FloatArray:
    """(Q3 - Q1) / 2 of each sorted row of ``wins`` (linear-interpolated quartiles, numpy's default)."""
    k = wins.shape[1] - 1
    pos1, pos3 = 0.25 * k, 0.75 * k
    i1, i3 = int(pos1), int(pos3)
    f1, f3 = pos1 - i1, pos3 - i3
    q1 = wins[:, i1] + f1 * (wins[:, min(i1 + 1, k)] - wins[:, i1])
    q3 = wins[:, i3] + f3 * (wins[:, min(i3 + 1, k)] - wins[:, i3])
    return np.asarray((q3 - q1) / 2.0, dtype=np.float64)


_RUNS: dict[int, npt.NDArray[np.intp]] = {}
"""Per window width w, the rows i + 0..w-1 for i = 0, 1, ... (shared by every series length; grown to a
power of two of rows when a longer series comes: 90 KB for the median filter's 11 beats and 1,024 rows)."""


def _runs(rows: int, width: int) -> npt.NDArray[np.intp]:
    """Indices (rows, width): row i is i, i + 1, ..., i + width - 1 (a view of a shared plan)."""
    plan = _RUNS.get(width)
    if plan is None or plan.shape[0] < rows:
        size = 1024
        while size < rows:
            size *= 2
        plan = np.asarray(np.arange(size)[:, None] + np.arange(width)[None, :], dtype=np.intp)
        _RUNS[width] = plan
    return plan[:rows]


def _window_plan(n: int, window_beats: int, stride: int) -> npt.NDArray[np.intp]:
    """Indices (windows, window_beats) of the threshold windows of a series of ``n`` > window_beats."""
    m = -(-n // stride)
    centres = np.minimum(np.arange(m) * stride + stride // 2, n - 1)
    starts = np.minimum(np.maximum(centres - window_beats // 2, 0), n - window_beats)
    return np.asarray(starts[:, None] + np.arange(window_beats)[None, :], dtype=np.intp)


def _median_filter(x: FloatArray, size: int) -> FloatArray:
    """Running median of odd ``size``, edges padded with the end values (scipy's mode="nearest")."""
    h = size // 2
    padded = np.concatenate((np.full(h, x[0]), x, np.full(h, x[-1])))
    wins = np.take(padded, _runs(x.size, size))
    wins.partition(h, axis=1)
    return np.asarray(wins[:, h], dtype=np.float64)


_ECTOPIC = int(BeatClass.ECTOPIC)
_LONG = int(BeatClass.LONG)
_SHORT = int(BeatClass.SHORT)
_MISSED = int(BeatClass.MISSED)
_EXTRA = int(BeatClass.EXTRA)

_EDGE_BEATS = 5
"""The series is mirrored by this many beats at each end before classifying (see :func:`classify`)."""


@dataclass(frozen=True, slots=True)
class Classification:
    """The classes of an in-range series and the corrections they call for (indices into the series).

    Each artifact is one event that owns the intervals it spoiled: an extra beat owns its two pieces
    (``merge_at`` and the interval after it), an ectopic beat its short/long pair (``pair_a``, ``pair_b``
    = ``pair_a + 1``), a missed beat (``split_at``) and a long/short interval (``replace_at``) one each.
    No interval belongs to two events, so no interval is corrected twice.
    """

    classes: npt.NDArray[np.int8]
    median_rr_ms: FloatArray
    pair_a: npt.NDArray[np.intp]
    merge_at: npt.NDArray[np.intp]
    split_at: npt.NDArray[np.intp]
    replace_at: npt.NDArray[np.intp]


def _mirror(rr: FloatArray, k: int) -> FloatArray:
    """``rr`` with ``k`` beats reflected about each end (the end beats themselves not repeated)."""
    return np.concatenate((rr[k:0:-1], rr, rr[-2 : -k - 2 : -1]))


def classify(
    rr_ms: FloatArray,
    *,
    alpha: float = 5.2,
    c1: float = 0.13,
    c2: float = 0.17,
    window_beats: int = 91,
    medfilt_beats: int = 11,
    threshold_stride: int = 8,
    only: npt.NDArray[np.bool_] | None = None,
) -> Classification:
    """Lipponen & Tarvainen classes of an in-range series, its 11-beat median (ms) and the corrections.

    ``only``: the caller keeps only the events that start where this is True (:func:`detect`'s later
    passes); when no flagged beat could start one there, the decision rules are not evaluated at all.

    The decision rules run on the series mirrored by a few beats at each end, so the first and last
    intervals of a window have neighbours on both sides: a missed beat at the very start or end of a
    window reads as a lone long interval and is split like any other (the paper leaves the first dRR
    undefined and the last two beats unclassified).

    The beats are then visited in order, as in the paper's flow chart, and each artifact claims the
    intervals it spoiled: the interval after an extra beat is the second half of the same cut interval,
    so it is merged with the first, never judged (and "corrected") as a short beat of its own; the
    partner of an ectopic beat is averaged with it once.
    """
    rr = rr_ms
    n = rr.size
    none = np.empty(0, dtype=np.intp)
    if n < 5:
        return Classification(np.zeros(n, dtype=np.int8), rr.copy(), none, none, none, none)
    k = min(_EDGE_BEATS, n - 1)
    x = _mirror(rr, k)
    nx = x.size
    drrs = np.empty(nx)
    np.subtract(x[1:], x[:-1], out=drrs[1:])
    drrs[0] = 0.0
    medx = _median_filter(x, medfilt_beats)
    small = nx <= window_beats  # one threshold window covers the series: the thresholds are constants
    if small:
        th1_all = alpha * _quartile_deviation_all(np.abs(drrs))
        d = drrs / th1_all if th1_all > 0 else np.zeros(nx)
    else:
        th1 = alpha * _quartile_deviation(np.abs(drrs), window_beats=window_beats, stride=threshold_stride)
        d = np.divide(drrs, th1, out=np.zeros(nx), where=th1 > 0)
    medrr = medx[k : k + n]
    classes = np.zeros(n, dtype=np.int8)
    big = np.flatnonzero(np.abs(d[k : k + n]) > 1.0) + k
    if big.size == 0 or (only is not None and not _may_start_in(only, big - k)):
        return Classification(classes, medrr, none, none, none, none)  # usually nothing crosses at all
    # The decision rules are only ever read at a flagged beat and the one after it: evaluate them there
    # (same element-wise formulas) and leave every other entry False.
    # (the series is mirrored by k >= 4 beats, so a flagged beat's neighbours up to two after it exist)
    q = np.concatenate((big, big + 1))
    q1, q2 = q + 1, q + 2
    mq = x[q] - medx[q]
    mq[mq < 0] *= 2.0
    mrrs = x - medx
    mrrs[mrrs < 0] *= 2.0
    th2q: FloatArray | float
    if small:
        th2q = alpha * _quartile_deviation_all(np.abs(mrrs))
        m = mq / th2q if th2q > 0 else np.zeros(q.size)
    else:
        th2q = alpha * _quartile_deviation_at(
            np.abs(mrrs), q, window_beats=window_beats, stride=threshold_stride
        )
        m = np.divide(mq, th2q, out=np.zeros(q.size), where=th2q > 0)
    dq = d[q]
    prev, nxt, nxt2 = d[q - 1], d[q1], d[q2]
    s12 = np.where(dq > 0, np.maximum(prev, nxt), np.where(dq < 0, np.minimum(prev, nxt), 0.0))
    s22 = np.where(dq >= 0, np.minimum(nxt, nxt2), np.maximum(nxt, nxt2))
    xq, medq = x[q], medx[q]
    ectopic, eq3, eq4, eq5, eq6, eq7 = (np.zeros(nx, dtype=np.bool_) for _ in range(6))
    ectopic[q] = ((dq > 1) & (s12 < -c1 * dq - c2)) | ((dq < -1) & (s12 > -c1 * dq + c2))
    eq3[q] = (dq > 1) & (s22 < -1)
    eq4[q] = np.abs(m) > 3
    eq5[q] = (dq < -1) & (s22 > 1)
    half = xq / 2.0 - medq  # a missed beat's halves, judged like mRRs: the short side counts double
    half[half < 0] *= 2.0
    eq6[q] = np.abs(half) < th2q
    eq7[q] = np.abs(xq + x[q1] - medq) < th2q
    taken = np.zeros(n + 1, dtype=np.bool_)  # real indices; one spare for "the interval after the last"
    pairs: list[int] = []
    merges: list[int] = []
    splits: list[int] = []
    replaces: list[int] = []
    for i in big.tolist():
        j = i - k
        if taken[j]:
            continue
        if ectopic[i]:
            a = _ectopic_pair(rr, medrr, j)
            if a < 0 or taken[a] or taken[a + 1]:
                classes[j] = _ECTOPIC
                taken[j] = True
                replaces.append(j)
                continue
            classes[a : a + 2] = _ECTOPIC
            taken[a : a + 2] = True
            pairs.append(a)
            continue
        cands = [i]
        if i + 2 < nx and abs(d[i + 1]) < abs(d[i + 2]) and i + 1 < k + n:
            cands.append(i + 1)
        for c in cands:
            jc = c - k
            if taken[jc] or not (eq3[c] or eq4[c] or eq5[c]):
                continue
            taken[jc] = True
            if eq5[c] and eq7[c] and jc + 1 < n and not taken[jc + 1]:
                classes[jc : jc + 2] = _EXTRA
                taken[jc + 1] = True
                merges.append(jc)
            elif eq3[c] and eq6[c]:
                classes[jc] = _MISSED
                splits.append(jc)
            else:
                classes[jc] = _LONG if rr[jc] > medrr[jc] else _SHORT
                replaces.append(jc)

    def arr(xs: list[int]) -> npt.NDArray[np.intp]:
        return np.asarray(sorted(xs), dtype=np.intp) if xs else none

    return Classification(classes, medrr, arr(pairs), arr(merges), arr(splits), arr(replaces))


def _may_start_in(only: npt.NDArray[np.bool_], flagged: npt.NDArray[np.intp]) -> bool:
    """Whether an event of a flagged beat j, which starts at j - 1, j or j + 1, can start where ``only``."""
    pad = np.concatenate(([False], only, [False]))
    return bool((pad[flagged] | pad[flagged + 1] | pad[flagged + 2]).any())


def _ectopic_pair(rr: FloatArray, medrr: FloatArray, j: int) -> int:
    """The first index of the short/long pair around ectopic beat ``j``: (j-1, j) or (j, j+1), whichever
    sums closest to two local medians; -1 when ``j`` has no neighbour."""
    n = rr.size
    err_prev = abs(rr[j - 1] + rr[j] - 2.0 * medrr[j]) if j >= 1 else math.inf
    err_next = abs(rr[j] + rr[j + 1] - 2.0 * medrr[j]) if j + 1 < n else math.inf
    if math.isinf(min(err_prev, err_next)):
        return -1
    return j - 1 if err_prev <= err_next else j


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


def detect(
    rr_ms: RRInput,
    *,
    min_rr_ms: float = 300.0,
    max_rr_ms: float = 2000.0,
    alpha: float = 5.2,
    window_beats: int = 91,
    threshold_stride: int = 8,
    max_passes: int = 4,
    dense_events: int = 4,
) -> ArtifactResult:
    """Classify every beat and return the corrected series (impossible beats removed, others corrected).

    Impossible intervals are never interpolated: one longer than ``max_rr_ms`` is a dropout and is removed
    before classifying; one shorter than ``min_rr_ms`` is classified with the rest, because it is usually
    one piece of an interval cut by a spurious R peak, and is then either merged back (EXTRA) or removed
    (OUT_OF_RANGE).

    Dense artifacts widen the thresholds they are judged by (the quartile deviations include them), so
    some hide behind others: five missed beats in 30 beats can leave two unflagged. Where the first pass
    found at least ``dense_events`` artifacts within one threshold window (``window_beats``), the
    classification runs again on the corrected series, up to ``max_passes`` times while each pass finds
    fewer than the one before (NeuroKit2's iterative kubios method repeats everywhere); its findings are
    kept only in those dense stretches and never next to an interval already corrected, because
    elsewhere a second pass only digs into the normal variability around earlier corrections. A beat
    keeps the class of the first pass that flagged it.
    """
    rr = as_rr_array(rr_ms)
    long_gap = rr > max_rr_ms
    gapped = bool(long_gap.any())
    if gapped:
        kept = np.flatnonzero(~long_gap)
        x = rr[kept]
    else:  # the usual case: nothing to remove first
        x = rr.copy()
    run = functools.partial(
        classify, alpha=alpha, window_beats=window_beats, threshold_stride=threshold_stride
    )
    possible = functools.partial(_possible, min_rr_ms=min_rr_ms, max_rr_ms=max_rr_ms)
    c = possible(run(x), x)
    inner = c.classes.copy()
    corrected = x
    if inner.any():
        origin = np.arange(x.size, dtype=np.intp)
        corrected, origin = _correct(x, c, origin)
        dense = _dense(_event_starts(c), x.size, window_beats=window_beats, min_events=dense_events)
        n_prev = _n_events(c)
        for _ in range(max_passes - 1):
            if not dense.any():
                break
            touched = inner != 0
            near = touched.copy()
            near[:-1] |= touched[1:]
            near[1:] |= touched[:-1]
            allowed = dense[origin] & ~near[origin]
            c = possible(_keep(run(corrected, only=allowed), allowed), corrected)
            n = _n_events(c)
            if n == 0 or n >= n_prev:
                break
            hit = np.flatnonzero(c.classes)
            inner[origin[hit]] = c.classes[hit]
            corrected, origin = _correct(corrected, c, origin)
            n_prev = n
    else:
        origin = None  # no correction: the corrected series is the input's in-range part, index for index
    bad = range_gate(corrected, min_rr_ms=min_rr_ms, max_rr_ms=max_rr_ms)
    if bad.any():
        inner[bad if origin is None else origin[bad]] = BeatClass.OUT_OF_RANGE
        corrected = corrected[~bad]
    if not gapped:
        return ArtifactResult(classes=inner, corrected_rr_ms=corrected)
    classes = np.zeros(rr.size, dtype=np.int8)
    classes[long_gap] = BeatClass.OUT_OF_RANGE
    classes[kept] = inner
    return ArtifactResult(classes=classes, corrected_rr_ms=corrected)
