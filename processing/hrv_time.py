"""Time-domain and geometric HRV: mean RR and HR, SDNN, RMSSD, pNN50 and Baevsky's stress index.

Part of :mod:`processing.hrv` (every name here is importable from there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from processing.reduce import largest, smallest, total
from processing.rr import NAN, FloatArray, RRInput, as_rr_array


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
    mean_rr = float(total(rr)) / n
    if n < 2:
        return TimeDomain(mean_rr, 60000.0 / mean_rr, NAN, NAN, NAN)
    d = rr[1:] - rr[:-1]  # np.diff of a 1-D series, without its Python frame
    c = rr - mean_rr
    sdnn = math.sqrt(float(np.dot(c, c)) / (n - 1))
    rmssd = math.sqrt(float(np.dot(d, d)) / d.size)
    pnn50 = 100.0 * float(np.count_nonzero(np.abs(d) > nn_threshold_ms)) / d.size
    return TimeDomain(mean_rr, 60000.0 / mean_rr, sdnn, rmssd, pnn50)


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
    return stress_index_of(rr, float(smallest(rr)), float(largest(rr)), bin_ms)


def stress_index_of(rr: FloatArray, rr_min: float, rr_max: float, bin_ms: float = 50.0) -> float:
    """:func:`stress_index` of a validated series whose minimum and maximum are known."""
    mxdmn_s = (rr_max - rr_min) / 1000.0
    if mxdmn_s <= 0:
        return NAN
    first = math.floor(rr_min / bin_ms)
    idx = np.floor(rr / bin_ms).astype(np.int64)
    idx -= first
    counts = np.bincount(idx)
    mode_bin = int(counts.argmax())
    amo_pct = 100.0 * float(counts[mode_bin]) / rr.size
    mo_s = ((mode_bin + first) * bin_ms + bin_ms / 2.0) / 1000.0
    return math.sqrt(amo_pct / (2.0 * mo_s * mxdmn_s))
