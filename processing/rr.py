"""The RR input every HRV function takes: a 1-D series of finite, positive intervals in milliseconds."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from processing.errors import InvalidRR
from processing.reduce import smallest, total

NAN = float("nan")
FloatArray = npt.NDArray[np.float64]
RRInput = Sequence[float] | npt.NDArray[np.floating] | npt.NDArray[np.integer]


def as_rr_array(rr_ms: RRInput) -> FloatArray:
    """A 1-D float64 array of finite, positive RR intervals (ms); raises :class:`InvalidRR` otherwise."""
    if isinstance(rr_ms, np.ndarray) and rr_ms.dtype == np.float64 and rr_ms.ndim == 1:
        arr: FloatArray = np.asarray(rr_ms, dtype=np.float64)
    else:
        try:
            arr = np.asarray(rr_ms, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidRR(f"not a numeric series ({exc})") from exc
        if arr.ndim != 1:
            raise InvalidRR(f"expected a 1-D series, got shape {arr.shape}")
    # one sum and one min: a NaN or inf makes the sum non-finite
    if arr.size and not (math.isfinite(float(total(arr))) and float(smallest(arr)) > 0.0):
        raise InvalidRR("RR values must be finite and positive (ms)")
    return arr
