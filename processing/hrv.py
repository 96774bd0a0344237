"""HRV features over one clean window of RR intervals (ms).

First form (walking skeleton): the time-domain family. Frequency-domain and nonlinear features are NaN
until implemented; ``compute_window`` is the stable entry point (ARCHITECTURE.md contract).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from processing.errors import InvalidRR

NAN = float("nan")


@dataclass(frozen=True, slots=True)
class HrvWindow:
    """Features over a window ending at ``t`` (epoch s). NaN where the window is too short for a feature."""

    t: float
    window_s: float
    n_beats: int
    artifact_pct: float
    mean_rr_ms: float
    mean_hr_bpm: float
    sdnn_ms: float
    rmssd_ms: float
    pnn50_pct: float
    lf_ms2: float = NAN
    hf_ms2: float = NAN
    lf_hf: float = NAN
    sd1_ms: float = NAN
    sd2_ms: float = NAN
    dfa_a1: float = NAN
    stress_index: float = NAN
    resp_rate_bpm: float = NAN
    valid: bool = True

    @property
    def ln_rmssd(self) -> float:
        return math.log(self.rmssd_ms) if self.rmssd_ms > 0 else NAN


def _as_array(rr_ms: Sequence[float] | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    arr = np.asarray(rr_ms, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidRR(f"expected a 1-D series, got shape {arr.shape}")
    if arr.size and (not np.all(np.isfinite(arr)) or np.any(arr <= 0)):
        raise InvalidRR("RR values must be finite and positive (ms)")
    return arr


@dataclass(frozen=True, slots=True)
class TimeDomain:
    mean_rr_ms: float
    mean_hr_bpm: float
    sdnn_ms: float
    rmssd_ms: float
    pnn50_pct: float


def time_domain(rr_ms: Sequence[float] | npt.NDArray[np.float64]) -> TimeDomain:
    """Time-domain HRV (Task Force of the ESC and NASPE, Circulation 1996;93:1043-65).

    mean RR; mean HR = 60000 / mean RR; SDNN = sample SD (ddof=1) of RR; RMSSD = root mean square of
    successive differences; pNN50 = share of successive differences > 50 ms among all differences (%).
    """
    rr = _as_array(rr_ms)
    n = rr.size
    if n == 0:
        return TimeDomain(NAN, NAN, NAN, NAN, NAN)
    mean_rr = float(rr.mean())
    sdnn = float(rr.std(ddof=1)) if n >= 2 else NAN
    if n >= 2:
        d = np.diff(rr)
        rmssd = float(np.sqrt(np.mean(d * d)))
        pnn50 = float(100.0 * np.count_nonzero(np.abs(d) > 50.0) / d.size)
    else:
        rmssd = pnn50 = NAN
    return TimeDomain(mean_rr, 60000.0 / mean_rr, sdnn, rmssd, pnn50)


def compute_window(
    rr_ms: Sequence[float] | npt.NDArray[np.float64],
    *,
    t: float = NAN,
    window_s: float | None = None,
    artifact_pct: float = 0.0,
    max_artifact_pct: float = 5.0,
) -> HrvWindow:
    """All features for one clean window of RR intervals in ms."""
    rr = _as_array(rr_ms)
    td = time_domain(rr)
    return HrvWindow(
        t=t,
        window_s=float(window_s) if window_s is not None else float(rr.sum() / 1000.0),
        n_beats=int(rr.size),
        artifact_pct=artifact_pct,
        mean_rr_ms=td.mean_rr_ms,
        mean_hr_bpm=td.mean_hr_bpm,
        sdnn_ms=td.sdnn_ms,
        rmssd_ms=td.rmssd_ms,
        pnn50_pct=td.pnn50_pct,
        valid=bool(rr.size >= 2 and artifact_pct <= max_artifact_pct),
    )
