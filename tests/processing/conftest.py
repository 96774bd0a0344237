"""Fixtures for the processing tests: the two real RR recordings and a synthetic tachogram builder."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load_rr(name: str) -> npt.NDArray[np.float64]:
    """One of the pyhrv sample NN series (ms) from tests/fixtures (see tests/fixtures/README.md)."""
    return np.load(FIXTURES / f"SampleNNISeries{name}.npy").astype(np.float64)


@pytest.fixture(params=["Short", "Long"])
def real_rr(request: pytest.FixtureRequest) -> npt.NDArray[np.float64]:
    return load_rr(str(request.param))


def synthetic_tachogram(
    duration_s: float, components: Sequence[tuple[float, float, float]], *, mean_rr_ms: float = 1000.0
) -> npt.NDArray[np.float64]:
    """RR series whose tachogram at the beat times is mean + Σ a·sin(2πft + φ) for (a ms, f Hz, φ rad).

    Each RR equals the tachogram at the time of the beat that ends it (solved by fixed-point iteration),
    so a sinusoid of amplitude a carries a²/2 ms² of power.
    """

    def f(t_s: float) -> float:
        return mean_rr_ms + sum(a * math.sin(2 * math.pi * fr * t_s + ph) for a, fr, ph in components)

    out: list[float] = []
    t = 0.0
    while t < duration_s:
        r = mean_rr_ms
        for _ in range(30):
            r = f(t + r / 1000.0)
        t += r / 1000.0
        out.append(r)
    return np.asarray(out)


@pytest.fixture
def tachogram() -> Callable[..., npt.NDArray[np.float64]]:
    return synthetic_tachogram
