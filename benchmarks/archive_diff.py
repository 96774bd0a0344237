"""Compare every row of two archives' stream tables (the same replay before and after a change).

``python benchmarks/archive_diff.py A.db B.db``: for beats, gaps, windows, arousal, episodes, prompts,
baseline, controls, motion, device_status and checkpoint (the session snapshots), every column of every row
(``seq`` and ``id`` included) in primary-key order; exit 0 when all are identical.

A checkpoint's state is compared decoded and written again by this checkout's ``processing.snapshot`` (so
snapshots of two format versions compare by what they hold), with the stream processor's beat ring buffers
(``_t``, ``_rr``) taken only over their used slots ``[_lo, _hi)``: the slots outside are ``np.empty`` memory,
never read, and differ from run to run whatever the code.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processing import snapshot

KIND = "calmstrap.session"

TABLES = (
    "beats",
    "gaps",
    "windows",
    "arousal",
    "episodes",
    "prompts",
    "baseline",
    "controls",
    "motion",
    "device_status",
    "checkpoint",
)


def _used_slots(state: bytes) -> Any:
    """A session snapshot's document with the processor's ring buffers cut to their used slots."""
    live = snapshot.load(state, kind=KIND)
    proc = live.processor
    lo, hi = proc._lo, proc._hi
    for name in ("_t", "_rr"):
        setattr(proc, name, np.ascontiguousarray(getattr(proc, name)[lo:hi]))  # the used float64 slots
    return json.loads(zlib.decompress(snapshot.dump(live, kind=KIND)[len(snapshot.MAGIC) :]))


def rows(path: str, table: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = con.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
        if table == "checkpoint":
            names = [d[0] for d in con.execute("SELECT * FROM checkpoint LIMIT 0").description]
            i = names.index("state")
            out = [(*r[:i], _used_slots(r[i]), *r[i + 1 :]) for r in out]
        return out
    finally:
        con.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    args = ap.parse_args()
    same_all = True
    for table in TABLES:
        ra, rb = rows(args.a, table), rows(args.b, table)
        same = ra == rb
        same_all &= same
        digest = hashlib.sha256(repr(ra).encode()).hexdigest()[:12]
        print(
            f"{table:14s} {len(ra):7d} vs {len(rb):7d} rows  {'identical' if same else 'DIFFERENT'}  {digest}"
        )
    print("all identical" if same_all else "archives differ")
    return 0 if same_all else 1


if __name__ == "__main__":
    sys.exit(main())
