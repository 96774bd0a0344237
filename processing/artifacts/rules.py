"""Lipponen & Tarvainen's decision rules: each beat of an in-range series classified, with the corrections.

Lipponen JA, Tarvainen MP. A robust algorithm for heart rate variability time series artefact correction
using novel beat classification. J Med Eng Technol 2019;43(3):173-81 (the method of Kubios HRV).

dRRs (successive differences) and mRRs (deviation from an 11-beat median, negative side doubled) are
normalised by the time-varying thresholds of :mod:`processing.artifacts.thresholds`, made from the
series itself (its n - 1 dRRs and n mRRs; never from the mirrored beats below). Each beat is then
classified on the subspaces (dRR, S12) and (dRR, S22): ectopic, long, short, missed or extra (constants
c1 = 0.13, c2 = 0.17). The missed-beat test ``|RR/2 - medRR| < th2`` measures the halves' deviation the
way th2 was made, from mRRs with the negative side doubled: otherwise, in a series as variable as NSRDB's,
a lone interval 25-50 % long passes as a missed beat and is split into two short ones (RMSSD after 2 % such
intervals, seeds 0-5: 5.2 % off with the literal test, 2.1 % with this one; BENCHMARKS.md). Each artifact
claims the intervals it spoiled (both pieces of an extra beat, both intervals of an ectopic pair), so the
neighbour of a merged or averaged beat is never judged and corrected a second time on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from processing.artifacts.classes import BeatClass
from processing.artifacts.thresholds import median_filter, quartile_deviation, quartile_deviation_at

FloatArray = npt.NDArray[np.float64]

_ECTOPIC = int(BeatClass.ECTOPIC)
_LONG = int(BeatClass.LONG)
_SHORT = int(BeatClass.SHORT)
_MISSED = int(BeatClass.MISSED)
_EXTRA = int(BeatClass.EXTRA)

_EDGE_BEATS = 5
"""The series is mirrored by this many beats at each end before classifying (see :func:`classify`)."""
C1 = 0.13
C2 = 0.17
"""The decision rules' constants c1 and c2 (the paper's; :func:`classify`'s defaults)."""
MEDFILT_BEATS = 11
"""The running median's width (beats) the mRRs are measured from."""


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
    c1: float = C1,
    c2: float = C2,
    window_beats: int = 91,
    medfilt_beats: int = MEDFILT_BEATS,
    only: npt.NDArray[np.bool_] | None = None,
    window_threshold: float | None = None,
) -> Classification:
    """Lipponen & Tarvainen classes of an in-range series, its 11-beat median (ms) and the corrections.

    ``only``: the caller keeps only the events that start where this is True (:func:`detect`'s later
    passes); when no flagged beat could start one there, the decision rules are not evaluated at all.
    ``window_threshold``: for a series whose dRRs fit in one threshold window, its one threshold (alpha
    times the quartile deviation of abs(dRR)) when the caller has it already (:func:`detect`).

    The decision rules run on the series mirrored by a few beats at each end, so the first and last
    intervals of a window have neighbours on both sides: a missed beat at the very start or end of a
    window reads as a lone long interval and is split like any other (the paper leaves the first dRR
    undefined and the last two beats unclassified). Because a mirrored neighbour turns any step at an end
    beat into a step and a return, an end beat is an artifact only if its mRR also exceeds 3 (eq. 4): on
    NSRDB's first interval (664 ms before 781, 828, 875) the mirror alone made a false SHORT.

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
    medx = median_filter(x, medfilt_beats)
    half_beats = window_beats // 2
    # thresholds from the series' own n - 1 dRRs (beat j's is drrs[k + j]); beat 0, which has none of its
    # own, and the mirrored beats take those of the beats they mirror
    if window_threshold is None:
        th = alpha * quartile_deviation(np.abs(drrs[k + 1 : k + n]), half_beats=half_beats)
        th1 = _mirror(np.concatenate((th[:1], th)), k)
        d = np.divide(drrs, th1, out=np.zeros(nx), where=th1 > 0)
    else:  # every beat's threshold, the mirrored ones' too
        d = drrs / window_threshold if window_threshold > 0 else np.zeros(nx)
    medrr = medx[k : k + n]
    classes = np.zeros(n, dtype=np.int8)
    big = np.flatnonzero(np.abs(d[k : k + n]) > 1.0) + k
    if big.size == 0 or (only is not None and not _may_start_in(only, big - k)):
        return Classification(classes, medrr, none, none, none, none)  # usually nothing crosses at all
    # The decision rules are only ever read at a flagged beat and the one after it: th2 is evaluated for
    # those beats at once, the rules one beat at a time (there are few; numpy calls on a handful of
    # elements would cost more than the arithmetic). The series is mirrored by k >= 4 beats, so a flagged
    # beat's neighbours up to two after it exist.
    q = np.concatenate((big, big + 1))
    mrrs = rr - medrr
    mrrs[mrrs < 0] *= 2.0
    real = q - k  # q's beats in the series (the one after the last is the mirror of the one before it)
    real[real >= n] = 2 * (n - 1) - real[real >= n]
    th2q = alpha * quartile_deviation_at(np.abs(mrrs), real, half_beats=half_beats)
    th2 = dict(zip(q.tolist(), th2q.tolist(), strict=True))
    dl, xl, ml = d.tolist(), x.tolist(), medx.tolist()

    def m_of(c: int) -> float:
        """The mRR of x[c] normalised by th2 (eq. 4 flags |mRR| > 3)."""
        dev = xl[c] - ml[c]
        return (2.0 * dev if dev < 0 else dev) / th2[c] if th2[c] > 0 else 0.0

    # At the first and the last beat the dRR tests compare the beat with a mirrored copy of its
    # neighbour, so a step there always looks like a step and a return: an end beat is an artifact only
    # if it is also far from the local median (eq. 4), the test no mirrored beat answers.
    ends = (k, k + n - 1)
    taken = [False] * (n + 1)  # real indices; one spare for "the interval after the last"
    pairs: list[int] = []
    merges: list[int] = []
    splits: list[int] = []
    replaces: list[int] = []
    for i in big.tolist():
        j = i - k
        if taken[j] or (i in ends and not abs(m_of(i)) > 3):
            continue
        di, prev, nxt = dl[i], dl[i - 1], dl[i + 1]
        s12 = max(prev, nxt) if di > 0 else min(prev, nxt) if di < 0 else 0.0
        if (di > 1 and s12 < -c1 * di - c2) or (di < -1 and s12 > -c1 * di + c2):  # ectopic
            a = _ectopic_pair(rr, medrr, j)
            if a < 0 or taken[a] or taken[a + 1]:
                classes[j] = _ECTOPIC
                taken[j] = True
                replaces.append(j)
                continue
            classes[a : a + 2] = _ECTOPIC
            taken[a] = taken[a + 1] = True
            pairs.append(a)
            continue
        cands = [i]
        if i + 2 < nx and abs(dl[i + 1]) < abs(dl[i + 2]) and i + 1 < k + n:
            cands.append(i + 1)
        for c in cands:
            jc = c - k
            mc = m_of(c)
            if taken[jc] or (c in ends and not abs(mc) > 3):
                continue
            dc, n1, n2 = dl[c], dl[c + 1], dl[c + 2]
            s22 = min(n1, n2) if dc >= 0 else max(n1, n2)
            th2c = th2[c]
            long_ = dc > 1 and s22 < -1  # eq. 3
            short = dc < -1 and s22 > 1  # eq. 5
            if not (long_ or short or abs(mc) > 3):  # eq. 4: far from the local median
                continue
            taken[jc] = True
            halves = xl[c] / 2.0 - ml[c]  # a missed beat's halves, judged like mRRs: short side counts double
            missed = abs(2.0 * halves if halves < 0 else halves) < th2c  # eq. 6
            extra = abs(xl[c] + xl[c + 1] - ml[c]) < th2c  # eq. 7
            if short and extra and jc + 1 < n and not taken[jc + 1]:
                classes[jc : jc + 2] = _EXTRA
                taken[jc + 1] = True
                merges.append(jc)
            elif long_ and missed:
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
