"""Artifact detection and correction for RR series: a range gate, then Lipponen & Tarvainen (2019).

Lipponen JA, Tarvainen MP. A robust algorithm for heart rate variability time series artefact correction
using novel beat classification. J Med Eng Technol 2019;43(3):173-81 (the method of Kubios HRV).

1. Range gate: intervals outside ``min_rr_ms``..``max_rr_ms`` (300-2000 ms) are impossible for a resting or
   exercising adult; they are removed, never interpolated (a long one is a dropout, i.e. a gap).
2. dRRs (successive differences) and mRRs (deviation from an 11-beat median, negative side doubled) are
   normalised by time-varying thresholds, ``alpha`` (5.2) times the quartile deviation of their absolute
   values over ``window_beats`` (91) beats; the thresholds are evaluated every ``threshold_stride`` beats
   (a piecewise-constant approximation of the paper's per-beat rolling quartiles, for speed).
3. Each beat is classified with the paper's decision rules on the subspaces (dRR, S12) and (dRR, S22):
   ectopic, long, short, missed or extra (constants c1 = 0.13, c2 = 0.17).
4. Correction keeps the beat times honest: an ectopic beat is moved to the midpoint of its neighbours
   (the short/long pair becomes two equal intervals), a missed beat is split in two, an extra beat is
   merged with its successor, and a lone long or short interval is replaced by the local median.

Vectorised with numpy (no per-beat Python loop; only the few flagged beats are visited).
"""

from __future__ import annotations

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


def _quartiles(xs: FloatArray) -> tuple[float, float]:
    """Linear-interpolated first and third quartiles of a sorted series (numpy's default method)."""
    k = xs.size - 1
    out: list[float] = []
    for q in (0.25, 0.75):
        pos = q * k
        i = int(pos)
        f = pos - i
        out.append(float(xs[i] + f * (xs[min(i + 1, k)] - xs[i])))
    return out[0], out[1]


