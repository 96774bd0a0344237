"""``artifacts.detect`` three ways, side by side in one process: numpy alone (a build without a C compiler),
the Python steps with the compiled threshold loops (session 6's build) and the whole detection compiled
(``_detect.c``), on the windows the stream processor makes of the three real recordings.

Windows: the 60 s window (70 beats) and the 300 s window (335 beats), every 37 beats along each recording,
clean and with 5 % missed beats injected (tests/processing/artifact_injection.py, seed 3). Before timing, the
three ways are checked to give identical classes and corrected series on every window. Each figure is the
best of ``--repeat`` passes over all windows (µs per call, the Python wrapper included).

Run by hand: ``PYTHONPATH=. python benchmarks/detect_compiled.py [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from processing import artifacts
from processing.artifacts import thresholds
from tests.processing import artifact_injection as J

FloatArray = np.ndarray


def windows(beats: int, injected: bool) -> list[FloatArray]:
    out = []
    for rr in J.recordings().values():
        src = J.inject(rr, "missed", 0.05, 3).rr_ms if injected else rr
        out += [np.ascontiguousarray(src[s : s + beats]) for s in range(0, src.size - beats, 37)]
    return out


def best_us(ws: list[FloatArray], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for w in ws:
            artifacts.detect(w)
        best = min(best, (time.perf_counter() - t0) / len(ws) * 1e6)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    full = thresholds.KERNELS
    if full is None or not hasattr(full, "detect"):
        sys.exit("built without the compiled detection: nothing to compare (pip install -e . with gcc)")
    ways = {
        "numpy alone": None,
        "compiled thresholds": SimpleNamespace(
            rolling_quartile_deviation=full.rolling_quartile_deviation, median_filter=full.median_filter
        ),
        "compiled detect": full,
    }
    print(
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, numpy "
        f"{np.__version__}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print("| window | " + " | ".join(ways) + " | compiled detect vs numpy alone / vs compiled thresholds |")
    print("|---|" + "---|" * (len(ways) + 1))
    for beats in (70, 335):
        for injected in (False, True):
            ws = windows(beats, injected)
            results = {}
            for name, kernels in ways.items():
                thresholds.KERNELS = kernels
                results[name] = [artifacts.detect(w) for w in ws]
            ref = results["numpy alone"]
            for name, got in results.items():
                for a, b in zip(got, ref, strict=True):
                    if not (
                        np.array_equal(a.classes, b.classes)
                        and np.array_equal(a.corrected_rr_ms, b.corrected_rr_ms)
                    ):
                        sys.exit(f"{name} differs from numpy alone on a {beats}-beat window")
            us = {}
            for name, kernels in ways.items():
                thresholds.KERNELS = kernels
                us[name] = best_us(ws, args.repeat)
            thresholds.KERNELS = full
            label = f"{beats} beats, {'5 % missed' if injected else 'clean'} ({len(ws)} windows)"
            cells = " | ".join(f"{v:.1f} µs" for v in us.values())
            ratio = (
                f"{us['numpy alone'] / us['compiled detect']:.1f}x / "
                f"{us['compiled thresholds'] / us['compiled detect']:.1f}x"
            )
            print(f"| {label} | {cells} | {ratio} |")


if __name__ == "__main__":
    main()
