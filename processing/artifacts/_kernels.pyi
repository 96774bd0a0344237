import numpy as np
import numpy.typing as npt

def rolling_quartile_deviation(
    v: npt.NDArray[np.float64], half_beats: int, out: npt.NDArray[np.float64], /
) -> None: ...
def median_filter(x: npt.NDArray[np.float64], size: int, out: npt.NDArray[np.float64], /) -> None: ...
def detect(
    rr: npt.NDArray[np.float64],
    classes: npt.NDArray[np.int8],
    corrected: npt.NDArray[np.float64],
    min_rr_ms: float,
    max_rr_ms: float,
    alpha: float,
    c1: float,
    c2: float,
    window_beats: int,
    medfilt_beats: int,
    max_passes: int,
    dense_events: int,
    /,
) -> int: ...
