"""Benchmark: one ProgressUpdater for many users of one archive (h-weekly), optionally against another
revision of storage/progress.py.

    git show c67177b:storage/progress.py > /tmp/old_progress.py
    PYTHONPATH=. .venv/bin/python -m benchmarks.progress_refresh_users 150 [/tmp/old_progress.py]

N users each get an hour of rows (4,500 beats, 720 arousal rows) per round; after each round every user is
updated in turn and the update times (with the commit) are printed for rounds 2 and 3 (rounds 0 and 1 are
the first, full, update and the one that reads the week whole).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import storage.progress as now
from processing.arousal import Arousal, ArousalState
from sensors.beats import beats_from_rr
from storage.archive import Archive

THURSDAY_12 = 1_764_244_800.0  # Thursday 2025-11-27 12:00 UTC


def _hour(archive: Archive, n: int, t: float) -> None:
    for k in range(n):
        archive.add_beats(beats_from_rr([800.0] * 4500, start_t=t, device="d", user=f"u{k}"))
        for i in range(720):
            x = Arousal(t + 5 * i, float(i % 50), 0.0, 0.0, 0.0, ArousalState.CALM, False, False, 60.0, 40.0)
            archive.add_arousal(f"u{k}", x)
    archive.commit()


def _load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("other_progress", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["other_progress"] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    n = int(sys.argv[1])
    mods = [("now", now)] + ([(sys.argv[2], _load(sys.argv[2]))] if len(sys.argv) > 2 else [])
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load {os.getloadavg()[0]:.2f}", flush=True)
    for name, mod in mods:
        with tempfile.TemporaryDirectory() as d, Archive(Path(d) / "a.db") as archive:
            updater = mod.ProgressUpdater(archive, tz=dt.UTC)
            t = THURSDAY_12
            for r in range(4):
                _hour(archive, n, t)
                t += 3600
                times = []
                for k in range(n):
                    t0 = time.perf_counter()
                    updater.update(f"u{k}")
                    archive.commit()
                    times.append(time.perf_counter() - t0)
                if r >= 2:
                    print(
                        f"{name}: {n} users, round {r}: mean {statistics.fmean(times) * 1000:.1f} ms per update,"
                        f" max {max(times) * 1000:.1f} ms; load {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
