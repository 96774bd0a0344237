"""Artifact correction on real recordings with injected artifacts: calmstrap vs NeuroKit2 (kubios).

Prints the Markdown tables of BENCHMARKS.md ("Artifact correction"): per recording, the clean-data row
(false detections and the RMSSD change correcting the recording as it is) and class × rate × corrector
(sensitivity, precision, RMSSD error), each the mean over ``--seeds`` injections (the RMSSD error also
with its lowest and highest seed). What is injected and how
it is scored: tests/processing/artifact_injection.py (the tests assert the targets on the same code).

Run by hand: ``PYTHONPATH=. python benchmarks/artifacts.py [--seeds 6]`` (NeuroKit2 takes a few
seconds per call on the 60-minute recording; the whole table takes about five minutes). The short
``rr.txt`` gets at least 20 seeds (5 events per seed at 2 %).

Cost: ``--cost INPUT N`` runs ``artifacts.detect`` N times on one input and nothing else, for
instruction counts by difference (``valgrind --tool=callgrind`` with N = 30 and N = 60,
``OPENBLAS_NUM_THREADS=1``): ``short`` is the 300 s slow-update recording (pyhrv's
``SampleNNISeriesShort``, 337 beats), ``fast`` its last 70 beats (a 60 s window), ``missed`` the same
with beats 35 and 36 merged, ``ectopic`` with beat 30 at 70 % and its successor making up the rest.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from processing import artifacts
from tests.processing import artifact_injection as J

RATES = (0.01, 0.02, 0.05)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--cost", nargs=2, metavar=("INPUT", "N"), help="run detect N times on INPUT only")
    args = ap.parse_args()
    if args.cost:
        cost(args.cost[0], int(args.cost[1]))
        return
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    for name, base in J.recordings().items():
        seeds = range(max(args.seeds, 20 if base.size < 500 else 0))
        avoid = J.native_flags(base)
        print(f"\n### {name}: {base.size} intervals, seeds 0-{len(seeds) - 1}\n")
        print("| corrector | clean data: flagged intervals | detections | RMSSD change |")
        print("|---|---|---|---|")
        for cname, fn in J.CORRECTORS.items():
            c = J.clean(base, fn)
            print(f"| {cname} | {c.flags} | {c.detections} | {c.rmssd_change_pct:+.1f} % |")
        print()
        head = " | ".join(f"{c} sens / prec / RMSSD err" for c in J.CORRECTORS)
        print(f"| class | rate | {head} |")
        print("|---|---|" + "---|" * len(J.CORRECTORS))
        for kind in J.KINDS:
            for rate in RATES:
                cells = []
                for fn in J.CORRECTORS.values():
                    got = [J.score(base, J.inject(base, kind, rate, s, avoid=avoid), fn) for s in seeds]
                    sens = statistics.fmean(g.sensitivity for g in got)
                    prec = statistics.fmean(g.precision for g in got)
                    errs = [g.rmssd_error_pct for g in got]
                    err = statistics.fmean(errs)
                    cells.append(f"{sens:.2f} / {prec:.2f} / {err:.1f} % ({min(errs):.1f}-{max(errs):.1f})")
                print(f"| {kind} | {rate:.0%} | " + " | ".join(cells) + " |")


def cost_inputs() -> dict[str, np.ndarray]:
    """The inputs of ``--cost`` (module docstring)."""
    short = np.load(J.FIXTURES / "SampleNNISeriesShort.npy").astype(np.float64)
    fast = short[-70:].copy()
    missed = np.concatenate((fast[:35], [fast[35] + fast[36]], fast[37:]))
    ectopic = fast.copy()
    ectopic[30] = 0.7 * fast[30]
    ectopic[31] = fast[31] + 0.3 * fast[30]
    return {"short": short, "fast": fast, "missed": missed, "ectopic": ectopic}


def cost(which: str, n: int) -> None:
    x = cost_inputs()[which]
    artifacts.detect(x)  # first call: caches and imports
    for _ in range(n):
        artifacts.detect(x)


if __name__ == "__main__":
    main()
