"""The breathing-rate reference: 60 s windows of the systole recording with the belt's breaths.

Shared by tests/processing/test_breathing.py and benchmarks/breathing.py. The belt's breath detector
(NeuroKit2, tests/fixtures/README.md) sometimes splits one breath in two or sees a long pause (a sigh, a
held breath while rating a picture), so a window's reference is 60 / the median breath-to-breath period,
and a window counts as *regular breathing* when the coefficient of variation of its breath periods is at
most ``REGULAR_CV`` (steady breathing at rest; irregular windows are reported apart, never dropped).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from processing import artifacts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REGULAR_CV = 0.3


@dataclass(frozen=True, slots=True)
class BeltWindow:
    end_ms: float
    rr_ms: npt.NDArray[np.float64]
    """The window's RR intervals after artifact correction (as the stream hands them on)."""
    ref_per_min: float
    breath_cv: float

    @property
    def regular(self) -> bool:
        return bool(self.breath_cv <= REGULAR_CV)


def belt_windows(*, window_s: float = 60.0, step_s: float = 10.0) -> list[BeltWindow]:
    """Every ``window_s`` window of the recording, one each ``step_s``, with its belt reference."""
    peaks = np.load(FIXTURES / "systole_task1_rpeaks_ms.npy").astype(np.float64)
    breaths = np.load(FIXTURES / "systole_task1_breaths_ms.npy").astype(np.float64)
    rr, t_end = np.diff(peaks), peaks[1:]
    out: list[BeltWindow] = []
    t = t_end[0] + window_s * 1000.0
    while t <= t_end[-1]:
        lo = t - window_s * 1000.0
        sel = (t_end > lo) & (t_end <= t)
        b = breaths[(breaths >= lo) & (breaths <= t)]
        per = np.diff(b) / 1000.0
        if per.size >= 3:
            clean = artifacts.detect(rr[sel]).corrected_rr_ms
            ref = 60.0 / float(np.median(per))
            out.append(BeltWindow(t, clean, ref, float(np.std(per) / np.mean(per))))
        t += step_s * 1000.0
    return out
