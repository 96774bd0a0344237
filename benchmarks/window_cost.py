"""Instruction counts of ``artifacts.detect`` and ``compute_window`` per call, by difference (issues 10, 14).

``--case NAME N`` runs one case N times after a first call (caches, imports) and nothing else;
``--callgrind`` runs every case (or those named) under ``valgrind --tool=callgrind`` with N = 20 and
N = 60 and prints (total(60) - total(20)) / 40 instructions per call. ``OPENBLAS_NUM_THREADS=1``.

Cases (the real recording pyhrv's ``SampleNNISeriesShort``, 337 beats, 300 s):

* ``detect_calm``: detect on beats 130-199 (a 60 s window; no normalised dRR above 1);
* ``detect_clean``: detect on its first 70 beats (a 60 s window; nothing flagged, three dRRs above
  their threshold);
* ``detect_fast``: detect on its last 70 beats (a 60 s window; one long beat flagged);
* ``detect_missed``: the same with beats 35 and 36 merged (one missed beat);
* ``detect_ectopic``: beat 30 at 70 % and its successor making up the rest;
* ``detect_short``: detect on the 300 s recording;
* ``cw_full`` / ``cw_fast``: ``compute_window(full=True / False)`` on the 300 s / 70-beat corrected series;
* ``slow_update``: detect + compute_window(full=True) of the 300 s recording (benchmarks/processing.py (a)).

Run by hand: ``PYTHONPATH=. python benchmarks/window_cost.py --callgrind [CASE ...]``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from processing import artifacts
from processing.hrv import compute_window

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "SampleNNISeriesShort.npy"


def inputs() -> dict[str, np.ndarray]:
    short = np.load(FIXTURE).astype(np.float64)
    fast = short[-70:].copy()
    missed = np.concatenate((fast[:35], [fast[35] + fast[36]], fast[37:]))
    ectopic = fast.copy()
    ectopic[30] = 0.7 * fast[30]
    ectopic[31] = fast[31] + 0.3 * fast[30]
    return {
        "short": short,
        "calm": short[130:200].copy(),
        "clean": short[:70].copy(),
        "fast": fast,
        "missed": missed,
        "ectopic": ectopic,
    }


def cases() -> dict[str, Callable[[], object]]:
    x = inputs()
    short_c = artifacts.detect(x["short"])
    fast_c = artifacts.detect(x["fast"])

    def slow_update() -> object:
        art = artifacts.detect(x["short"])
        return compute_window(art.corrected_rr_ms, artifact_pct=art.artifact_pct, full=True)

    return {
        "detect_calm": lambda: artifacts.detect(x["calm"]),
        "detect_clean": lambda: artifacts.detect(x["clean"]),
        "detect_fast": lambda: artifacts.detect(x["fast"]),
        "detect_missed": lambda: artifacts.detect(x["missed"]),
        "detect_ectopic": lambda: artifacts.detect(x["ectopic"]),
        "detect_short": lambda: artifacts.detect(x["short"]),
        "cw_full": lambda: compute_window(
            short_c.corrected_rr_ms, artifact_pct=short_c.artifact_pct, full=True
        ),
        "cw_fast": lambda: compute_window(
            fast_c.corrected_rr_ms, artifact_pct=fast_c.artifact_pct, full=False
        ),
        "slow_update": slow_update,
    }


def run_case(name: str, n: int) -> None:
    fn = cases()[name]
    fn()
    for _ in range(n):
        fn()


def _total(name: str, n: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        env = dict(
            os.environ,
            OPENBLAS_NUM_THREADS="1",
            PYTHONHASHSEED="0",
            PYTHONPATH=str(Path(__file__).resolve().parents[1]),
        )
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__]
        res = subprocess.run(
            [*cmd, "--case", name, str(n)], env=env, capture_output=True, text=True, check=True
        )
        m = re.search(r"Collected : (\d+)", res.stderr)
        if m is None:
            raise RuntimeError(res.stderr[-2000:])
        return int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--case", nargs=2, metavar=("NAME", "N"))
    ap.add_argument("--callgrind", nargs="*", metavar="CASE")
    args = ap.parse_args()
    if args.case:
        run_case(args.case[0], int(args.case[1]))
        return
    names = args.callgrind or list(cases())
    for name in names:
        lo, hi = _total(name, 20), _total(name, 60)
        print(f"{name}: {(hi - lo) / 40 / 1e6:.3f} M instructions per call", flush=True)


if __name__ == "__main__":
    main()
