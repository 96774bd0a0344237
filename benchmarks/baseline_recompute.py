"""Cost of the personal baseline's recompute after a new sample, by the number of samples it holds.

Every fast window (5 s) asks ``BaselineTracker.stats_for``; after each new sample (one per 60-75 s on the
first day, then one per 5 minutes on average) the call recomputes the weighted medians and MADs of the
all-day statistics and of the two hours the time of day lies between. With 28 days of samples (8,064) that
recompute is the largest per-strap cost of a long-running service that the capacity benchmark, whose
straps start from a restored baseline (at most 244 pseudo-samples), does not see.

Run by hand: ``PYTHONPATH=. python benchmarks/baseline_recompute.py [--samples 300,1440,8064]``;
``CALMSTRAP_BENCH_CODE=OTHER_CHECKOUT`` times that checkout's code with this script (side by side runs).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, os.environ.get("CALMSTRAP_BENCH_CODE") or str(Path(__file__).resolve().parents[1]))

import numpy as np

from processing.baseline import HOUR_STEPS, BaselineTracker

DAY_S = 86400.0
T0 = 1_700_000_000.0


def fill(b: BaselineTracker, n: int, *, end_t: float, seed: int = 0) -> None:
    """Put ``n`` samples into ``b``, one per 5 minutes up to ``end_t`` (1 minute each for the first 1,440,
    as the dense first day keeps them, 5 after), HR 70 ± 5 and ln RMSSD 3.5 ± 0.3: an aged baseline."""
    rng = np.random.default_rng(seed)
    start = end_t - n * 300.0
    for i in range(n):
        t = start + i * 300.0
        h = int((t % DAY_S) / 3600.0 * HOUR_STEPS) % (24 * HOUR_STEPS)
        minutes = 1 if i < 1440 else 5
        hr, lr = float(70 + 5 * rng.standard_normal()), float(3.5 + 0.3 * rng.standard_normal())
        b._samples.add(t, h, minutes, hr, lr, 0.0)
    b._version += 1


def filled(n: int) -> tuple[BaselineTracker, float]:
    """A tracker holding ``n`` samples (:func:`fill`), and the time after the last."""
    b = BaselineTracker(utc_offset_s=0)
    fill(b, n, end_t=T0 + n * 300.0)
    return b, T0 + n * 300.0


def recompute_us(n: int, repeat: int) -> tuple[float, float]:
    """Median microseconds of a ``stats_for`` call after a new sample, and of a cached one."""
    b, t = filled(n)
    fresh, cached = [], []
    for r in range(repeat):
        b._version += 1  # what a new sample does to the caches
        w0 = time.perf_counter()
        b.stats_for(t + r)
        fresh.append(time.perf_counter() - w0)
        w0 = time.perf_counter()
        b.stats_for(t + r)
        cached.append(time.perf_counter() - w0)
    return statistics.median(fresh) * 1e6, statistics.median(cached) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", default="300,1440,8064")
    ap.add_argument("--repeat", type=int, default=60)
    args = ap.parse_args()
    code = os.environ.get("CALMSTRAP_BENCH_CODE") or "this checkout"
    print(
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, code: {code}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    for n in (int(x) for x in args.samples.split(",")):
        fresh, cached = recompute_us(n, args.repeat)
        per_notification = fresh / (300.0 if n > 1440 else 67.5)
        print(
            f"{n:5d} samples: recompute {fresh:8.0f} us, cached {cached:5.1f} us; at one new sample per "
            f"{'5 min' if n > 1440 else '67.5 s'}: {per_notification:5.2f} us per notification"
        )


if __name__ == "__main__":
    main()
