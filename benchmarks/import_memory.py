"""Import memory: peak RSS of ``calmstrap import`` against the file's size, and the longest write transaction.

Run by hand (results go to BENCHMARKS.md):

    PYTHONPATH=. python benchmarks/import_memory.py [--mb 2 8 32] [--scan-mb 200] [--peer /work/main]

For each size it writes a Kubios RR text file of about that many MB (``NNN.N`` ms per line, 6 bytes: a
200 MB file holds ~33 M beats), then, each in a fresh child process and a fresh archive:

* **import**: the whole import (checking pass, processing, chunked writes) through ``calmstrap.cmd_import``'s
  ``import_file``; reported: peak RSS of the child (``ru_maxrss``), wall time, beats per second, and the
  longest single write transaction (how long the service can be made to wait for the archive);
* **scan** (``--scan-mb``): only the checking pass (:func:`sensors.rr_files.scan_rr_file`) over a larger
  file, the part whose memory grew with the file before;
* **peer** (``--peer DIR``, a checkout of calmstrap before this change with its own ``.venv``): the same
  import through that checkout's ``calmstrap import``, peak RSS, for the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
T0 = 1_600_000_000.0

CHILD_IMPORT = """
import json, resource, sys, time
from calmstrap.cmd_import import import_file
from calmstrap.config import Config
from sensors.rr_files import scan_rr_file
from storage.archive import Archive
path, data = sys.argv[1], sys.argv[2]
t0 = time.monotonic()
scan = scan_rr_file(path)
t_scan = time.monotonic() - t0
with Archive.in_dir(data) as a:
    res, longest = import_file(Config(), a, scan, user="bench", device="f", start_t=1.6e9)
print(json.dumps({"beats": res.beats, "scan_s": t_scan, "wall_s": time.monotonic() - t0,
                  "longest_tx_s": longest,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_SCAN = """
import json, resource, sys, time
from sensors.rr_files import scan_rr_file
t0 = time.monotonic()
scan = scan_rr_file(sys.argv[1])
print(json.dumps({"beats": scan.n_beats, "wall_s": time.monotonic() - t0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_file(path: Path, mb: float) -> int:
    """A Kubios RR text file of about ``mb`` MB; returns the number of beats."""
    rnd = random.Random(1)
    n = int(mb * 1e6 / 6)
    with path.open("w", encoding="ascii") as f:
        f.write("# benchmark RR text\n")
        chunk = 100_000
        for start in range(0, n, chunk):
            f.write("".join(f"{rnd.uniform(700.0, 950.0):05.1f}\n" for _ in range(min(chunk, n - start))))
    return n


def child(code: str, *args: str, python: str = sys.executable, cwd: Path = REPO) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    out = subprocess.run(
        [python, "-c", code, *args], env=env, cwd=cwd, capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


CHILD_PEER = """
import json, resource, sys, time
from calmstrap.cli import main
t0 = time.monotonic()
rc = main(["import", sys.argv[1], "--user", "bench", "--data-dir", sys.argv[2], "--start", "1600000000"])
print(json.dumps({"rc": rc, "wall_s": time.monotonic() - t0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def peer_import(peer: Path, f: Path, data: Path) -> dict[str, float]:
    """The peer checkout's ``calmstrap import``, in-process in a child of its own interpreter."""
    return child(CHILD_PEER, str(f), str(data), python=str(peer / ".venv" / "bin" / "python"), cwd=peer)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, nargs="*", default=[2.0, 8.0, 32.0])
    ap.add_argument("--scan-mb", type=float, default=200.0, help="size for the checking pass alone (0: skip)")
    ap.add_argument("--peer", type=Path, help="a calmstrap checkout (with .venv) to compare against")
    args = ap.parse_args()
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}"
    )
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for mb in args.mb:
            f = root / f"rr-{mb:g}mb.txt"
            n = write_file(f, mb)
            r = child(CHILD_IMPORT, str(f), str(root / f"data-{mb:g}"))
            line = (
                f"import {mb:6.1f} MB ({n:>10,} beats): peak RSS {r['rss_mb']:7.1f} MB, {r['wall_s']:7.1f} s "
                f"({r['beats'] / r['wall_s']:,.0f} beats/s; checking pass {r['scan_s']:.1f} s), "
                f"longest write transaction {r['longest_tx_s'] * 1000:.0f} ms"
            )
            if args.peer is not None:
                p = peer_import(args.peer, f, root / f"peer-{mb:g}")
                line += f"; peer peak RSS {p['rss_mb']:.1f} MB ({p['rss_mb'] / r['rss_mb']:.1f}x), {p['wall_s']:.1f} s"
            print(line, flush=True)
            f.unlink()
        if args.scan_mb > 0:
            f = root / "rr-scan.txt"
            n = write_file(f, args.scan_mb)
            r = child(CHILD_SCAN, str(f))
            print(
                f"checking pass {args.scan_mb:6.1f} MB ({n:>10,} beats): peak RSS {r['rss_mb']:7.1f} MB, "
                f"{r['wall_s']:.1f} s ({n / r['wall_s']:,.0f} lines/s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
