"""Artifact correction on real recordings with injected artifacts: calmstrap vs NeuroKit2 (kubios).

Prints the Markdown tables of BENCHMARKS.md ("Artifact correction"): per recording, the clean-data row
(false detections and the RMSSD change correcting the recording as it is) and class × rate × corrector
(sensitivity, precision, RMSSD error), each the mean over ``--seeds`` injections (the RMSSD error also
with its lowest and highest seed). What is injected and how
it is scored: tests/processing/artifact_injection.py (the tests assert the targets on the same code).

Run by hand: ``PYTHONPATH=. python benchmarks/artifacts.py [--seeds 6]`` (NeuroKit2 takes a few
seconds per call on the 60-minute recording; the whole table takes about five minutes).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.processing import artifact_injection as J

RATES = (0.01, 0.02, 0.05)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=6)
    args = ap.parse_args()
    seeds = range(args.seeds)
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    for name, base in J.recordings().items():
        avoid = J.native_flags(base)
        print(f"\n### {name}: {base.size} intervals\n")
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


if __name__ == "__main__":
    main()
