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


# -- simulated strap driven straight into a StreamProcessor (no asyncio, no encoding) -----------------

DAY_START = 1_699_920_000.0  # 2023-11-14 00:00 UTC: a midnight, so utc_offset_s=0 gives clock hours
T0 = DAY_START + 8 * 3600.0  # scenarios start at 08:00


def drive(gen: object, duration_s: float, proc: object, *, start_t: float = T0) -> list[object]:
    """Feed ``gen``'s beats (sensors.simulated.RRGenerator) for ``duration_s`` into ``proc``; flush at the end."""
    from processing.stream import StreamProcessor
    from sensors.beats import Beat
    from sensors.simulated import RRGenerator

    assert isinstance(gen, RRGenerator) and isinstance(proc, StreamProcessor)
    out: list[object] = []
    end = gen.t_s + duration_s
    while gen.t_s < end:
        t_s, rr, _ = gen.next_rr()
        out.extend(proc.push(Beat(start_t + t_s, rr, "sim", "u")))
    out.extend(proc.flush())
    return out
