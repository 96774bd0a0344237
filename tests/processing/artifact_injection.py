"""Artifacts injected into real RR recordings, and how a corrector is scored on them.

Shared by ``tests/processing/test_artifacts_injected.py`` (the targets, asserted) and
``benchmarks/artifacts.py`` (the full table in BENCHMARKS.md), so both measure the same thing.

Injection (one event spoils one or two intervals; events at least ``_GAP`` beats apart and from any beat
a corrector flags in the recording itself):

* ``ectopic`` — a premature beat at 60-80 % of the interval with a full compensatory pause;
* ``missed`` — an R peak lost: two intervals become one;
* ``extra`` — a spurious peak cuts an interval in two at 25-75 %;
* ``longshort`` — one interval 25-50 % longer or shorter, nothing compensating (part of an interval lost
  or added: a late or early detection the next beat does not make up for);
* ``mix`` — each event one of the four, at random.

Scoring, per corrector: a *flag* is an interval the corrector classes as not normal; consecutive flags
form one *detection*. Sensitivity is the share of injected events with a flag on their intervals or an
immediate neighbour; precision the share of detections, other than those the corrector also makes on the
recording without injection, that touch an injected event. RMSSD error is |RMSSD(corrected injected) /
RMSSD(corrected recording) - 1| in percent: the same corrector runs on the recording with and without the
injection, so the error is the injection's alone. What a corrector does to the recording itself (its
false flags and the RMSSD change they cause) is reported apart: :func:`clean`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from processing import artifacts

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
KINDS = ("ectopic", "missed", "extra", "longshort", "mix")
_GAP = 6
LONGSHORT_RANGE = (0.25, 0.5)
"""How far off (share of the interval) an injected long/short interval is."""


def recordings() -> dict[str, FloatArray]:
    """The real recordings (tests/fixtures/README.md): pyhrv's NSRDB NN series, systole's ECG-derived RR
    and systole's ``rr.txt``.

    The systole ECG series is cut before its first irregular stretch (interval 1875 of 1936: a 1041 ms
    beat, then at 1913 a 332 + 478 ms pair, an extra R-peak detection), so all of it is usable as a base.
    """
    peaks = np.load(FIXTURES / "systole_task1_rpeaks_ms.npy").astype(np.float64)
    return {
        "pyhrv NSRDB (60 min)": np.load(FIXTURES / "SampleNNISeriesLong.npy").astype(np.float64),
        "systole ECG (25 min)": np.diff(peaks)[:1870],
        "systole rr.txt (3.6 min)": np.loadtxt(
            FIXTURES / "systole_rr.txt", delimiter=",", skiprows=1, usecols=1, dtype=np.float64
        ),
    }


SEEDS: dict[str, tuple[int, ...]] = {
    "pyhrv NSRDB (60 min)": (0, 1, 2, 3),
    "systole ECG (25 min)": (0, 1, 2, 3),
    "systole rr.txt (3.6 min)": tuple(range(20)),
}
"""Injection seeds per recording for the tests: at 2 % the short rr.txt gets 5 events per seed, so 20."""


@dataclass(frozen=True, slots=True)
class Injected:
    rr_ms: FloatArray
    events: tuple[tuple[int, ...], ...]
    """Per injected event, the indices (in ``rr_ms``) of the intervals it spoiled."""
    source: IntArray
    """Per interval of ``rr_ms``, the index of the recording's interval it was made from."""


def inject(rr: FloatArray, kind: str, rate: float, seed: int, *, avoid: IntArray | None = None) -> Injected:
    """``rate`` × len(rr) events of ``kind`` at random places of ``rr`` (none within _GAP beats of ``avoid``)."""
    rng = np.random.default_rng(seed)
    n = rr.size
    allowed = np.ones(n, dtype=np.bool_)
    allowed[: 2 * _GAP] = allowed[n - 2 * _GAP :] = False
    for i in avoid if avoid is not None else ():
        allowed[max(0, i - _GAP) : i + _GAP + 1] = False
    slots = np.flatnonzero(allowed)
    slots = slots[(slots - slots[0]) % _GAP == 0] if slots.size else slots
    count = min(round(rate * n), slots.size)
    where = set(np.sort(rng.choice(slots, count, replace=False)).tolist())
    out: list[float] = []
    events: list[tuple[int, ...]] = []
    src: list[int] = []
    i = 0
    while i < n:
        src.extend([i] * (len(out) - len(src)))
        if i not in where:
            out.append(float(rr[i]))
            i += 1
            continue
        k = kind if kind != "mix" else KINDS[int(rng.integers(0, 4))]
        j = len(out)
        if k == "ectopic":
            p = rng.uniform(0.6, 0.8)
            out += [p * rr[i], rr[i + 1] + (1.0 - p) * rr[i]]
            events.append((j, j + 1))
            i += 2
        elif k == "missed":
            out.append(float(rr[i] + rr[i + 1]))
            events.append((j,))
            i += 2
        elif k == "extra":
            f = rng.uniform(0.25, 0.75)
            out += [f * rr[i], (1.0 - f) * rr[i]]
            events.append((j, j + 1))
            i += 1
        else:
            s = rng.choice([-1.0, 1.0]) * rng.uniform(*LONGSHORT_RANGE)
            out.append(float(rr[i] * (1.0 + s)))
            events.append((j,))
            i += 1
    src.extend([n - 1] * (len(out) - len(src)))
    return Injected(np.asarray(out), tuple(events), np.asarray(src, dtype=np.intp))


