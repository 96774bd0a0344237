import numpy as np
import numpy.typing as npt

def weighted_median_mad(
    sorted: npt.NDArray[np.float64], order: npt.NDArray[np.intp], w: npt.NDArray[np.float64], /
) -> tuple[float, float] | None: ...
