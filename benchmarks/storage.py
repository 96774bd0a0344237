"""Sync throughput: calmstrap's InfluxDB writer against the limit, posting pre-built line protocol.

Run by hand (results go to BENCHMARKS.md); `--small-tx N [--peer DIR]` times one-beat commits instead
(the cost of taking seq from the database inside each write transaction, against another checkout):

    PYTHONPATH=. python benchmarks/storage.py [--beats 300000] [--repeat 3] [--batch-size 5000]

It starts its own InfluxDB 1.x (Debian package ``influxdb``) on a free loopback port in a temp dir, builds
an archive of N beats (one user, one strap, ~0.8 s apart), then, alternating, into a fresh database each time:

* **sync**: ``InfluxWriter.drain()`` — read the archive from the watermark, encode line protocol, POST each
  batch, advance the watermark: everything ``calmstrap sync`` does;
* **limit**: the same line protocol, built beforehand and held in memory, POSTed batch by batch over one
  keep-alive ``http.client`` connection — what the server can take from one client, with no reading or
  encoding at all.

Reported: beats per second of each (median of the repeats), their ratio, and the read+encode rate alone.
Targets (issue 6): sync >= 100,000 beats/s and >= half the limit's rate.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sensors.beats import Beat
from storage.archive import Archive
from storage.influx import InfluxWriter, LineEncoder, V1Sink, measurement_for
from tests.support.influxdb import InfluxServer, running_influxdb

T0 = 1_780_000_000.0


def build_archive(path: Path, n: int) -> None:
    with Archive(path) as a:
        chunk = 50_000
        for start in range(0, n, chunk):
            a.add_beats(
                Beat(t=T0 + 0.8 * i, rr_ms=780.0 + (i % 41), device="strap-1", user="bench")
                for i in range(start, min(n, start + chunk))
            )
            a.commit()


def prebuilt_batches(path: Path, batch_size: int) -> list[bytes]:
    enc = LineEncoder(measurement_for("beats"))
    with Archive(path) as a:
        rows = a.conn.execute(enc.select_sql(), (0, 10**12)).fetchall()
    lines = enc.encode(rows)
    return ["".join(lines[i : i + batch_size]).encode() for i in range(0, len(lines), batch_size)]


def post_all(server: InfluxServer, db: str, batches: list[bytes]) -> float:
    u = urllib.parse.urlsplit(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    path = "/write?" + urllib.parse.urlencode({"db": db, "precision": "ms"})
    t = time.perf_counter()
    for body in batches:
        conn.request("POST", path, body=body, headers={"Content-Type": "text/plain; charset=utf-8"})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 204:
            raise RuntimeError(f"limit run: HTTP {resp.status}")
    dt = time.perf_counter() - t
    conn.close()
    return dt


def run_sync(server: InfluxServer, db: str, path: Path, batch_size: int) -> float:
    with Archive(path) as a:
        sink = V1Sink(server.url, db)
        w = InfluxWriter(a, sink, batch_size=batch_size)
        w.reset()
        t = time.perf_counter()
        w.drain()
        dt = time.perf_counter() - t
        sink.close()
        a.conn.execute("DELETE FROM sync_watermark")
    return dt


def encode_only(path: Path, batch_size: int) -> float:
    with Archive(path) as a:
        enc = LineEncoder(measurement_for("beats"))
        sql = enc.select_sql()
        t = time.perf_counter()
        after = 0
        while rows := a.conn.execute(sql, (after, batch_size)).fetchall():
            "".join(enc.encode(rows)).encode()
            after = rows[-1][0]
        return time.perf_counter() - t


SMALL_TX = """
import sys, tempfile, time
from pathlib import Path
from sensors.beats import Beat
from storage.archive import Archive
n = int(sys.argv[1])
with tempfile.TemporaryDirectory() as tmp:
    with Archive(Path(tmp) / "archive.db") as a:
        for i in range(200):  # warm up
            a.add_beats([Beat(t=1.0 + i, rr_ms=800.0, device="d", user="u")]); a.commit()
        t = time.perf_counter()
        for i in range(n):
            a.add_beats([Beat(t=1e6 + i, rr_ms=800.0, device="d", user="u")])
            a.commit()
        print((time.perf_counter() - t) / n * 1e6)