def _quartile_deviations(x: FloatArray, *, window_beats: int, stride: int) -> FloatArray:
    """(Q3 - Q1) / 2 of each row of ``x`` (rows, n) over a centred window of ``window_beats``.

    Evaluated every ``stride`` beats and held in between; one sort for all rows and windows.
    """
    rows, n = x.shape
    if n <= window_beats:
        xs = np.sort(x, axis=1)
        out = np.empty((rows, n))
        for r in range(rows):
            lo, hi = _quartiles(xs[r])
            out[r] = (hi - lo) / 2.0
        return out
    m = -(-n // stride)
    centres = np.minimum(np.arange(m) * stride + stride // 2, n - 1)
    starts = np.minimum(np.maximum(centres - window_beats // 2, 0), n - window_beats)
    idx = starts[:, None] + np.arange(window_beats)[None, :]
    wins = np.sort(x[:, idx], axis=2)
    # linear-interpolated quartiles of each sorted window (numpy's default method)
    pos1, pos3 = 0.25 * (window_beats - 1), 0.75 * (window_beats - 1)
    i1, i3 = int(pos1), int(pos3)
    f1, f3 = pos1 - i1, pos3 - i3
    q1 = wins[:, :, i1] + f1 * (wins[:, :, min(i1 + 1, window_beats - 1)] - wins[:, :, i1])
    q3 = wins[:, :, i3] + f3 * (wins[:, :, min(i3 + 1, window_beats - 1)] - wins[:, :, i3])
    return np.asarray(np.repeat((q3 - q1) / 2.0, stride, axis=1)[:, :n], dtype=np.float64)


def _median_filter(x: FloatArray, size: int) -> FloatArray:
    """Running median of odd ``size``, edges padded with the end values (scipy's mode="nearest")."""
    h = size // 2
    padded = np.concatenate((np.full(h, x[0]), x, np.full(h, x[-1])))
    idx = np.arange(x.size)[:, None] + np.arange(size)[None, :]
    return np.asarray(np.partition(padded[idx], h, axis=1)[:, h], dtype=np.float64)


_ECTOPIC = int(BeatClass.ECTOPIC)
_LONG = int(BeatClass.LONG)
_SHORT = int(BeatClass.SHORT)
_MISSED = int(BeatClass.MISSED)
_EXTRA = int(BeatClass.EXTRA)


def classify(
    rr_ms: FloatArray,
    *,
    alpha: float = 5.2,
    c1: float = 0.13,
    c2: float = 0.17,
    window_beats: int = 91,
    medfilt_beats: int = 11,
    threshold_stride: int = 8,
) -> tuple[npt.NDArray[np.int8], FloatArray]:
    """Lipponen & Tarvainen classes of an in-range series, and its 11-beat median (ms)."""
    rr = rr_ms
    n = rr.size
    classes = np.zeros(n, dtype=np.int8)
    if n < 5:
        return classes, rr.copy()
    drrs = np.empty(n)
    drrs[1:] = np.diff(rr)
    drrs[0] = float(drrs[1:].sum()) / (n - 1)
    medrr = _median_filter(rr, medfilt_beats)
    mrrs = rr - medrr
    mrrs[mrrs < 0] *= 2.0
    qd = _quartile_deviations(
        np.abs(np.vstack((drrs, mrrs))), window_beats=window_beats, stride=threshold_stride
    )
    th1 = alpha * qd[0]
    th2 = alpha * qd[1]
    d = np.divide(drrs, th1, out=np.zeros(n), where=th1 > 0)
    m = np.divide(mrrs, th2, out=np.zeros(n), where=th2 > 0)
    big = np.abs(d) > 1.0
    big[n - 2 :] = False
    if not big.any():  # the usual case: nothing crosses the first threshold
        return classes, medrr
    dp = np.concatenate((d[2:0:-1], d, d[-2:-4:-1]))  # reflect-pad by two
    prev, nxt, nxt2 = dp[1:-3], dp[3:-1], dp[4:]
    s12 = np.where(d > 0, np.maximum(prev, nxt), np.where(d < 0, np.minimum(prev, nxt), 0.0))
    s22 = np.where(d >= 0, np.minimum(nxt, nxt2), np.maximum(nxt, nxt2))
    ectopic = big & (((d > 1) & (s12 < -c1 * d - c2)) | ((d < -1) & (s12 > -c1 * d + c2)))
    cand = big & ~ectopic
    follow = np.zeros(n, dtype=np.bool_)
    follow[1 : n - 1] = cand[: n - 2] & (np.abs(d[1 : n - 1]) < np.abs(d[2:n]))
    cand |= follow
    cand[n - 1] = False
    eq3 = (d > 1) & (s22 < -1)
    eq4 = np.abs(m) > 3
    eq5 = (d < -1) & (s22 > 1)
    nxt_rr = np.append(rr[1:], rr[-1])
    eq6 = np.abs(rr / 2.0 - medrr) < th2
    eq7 = np.abs(rr + nxt_rr - medrr) < th2
    abnormal = cand & (eq3 | eq4 | eq5)
    extra = abnormal & eq5 & eq7
    missed = abnormal & ~extra & eq3 & eq6
    longshort = abnormal & ~extra & ~missed
    classes[longshort & (rr > medrr)] = _LONG
    classes[longshort & (rr <= medrr)] = _SHORT
    classes[missed] = _MISSED
    classes[extra] = _EXTRA
    classes[ectopic] = _ECTOPIC
    return classes, medrr


def _correct(rr: FloatArray, classes: npt.NDArray[np.int8], medrr: FloatArray) -> FloatArray:
    """Apply the corrections of the module docstring (vectorised over the flagged beats)."""
    out = rr.copy()
    n = rr.size
    ls = np.flatnonzero((classes == _LONG) | (classes == _SHORT))
    out[ls] = medrr[ls]
    ect = np.flatnonzero(classes == _ECTOPIC)
    if ect.size:
        # the short/long pair around j, (j-1, j) or (j, j+1): the one whose sum is closest to 2 medians
        prev_ok = ect >= 1
        next_ok = ect + 1 < n
        jm = np.maximum(ect - 1, 0)
        jp = np.minimum(ect + 1, n - 1)
        err_prev = np.where(prev_ok, np.abs(rr[jm] + rr[ect] - 2.0 * medrr[ect]), np.inf)
        err_next = np.where(next_ok, np.abs(rr[ect] + rr[jp] - 2.0 * medrr[ect]), np.inf)
        a = np.where(err_prev <= err_next, jm, ect)
        b = np.where(err_prev <= err_next, ect, jp)
        ok = np.isfinite(np.minimum(err_prev, err_next))
        mean = 0.5 * (rr[a] + rr[b])
        out[a[ok]] = mean[ok]
        out[b[ok]] = mean[ok]
        out[ect[~ok]] = medrr[ect[~ok]]
    merge = np.flatnonzero(classes == _EXTRA)
    merge = merge[merge + 1 < n]
    split = np.flatnonzero(classes == _MISSED)
    if merge.size:
        out[merge] = out[merge] + out[merge + 1]
        out = np.delete(out, merge + 1)
        split = split - np.searchsorted(merge, split)  # later indices shift left by earlier merges
    if split.size:
        out[split] = out[split] / 2.0
        out = np.insert(out, split, out[split])
    return out


def detect(
    rr_ms: RRInput,
    *,
    min_rr_ms: float = 300.0,
    max_rr_ms: float = 2000.0,
    alpha: float = 5.2,
    window_beats: int = 91,
    threshold_stride: int = 8,
) -> ArtifactResult:
    """Classify every beat and return the corrected series (range-gated beats removed, others corrected)."""
    rr = as_rr_array(rr_ms)
    gated = range_gate(rr, min_rr_ms=min_rr_ms, max_rr_ms=max_rr_ms)
    classes = np.zeros(rr.size, dtype=np.int8)
    classes[gated] = BeatClass.OUT_OF_RANGE
    ok = rr[~gated]
    inner, medrr = classify(ok, alpha=alpha, window_beats=window_beats, threshold_stride=threshold_stride)
    classes[~gated] = inner
    corrected = _correct(ok, inner, medrr) if np.any(inner) else ok
    return ArtifactResult(classes=classes, corrected_rr_ms=corrected)
