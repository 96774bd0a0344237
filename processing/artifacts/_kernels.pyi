import numpy as np
import numpy.typing as npt

def rolling_quartile_deviation(
    v: npt.NDArray[np.float64], half_beats: int, out: npt.NDArray[np.float64], /
) -> None: ...
def median_filter(x: npt.NDArray[np.float64], size: int, out: npt.NDArray[np.float64], /) -> None: ...