"""


def small_transactions(code_dir: Path, n: int, repeat: int) -> float:
    """Median microseconds per commit of the service's shape (one beat, then commit), code from ``code_dir``."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(code_dir)}
    runs = [
        float(subprocess.run([sys.executable, "-c", SMALL_TX, str(n)], env=env, capture_output=True, text=True,
                             check=True, cwd=code_dir).stdout)
        for _ in range(repeat)
    ]  # fmt: skip
    return statistics.median(runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--beats", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument(
        "--small-tx",
        type=int,
        metavar="N",
        help="instead: time N one-beat commits (the service's transaction shape), seq from the database",
    )
    ap.add_argument(
        "--peer", type=Path, help="with --small-tx: the same against another checkout's storage code"
    )
    args = ap.parse_args()
    if args.small_tx:
        here = small_transactions(Path(__file__).resolve().parents[1], args.small_tx, args.repeat)
        print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores; "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")  # fmt: skip
        print(f"one-beat commits: {here:.1f} us each (this checkout)")
        if args.peer is not None:
            peer = small_transactions(args.peer, args.small_tx, args.repeat)
            print(f"one-beat commits: {peer:.1f} us each ({args.peer}); ratio {here / peer:.2f}")
        return 0
    n = args.beats
    with tempfile.TemporaryDirectory(prefix="calmstrap-bench-") as tmp:
        root = Path(tmp)
        archive = root / "archive.db"
        t = time.perf_counter()
        build_archive(archive, n)
        print(f"archive: {n} beats built in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        batches = prebuilt_batches(archive, args.batch_size)
        (root / "influxdb").mkdir()
        with running_influxdb(root / "influxdb") as server:
            sync_s: list[float] = []
            limit_s: list[float] = []
            for r in range(args.repeat):
                for name in ("sync", "limit") if r % 2 == 0 else ("limit", "sync"):
                    db = f"bench_{name}_{r}"
                    server.create_database(db)
                    if name == "sync":
                        sync_s.append(run_sync(server, db, archive, args.batch_size))
                    else:
                        limit_s.append(post_all(server, db, batches))
                    got = server.count("beat", db)
                    if got != n:
                        raise RuntimeError(f"{name}: {got} points in InfluxDB, expected {n}")
                    server.query(f'DROP DATABASE "{db}"')
            enc_s = statistics.median(encode_only(archive, args.batch_size) for _ in range(args.repeat))
            version = server.query("SHOW DIAGNOSTICS")[0]["series"]
            build = next((s for s in version if s["name"] == "build"), None)
            influx_version = build["values"][0][build["columns"].index("Version")] if build else "?"
    sync_rate = n / statistics.median(sync_s)
    limit_rate = n / statistics.median(limit_s)
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"InfluxDB {influx_version}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    print(f"beats: {n}, batch size {args.batch_size}, repeats {args.repeat} (median)")
    print("| run | beats/s | ratio to the limit |")
    print("|---|---:|---:|")
    print(f"| limit: pre-built line protocol, http.client | {limit_rate:,.0f} | 1.00 |")
    print(f"| calmstrap sync (InfluxWriter.drain) | {sync_rate:,.0f} | {sync_rate / limit_rate:.2f} |")
    print(f"| read + encode only (no server) | {n / enc_s:,.0f} | {n / enc_s / limit_rate:.2f} |")
    ok = sync_rate >= 100_000 and sync_rate >= 0.5 * limit_rate
    print(f"targets (>= 100,000 beats/s and >= 0.5 x limit): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
