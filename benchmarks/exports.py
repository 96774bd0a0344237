"""Benchmark: export a simulated year of two hours' wear a day (about 3 million beats) in every format.

Run by hand (not in CI):

    PYTHONPATH=. /work/venv/bin/python -m benchmarks.exports [--days 365] [--hours 2] [--keep DIR]

(as a module: run as a script, this file would shadow the exports package)

How the archive is built (timed separately, not part of the export time): the pipeline would take about
half an hour for a year, so the rows are made with numpy and bulk-inserted (executemany, one transaction)
into a real archive with the real schema:

* beats: one session a day from about 08:00 UTC; RR from a vectorised model (resting HR with a slow walk,
  breathing sinus arrhythmia, beat noise, two arousal bumps a day), quantised to the strap's 1/1024 s
  ticks; 0.2% flagged as artifacts; every 10th day a 30 s disconnect (beats removed, a gap row added);
* windows: 60 s windows every 5 s and 300 s windows every 30 s; mean RR, HR, SDNN and RMSSD computed
  exactly from the beats by cumulative sums, SD1/SD2 from their identities, the spectral and other
  features filled with plausible values (they only need to be the right size and shape);
* arousal every 5 s, two episodes and two prompts (with outcomes) a day, one weekly_progress row per week.

Then the same range is exported with exports.run.export: all four formats together (the target: under
60 s), then each format alone (each run reads the range again; ``--repeat N`` reports the median of N runs). Side by side, two reference points for the largest file (beats as CSV): the sqlite3
command-line shell's own CSV output of the beats table (``sqlite3 -csv``, a floor: no formatting work of
ours) and a naive per-row Python export (csv.writer + datetime.isoformat per beat).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from exports.csv_files import write_beats
from exports.dataset import ExportRange, load
from exports.formats import Format
from exports.run import export
from storage.archive import WINDOW_FEATURES, Archive

USER = "bench"
DEVICE = "sim-strap"
START = datetime(2025, 1, 6, tzinfo=UTC).timestamp()  # a Monday


def _session_rr(rng: np.random.Generator, hours: float, bumps: list[float]) -> np.ndarray:
    n = int(hours * 3600 / 0.8)
    t_est = np.arange(n) * 0.9
    walk = np.cumsum(rng.normal(0, 0.05, n))
    walk -= np.convolve(walk, np.ones(301) / 301, mode="same")
    hr = 64.0 + 3 * walk
    for b in bumps:
        hr += 16 * np.exp(-0.5 * ((t_est - b) / 120.0) ** 2)
    rr = 60000.0 / hr
    rr += 40 * (64.0 / hr) * np.sin(2 * np.pi * 0.22 * t_est) + rng.normal(0, 8, n)
    rr = np.round(rr * 1.024) / 1.024
    keep = np.cumsum(rr) <= hours * 3.6e6
    return rr[keep]


def _windows(t: np.ndarray, rr: np.ndarray, step_s: float, win_s: float) -> np.ndarray:
    """Rows (t, window_s, features..., valid) for windows ending every step_s."""
    ends = np.arange(t[0] + win_s, t[-1], step_s)
    j = np.searchsorted(t, ends, side="right")
    i = np.searchsorted(t, ends - win_s, side="right")
    cs = np.concatenate([[0.0], np.cumsum(rr)])
    cs2 = np.concatenate([[0.0], np.cumsum(rr * rr)])
    d2 = np.concatenate([[0.0, 0.0], np.cumsum(np.diff(rr) ** 2)])
    n = np.maximum(j - i, 2)
    mean = (cs[j] - cs[i]) / n
    sdnn = np.sqrt(np.maximum((cs2[j] - cs2[i]) / n - mean**2, 0) * n / (n - 1))
    rmssd = np.sqrt((d2[j] - d2[i + 1]) / np.maximum(n - 1, 1))
    sd1 = rmssd / math.sqrt(2)
    sd2 = np.sqrt(np.maximum(2 * sdnn**2 - sd1**2, 0))
    feats = {
        "n_beats": n.astype(float),
        "artifact_pct": np.full(len(n), 0.2),
        "mean_rr_ms": mean,
        "mean_hr_bpm": 60000.0 / mean,
        "sdnn_ms": sdnn,
        "rmssd_ms": rmssd,
        "pnn50_pct": np.full(len(n), 12.0),
        "lf_ms2": 0.4 * sdnn**2,
        "hf_ms2": 0.5 * rmssd**2,
        "lf_hf": 0.8 * sdnn**2 / np.maximum(rmssd**2, 1),
        "sd1_ms": sd1,
        "sd2_ms": sd2,
        "dfa_a1": np.full(len(n), 1.0 if win_s >= 300 else np.nan),
        "stress_index": np.full(len(n), 80.0),
        "resp_rate_bpm": np.full(len(n), 13.2 if win_s >= 300 else np.nan),
    }
    cols = [ends, np.full(len(n), win_s), *(feats[f] for f in WINDOW_FEATURES), (j - i >= 20).astype(float)]
    return np.column_stack(cols)


def _num(x: float) -> float | None:
    return None if x != x else float(x)


def build(data_dir: Path, days: int, hours: float) -> int:
    rng = np.random.default_rng(7)
    path = data_dir / "archive.db"
    Archive(path).close()  # create with the real schema, mode 0600
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    seq = 0
    n_beats = 0
    week_rows: dict[int, list[float]] = {}
    cols = ", ".join(WINDOW_FEATURES)
    marks = ",".join("?" * len(WINDOW_FEATURES))
    conn.execute("BEGIN")
    for d in range(days):
        t0 = START + d * 86400 + 8 * 3600 + float(rng.uniform(0, 1800))
        bumps = sorted(rng.uniform(900, hours * 3600 - 900, 2).tolist())
        rr = _session_rr(rng, hours, bumps)
        t = t0 + np.cumsum(rr) / 1000.0
        art = (rng.random(len(rr)) < 0.002).astype(int)
        if d % 10 == 9:
            cut = (t > t0 + 3000) & (t < t0 + 3030)
            gap_start, gap_end = float(t[np.argmax(cut) - 1]), float(t[cut][-1])
            t, rr, art = t[~cut], rr[~cut], art[~cut]
            seq += 1
            conn.execute(
                "INSERT INTO gaps (seq, user, device, start_t, end_t, reason) VALUES (?,?,?,?,?,?)",
                (seq, USER, DEVICE, gap_start, gap_end, "disconnect"),
            )
        s = np.arange(seq + 1, seq + 1 + len(t))
        seq += len(t)
        conn.executemany(
            "INSERT INTO beats (seq, user, device, t, rr_ms, artifact) VALUES (?,?,?,?,?,?)",
            zip(
                s.tolist(),
                [USER] * len(t),
                [DEVICE] * len(t),
                t.tolist(),
                rr.tolist(),
                art.tolist(),
                strict=True,
            ),
        )
        n_beats += len(t)
        for step, win, chan in ((5.0, 60.0, "60s"), (30.0, 300.0, "300s")):
            w = _windows(t, rr, step, win)
            rows = []
            for r in w.tolist():
                seq += 1
                rows.append((seq, USER, DEVICE, chan, r[0], r[1], *(_num(x) for x in r[2:-1]), int(r[-1])))
            conn.executemany(
                f"INSERT INTO windows (seq, user, device, channel, t, window_s, {cols}, valid)"
                f" VALUES (?,?,?,?,?,?,{marks},?)",
                rows,
            )
        at = np.arange(t0 + 300, t[-1], 5.0)
        a = sum(2.2 * np.exp(-0.5 * ((at - t0 - b) / 150.0) ** 2) for b in bumps) + rng.normal(
            0, 0.2, len(at)
        )
        score = 100 * 0.5 * (1 + np.vectorize(math.erf)(a / math.sqrt(2)))
        ar = []
        for ti, ai, si in zip(at.tolist(), a.tolist(), score.tolist(), strict=True):
            seq += 1
            state = "high" if ai >= 1.5 else "elevated" if ai >= 0.5 else "calm"
            ar.append((seq, USER, ti, si, ai, ai, -ai, state, 0, 0, 64 + 8 * ai, 40 - 5 * ai))
        conn.executemany(
            "INSERT INTO arousal (seq, user, t, score, a, z_hr, z_ln_rmssd, state, warming_up, gated, hr_bpm,"
            " rmssd_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            ar,
        )
        wk = d // 7
        stats = week_rows.setdefault(wk, [0.0, 0, 0, 0])
        stats[0] += float(rr.sum()) / 3.6e6
        for k, b in enumerate(bumps):
            eid = f"{USER}-{int(t0 + b)}-{k}"
            pid = f"{USER}-p{int(t0 + b)}-{k}"
            amp = float(rng.uniform(20, 45))
            helped = int(rng.random() < 0.5)
            seq += 2
            conn.execute(
                "INSERT INTO episodes (id, seq, user, onset_t, peak_t, end_t, peak_score, peak_a, amplitude,"
                " amplitude_a, duration_s, recovery_s, t50_s, area_a_s, prompt_ids)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    eid,
                    seq - 1,
                    USER,
                    t0 + b - 120,
                    t0 + b,
                    t0 + b + 300,
                    60 + amp,
                    2.0,
                    amp,
                    1.8,
                    420.0,
                    300.0,
                    100.0,
                    250.0,
                    f'["{pid}"]',
                ),
            )
            conn.execute(
                "INSERT INTO prompts (id, seq, user, t, kind, template_id, title, body, duration_s, expires_t,"
                " reason_episode_id, reason_score, inhale_s, hold_s, exhale_s, delivered_via, outcome_t,"
                " d_ln_rmssd, d_hr_bpm, d_score, helped) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    pid,
                    seq,
                    USER,
                    t0 + b - 30,
                    "breathing",
                    "breathing-4-6",
                    "Slow breathing",
                    "In for 4, out for 6.",
                    60.0,
                    t0 + b + 90,
                    eid,
                    70.0,
                    4.0,
                    None,
                    6.0,
                    "console",
                    t0 + b + 150,
                    0.1,
                    -3.0,
                    -12.0,
                    helped,
                ),
            )
            stats[1] += 1
            stats[2] += 1
            stats[3] += helped
    for wk, (h, eps, sent, helped) in week_rows.items():
        seq += 1
        monday = START + wk * 7 * 86400
        y, w, _ = datetime.fromtimestamp(monday, UTC).isocalendar()
        conn.execute(
            "INSERT INTO weekly_progress (user, week, seq, week_start_t, hours_worn, episodes, episodes_per_hour,"
            " median_amplitude, median_t50_s, median_recovery_s, resting_ln_rmssd, resting_ln_rmssd_lo,"
            " resting_ln_rmssd_hi, resting_hr_bpm, prompts_sent, prompts_helped, helped_share)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                USER,
                f"{y}-W{w:02d}",
                seq,
                monday,
                h,
                eps,
                eps / h,
                35 - wk * 0.2,
                110 - wk,
                300 - wk * 2,
                3.6 + wk * 0.003,
                3.5 + wk * 0.003,
                3.7 + wk * 0.003,
                66 - wk * 0.05,
                sent,
                helped,
                helped / sent,
            ),
        )
    conn.execute("COMMIT")
    conn.close()
    return n_beats


def _size(paths: list[Path]) -> str:
    return f"{sum(p.stat().st_size for p in paths) / 1e6:.0f} MB in {len(paths)} files"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=1, help="runs per format; the median is reported")
    ap.add_argument("--keep", metavar="DIR", help="build (or reuse) the archive in DIR and keep it")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="calmstrap-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"# calmstrap export benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},"
        f" numpy {np.__version__}, SQLite {sqlite3.sqlite_version}"
    )
    if not (work / "archive.db").exists():
        t = time.perf_counter()
        n = build(work, args.days, args.hours)
        print(
            f"built archive: {n:,} beats, {args.days} days x {args.hours:g} h in {time.perf_counter() - t:.1f} s"
            f" ({(work / 'archive.db').stat().st_size / 1e6:.0f} MB)"
        )
    rng = ExportRange(USER, START, START + args.days * 86400.0, label="client")
    results: dict[str, float] = {}
    with Archive(work / "archive.db") as archive:
        n_beats = archive.count("beats", USER)
        n_windows = archive.count("windows", USER)
        print(
            f"rows: {n_beats:,} beats, {n_windows:,} windows, {archive.count('arousal', USER):,} arousal,"
            f" {archive.count('episodes', USER):,} episodes"
        )
        for fmts, label in [(list(Format), "all")] + [([f], str(f)) for f in Format]:
            times = []
            for _ in range(args.repeat):
                out = work / f"out-{label}"
                shutil.rmtree(out, ignore_errors=True)
                t = time.perf_counter()
                res = export(archive, rng, fmts, out)
                times.append(time.perf_counter() - t)
            results[label] = statistics.median(times)
            spread = f" (min {min(times):.1f}, max {max(times):.1f})" if len(times) > 1 else ""
            print(f"export {label:<7} {results[label]:6.1f} s{spread}  {_size(list(res.files))}")
        t = time.perf_counter()
        data = load(archive, rng)
        results["load"] = time.perf_counter() - t
        print(f"of which reading the range (every format reads it once): {results['load']:.1f} s")
        t = time.perf_counter()
        with open(work / "ours-beats.csv", "w", encoding="utf-8", newline="\n") as f:
            write_beats(data, f)
        results["beats_csv"] = time.perf_counter() - t
        del data
    # references for the beats CSV (ours: reading the range + writing the beats file)
    ours = results["load"] + results["beats_csv"]
    print(f"ours: read range + beats CSV only                {ours:6.1f} s")
    sqlite_s = None
    if shutil.which("sqlite3"):
        t = time.perf_counter()
        with open(work / "ref-sqlite.csv", "w") as f:
            subprocess.run(
                [
                    "sqlite3",
                    "-csv",
                    "-header",
                    str(work / "archive.db"),
                    "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', t, 'unixepoch'), device, rr_ms, artifact FROM beats"
                    " WHERE user = 'bench' ORDER BY t",
                ],
                stdout=f,
                check=True,
            )
        sqlite_s = time.perf_counter() - t
        print(f"reference: sqlite3 -csv of the beats table      {sqlite_s:6.1f} s")
    t = time.perf_counter()
    with Archive(work / "archive.db") as archive, open(work / "ref-naive.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time_utc", "device", "rr_ms", "artifact"])
        for ti, dev, rr, art in archive.conn.execute(
            "SELECT t, device, rr_ms, artifact FROM beats WHERE user = ? ORDER BY t", (USER,)
        ):
            w.writerow(
                [datetime.fromtimestamp(ti, UTC).isoformat(timespec="milliseconds"), dev, f"{rr:.3f}", art]
            )
    naive_s = time.perf_counter() - t
    print(f"reference: naive per-row Python CSV of the beats {naive_s:6.1f} s")
    print(
        f"ratios: all formats / target 60 s = {results['all'] / 60:.2f};"
        f" our beats CSV / naive per-row = {ours / naive_s:.2f}"
        + (f"; our beats CSV / sqlite3 -csv = {ours / sqlite_s:.2f}" if sqlite_s else "")
    )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
