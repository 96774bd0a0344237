"""The beat classes and the result of :func:`processing.artifacts.detect`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

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