@dataclass(frozen=True, slots=True)
class Corrected:
    flags: IntArray
    """Indices of the input intervals the corrector classed as not normal."""
    rr_ms: FloatArray


def calmstrap(rr: FloatArray) -> Corrected:
    res = artifacts.detect(rr)
    return Corrected(np.flatnonzero(res.classes), res.corrected_rr_ms)


def neurokit2(rr: FloatArray) -> Corrected:
    """NeuroKit2's ``signal_fixpeaks(method="kubios")`` (iterative, its default) on the beat times in ms.

    The flags are those of its first pass over the input (``signal_fixpeaks`` returns the index lists of
    its last iteration, which refer to already corrected peaks); the corrected series is its final one.
    Its index lists name R peaks; peak p ends interval p - 1 of ``rr`` (peak 0 is the start).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import neurokit2 as nk
        from neurokit2.signal.signal_fixpeaks import _find_artifacts

        peaks = np.concatenate([[0.0], np.cumsum(rr)]).round().astype(np.int64)
        info, _ = _find_artifacts(peaks, sampling_rate=1000)
        _, clean = nk.signal_fixpeaks(peaks, sampling_rate=1000, iterative=True, method="kubios")
    flagged = sorted({int(p) - 1 for key in ("ectopic", "missed", "extra", "longshort") for p in info[key]})
    flags = np.asarray([f for f in flagged if 0 <= f < rr.size], dtype=np.intp)
    return Corrected(flags, np.diff(np.asarray(clean, dtype=np.float64)))


CORRECTORS: dict[str, Callable[[FloatArray], Corrected]] = {"calmstrap": calmstrap, "NeuroKit2": neurokit2}


def detections(flags: IntArray) -> list[tuple[int, int]]:
    """Runs of consecutive flagged intervals as (first, last)."""
    out: list[tuple[int, int]] = []
    for f in flags.tolist():
        if out and f == out[-1][1] + 1:
            out[-1] = (out[-1][0], f)
        else:
            out.append((f, f))
    return out


def rmssd(rr: FloatArray) -> float:
    d = np.diff(rr)
    return math.sqrt(float(np.dot(d, d)) / d.size)


@dataclass(frozen=True, slots=True)
class Score:
    sensitivity: float
    precision: float
    rmssd_error_pct: float
    n_events: int


def score(base: FloatArray, inj: Injected, corrector: Callable[[FloatArray], Corrected]) -> Score:
    """Sensitivity, precision and RMSSD error of ``corrector`` on one injected copy of ``base``."""
    got = corrector(inj.rr_ms)
    flagged = np.zeros(inj.rr_ms.size + 2, dtype=np.bool_)
    flagged[got.flags] = True
    hit = [bool(flagged[max(0, e[0] - 1) : e[-1] + 2].any()) for e in inj.events]
    near = np.zeros(inj.rr_ms.size + 2, dtype=np.bool_)
    for e in inj.events:
        near[max(0, e[0] - 1) : e[-1] + 2] = True
    native, ref_rmssd = _native(base, corrector)
    new = [(a, b) for a, b in detections(got.flags) if not native[inj.source[a : b + 1]].any()]
    true = [near[a : b + 1].any() for a, b in new]
    return Score(
        sensitivity=float(np.mean(hit)) if hit else math.nan,
        precision=float(np.mean(true)) if true else 1.0,
        rmssd_error_pct=100.0 * abs(rmssd(got.rr_ms) / ref_rmssd - 1.0),
        n_events=len(inj.events),
    )


_NATIVE: dict[tuple[int, str], tuple[npt.NDArray[np.bool_], float]] = {}


def _native(
    base: FloatArray, corrector: Callable[[FloatArray], Corrected]
) -> tuple[npt.NDArray[np.bool_], float]:
    """Per interval of ``base``, whether ``corrector`` flags it or a neighbour there; its corrected RMSSD."""
    key = (hash(base.tobytes()), corrector.__name__)
    if key not in _NATIVE:
        got = corrector(base)
        near = np.zeros(base.size, dtype=np.bool_)
        for f in got.flags.tolist():
            near[max(0, f - 1) : f + 2] = True
        _NATIVE[key] = (near, rmssd(got.rr_ms))
    return _NATIVE[key]


@dataclass(frozen=True, slots=True)
class Clean:
    flags: int
    detections: int
    rmssd_change_pct: float


def clean(base: FloatArray, corrector: Callable[[FloatArray], Corrected]) -> Clean:
    """What ``corrector`` does to the recording as it is: flagged intervals, detections, RMSSD change."""
    got = corrector(base)
    change = 100.0 * (rmssd(got.rr_ms) / rmssd(base) - 1.0)
    return Clean(int(got.flags.size), len(detections(got.flags)), change)


def native_flags(base: FloatArray) -> IntArray:
    """Every interval either corrector flags in ``base``: injections keep away from them."""
    return np.union1d(calmstrap(base).flags, neurokit2(base).flags).astype(np.intp)
