"""Breathing rate from RR against a respiration belt and a simulated RSA (BENCHMARKS.md, "Breathing rate").

Belt: the systole recording's 60 s windows every 10 s (tests/processing/breathing_reference.py), share
within ±2 breaths/min of the belt for the new estimator and for the one it replaced (the largest peak of
one periodogram from 0.1 to 0.75 Hz, re-implemented here for the comparison). Simulated: the strap model
(sensors/simulated.py) breathing at known rates, RSA 25 ms, Mayer waves 18 ms at 0.1 Hz, noise 9 ms.

Run by hand: ``PYTHONPATH=. python benchmarks/breathing.py``.
"""

from __future__ import annotations

import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processing import hrv
from sensors.simulated import RRGenerator, StrapModel
from tests.processing.breathing_reference import belt_windows


def previous(rr: np.ndarray) -> float:
    """The estimator before issue 10: the largest bin of one Hann periodogram from 0.1 to 0.75 Hz."""
    if rr.size < 8 or rr.sum() < 30000.0:
        return math.nan
    x = hrv.resample_rr(rr)
    n = x.size
    t = np.arange(n)
    y = (x - np.polyval(np.polyfit(t, x, 1), t)) * (0.5 - 0.5 * np.cos(2 * np.pi * t / n))
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(n, 0.25)
    sel = (f >= 0.1) & (f < 0.75)
    return 60.0 * float(f[sel][int(np.argmax(spec[sel]))])


def main() -> None:
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    wins = belt_windows()
    print(
        "\n| 60 s windows (belt) | n | new: within ±2/min | new: median error | previous: within ±2/min | previous: median error |"
    )
    print("|---|---|---|---|---|---|")
    for label, sel in (("regular breathing (CV ≤ 0.3)", [w for w in wins if w.regular]), ("all", wins)):
        ref = np.array([w.ref_per_min for w in sel])
        cells = []
        for est in (hrv.breathing_rate, previous):
            e = np.array([est(w.rr_ms) for w in sel]) - ref
            cells += [f"{np.mean(np.abs(e) <= 2.0):.0%}", f"{np.nanmedian(e):+.1f}/min"]
        print(f"| {label} | {len(sel)} | " + " | ".join(cells) + " |")
    print(
        f"\nbelt median {np.median([w.ref_per_min for w in wins]):.1f}/min; "
        f"new median {np.nanmedian([hrv.breathing_rate(w.rr_ms) for w in wins]):.1f}/min; "
        f"previous median {np.nanmedian([previous(w.rr_ms) for w in wins]):.1f}/min"
    )
    print("\n| simulated rate (/min) | new: within ±2/min | previous: within ±2/min |")
    print("|---|---|---|")
    for rate in (6, 8, 10, 12, 15, 18, 21, 25, 30):
        hits = {hrv.breathing_rate: [], previous: []}
        for seed in range(3):
            model = StrapModel(
                rest_breath_per_min=rate, rsa_ms=25.0, mayer_ms=18.0, ectopic_prob=0.0, missed_prob=0.0
            )
            g = RRGenerator(seed=seed, model=model)
            rr = np.array([g.next_rr()[1] for _ in range(750)])
            t = np.cumsum(rr)
            for k in range(10):
                w = rr[(t > k * 60000.0) & (t <= (k + 1) * 60000.0)]
                for est, h in hits.items():
                    h.append(abs(est(w) - rate) <= 2.0)
        print(f"| {rate} | {np.mean(hits[hrv.breathing_rate]):.0%} | {np.mean(hits[previous]):.0%} |")


if __name__ == "__main__":
    main()
