"""Per-call cost of a realistic session checkpoint: ``dump_session`` and ``load_session``, best of repeats.

The sessions are those of the capacity benchmark (``benchmarks/cluster_capacity.py``: 20 straps x 20
minutes, grouped commits, a saved baseline), caught at their last checkpoint. Run by hand, pinned, and
side by side with another checkout's code (``CALMSTRAP_BENCH_CODE=OTHER_CHECKOUT``, as the capacity
benchmark reads it), alternating the two::

    OPENBLAS_NUM_THREADS=1 taskset -c 1 python benchmarks/snapshot_dump.py [--repeats 7 --calls 200]

It prints the code timed, the best per-call dump and load time (µs) and the mean snapshot size (bytes).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.environ.get("CALMSTRAP_BENCH_CODE") or str(Path(__file__).resolve().parents[1]))

import benchmarks.cluster_capacity as cc
from calmstrap.pipeline import StrapSession
from calmstrap.session_state import dump_session, load_session


def sessions(straps: int, minutes: float) -> list[StrapSession]:
    """The capacity benchmark's sessions, as they stand after its run."""
    caught: dict[str, StrapSession] = {}
    checkpoint = StrapSession.checkpoint

    def catch(self: StrapSession, t: float | None = None) -> None:
        caught[self.user] = self
        checkpoint(self, t)

    StrapSession.checkpoint = catch  # type: ignore[method-assign]
    try:
        cc.run(cc.make_notes(straps, minutes), straps, grouped=True, saved=cc.baseline())
    finally:
        StrapSession.checkpoint = checkpoint  # type: ignore[method-assign]
    return list(caught.values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--straps", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    found = sessions(args.straps, args.minutes)
    picks = [found[i % len(found)] for i in range(args.calls)]
    blobs = [dump_session(s, s.processor.last_t) for s in found]
    picked_blobs = [blobs[i % len(blobs)] for i in range(args.calls)]
    best_dump = best_load = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for s in picks:
            dump_session(s, s.processor.last_t)
        best_dump = min(best_dump, (time.perf_counter() - t0) / len(picks))
        t0 = time.perf_counter()
        for b in picked_blobs:
            load_session(b)
        best_load = min(best_load, (time.perf_counter() - t0) / len(picked_blobs))
    code = os.environ.get("CALMSTRAP_BENCH_CODE") or "this checkout"
    size = sum(map(len, blobs)) / len(blobs)
    print(f"{code}: dump {best_dump * 1e6:.0f} µs, load {best_load * 1e6:.0f} µs, {size:.0f} bytes")


if __name__ == "__main__":
    main()
