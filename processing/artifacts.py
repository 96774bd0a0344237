"""Artifact detection for RR series (first form).

A range gate (``min_rr_ms``..``max_rr_ms``, default 300-2000 ms) and a relative test against the local
median (a beat more than ``max_rel_dev`` away from the median of its neighbours is flagged). Flagged beats
are reported, never silently changed: the caller decides to drop or correct them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class ArtifactResult:
    flags: npt.NDArray[np.bool_]
    corrected_rr_ms: npt.NDArray[np.float64]

    @property
    def artifact_pct(self) -> float:
        n = self.flags.size
        return 100.0 * float(np.count_nonzero(self.flags)) / n if n else 0.0


def range_gate(
    rr_ms: npt.NDArray[np.float64], *, min_rr_ms: float = 300.0, max_rr_ms: float = 2000.0
) -> npt.NDArray[np.bool_]:
    """True where an RR interval is physiologically impossible."""
    return (rr_ms < min_rr_ms) | (rr_ms > max_rr_ms)


def detect(
    rr_ms: Sequence[float] | npt.NDArray[np.float64],
    *,
    min_rr_ms: float = 300.0,
    max_rr_ms: float = 2000.0,
    max_rel_dev: float = 0.2,
    half_width: int = 5,
) -> ArtifactResult:
    """Flag impossible and locally deviant beats; corrected series replaces flagged beats by the local median."""
    rr = np.asarray(rr_ms, dtype=np.float64)
    flags = range_gate(rr, min_rr_ms=min_rr_ms, max_rr_ms=max_rr_ms)
    corrected = rr.copy()
    n = rr.size
    if n >= 3:
        good = rr[~flags]
        for i in range(n):
            lo, hi = max(0, i - half_width), min(n, i + half_width + 1)
            neigh = np.concatenate([rr[lo:i], rr[i + 1 : hi]])
            neigh = neigh[(neigh >= min_rr_ms) & (neigh <= max_rr_ms)]
            if neigh.size == 0:
                continue
            med = float(np.median(neigh))
            if abs(rr[i] - med) > max_rel_dev * med:
                flags[i] = True
            if flags[i]:
                corrected[i] = med
        del good
    return ArtifactResult(flags=flags, corrected_rr_ms=corrected)
