"""Artifact detection and correction for RR series: a range gate, then Lipponen & Tarvainen (2019).

Lipponen JA, Tarvainen MP. A robust algorithm for heart rate variability time series artefact correction
using novel beat classification. J Med Eng Technol 2019;43(3):173-81 (the method of Kubios HRV).

1. Range gate: intervals outside ``min_rr_ms``..``max_rr_ms`` (300-2000 ms) are impossible for a resting or
   exercising adult; they are never interpolated. A long one is a dropout (a gap) and is removed at once;
   a short one is usually a piece of an interval cut by a spurious R peak, so it is classified with the
   rest and either merged back with its partner (EXTRA) or removed.
2. Thresholds (:mod:`.thresholds`): ``alpha`` (5.2) times the quartile deviation of the absolute dRRs
   and mRRs over a centred window of ``window_beats`` (91) beats, which shrinks at the series' ends as a
   centred rolling quartile does; one window per beat.
3. Decision rules (:mod:`.rules`): ectopic, long, short, missed or extra, on the series mirrored by a few
   beats at each end, so the first and last beats of a window are judged too (an end beat must also be
   far from the local median, because its dRR tests see a mirrored copy of its neighbour).
4. Correction (:mod:`.correction`): an ectopic pair becomes two equal intervals, a missed beat is split,
   an extra beat merged, a lone long or short interval set to the local median.
5. Where artifacts are dense they widen their own thresholds; there the classification is repeated on the
   corrected series (:func:`detect`).

Validated on three real recordings with injected artifacts, side by side with NeuroKit2 (BENCHMARKS.md,
tests/processing/test_artifacts_injected.py). Vectorised with numpy; only flagged beats are visited. When the package
was built with a C compiler, :func:`detect` runs as one compiled call (``_detect.c``: the same steps, in the same
order, with the same floating-point operations; ``tests/processing/test_artifacts_kernels.py`` checks that classes
and corrected series are identical bit for bit), and this Python code is its reference.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from processing.artifacts import thresholds
from processing.artifacts.classes import ArtifactResult, BeatClass
from processing.artifacts.correction import _correct, _dense, _event_starts, _keep, _n_events, _possible
from processing.artifacts.rules import C1, C2, MEDFILT_BEATS, Classification, classify
from processing.artifacts.thresholds import whole_quartile_deviation_and_max
from processing.hrv import RRInput, as_rr_array

FloatArray = npt.NDArray[np.float64]

__all__ = ["ArtifactResult", "BeatClass", "Classification", "classify", "detect", "range_gate"]


def range_gate(
    rr_ms: FloatArray, *, min_rr_ms: float = 300.0, max_rr_ms: float = 2000.0
) -> npt.NDArray[np.bool_]:
    """True where an RR interval is physiologically impossible."""
    return np.asarray((rr_ms < min_rr_ms) | (rr_ms > max_rr_ms), dtype=np.bool_)


def detect(
    rr_ms: RRInput,
    *,
    min_rr_ms: float = 300.0,
    max_rr_ms: float = 2000.0,
    alpha: float = 5.2,
    window_beats: int = 91,
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
    compiled = getattr(thresholds.KERNELS, "detect", None)
    if compiled is not None:  # the same steps compiled (_detect.c): the same numbers, bit for bit
        classes = np.empty(rr.size, dtype=np.int8)
        out = np.empty(2 * rr.size + 1)
        size = compiled(
            rr,
            classes,
            out,
            min_rr_ms,
            max_rr_ms,
            alpha,
            C1,
            C2,
            window_beats,
            MEDFILT_BEATS,
            max_passes,
            dense_events,
        )
        return ArtifactResult(classes=classes, corrected_rr_ms=out[:size])
    one = _one_window(rr, min_rr_ms, max_rr_ms, alpha, window_beats)
    if one is not None and (one[0] == 0.0 or one[1] / one[0] <= 1.0):  # nothing can be flagged
        return ArtifactResult(classes=np.zeros(rr.size, dtype=np.int8), corrected_rr_ms=rr.copy())
    long_gap = rr > max_rr_ms
    gapped = bool(long_gap.any())
    if gapped:
        kept = np.flatnonzero(~long_gap)
        x = rr[kept]
    else:  # the usual case: nothing to remove first
        x = rr.copy()
    run = functools.partial(classify, alpha=alpha, window_beats=window_beats)
    possible = functools.partial(_possible, min_rr_ms=min_rr_ms, max_rr_ms=max_rr_ms)
    c = possible(run(x, window_threshold=None if one is None else one[0]), x)
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


def _one_window(
    rr: FloatArray, min_rr_ms: float, max_rr_ms: float, alpha: float, window_beats: int
) -> tuple[float, float] | None:
    """For a series of at least 5 intervals, all in range, whose dRRs fit in one threshold window (the
    60 s window): its threshold th (alpha times the quartile deviation of abs(dRR), the same for every
    beat: :func:`.thresholds.quartile_deviation`) and max abs(dRR); None for any other series.

    With these, :func:`detect` flags nothing when th == 0 or max abs(dRR) / th <= 1: the dRRs the rules
    test at the series' beats are the series' own (the first beat's, against its mirrored neighbour, is
    -dRR[1]), :func:`.rules.classify` flags a beat only where abs(dRR) / th > 1 (th == 0 leaves every
    normalised dRR 0), and correctly rounded division is monotonic, so that holds for some dRR exactly
    when it holds for the largest. With nothing flagged and nothing out of range, detect returns a copy
    of the input.
    """
    n = rr.size
    if n < 5 or n - 1 > 2 * (window_beats // 2) + 1:
        return None
    if float(rr.min()) < min_rr_ms or float(rr.max()) > max_rr_ms:
        return None
    qd, top = whole_quartile_deviation_and_max(np.abs(np.subtract(rr[1:], rr[:-1])))
    return alpha * qd, top
