"""Breathing rate from RR against a respiration belt and a simulated RSA (BENCHMARKS.md, "Breathing rate").

Belt: the systole recording's 60 s windows every 10 s (tests/processing/breathing_reference.py), share
within ±2 breaths/min of the belt for the estimator, for issue 10's first version of it ("raw peak": the
HF peak chosen on the raw periodogram instead of power × f²) and for the one before issue 10 ("previous":
the largest peak of one periodogram from 0.1 to 0.75 Hz); both re-implemented here for the comparison. Simulated: the strap model
(sensors/simulated.py) breathing at known rates, RSA 25 ms, Mayer waves 18 ms at 0.1 Hz, noise 9 ms (seeds
0-2 as in the tests, and 10-19), and a weak RSA (10 ms) with stronger Mayer waves (25 ms).

Run by hand: ``PYTHONPATH=. python benchmarks/breathing.py``.
"""

from __future__ import annotations

import math
import platform
import sys
import time
from collections.abc import Callable
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


def raw_peak(rr: np.ndarray) -> float:
    """Issue 10's first estimator (2026-12-01, before the f² peak choice): the same as ``hrv.breathing_rate``
    on a 60 s window but the HF peak is the largest local maximum of the raw periodogram."""
    if rr.size < 8 or rr.sum() < 30000.0:
        return math.nan
    x = hrv.resample_rr(rr)
    n = x.size
    t = np.arange(n)
    y = (x - np.polyval(np.polyfit(t, x, 1), t)) * (0.5 - 0.5 * np.cos(2 * np.pi * t / n))
    spec = np.abs(np.fft.rfft(y, 8 * n)) ** 2
    f = np.fft.rfftfreq(8 * n, 0.25)
    pk = np.flatnonzero((spec[1:-1] > spec[:-2]) & (spec[1:-1] >= spec[2:])) + 1
    top = min(0.5, 0.5 * 1000.0 / float(rr.mean()))
    hf = pk[(f[pk] >= 0.15) & (f[pk] <= top)]
    lf = pk[(f[pk] >= 0.095) & (f[pk] < 0.15)]
    if hf.size == 0 and lf.size == 0:
        return math.nan
    best_hf = int(hf[np.argmax(spec[hf])]) if hf.size else -1
    best_lf = int(lf[np.argmax(spec[lf])]) if lf.size else -1
    if best_hf < 0 or (best_lf >= 0 and spec[best_lf] > 10.0 * spec[best_hf]):
        return 60.0 * float(f[best_lf])
    return 60.0 * float(f[best_hf])


def main() -> None:
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    wins = belt_windows()
    ests = {"new": hrv.breathing_rate, "raw peak": raw_peak, "previous": previous}
    head = " | ".join(f"{k}: within ±2/min | {k}: median error" for k in ests)
    print(f"\n| 60 s windows (belt) | n | {head} |")
    print("|---|---|" + "---|---|" * len(ests))
    for label, sel in (("regular breathing (CV ≤ 0.3)", [w for w in wins if w.regular]), ("all", wins)):
        ref = np.array([w.ref_per_min for w in sel])
        cells = []
        for est in ests.values():
            e = np.array([est(w.rr_ms) for w in sel]) - ref
            cells += [f"{np.mean(np.abs(e) <= 2.0):.0%}", f"{np.nanmedian(e):+.1f}/min"]
        print(f"| {label} | {len(sel)} | " + " | ".join(cells) + " |")
    meds = "; ".join(
        f"{k} median {np.nanmedian([e(w.rr_ms) for w in wins]):.1f}/min" for k, e in ests.items()
    )
    print(f"\nbelt median {np.median([w.ref_per_min for w in wins]):.1f}/min; {meds}")
    for rsa, mayer, seeds in (
        (25.0, 18.0, range(3)),
        (25.0, 18.0, range(10, 20)),
        (10.0, 25.0, range(10, 20)),
    ):
        print(
            f"\nSimulated: RSA {rsa:g} ms, Mayer waves {mayer:g} ms, seeds {seeds.start}-{seeds.stop - 1}\n"
        )
        print("| simulated rate (/min) | " + " | ".join(f"{k}: within ±2/min" for k in ests) + " |")
        print("|---|" + "---|" * len(ests))
        for rate in (6, 8, 10, 12, 15, 18, 21, 25, 30):
            hits: dict[Callable[[np.ndarray], float], list[bool]] = {e: [] for e in ests.values()}
            for seed in seeds:
                model = StrapModel(
                    rest_breath_per_min=rate, rsa_ms=rsa, mayer_ms=mayer, ectopic_prob=0.0, missed_prob=0.0
                )
                g = RRGenerator(seed=seed, model=model)
                rr = np.array([g.next_rr()[1] for _ in range(750)])
                t = np.cumsum(rr)
                for k in range(10):
                    w = rr[(t > k * 60000.0) & (t <= (k + 1) * 60000.0)]
                    for est, h in hits.items():
                        h.append(abs(est(w) - rate) <= 2.0)
            print(f"| {rate} | " + " | ".join(f"{np.mean(h):.0%}" for h in hits.values()) + " |")


if __name__ == "__main__":
    main()
